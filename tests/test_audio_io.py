"""read_audio / check_samples / write_audio: formats, mixing, resampling and clear AudioErrors."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import soxr

from audio_helpers import noise_and_tones
from speechstream.audio.io import check_samples, read_audio, write_audio
from speechstream.errors import AudioError


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "PCM_32", "FLOAT", "PCM_U8"])
def test_formats_read_as_float_in_range(tmp_path, subtype):
    x = noise_and_tones(4000) * 0.9
    path = tmp_path / "a.wav"
    sf.write(path, x, 16000, subtype=subtype)
    y, rate = read_audio(path)
    assert rate == 16000 and y.dtype == np.float32 and y.shape == x.shape
    tol = {"PCM_U8": 1e-2, "PCM_16": 1e-4}.get(subtype, 1e-6)
    np.testing.assert_allclose(y, x, atol=tol)


def test_flac_and_stereo_mixing(tmp_path):
    left, right = noise_and_tones(3000, seed=1), noise_and_tones(3000, seed=2)
    path = tmp_path / "s.flac"
    sf.write(path, np.stack([left, right], axis=1), 16000, subtype="PCM_24")
    y, _ = read_audio(path)
    np.testing.assert_allclose(y, (left + right) / 2, atol=1e-6)


def test_resampling_on_read(tmp_path):
    x = noise_and_tones(44100, sample_rate=44100)
    path = tmp_path / "r.wav"
    sf.write(path, x, 44100, subtype="FLOAT")
    y, rate = read_audio(path, sample_rate=16000)
    assert rate == 16000
    np.testing.assert_allclose(y, soxr.resample(x, 44100, 16000, quality="HQ"), atol=1e-6)
    _, rate = read_audio(path)
    assert rate == 44100


def test_write_audio_default_is_pcm16_wav(tmp_path):
    path = tmp_path / "w.wav"
    write_audio(path, noise_and_tones(800), 16000)
    info = sf.info(path)
    assert (info.format, info.subtype, info.samplerate, info.frames) == ("WAV", "PCM_16", 16000, 800)


def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match="no such audio file"):
        read_audio(tmp_path / "nope.wav")


def test_garbage_file(tmp_path):
    path = tmp_path / "g.wav"
    path.write_bytes(b"this is not audio at all" * 20)
    with pytest.raises(AudioError, match="cannot read audio"):
        read_audio(path)


def test_empty_file(tmp_path):
    path = tmp_path / "e.wav"
    sf.write(path, np.zeros(0, np.float32), 16000, subtype="PCM_16")
    with pytest.raises(AudioError, match="no samples"):
        read_audio(path)


def test_truncated_wav(tmp_path):
    path = tmp_path / "t.wav"
    sf.write(path, noise_and_tones(16000), 16000, subtype="PCM_16")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # header still promises 16000 frames
    with pytest.raises(AudioError, match="truncated"):
        read_audio(path)


def test_nan_in_float_file(tmp_path):
    x = noise_and_tones(1000)
    x[500] = np.nan
    path = tmp_path / "n.wav"
    sf.write(path, x, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN"):
        read_audio(path)


def test_check_samples():
    np.testing.assert_array_equal(check_samples(np.array([-32768, 0, 16384], np.int16)), [-1.0, 0.0, 0.5])
    np.testing.assert_allclose(check_samples(np.array([0, 128, 255], np.uint8)), [-1.0, 0.0, 127 / 128])
    np.testing.assert_allclose(check_samples(np.array([[0.2, 0.4], [1.0, -1.0]])), [0.3, 0.0], atol=1e-7)
    assert check_samples(np.array([2**31 - 1], np.int32))[0] == pytest.approx(1.0)
    with pytest.raises(AudioError, match="mic: contains no samples"):
        check_samples(np.zeros(0, np.float32), name="mic")
    with pytest.raises(AudioError, match="NaN"):
        check_samples(np.array([0.0, np.inf]))
    with pytest.raises(AudioError, match="shape"):
        check_samples(np.zeros((2, 2, 2)))
    with pytest.raises(AudioError, match="dtype"):
        check_samples(np.array(["a"]))
