"""The streaming VAD (silero-vad's ONNX model, onnxruntime only) on espeak-ng speech with known pauses: the
same decisions for any chunking, speech heard in the phrases and not in the pauses; and the recogniser with
a VAD ends its segments in the pauses even when its model's blanks (a random model here) never would."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from asr_helpers import NEVER, make_model_dir, stream_finals

from speechstream.asr.recognizer import Recognizer
from speechstream.asr.vad import WINDOW_SECONDS, SileroVad, VadConfig, silero_model_path
from speechstream.audio.io import read_audio
from speechstream.errors import ModelError

try:
    silero_model_path()
except ModelError as e:
    pytest.skip(str(e), allow_module_level=True)
if shutil.which("espeak-ng") is None:
    pytest.skip("espeak-ng is not installed", allow_module_level=True)

PHRASES = ("the quick brown fox jumps over the lazy dog", "she sells sea shells", "all that glitters is not gold")
PAUSE_S = 1.0


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> tuple[np.ndarray, list[tuple[float, float]]]:  # noqa: ANN001
    """16 kHz phrases with PAUSE_S of silence before, between and after; the (start, end) of each phrase."""
    d = tmp_path_factory.mktemp("vad")
    parts, spans, t = [np.zeros(int(PAUSE_S * 16000), np.float32)], [], PAUSE_S
    for i, text in enumerate(PHRASES):
        subprocess.run(["espeak-ng", "-w", str(d / f"{i}.wav"), text], check=True, capture_output=True)
        x, _ = read_audio(d / f"{i}.wav", sample_rate=16000)
        loud = np.flatnonzero(np.abs(x) > 1e-3)
        x = x[loud[0]:loud[-1] + 1]
        parts += [x, np.zeros(int(PAUSE_S * 16000), np.float32)]
        spans.append((t, t + len(x) / 16000))
        t += len(x) / 16000 + PAUSE_S
    return np.concatenate(parts), spans


def test_decisions_follow_the_audio_for_any_chunking(speech) -> None:  # noqa: ANN001
    x, spans = speech
    vad = SileroVad()
    whole = vad.stream()
    whole.accept(x)
    pieces = vad.stream()
    rng = np.random.default_rng(0)
    cuts = np.sort(rng.integers(0, len(x), 40))
    for chunk in np.split(x, cuts):
        pieces.accept(chunk)
    assert pieces.is_speech == whole.is_speech and len(whole.is_speech) == len(x) // 512
    flags = np.frombuffer(bytes(whole.is_speech), np.uint8)
    times = (np.arange(len(flags)) + 0.5) * WINDOW_SECONDS
    for start, end in spans:  # the middle of each phrase is speech, the middle of each pause is not
        inside = (times > start + 0.2) & (times < end - 0.2)
        assert flags[inside].mean() > 0.8
    pauses = [(0.0, spans[0][0])] + [(a[1], b[0]) for a, b in zip(spans, spans[1:])]
    for start, end in pauses:
        inside = (times > start + 0.3) & (times < end - 0.3)
        assert flags[inside].max() == 0


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:  # noqa: ANN001
    return make_model_dir(tmp_path_factory.mktemp("model"))


def test_the_recognizer_ends_segments_in_the_pauses(model_dir: Path, speech) -> None:  # noqa: ANN001
    x, spans = speech
    plain = stream_finals(Recognizer.from_dir(model_dir, endpoint=NEVER), x, 1)
    assert len(plain) == 1  # the model's blanks end nothing (and NEVER turns its rules off)
    rec = Recognizer.from_dir(model_dir, endpoint=NEVER, vad=VadConfig(min_silence_s=0.5))
    segments = stream_finals(rec, x, 1)
    ends = [r.end for r in segments[:-1]]
    for (_, phrase_end), (next_start, _) in zip(spans, spans[1:]):
        # one segment ends in each pause between phrases, at least 0.5 s after the phrase
        assert sum(phrase_end + 0.5 <= e <= next_start for e in ends) == 1, (ends, spans)
    assert all(any(a[1] <= e <= b[0] for a, b in zip(spans, spans[1:])) or e >= spans[-1][1] for e in ends), ends
    # Streaming in pieces gives the same segments; so does the command line.
    assert [(r.tokens, r.end) for r in stream_finals(rec, x, 29)] == [(r.tokens, r.end) for r in segments]


def test_transcribe_vad_option(model_dir: Path, speech, tmp_path: Path,  # noqa: ANN001
                               capsys: pytest.CaptureFixture[str]) -> None:
    import json

    import soundfile as sf

    from speechstream.cli import main

    x, spans = speech
    sf.write(tmp_path / "x.wav", x, 16000, subtype="FLOAT")
    assert main(["transcribe", str(tmp_path / "x.wav"), "--model", str(model_dir), "--json", "--vad",
                 "--vad-min-silence-ms", "500"]) == 0
    ends = [json.loads(line)["end"] for line in capsys.readouterr().out.splitlines()]
    for (_, phrase_end), (next_start, _) in zip(spans, spans[1:]):
        assert any(phrase_end + 0.5 <= e <= next_start for e in ends), (ends, spans)
