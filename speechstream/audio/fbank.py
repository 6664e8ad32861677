"""Log-mel filterbank features (Kaldi framing, snip_edges=False), offline and streaming, numpy only.

The default config is what sherpa-onnx computes for NeMo-style streaming models; it equals
kaldi-native-fbank with window_type="hann", remove_dc_offset=False, dither=0, snip_edges=False,
mel_opts.is_librosa=True, norm="slaney", use_slaney_mel_scale=True, low_freq=0, high_freq=8000
(checked in tests/test_fbank.py). Samples are used as given (range [-1, 1]; no x32768 scaling).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from speechstream.audio import mel
from speechstream.errors import AudioError


@dataclass(frozen=True)
class FbankConfig:
    sample_rate: int = 16000
    num_mel_bins: int = 80
    frame_length: int = 400  # samples
    frame_shift: int = 160  # samples
    n_fft: int = 512  # the frame is zero-padded to this length
    preemphasis: float = 0.97  # per frame, Kaldi style (first sample uses itself as predecessor)
    remove_dc_offset: bool = False
    window: str = "hann"  # periodic Hann; see mel.analysis_window
    low_freq: float = 0.0
    high_freq: float = 8000.0  # <= 0 means Nyquist + high_freq, as in Kaldi
    mel_scale: str = "slaney"
    mel_norm: str | None = "slaney"
    log_floor: float = 1.1920929e-07  # float32 epsilon, the floor applied before log

    def __post_init__(self) -> None:
        if self.frame_length > self.n_fft:
            raise ValueError(f"frame_length {self.frame_length} exceeds n_fft {self.n_fft}")
        if self.frame_shift <= 0 or self.frame_length <= 0:
            raise ValueError("frame_length and frame_shift must be positive")

    @property
    def nyquist_high_freq(self) -> float:
        return self.high_freq if self.high_freq > 0 else self.sample_rate / 2 + self.high_freq

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "FbankConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown FbankConfig fields: {sorted(unknown)}")
        return cls(**d)


class Fbank:
    """`fbank(x) -> (T, M)` offline; `fbank.stream()` for chunked input with identical output.

    T = (N + shift // 2) // shift, M = num_mel_bins.
    """

    def __init__(self, config: FbankConfig | None = None) -> None:
        self.config = config or FbankConfig()
        c = self.config
        self.window = mel.analysis_window(c.window, c.frame_length)  # (L,)
        self.mel_matrix = mel.mel_filterbank(  # (F, M)
            c.sample_rate, c.n_fft, c.num_mel_bins, c.low_freq, c.nyquist_high_freq, c.mel_scale, c.mel_norm
        )
        self._offsets = np.arange(c.frame_length, dtype=np.int64)

    def num_frames(self, num_samples: int) -> int:
        return mel.num_frames(num_samples, self.config.frame_shift)

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        """(N,) float samples -> (T, M) float32 log-mel features."""
        x = _as_mono(samples)
        n = len(x)
        t = self.num_frames(n)
        if t == 0:
            return np.zeros((0, self.config.num_mel_bins), np.float32)
        starts = mel.frame_starts(0, t, self.config.frame_length, self.config.frame_shift)
        return self.features(x[mel.reflect(starts[:, None] + self._offsets, n)])

    def features(self, frames: np.ndarray) -> np.ndarray:
        """(T, L) raw frames -> (T, M) float32; all frames in one batched rfft."""
        c = self.config
        f = frames.astype(np.float64)
        if c.remove_dc_offset:
            f = f - f.mean(axis=1, keepdims=True)
        if c.preemphasis:
            f = np.concatenate([f[:, :1] * (1.0 - c.preemphasis), f[:, 1:] - c.preemphasis * f[:, :-1]], axis=1)
        power = np.abs(np.fft.rfft(f * self.window, n=c.n_fft, axis=1)) ** 2
        return np.log(np.maximum(power @ self.mel_matrix, c.log_floor)).astype(np.float32)

    def stream(self) -> "FbankStream":
        return FbankStream(self)


class FbankStream:
    """Emits each frame as soon as its last sample has arrived; `flush()` emits the right-edge frames,
    whose reflected samples depend on the final length."""

    def __init__(self, fbank: Fbank) -> None:
        self._fbank = fbank
        self._buffer = np.zeros(0, np.float32)
        self._buffer_start = 0  # absolute index of _buffer[0]
        self._received = 0
        self._next_frame = 0
        self._finished = False

    def accept(self, samples: np.ndarray) -> np.ndarray:
        """(n,) samples -> (t, M) features of frames completed by them."""
        if self._finished:
            raise RuntimeError("accept() after flush()")
        x = _as_mono(samples)
        self._buffer = np.concatenate([self._buffer, x])
        self._received += len(x)
        c = self._fbank.config
        # Frame i ends at i*shift + shift//2 - length//2 + length - 1; ready once that index arrived.
        last_end_offset = c.frame_shift // 2 - c.frame_length // 2 + c.frame_length - 1
        ready = (self._received - 1 - last_end_offset) // c.frame_shift + 1
        count = max(0, ready - self._next_frame)
        out = self._emit(count, self._received)
        self._trim()
        return out

    def flush(self) -> np.ndarray:
        """The remaining frames, reflected at the final length; the stream is then finished."""
        if self._finished:
            raise RuntimeError("flush() called twice")
        self._finished = True
        total = self._fbank.num_frames(self._received)
        out = self._emit(max(0, total - self._next_frame), self._received)
        self._buffer = np.zeros(0, np.float32)
        return out

    def _emit(self, count: int, num_samples: int) -> np.ndarray:
        c = self._fbank.config
        if count == 0:
            return np.zeros((0, c.num_mel_bins), np.float32)
        starts = mel.frame_starts(self._next_frame, count, c.frame_length, c.frame_shift)
        self._next_frame += count
        if starts[0] >= 0 and starts[-1] + c.frame_length <= num_samples:  # no edge: strided views, no gather
            first = int(starts[0]) - self._buffer_start
            windows = np.lib.stride_tricks.sliding_window_view(self._buffer[first:], c.frame_length)
            return self._fbank.features(windows[:count * c.frame_shift:c.frame_shift])
        idx = mel.reflect(starts[:, None] + self._fbank._offsets, num_samples) - self._buffer_start
        # Frames not yet emitted only need samples at or after their (clipped) start, which we keep.
        assert idx.min() >= 0, "internal error: fbank stream dropped samples it still needs"
        return self._fbank.features(self._buffer[idx])

    def _trim(self) -> None:
        c = self._fbank.config
        keep_from = max(0, int(mel.frame_starts(self._next_frame, 1, c.frame_length, c.frame_shift)[0]))
        drop = keep_from - self._buffer_start
        if drop > 0:
            self._buffer = self._buffer[drop:]
            self._buffer_start = keep_from


def _as_mono(samples: np.ndarray) -> np.ndarray:
    x = np.asarray(samples)
    if x.ndim != 1:
        raise AudioError(f"fbank expects 1-D samples, got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise AudioError(f"fbank expects float samples in [-1, 1], got dtype {x.dtype}")
    return x.astype(np.float32, copy=False)
