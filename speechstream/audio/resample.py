"""Sample-rate conversion with soxr, one-shot and streaming; the streaming output equals the one-shot."""

from __future__ import annotations

import numpy as np
import soxr

from speechstream.errors import AudioError

# Both entry points must use the same quality, or the streaming output would differ from the one-shot.
QUALITY = "HQ"


def _check(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 1:
        raise AudioError(f"resample expects 1-D samples, got shape {x.shape}")
    return np.ascontiguousarray(x, dtype=np.float32)


def _check_rates(in_rate: int, out_rate: int) -> None:
    if in_rate <= 0 or out_rate <= 0:
        raise AudioError(f"sample rates must be positive, got {in_rate} -> {out_rate}")


def resample(x: np.ndarray, in_rate: int, out_rate: int) -> np.ndarray:
    """(N,) -> (N * out_rate / in_rate,) float32."""
    _check_rates(in_rate, out_rate)
    x = _check(x)
    if in_rate == out_rate:
        return x.copy()
    return soxr.resample(x, in_rate, out_rate, quality=QUALITY).astype(np.float32, copy=False)


class Resampler:
    """Streaming resampler: concatenating every `accept` and the final `flush` equals `resample`."""

    def __init__(self, in_rate: int, out_rate: int) -> None:
        _check_rates(in_rate, out_rate)
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._stream = (
            None if in_rate == out_rate else soxr.ResampleStream(in_rate, out_rate, 1, dtype="float32", quality=QUALITY)
        )
        self._finished = False

    def accept(self, x: np.ndarray) -> np.ndarray:
        if self._finished:
            raise RuntimeError("accept() after flush()")
        x = _check(x)
        if self._stream is None:
            return x.copy()
        return self._stream.resample_chunk(x, last=False)

    def flush(self) -> np.ndarray:
        if self._finished:
            raise RuntimeError("flush() called twice")
        self._finished = True
        if self._stream is None:
            return np.zeros(0, np.float32)
        return self._stream.resample_chunk(np.zeros(0, np.float32), last=True)
