"""The runtime Converter (numpy + onnxruntime) on a tiny model directory: a stream fed any pieces, at 16 or
48 kHz, gives the offline conversion's Fbank frames and samples; the latency it claims is the one a stream
measures; built-in voices and references set the target; every bad input is a clear error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from speechstream.errors import AudioError, ModelError

pytest.importorskip("torch")  # to make the model directory
from vc_helpers import make_vc_dir  # noqa: E402 (imports torch)


def speech_like(seconds: float, rate: int = 16000, seed: int = 0) -> np.ndarray:
    """A voiced buzz with a moving pitch and some noise: enough to have a spectrum."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    x = 0.3 * np.sign(np.sin(2 * np.pi * np.cumsum(f0) / rate)) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    return (x + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_vc_dir(tmp_path_factory.mktemp("vc") / "model")


@pytest.fixture(scope="module")
def converter(model_dir: Path):
    from speechstream.vc.converter import Converter

    vc = Converter.from_dir(model_dir)
    vc.set_target(speech_like(1.5, seed=7), 16000)
    return vc


def run_stream(vc, samples: np.ndarray, rate: int, sizes: list[int], keep_mel: bool = False):
    stream = vc.create_stream(keep_mel=keep_mel)
    out, pos, i = [], 0, 0
    while pos < len(samples):
        n = sizes[i % len(sizes)]
        stream.accept_waveform(rate, samples[pos:pos + n])
        out.append(stream.pull())
        pos, i = pos + n, i + 1
    stream.input_finished()
    while not stream.done:
        out.append(stream.pull(max_chunks=2))
    return np.concatenate(out), stream


@pytest.mark.parametrize("sizes", [[160], [1, 999, 37], [4000], [77, 3]])
def test_stream_equals_offline(converter, sizes: list[int]) -> None:
    x = speech_like(0.83, seed=1)
    offline = converter.convert(x, 16000)
    mel = converter.mel(converter.fbank(x))
    streamed, stream = run_stream(converter, x, 16000, sizes, keep_mel=True)
    assert offline.shape == streamed.shape == x.shape
    assert np.abs(stream.mel() - mel).max() <= 1e-4
    assert np.abs(streamed - offline).max() <= 1e-4


def test_stream_resamples_like_offline(converter) -> None:
    x = speech_like(0.6, rate=48000, seed=2)
    offline = converter.convert(x, 48000)
    streamed, _ = run_stream(converter, x, 48000, [777, 480])
    assert len(offline) == len(streamed) == 9600
    assert np.abs(streamed - offline).max() <= 1e-4


def test_latency_matches_a_measured_stream(converter) -> None:
    """Fed 40 samples at a time (every Fbank frame completes on such a boundary), the longest wait of an emitted
    sample for its input sample is the latency the config computes."""
    x = speech_like(1.2, seed=3)
    stream = converter.create_stream()
    worst, emitted = 0, 0
    for pos in range(0, len(x), 40):
        stream.accept_waveform(16000, x[pos:pos + 40])
        y = stream.pull()
        if len(y):
            worst = max(worst, pos + 40 - emitted)
        emitted += len(y)
    assert worst == converter.latency_samples
    c = converter.config
    v = converter.vocoder.config
    assert converter.latency_samples == (c.chunk_frames + c.content_lookahead + c.decoder_lookahead
                                         + v.lookahead_frames + 2) * 160 + 120


def test_targets(converter, model_dir: Path) -> None:
    from speechstream.vc.converter import Converter

    x = speech_like(0.5, seed=4)
    assert sorted(converter.voices) == ["alpha", "beta"]
    a, b = converter.convert(x, 16000, target="alpha"), converter.convert(x, 16000, target="beta")
    assert np.abs(a - b).max() > 1e-4
    ref = speech_like(1.5, rate=22050, seed=7)
    assert np.abs(converter.embed(ref, 22050) - converter.target).max() < 0.5  # a resampled reference
    stereo = np.stack([ref, ref], axis=1)
    np.testing.assert_allclose(converter.embed(stereo, 22050), converter.embed(ref, 22050), atol=1e-5)
    fresh = Converter.from_dir(model_dir)
    with pytest.raises(ValueError, match="no target voice"):
        fresh.create_stream()
    with pytest.raises(ValueError, match="built-in voices: alpha, beta"):
        fresh.set_voice("nobody")
    fresh.set_voice("beta")
    np.testing.assert_allclose(fresh.convert(x, 16000), b, atol=1e-6)


def test_bad_input_is_a_clear_error(converter) -> None:
    with pytest.raises(AudioError, match="too short"):
        converter.embed(speech_like(0.4), 16000)
    with pytest.raises(AudioError, match="silent"):
        converter.embed(np.zeros(32000, np.float32), 16000)
    with pytest.raises(AudioError, match="NaN"):
        converter.convert(np.full(1600, np.nan, np.float32), 16000)
    with pytest.raises(AudioError, match="no samples"):
        converter.convert(np.zeros(0, np.float32), 16000)
    with pytest.raises(AudioError, match="positive"):
        converter.convert(speech_like(0.2), 0)
    stream = converter.create_stream()
    with pytest.raises(AudioError, match="rate comes first"):
        stream.accept_waveform(speech_like(0.1), 16000)
    stream.accept_waveform(16000, speech_like(0.1))
    with pytest.raises(AudioError, match="changed mid-stream"):
        stream.accept_waveform(8000, speech_like(0.1))
    stream.input_finished()
    with pytest.raises(AudioError, match="after input_finished"):
        stream.accept_waveform(16000, speech_like(0.1))
    assert len(stream.pull()) == 1600 and stream.done


def test_broken_model_dirs_are_clear_errors(model_dir: Path, tmp_path: Path) -> None:
    import shutil

    from speechstream.vc.converter import Converter

    with pytest.raises(ModelError, match="not found"):
        Converter.from_dir(tmp_path / "nowhere")
    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken)
    (broken / "decoder.onnx").unlink()
    with pytest.raises(ModelError, match="missing model file"):
        Converter.from_dir(broken)
    (broken / "config.json").write_text(json.dumps({"format": "speechstream-tts", "version": 1}))
    with pytest.raises(ModelError, match="TTS model directory, not a VC"):
        Converter.from_dir(broken)
    shutil.copytree(model_dir, tmp_path / "bad_voices")
    (tmp_path / "bad_voices" / "voices.json").write_text('{"voices": {"x": [1, 2]}}')
    with pytest.raises(ModelError, match="voices x"):
        Converter.from_dir(tmp_path / "bad_voices")
