"""Mel filterbank, analysis window and Kaldi frame indexing shared by the numpy and torch Fbank.

Pure numpy so that both `fbank.py` (deployed, no torch) and `torch/fbank.py` (training) build their
constants from one definition and therefore agree bit-for-bit on them.
"""

from __future__ import annotations

import numpy as np

# Slaney's mel scale (librosa's default, `htk=False`): linear below 1 kHz, logarithmic above.
_F_SP = 200.0 / 3.0
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0


def hz_to_mel(hz: np.ndarray, scale: str = "slaney") -> np.ndarray:
    hz = np.asarray(hz, dtype=np.float64)
    if scale == "htk":
        return 1127.0 * np.log1p(hz / 700.0)
    if scale != "slaney":
        raise ValueError(f"unknown mel scale {scale!r} (use 'slaney' or 'htk')")
    lin = hz / _F_SP
    log = _MIN_LOG_MEL + np.log(np.maximum(hz, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOGSTEP
    return np.where(hz >= _MIN_LOG_HZ, log, lin)


def mel_to_hz(mel: np.ndarray, scale: str = "slaney") -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    if scale == "htk":
        return 700.0 * np.expm1(mel / 1127.0)
    if scale != "slaney":
        raise ValueError(f"unknown mel scale {scale!r} (use 'slaney' or 'htk')")
    lin = mel * _F_SP
    log = _MIN_LOG_HZ * np.exp(_LOGSTEP * (np.maximum(mel, _MIN_LOG_MEL) - _MIN_LOG_MEL))
    return np.where(mel >= _MIN_LOG_MEL, log, lin)


def mel_filterbank(
    sample_rate: int,
    n_fft: int,
    num_mel_bins: int,
    low_freq: float,
    high_freq: float,
    scale: str = "slaney",
    norm: str | None = "slaney",
) -> np.ndarray:
    """Triangular mel filters as a (F, M) float64 matrix, F = n_fft // 2 + 1, librosa-style.

    The triangles are interpolated on the exact FFT bin frequencies (librosa's construction, which is
    what kaldi-native-fbank's `is_librosa` banks reproduce); `norm="slaney"` scales each triangle to
    unit area so bands of different widths carry comparable energy.
    """
    fft_freqs = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    mel_pts = np.linspace(hz_to_mel(low_freq, scale), hz_to_mel(high_freq, scale), num_mel_bins + 2)
    hz_pts = mel_to_hz(mel_pts, scale)
    fdiff = np.diff(hz_pts)
    ramps = hz_pts[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    if norm == "slaney":
        weights *= (2.0 / (hz_pts[2:] - hz_pts[:-2]))[:, None]
    elif norm is not None:
        raise ValueError(f"unknown mel norm {norm!r} (use 'slaney' or None)")
    return weights.T


def analysis_window(name: str, length: int) -> np.ndarray:
    """(L,) float64 window. "hann" is periodic (kaldi-native-fbank's `window_type="hann"`, torch's
    default), "hanning" is Kaldi's symmetric one, "povey" Kaldi's default, "rectangular" all ones."""
    n = np.arange(length, dtype=np.float64)
    if name == "hann":
        return 0.5 - 0.5 * np.cos(2.0 * np.pi * n / length)
    if name == "hanning":
        return 0.5 - 0.5 * np.cos(2.0 * np.pi * n / (length - 1))
    if name == "povey":
        return (0.5 - 0.5 * np.cos(2.0 * np.pi * n / (length - 1))) ** 0.85
    if name == "rectangular":
        return np.ones(length)
    raise ValueError(f"unknown window {name!r} (use 'hann', 'hanning', 'povey' or 'rectangular')")


def num_frames(num_samples: int, frame_shift: int) -> int:
    """Kaldi's frame count with snip_edges=False: one frame per shift, rounded to the nearest."""
    return (num_samples + frame_shift // 2) // frame_shift


def frame_starts(first: int, count: int, frame_length: int, frame_shift: int) -> np.ndarray:
    """(T,) absolute index of the first sample of frames first .. first+count-1 (may be negative)."""
    i = np.arange(first, first + count, dtype=np.int64)
    return i * frame_shift + frame_shift // 2 - frame_length // 2


def reflect(index: np.ndarray, num_samples: int) -> np.ndarray:
    """Kaldi's out-of-range rule (s < 0 -> -s-1, s >= N -> 2N-1-s, repeated) as one fold: the rule is
    a mirror with period 2N, so `s mod 2N` then one mirror gives the fixed point in O(1)."""
    period = 2 * num_samples
    s = np.mod(index, period)
    return np.where(s >= num_samples, period - 1 - s, s)
