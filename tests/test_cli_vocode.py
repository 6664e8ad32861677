"""`speechstream vocode`, run as a user runs it (a subprocess): the streamed resynthesis of a file equals the
torch generator's offline vocoding of the same Fbank frames, at 16 kHz and the input's length, for any rate
and chunk; user mistakes are one line and exit code 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from speechstream.audio.fbank import Fbank
from speechstream.audio.io import read_audio
from speechstream.vocoder.config import VocoderConfig
from speechstream.vocoder.model_dir import ENV_VAR
from speechstream.vocoder.torch.checkpoint import save_vocoder_dir
from speechstream.vocoder.torch.generator import FlowGenerator
from speechstream.vocoder.vocoder import Vocoder

torch.set_num_threads(1)
RATE = 16000


def speechstream(*args: object, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "speechstream", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=120)


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> tuple[FlowGenerator, Path]:  # noqa: ANN001
    torch.manual_seed(0)
    gen = FlowGenerator(VocoderConfig.tiny(lookahead_frames=2, cond_kernel=3)).eval()
    return gen, save_vocoder_dir(gen, tmp_path_factory.mktemp("vocoder") / "model")


def chirp(seconds: float, rate: int) -> np.ndarray:
    """0.5 * a 100 Hz -> 4 kHz chirp under a slow tremolo: frames that differ."""
    t = np.arange(round(seconds * rate)) / rate
    phase = 2 * np.pi * (100 * t + (3900 / (2 * seconds)) * t ** 2)
    return (0.5 * np.sin(phase) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)


def reference(gen: FlowGenerator, samples: np.ndarray) -> np.ndarray:
    """Offline Fbank -> the torch generator's offline Vocoder.forward, cut or zero-padded to the input length."""
    y = Vocoder(gen).forward(Fbank()(samples)[None])[0]
    return np.concatenate([y, np.zeros(max(0, len(samples) - len(y)), np.float32)])[: len(samples)]


def check_output(out: Path, gen: FlowGenerator, samples: np.ndarray) -> None:
    y, rate = sf.read(out, dtype="float32")
    assert rate == RATE and y.shape == samples.shape
    ref = reference(gen, samples)
    assert np.abs(ref).max() > 0.05 and np.mean(np.abs(ref) > 1) < 0.01  # a real signal, barely clipped
    # 16-bit PCM: quantisation (3e-5) and clipping at full scale on top of the 1e-4 of streaming vs offline.
    np.testing.assert_allclose(y, np.clip(ref, -1, 1 - 2 ** -15), rtol=0, atol=1e-4)


@pytest.mark.parametrize("chunk", [None, 5])
def test_streamed_file_equals_offline_vocoding(model: tuple[FlowGenerator, Path], tmp_path: Path,
                                               chunk: int | None) -> None:
    gen, d = model
    x = chirp(1.5, RATE)[: RATE * 3 // 2 + 37]  # not a whole number of hops
    src, out = tmp_path / "in.wav", tmp_path / "out.wav"
    sf.write(src, x, RATE, subtype="FLOAT")
    extra = ["--chunk-frames", chunk] if chunk else []
    r = speechstream("vocode", src, "--out", out, "--model", d, *extra)
    assert r.returncode == 0, r.stderr
    config = gen.config if chunk is None else VocoderConfig.from_dict({**gen.config.to_dict(), "chunk_frames": chunk})
    assert "RTF" in r.stderr and f"latency {config.latency_ms:g} ms" in r.stderr
    check_output(out, gen, x)


def test_44k_stereo_is_resampled_and_mixed(model: tuple[FlowGenerator, Path], tmp_path: Path) -> None:
    gen, d = model
    x = chirp(1.2, 44100)
    src, out = tmp_path / "in44.wav", tmp_path / "out.wav"
    sf.write(src, np.stack([x, 0.5 * x], axis=1), 44100, subtype="FLOAT")
    r = speechstream("vocode", src, "--out", out, "--model", d)
    assert r.returncode == 0, r.stderr
    samples, rate = read_audio(src, sample_rate=RATE)  # the library's own resampling and mixdown
    assert rate == RATE and len(samples) == round(len(x) / 44100 * RATE)
    check_output(out, gen, samples)


@pytest.mark.parametrize("suffix", [".ogg", ".flac"])
def test_compressed_outputs(model: tuple[FlowGenerator, Path], tmp_path: Path, suffix: str) -> None:
    sf.write(tmp_path / "in.wav", chirp(0.5, RATE), RATE)
    r = speechstream("vocode", tmp_path / "in.wav", "--out", tmp_path / f"out{suffix}", "--model", model[1])
    assert r.returncode == 0, r.stderr
    y, rate = sf.read(tmp_path / f"out{suffix}")
    assert rate == RATE and len(y) == round(0.5 * RATE)


def _mistake(tmp_path: Path, d: Path, case: str) -> tuple[list[object], dict | None, str]:
    """(argv, env, what the message must contain) for one kind of user mistake."""
    good = tmp_path / "good.wav"
    sf.write(good, chirp(0.3, RATE), RATE)
    out = ["--out", tmp_path / "out.wav"]
    if case == "missing file":
        return ["vocode", tmp_path / "nope.wav", *out, "--model", d], None, "no such audio file"
    if case == "empty file":
        (tmp_path / "empty.wav").write_bytes(b"")
        return ["vocode", tmp_path / "empty.wav", *out, "--model", d], None, "empty.wav"
    if case == "no samples":
        sf.write(tmp_path / "silent.wav", np.zeros(0, np.float32), RATE)
        return ["vocode", tmp_path / "silent.wav", *out, "--model", d], None, "no samples"
    if case == "missing model":
        return ["vocode", good, *out, "--model", tmp_path / "nowhere"], None, "vocoder model directory not found"
    if case == "not a model":
        return ["vocode", good, *out, "--model", tmp_path], None, "not a vocoder model directory"
    if case == "asr model":
        (tmp_path / "asr").mkdir()
        (tmp_path / "asr" / "config.json").write_text(json.dumps({"format": "speechstream-asr", "version": 1}))
        return ["vocode", good, *out, "--model", tmp_path / "asr"], None, "ASR model directory"
    if case == "no default model":
        env = {**os.environ, ENV_VAR: str(tmp_path / "nowhere")}
        return ["vocode", good, *out], env, "recipes/vocoder/train.py"
    if case == "chunk":
        return ["vocode", good, *out, "--model", d, "--chunk-frames", "1"], None, "--chunk-frames must be >= 2"
    if case == "output type":
        return ["vocode", good, "--out", tmp_path / "out.xyz", "--model", d], None, "'.xyz' files; use .wav, .flac"
    if case == "no extension":
        return ["vocode", good, "--out", tmp_path / "out", "--model", d], None, "without an extension; use .wav"
    if case == "no folder":
        return ["vocode", good, "--out", tmp_path / "no" / "x.wav", "--model", d], None, "folder"
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["missing file", "empty file", "no samples", "missing model", "not a model",
                                  "asr model", "no default model", "chunk", "output type", "no extension",
                                  "no folder"])
def test_user_mistakes_are_one_line_exit_2(model: tuple[FlowGenerator, Path], tmp_path: Path, case: str) -> None:
    argv, env, message = _mistake(tmp_path, model[1], case)
    r = speechstream(*argv, env=env)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("speechstream vocode: error:"), r.stderr
    assert message in lines[0] and "Traceback" not in r.stderr
    assert not (tmp_path / "out.wav").exists()
