"""`speechstream features` and `speechstream devices`, run as a user runs them: in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.pulse import pulse_fixture
from tests.test_pipeline import speech_wav

pulse_server = pulse_fixture()


def speechstream(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "speechstream", *map(str, args)], capture_output=True, text=True, env=env, timeout=120
    )


@pytest.fixture(scope="module")
def speech_22k(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "speech.wav"
    speech_wav(path, 22050)
    return path


def test_features_saves_offline_fbank_of_the_file(speech_22k, tmp_path):
    from speechstream.audio import Fbank, FbankConfig, read_audio

    out, png = tmp_path / "f.npy", tmp_path / "f.png"
    result = speechstream("features", speech_22k, "--out", out, "--plot", png, "--chunk-ms", "13")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip().splitlines()) == 1 and "frames" in result.stdout
    frames = np.load(out)
    samples, rate = read_audio(speech_22k, sample_rate=16000)
    assert rate == 16000
    offline = Fbank(FbankConfig())(samples)
    assert frames.dtype == np.float32 and frames.shape == offline.shape and frames.shape[1] == 80
    np.testing.assert_allclose(frames, offline, rtol=0, atol=1e-4)
    assert f"{len(frames)} frames" in result.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("content", [None, b"", b"RIFF\x00\x00garbage" * 50])
def test_features_bad_file_is_one_line_exit_2(tmp_path, content):
    path = tmp_path / "in.wav"
    if content is not None:
        path.write_bytes(content)
    result = speechstream("features", path, "--out", tmp_path / "x.npy")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("speechstream features: error:") and str(path) in lines[0]
    assert not (tmp_path / "x.npy").exists()


def test_features_unwritable_output_is_one_line_exit_2(speech_22k, tmp_path):
    result = speechstream("features", speech_22k, "--out", tmp_path / "no" / "such" / "dir" / "x.npy")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_features_output_names_are_checked_before_any_work(speech_22k, tmp_path):
    # np.save would write f4.txt.npy and say "saved to f4.txt"; a missing folder said "System error.".
    for args, message in (([tmp_path / "f4.txt"], "use .npy"),
                          ([tmp_path / "f.npy", "--plot", tmp_path / "f.txt"], "use .png"),
                          ([tmp_path / "no" / "f.npy"], "does not exist")):
        result = speechstream("features", speech_22k, "--out", *args)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1 and message in lines[0], result.stderr
    assert list(tmp_path.iterdir()) == []


def test_devices_lists_the_pulse_microphone(pulse_server):
    result = speechstream("devices", "--json", env=pulse_server.env)
    assert result.returncode == 0, result.stderr
    devices = json.loads(result.stdout)
    pulse = next(d for d in devices if d["name"] == "pulse")
    assert pulse["max_input_channels"] > 0 and pulse["default_samplerate"] > 0
    assert set(pulse) == {
        "index", "name", "hostapi", "max_input_channels", "max_output_channels",
        "default_samplerate", "default_input", "default_output",
    }
    table = speechstream("devices", env=pulse_server.env)
    assert table.returncode == 0, table.stderr
    row = next(line for line in table.stdout.splitlines() if " pulse " in line)
    assert f"{pulse['default_samplerate']:g} Hz" in row


def test_devices_with_no_devices():
    # Without a PulseAudio server a headless machine has no devices, which is not an error.
    env = {**os.environ, "PULSE_SERVER": "unix:/nonexistent"}
    result = speechstream("devices", "--json", env=env)
    assert result.returncode == 0, result.stderr
    if json.loads(result.stdout):
        pytest.skip("this machine has audio devices besides PulseAudio")
    assert speechstream("devices", env=env).stdout.strip() == "no audio devices found"
