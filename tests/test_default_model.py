"""The shipped default model (models/asr_en), on speech it never saw: a held-out voice reading held-out text.

Independent references: the text that was synthesised, and sherpa-onnx running the model's `ctc.onnx`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from speechstream.asr.model_dir import DEFAULT_ASR
from speechstream.asr.recognizer import Recognizer
from speechstream.audio.resample import resample
from speechstream.data.text import normalize
from speechstream.runtime.models import MODELS_DIR

MODEL = MODELS_DIR / DEFAULT_ASR
SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "awb_umbrella.wav"
SAMPLE_TEXT = "please call me when you arrive at the station and bring the blue umbrella with you"
# flite's awb and these espeak-ng variants are held out of training (recipes/asr/synth_en/README.md).
HELD_OUT = [("flite", "awb", "The farmer carried two heavy baskets of apples down the hill."),
            ("espeak", "en-us+m7", "Nobody expected the little boat to cross the lake before sunset."),
            ("flite", "awb", "She wrote a long letter to her brother who lives by the sea.")]

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (MODEL / "config.json").is_file(), reason="no default model in models/")]


@pytest.fixture(scope="module")
def fp32_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The model with fp32 runtime graphs: itself, or exported from its weights when it ships int8 only."""
    if (MODEL / "encoder.onnx").is_file():
        return MODEL
    from speechstream.asr.torch.export import export_model_dir

    out = tmp_path_factory.mktemp("fp32")
    export_model_dir(MODEL, out, sherpa=False)
    return out


def wer(ref: str, hyp: str) -> float:
    import jiwer

    return jiwer.wer(normalize(ref), normalize(hyp) or "<empty>")


def synthesise(engine: str, voice: str, text: str, tmp: Path) -> np.ndarray:
    if shutil.which("flite" if engine == "flite" else "espeak-ng") is None:
        pytest.skip(f"{engine} is not installed")
    wav = tmp / "say.wav"
    cmd = (["flite", "-voice", voice, "-t", text, "-o", str(wav)] if engine == "flite"
           else ["espeak-ng", "-v", voice, "-w", str(wav), text])
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)
    x, rate = sf.read(wav, dtype="float32")
    x = resample(x, rate, 16000)
    # Half a second of silence around it: speech is not cut at the first frames or at the end.
    pad = np.zeros(8000, np.float32)
    return np.concatenate([pad, 0.9 * x / max(1e-6, np.abs(x).max()), pad])


def final_text(rec: Recognizer, x: np.ndarray, lookahead_ms: float | None = None) -> str:
    s = rec.create_stream(lookahead_ms)
    s.accept_waveform(16000, x)
    s.input_finished()
    texts = []
    while rec.is_ready(s):
        rec.decode_streams([s])
        r = rec.get_result(s)
        if r.is_final and r.text:
            texts.append(r.text)
    return " ".join(texts)


def test_transcribe_cli_recognises_the_bundled_sample() -> None:
    out = subprocess.run([sys.executable, "-m", "speechstream", "transcribe", str(SAMPLE), "--json"],
                         capture_output=True, text=True, check=True, timeout=120).stdout
    text = " ".join(e["text"] for e in map(json.loads, out.splitlines()) if e["is_final"])
    assert wer(SAMPLE_TEXT, text) <= 0.35, text


@pytest.mark.parametrize("decoding", ["ctc-greedy", "rnnt-greedy", "rnnt-beam"])
def test_held_out_voices_every_lookahead(tmp_path: Path, decoding: str) -> None:
    rec = Recognizer.from_dir(MODEL, decoding=decoding)
    clips = [(text, synthesise(engine, voice, text, tmp_path)) for engine, voice, text in HELD_OUT]
    for lookahead in rec.lookaheads_ms:
        errors = [wer(text, final_text(rec, x, lookahead)) for text, x in clips]
        assert float(np.mean(errors)) <= 0.4, (decoding, lookahead, errors)


def test_sherpa_onnx_gives_the_same_text(tmp_path: Path, fp32_model: Path) -> None:
    """sherpa-onnx on our ctc.onnx and speechstream.Recognizer agree on real (synthetic) speech (fp32 both)."""
    sherpa_onnx = pytest.importorskip("sherpa_onnx")
    rec = Recognizer.from_dir(fp32_model, int8=False)
    sherpa = sherpa_onnx.OnlineRecognizer.from_nemo_ctc(model=str(MODEL / "ctc.onnx"),
                                                        tokens=str(MODEL / "tokens.txt"), num_threads=1)
    for engine, voice, text in HELD_OUT:
        x = synthesise(engine, voice, text, tmp_path)
        stream = sherpa.create_stream()
        stream.accept_waveform(16000, np.concatenate([x, np.zeros(8000, np.float32)]))  # sherpa needs a tail
        stream.input_finished()
        while sherpa.is_ready(stream):
            sherpa.decode_stream(stream)
        assert sherpa.get_result(stream).strip() == final_text(rec, x)


def test_int8_graphs_agree_with_fp32(tmp_path: Path, fp32_model: Path) -> None:
    if not (MODEL / "encoder.int8.onnx").is_file():
        pytest.skip("no int8 graphs shipped")
    fp32, int8 = Recognizer.from_dir(fp32_model, int8=False), Recognizer.from_dir(MODEL, int8=True)
    for engine, voice, text in HELD_OUT:
        x = synthesise(engine, voice, text, tmp_path)
        assert wer(final_text(fp32, x), final_text(int8, x)) <= 0.1


@pytest.mark.mic
def test_live_microphone_hears_the_played_words(tmp_path: Path) -> None:
    """`speechstream mic` on an emulated microphone (PulseAudio null sink) playing the bundled sample."""
    import signal
    import time

    from tests.pulse import PulseServer

    if PulseServer.missing():
        pytest.skip(PulseServer.missing())
    with PulseServer() as pulse:
        mic = subprocess.Popen([sys.executable, "-m", "speechstream", "mic", "--device", "pulse", "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=pulse.env)
        try:
            assert "listening" in mic.stderr.readline()
            time.sleep(0.5)
            assert pulse.play(SAMPLE).wait(timeout=30) == 0
            time.sleep(1.0)
            mic.send_signal(signal.SIGINT)
            out, err = mic.communicate(timeout=60)
        finally:
            mic.kill()
    assert mic.returncode == 0, err
    text = " ".join(e["text"] for e in map(json.loads, out.splitlines()) if e["is_final"])
    assert wer(SAMPLE_TEXT, text) <= 0.35, text
