"""`speechstream mic` on an emulated microphone: a wav played into a PulseAudio null sink is transcribed live,
Ctrl-C ends it cleanly with the last result, and the live transcript equals `transcribe` of what it captured."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from asr_helpers import make_model_dir, utterances

from tests.pulse import pulse_fixture

pytestmark = pytest.mark.mic
pulse_server = pulse_fixture()


def speechstream(*args: str, **kw) -> subprocess.Popen:  # noqa: ANN003
    return subprocess.Popen([sys.executable, "-m", "speechstream", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def finals(jsonl: str) -> list[str]:
    return [e["text"] for e in map(json.loads, jsonl.splitlines()) if e["is_final"]]


def test_live_transcript_equals_transcribe_of_the_capture(pulse_server, tmp_path: Path) -> None:  # noqa: ANN001
    model = make_model_dir(tmp_path / "model")
    played = tmp_path / "played.wav"
    sf.write(played, utterances(np.random.default_rng(7), (16000 * 3,))[0] * 0.8, 16000, subtype="PCM_16")
    captured = tmp_path / "captured.wav"
    mic = speechstream("mic", "--device", "pulse", "--model", str(model), "--json", "--save", str(captured),
                       env=pulse_server.env)
    try:
        assert "listening" in mic.stderr.readline()  # capture is open; give it a moment to start
        time.sleep(0.5)
        player = pulse_server.play(played)
        assert player.wait(timeout=30) == 0
        time.sleep(0.7)
        mic.send_signal(signal.SIGINT)  # Ctrl-C
        out, err = mic.communicate(timeout=30)
    finally:
        mic.kill()
    assert mic.returncode == 0, err
    assert "Traceback" not in err and "warning" not in err
    live = finals(out)
    assert live and json.loads(out.splitlines()[-1])["is_final"]  # the last result printed is final
    events = [json.loads(line) for line in out.splitlines()]
    for a, b in zip(events, events[1:]):  # a result is printed when its text changes or its segment ends
        assert a["is_final"] or b["is_final"] or a["text"] != b["text"], (a, b)

    audio, rate = sf.read(captured, dtype="float32")
    assert len(audio) / rate > 3.0  # the whole playback was captured
    again = speechstream("transcribe", str(captured), "--model", str(model), "--json")
    out2, err2 = again.communicate(timeout=60)
    assert again.returncode == 0, err2
    assert finals(out2) == live


def test_no_input_device_is_a_clear_error(tmp_path: Path) -> None:
    model = make_model_dir(tmp_path / "model")
    env = {**os.environ, "PULSE_SERVER": "unix:/nonexistent"}
    p = speechstream("mic", "--model", str(model), "--device", "pulse", env=env)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 2 and "Traceback" not in err
    assert "input device" in err and "speechstream devices" in err


@pytest.mark.parametrize("name, message", [("cap.xyz", "'.xyz' files; use .wav"), ("no/cap.wav", "does not exist")])
def test_save_is_checked_before_the_device(tmp_path: Path, name: str, message: str) -> None:
    model = make_model_dir(tmp_path / "model")
    env = {**os.environ, "PULSE_SERVER": "unix:/nonexistent"}  # a device error would come next
    p = speechstream("mic", "--model", str(model), "--device", "pulse", "--save", str(tmp_path / name), env=env)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 2 and len(err.strip().splitlines()) == 1 and message in err, err
