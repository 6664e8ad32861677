"""VTLP on log-mel frames against the real thing: the Fbank of a signal whose frequencies are scaled by alpha."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from speechstream.audio.fbank import Fbank, FbankConfig
from speechstream.train.vtlp import VtlpConfig, mel_centres_hz, vtlp, warp, warp_positions

RATE = 16000


def tones(freqs: list[float], seconds: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return sum(np.sin(2 * np.pi * f * t) for f in freqs).astype(np.float32) / len(freqs)


def peaks(frame: np.ndarray, count: int) -> list[int]:
    """The `count` highest local maxima of a log-mel frame, in bin order."""
    is_peak = (frame[1:-1] > frame[:-2]) & (frame[1:-1] >= frame[2:])
    idx = np.flatnonzero(is_peak) + 1
    return sorted(idx[np.argsort(frame[idx])[-count:]].tolist())


@pytest.mark.parametrize("alpha", [0.9, 1.12])
def test_warped_frames_put_the_formants_where_a_scaled_signal_has_them(alpha: float) -> None:
    freqs = [450.0, 1300.0, 2600.0]  # all below the knee (4800 Hz x min(alpha, 1))
    fbank = Fbank()
    original = fbank(tones(freqs))
    scaled = fbank(tones([alpha * f for f in freqs]))
    warped = warp(torch.from_numpy(original), alpha, VtlpConfig(max_warp=0.2)).numpy()
    mid = original.shape[0] // 2
    assert peaks(warped[mid], 3) == pytest.approx(peaks(scaled[mid], 3), abs=1)
    assert peaks(original[mid], 3) != peaks(scaled[mid], 3)  # the warp is big enough to be seen
    # on the bins the tones cover, the warped profile follows the scaled signal's (dB-like log units)
    band = slice(0, 50)
    assert np.corrcoef(warped[mid, band], scaled[mid, band])[0, 1] > 0.9


def test_identity_ends_and_determinism() -> None:
    fb = FbankConfig()
    centres = mel_centres_hz(fb)
    cfg = VtlpConfig(max_warp=0.15)
    np.testing.assert_allclose(warp_positions(1.0, centres, cfg, RATE / 2), np.arange(len(centres)), atol=1e-9)
    for alpha in (0.85, 1.15):
        pos = warp_positions(alpha, centres, cfg, RATE / 2)
        assert np.all(np.diff(pos) > 0) and pos[-1] > len(centres) - 2  # monotonic, Nyquist stays put
    x = torch.randn(3, 20, fb.num_mel_bins)
    a = vtlp(x, cfg, torch.Generator().manual_seed(5))
    b = vtlp(x, cfg, torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and a.shape == x.shape and not torch.equal(a, x)
    with pytest.raises(ValueError, match="mel bins"):
        vtlp(torch.zeros(1, 4, 40), cfg, torch.Generator())
