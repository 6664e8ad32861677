"""Streaming Resampler == one-shot resample for any chunking; identity when rates are equal."""

from __future__ import annotations

import numpy as np
import pytest
import soxr
from hypothesis import given, settings
from hypothesis import strategies as st

from audio_helpers import noise_and_tones, run_stream
from speechstream.audio.resample import Resampler, resample
from speechstream.errors import AudioError

RATES = [8000, 16000, 22050, 44100, 48000]


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("sizes", [[1], [777], [160, 3, 4096], [10**6]])
def test_chunked_equals_one_shot(rate, sizes):
    x = noise_and_tones(rate, sample_rate=rate, seed=rate)
    if sizes == [1]:
        x = x[: rate // 10]  # 1-sample chunks are slow in Python; 100 ms suffices
    one_shot = resample(x, rate, 16000)
    assert one_shot.dtype == np.float32
    assert abs(len(one_shot) - len(x) * 16000 / rate) <= 1
    streamed = run_stream(Resampler(rate, 16000), x, sizes)
    assert streamed.shape == one_shot.shape
    np.testing.assert_allclose(streamed, one_shot, atol=1e-5, rtol=0)


@settings(max_examples=20, deadline=None)
@given(rate=st.sampled_from(RATES), n=st.integers(0, 20000), sizes=st.lists(st.integers(1, 3000), min_size=1, max_size=8))
def test_random_chunkings(rate, n, sizes):
    x = (np.random.default_rng(n).standard_normal(n) * 0.1).astype(np.float32)
    np.testing.assert_allclose(run_stream(Resampler(rate, 16000), x, sizes), resample(x, rate, 16000), atol=1e-5)


def test_one_shot_is_soxr_and_preserves_a_tone():
    x = noise_and_tones(48000, sample_rate=48000)
    np.testing.assert_array_equal(resample(x, 48000, 16000), soxr.resample(x, 48000, 16000, quality="HQ"))
    t = np.arange(48000) / 48000
    y = resample(np.sin(2 * np.pi * 1000 * t).astype(np.float32), 48000, 16000)
    ref = np.sin(2 * np.pi * 1000 * np.arange(len(y)) / 16000)
    np.testing.assert_allclose(y[1000:-1000], ref[1000:-1000], atol=1e-3)


def test_identity_when_rates_equal():
    x = noise_and_tones(1234)
    np.testing.assert_array_equal(resample(x, 16000, 16000), x)
    np.testing.assert_array_equal(run_stream(Resampler(16000, 16000), x, [100]), x)


def test_errors():
    with pytest.raises(AudioError, match="positive"):
        Resampler(0, 16000)
    with pytest.raises(AudioError, match="1-D"):
        resample(np.zeros((4, 2), np.float32), 8000, 16000)
    r = Resampler(8000, 16000)
    r.flush()
    with pytest.raises(RuntimeError):
        r.accept(np.zeros(4, np.float32))
