"""The runtime Synthesizer on a random-weight exported model directory and a tiny random vocoder: streamed
audio equals whole-utterance audio for any cut of the text and any pulling, its mel equals the torch model's,
and it runs where torch cannot be imported."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from tts_helpers import tiny_model

torch.set_num_threads(1)

TEXT = "Hello there, Dr. Smith! It costs $3.50 today; the apple and the pear are ripe. Shall we go at 5 p.m.?"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from speechstream.tts.torch.checkpoint import save_tts_dir
    from speechstream.vocoder.torch.checkpoint import save_vocoder_dir
    from vocoder_helpers import make_generator

    root = tmp_path_factory.mktemp("tts")
    vocoder = save_vocoder_dir(make_generator(), root / "vocoder_src")
    return save_tts_dir(tiny_model(chunk_frames=5), root / "tts", vocoder=vocoder)


@pytest.fixture(scope="module")
def synth(model_dir: Path):
    from speechstream.tts.synthesizer import Synthesizer

    return Synthesizer.from_dir(model_dir)


def test_synthesize(synth) -> None:
    audio = synth.synthesize(TEXT, "af_heart:0.6,bm_george:0.4", seed=3)
    assert audio.dtype == np.float32 and audio.ndim == 1 and np.isfinite(audio).all()
    assert len(audio) % synth.config.hop_length == 0 and len(audio) > 50 * synth.config.hop_length
    assert synth.sample_rate == 16000 and len(synth.voices) == 28
    assert synth.synthesize("", "af_heart").shape == (0,)
    faster = synth.synthesize(TEXT, "af_heart:0.6,bm_george:0.4", speed=1.5, seed=3)
    assert len(faster) < len(audio)
    with pytest.raises(ValueError):
        synth.synthesize(TEXT, "nobody")


def test_mel_equals_the_torch_model(synth, model_dir: Path) -> None:
    from speechstream.tts.torch.checkpoint import load_acoustic

    model = load_acoustic(model_dir)
    spec, weights = synth.voice("bm_george")
    ids = synth.frontend(spec.british).ids(TEXT)
    mel = synth.mel(ids, weights, speed=1.2, seed=4)
    with torch.no_grad():
        want, _, _ = model(torch.tensor([ids]), torch.from_numpy(weights), speed=1.2, seed=4)
    assert mel.shape == want[0].shape
    assert np.abs(mel - want[0].numpy()).max() <= 1e-4


@pytest.mark.parametrize("voice", ["af_heart", "bm_george:0.7,af_bella:0.3"])
def test_streaming_equals_whole(synth, voice: str) -> None:
    whole = synth.synthesize(TEXT, voice, seed=5)
    rng = random.Random(voice)
    for trial in range(4):
        stream = synth.stream(voice, seed=5)
        out, pos, first_at = [], 0, None
        while pos < len(TEXT):
            n = [1, len(TEXT), 3, 17][trial] if trial < 2 else rng.randint(1, 9)
            stream.accept_text(TEXT[pos:pos + n])
            pos += n
            got = stream.pull(max_chunks=rng.choice([None, 1, 2]))
            if len(got) and first_at is None:
                first_at = pos
            out.append(got)
        stream.input_finished()
        while not stream.done:
            out.append(stream.pull(max_chunks=rng.choice([None, 1])))
        audio = np.concatenate(out)
        assert audio.shape == whole.shape
        assert np.abs(audio - whole).max() <= 1e-4, trial
        if trial != 1:
            assert first_at is not None and first_at < len(TEXT) // 2  # audio starts long before the text ends


def test_runs_without_torch(model_dir: Path) -> None:
    from test_torch_free import run_without_training_packages

    code = ("import sys; from speechstream.tts.synthesizer import Synthesizer\n"
            "s = Synthesizer.from_dir(sys.argv[1])\n"
            "a = s.synthesize('Twenty one cats.', 'bf_emma')\n"
            "st = s.stream('bf_emma'); st.accept_text('Twenty one cats.'); st.input_finished()\n"
            "b = st.pull()\n"
            "assert a.size and (abs(a - b).max() <= 1e-4) and st.done and 'torch' not in sys.modules\n"
            "print('ok', a.size)")
    result = run_without_training_packages(code, str(model_dir))
    assert result.returncode == 0 and result.stdout.startswith("ok"), result.stderr[-2000:]


def test_speak_command(model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
                       monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse
    import io
    import os

    import soundfile as sf

    from speechstream.cli import speak
    from speechstream.tts.synthesizer import Synthesizer

    parser = argparse.ArgumentParser()
    speak.add_arguments(parser)
    assert speak.run(parser.parse_args(["--model", str(model_dir), "--list-voices"])) == 0
    assert capsys.readouterr().out.split() == list(Synthesizer.from_dir(model_dir).voices)
    out = tmp_path / "hello.wav"
    args = parser.parse_args([TEXT, "--model", str(model_dir), "--voice", "bm_george", "--seed", "2", "--out", str(out)])
    assert speak.run(args) == 0
    assert "first audio" in capsys.readouterr().err
    audio, rate = sf.read(out, dtype="float32")
    want = np.clip(Synthesizer.from_dir(model_dir).synthesize(TEXT, "bm_george", seed=2), -1, 1)
    assert rate == 16000 and audio.shape == want.shape
    assert np.abs(audio - want).max() <= 1.5 / 32768  # 16-bit PCM
    # stdin, read as it arrives
    read, write = os.pipe()
    os.write(write, TEXT.encode())
    os.close(write)
    stdin = io.TextIOWrapper(os.fdopen(read, "rb"))
    piped = tmp_path / "piped.wav"
    monkeypatch.setattr("sys.stdin", stdin)
    assert speak.run(parser.parse_args(["--model", str(model_dir), "--voice", "bm_george", "--seed", "2",
                                        "--out", str(piped)])) == 0
    stdin.close()
    np.testing.assert_array_equal(sf.read(piped, dtype="float32")[0], audio)
