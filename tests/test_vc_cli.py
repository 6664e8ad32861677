"""`speechstream convert` on a tiny model directory: a file streamed through the CLI equals the offline
conversion, with a reference (any rate, stereo) or a built-in voice; every mistake is one line and exit 2, never
a traceback; the command runs where torch cannot be imported; --mic converts a live PulseAudio source."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.pulse import pulse_fixture

pytest.importorskip("torch")  # to make the model directory
from vc_helpers import make_vc_dir  # noqa: E402 (imports torch)
pulse_server = pulse_fixture()


def speech_like(seconds: float, rate: int = 16000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    x = 0.3 * np.sign(np.sin(2 * np.pi * np.cumsum(f0) / rate)) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    return (x + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("vc_cli")
    out = {"model": make_vc_dir(d / "model"), "src": d / "src.wav", "ref": d / "ref.wav",
           "ref_stereo": d / "ref_stereo.wav", "short": d / "short.wav"}
    sf.write(out["src"], speech_like(1.3, seed=1), 16000, subtype="FLOAT")
    sf.write(out["ref"], speech_like(1.5, seed=2), 16000, subtype="FLOAT")
    x = speech_like(1.5, rate=44100, seed=3)
    sf.write(out["ref_stereo"], np.stack([x, 0.5 * x], axis=1), 44100)
    sf.write(out["short"], speech_like(0.3, seed=4), 16000)
    return out


def speechstream(*args: object, **kw) -> subprocess.CompletedProcess:  # noqa: ANN003
    return subprocess.run([sys.executable, "-m", "speechstream", *map(str, args)], capture_output=True, text=True,
                          timeout=120, **kw)


def test_file_equals_offline_conversion(files: dict[str, Path], tmp_path: Path) -> None:
    from speechstream.audio.io import read_audio
    from speechstream.vc.converter import Converter

    out = tmp_path / "out.wav"
    p = speechstream("convert", files["src"], "--ref", files["ref"], "--out", out, "--model", files["model"])
    assert p.returncode == 0, p.stderr
    assert "latency" in p.stderr and "RTF" in p.stderr and "Traceback" not in p.stderr
    got, rate = sf.read(out, dtype="float32")
    vc = Converter.from_dir(files["model"])
    vc.set_target(*read_audio(files["ref"]))
    want = np.clip(vc.convert(*read_audio(files["src"])), -1, 1)
    assert rate == 16000 and got.shape == want.shape
    assert np.abs(got - want).max() <= 1e-4 + 1 / 32768  # PCM_16 on disk

    voiced = tmp_path / "voice.flac"
    p = speechstream("convert", files["src"], "--voice", "beta", "--out", voiced, "--model", files["model"])
    assert p.returncode == 0, p.stderr
    p = speechstream("convert", files["src"], "--ref", files["ref_stereo"], "--out", tmp_path / "s.wav",
                     "--model", files["model"])
    assert p.returncode == 0, p.stderr  # a stereo 44.1 kHz reference is mixed and resampled
    p = speechstream("convert", "--list-voices", "--model", files["model"])
    assert p.returncode == 0 and p.stdout.split() == ["alpha", "beta"]


@pytest.mark.parametrize(("args", "message"), [
    (["{src}", "--out", "{tmp}/o.wav"], "give the target"),
    (["{src}", "--ref", "{ref}", "--voice", "alpha", "--out", "{tmp}/o.wav"], "give the target"),
    (["--ref", "{ref}", "--out", "{tmp}/o.wav"], "give a source"),
    (["{src}", "--mic", "--ref", "{ref}"], "give a source"),
    (["{src}", "--voice", "nobody", "--out", "{tmp}/o.wav"], "unknown voice 'nobody'; built-in voices: alpha, beta"),
    (["{src}", "--ref", "{short}", "--out", "{tmp}/o.wav"], "too short"),
    (["{src}", "--ref", "{tmp}/missing.wav", "--out", "{tmp}/o.wav"], "no such audio file"),
    (["{tmp}/missing.wav", "--ref", "{ref}", "--out", "{tmp}/o.wav"], "no such audio file"),
    (["{src}", "--ref", "{ref}", "--out", "{tmp}/o.xyz"], "cannot write '.xyz' files"),
    (["{src}", "--ref", "{ref}"], "--out OUT.wav is required"),
    (["{src}", "--ref", "{ref}", "--out", "{tmp}/o.wav", "--model", "{tmp}/nomodel"], "not found"),
])
def test_mistakes_are_one_line_errors(files: dict[str, Path], tmp_path: Path, args: list[str], message: str) -> None:
    names = {k: str(v) for k, v in files.items()} | {"tmp": str(tmp_path)}
    argv = [a.format(**names) for a in args]
    if "--model" not in argv:
        argv += ["--model", str(files["model"])]
    p = speechstream("convert", *argv)
    assert p.returncode == 2, p.stderr
    assert message in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr


def test_convert_without_torch(files: dict[str, Path], tmp_path: Path) -> None:
    from test_torch_free import speechstream as torch_free

    p = torch_free("convert", files["src"], "--ref", files["ref"], "--out", tmp_path / "o.wav",
                   "--model", files["model"])
    assert p.returncode == 0, p.stderr
    assert sf.info(str(tmp_path / "o.wav")).frames == sf.info(str(files["src"])).frames


def test_mic_without_an_input_device_is_a_clear_error(files: dict[str, Path]) -> None:
    p = speechstream("convert", "--mic", "--device", "pulse", "--voice", "alpha", "--model", files["model"],
                     env={**__import__("os").environ, "PULSE_SERVER": "unix:/nonexistent"})
    assert p.returncode == 2 and "input device" in p.stderr and "Traceback" not in p.stderr, p.stderr


@pytest.mark.mic
def test_mic_converts_a_live_source(files: dict[str, Path], pulse_server, tmp_path: Path) -> None:  # noqa: ANN001
    played = tmp_path / "played.wav"
    sf.write(played, speech_like(2.0, seed=5), 16000, subtype="PCM_16")
    out = tmp_path / "live.wav"
    cmd = [sys.executable, "-m", "speechstream", "convert", "--mic", "--device", "pulse", "--ref", str(files["ref"]),
           "--out", str(out), "--model", str(files["model"])]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=pulse_server.env)
    try:
        first = proc.stderr.readline()
        assert "converting" in first and "latency" in first, first
        time.sleep(0.5)
        player = pulse_server.play(played)
        assert player.wait(timeout=30) == 0
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "RTF" in err
    audio, rate = sf.read(out, dtype="float32")
    assert rate == 16000 and len(audio) / rate > 2.0 and np.abs(audio).max() > 0
