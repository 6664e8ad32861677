"""Analysis windows for the STFT, built the way torch builds them (numpy only)."""

from __future__ import annotations

import numpy as np

from speechstream.errors import AudioError


def hann(win_length: int) -> np.ndarray:
    """Periodic Hann window, equal to torch.hann_window(win_length) (periodic=True). Shape (win_length,)."""
    # Periodic: the denominator is N, not N - 1, so shifted copies at hop N/4 sum to a constant (COLA).
    n = np.arange(win_length, dtype=np.float64)
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * n / win_length)


_NAMED = {"hann": hann}


def make_window(window: str | np.ndarray, win_length: int, n_fft: int) -> np.ndarray:
    """The window as float64 of shape (n_fft,), zero-padded centrally when win_length < n_fft.

    The centring offset is (n_fft - win_length) // 2, as in torch.stft.
    """
    if isinstance(window, str):
        if window not in _NAMED:
            raise ValueError(f"unknown window {window!r}; known: {sorted(_NAMED)}, or pass an array")
        w = _NAMED[window](win_length)
    else:
        w = np.asarray(window)
        if w.ndim != 1 or w.shape[0] != win_length:
            raise ValueError(f"window must be 1-D of length win_length={win_length}, got shape {w.shape}")
        if np.iscomplexobj(w) or not np.issubdtype(w.dtype, np.number):
            raise ValueError(f"window must be real, got dtype {w.dtype}")
        w = w.astype(np.float64)
        if not np.all(np.isfinite(w)):
            raise AudioError("window contains NaN or infinity")
    left = (n_fft - win_length) // 2
    out = np.zeros(n_fft, dtype=np.float64)
    out[left : left + win_length] = w
    return out
