"""Streaming STFT / ISTFT (numpy only) whose streamed output equals the offline transform for any chunking.

Offline, `STFT` frames like `torch.stft(center=True, pad_mode="reflect")` and inverts like `torch.istft(center=True)`.
Streaming, `STFT.stream()` and `STFT.inverse_stream()` follow the package protocol (`accept(x) -> y`, `flush() -> y`)
and hold only a buffer of less than about n_fft + chunk samples.

Shape legend: N samples, T frames, F = n_fft // 2 + 1 frequency bins.

Short input: reflect padding needs more than n_fft // 2 samples (as in torch). Shorter input (empty included)
raises AudioError, both offline and at `flush()` of a stream.

Zero window envelope: torch.istft raises where the summed squared window is ~0; here such samples are 0. Windows
whose steady-state envelope has a zero at this hop (not NOLA) are refused when an inverse is requested.
"""

from __future__ import annotations

import numpy as np

from speechstream.audio.windows import make_window
from speechstream.errors import AudioError

# torch.istft's threshold for "the window envelope is zero here".
_ENVELOPE_EPS = 1e-11


class STFT:
    """Short-time Fourier transform with a matching inverse and streaming versions of both."""

    def __init__(
        self, n_fft: int, hop_length: int, win_length: int | None = None, window: str | np.ndarray = "hann"
    ) -> None:
        win_length = n_fft if win_length is None else win_length
        for name, v in (("n_fft", n_fft), ("hop_length", hop_length), ("win_length", win_length)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if n_fft < 2:
            raise ValueError(f"n_fft must be at least 2, got {n_fft}")
        if win_length > n_fft:
            raise ValueError(f"win_length ({win_length}) must not exceed n_fft ({n_fft})")
        self.n_fft = int(n_fft)
        self.hop_length = int(hop_length)
        self.win_length = int(win_length)
        self.window = make_window(window, self.win_length, self.n_fft)  # (n_fft,) float64
        self._window32 = self.window.astype(np.float32)
        self.pad = self.n_fft // 2  # reflect padding on each side (center=True)
        # Frames overlapping one output sample: each frame is cut into this many hop-long segments for overlap-add.
        self._n_segments = -(-self.n_fft // self.hop_length)
        w2 = np.zeros(self._n_segments * self.hop_length, dtype=np.float64)
        w2[: self.n_fft] = self.window**2
        self._w2_segments = w2
        # Envelope far from the left edge: position p gets sum_r w2[p % hop + r * hop].
        self._steady_envelope = w2.reshape(self._n_segments, self.hop_length).sum(axis=0)

    @property
    def n_freqs(self) -> int:
        """F, the number of frequency bins of a frame."""
        return self.n_fft // 2 + 1

    @property
    def inverse_latency_samples(self) -> int:
        """Samples an inverse stream holds back: an output sample is final once every overlapping frame arrived."""
        return self.n_fft - self.hop_length

    def n_frames(self, n_samples: int) -> int:
        """T for an input of n_samples (n_samples > n_fft // 2)."""
        return 1 + (n_samples + 2 * self.pad - self.n_fft) // self.hop_length

    # ---- analysis ---------------------------------------------------------------------------------------

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Frames of a whole signal: x (N,) real -> (T, F) complex64, T = 1 + (N + 2 * (n_fft // 2) - n_fft) // hop."""
        x = _check_samples(x)
        self._check_length(x.shape[0])
        padded = np.concatenate([x[self.pad : 0 : -1], x, _right_reflection(x, self.pad)])
        return self._analyse(padded, 0, self.n_frames(x.shape[0]))

    def stream(self) -> STFTStream:
        """A new analysis stream: accept(samples (n,)) -> (t, F) complex64, flush() -> (t, F)."""
        return STFTStream(self)

    def _check_length(self, n: int) -> None:
        if n <= self.pad:
            raise AudioError(
                f"signal of {n} samples is too short for an STFT with n_fft={self.n_fft}: "
                f"reflect padding needs more than {self.pad} samples"
            )

    def _analyse(self, padded: np.ndarray, offset: int, count: int) -> np.ndarray:
        """rfft of `count` windowed frames of `padded`, the first starting at `offset`. -> (count, F) complex64."""
        if count <= 0:
            return np.zeros((0, self.n_freqs), dtype=np.complex64)
        span = padded[offset : offset + (count - 1) * self.hop_length + self.n_fft]
        if offset < 0 or span.shape[0] < (count - 1) * self.hop_length + self.n_fft:
            raise RuntimeError("internal error: STFT buffer shorter than the frames asked for")  # as_strided guard
        # A strided view: no copy of overlapping frames until the window multiply. as_strided rather than
        # sliding_window_view, which costs more than the FFT itself at one frame per 10 ms chunk.
        step = span.strides[0]
        frames = np.lib.stride_tricks.as_strided(
            span, shape=(count, self.n_fft), strides=(self.hop_length * step, step), writeable=False
        )
        return np.fft.rfft(frames * self._window32, axis=-1).astype(np.complex64, copy=False)

    # ---- synthesis --------------------------------------------------------------------------------------

    def inverse(self, frames: np.ndarray, length: int | None = None) -> np.ndarray:
        """Overlap-add inverse like torch.istft(center=True): frames (T, F) -> (N,) float32.

        Without `length`, N = (T - 1) * hop + n_fft - 2 * (n_fft // 2); with it, the output is cut or zero-padded
        to `length` samples (samples in the right padding region are kept, as torch does).
        """
        self._check_nola()
        frames = self._check_frames(frames)
        if length is not None and (isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 0):
            raise ValueError(f"length must be a non-negative integer or None, got {length!r}")
        n = frames.shape[0]
        if n == 0:
            return np.zeros(0 if length is None else int(length), dtype=np.float32)
        numerator = self._overlap_add(self._synthesise(frames))
        full = _divide(numerator, self._envelope(0, numerator.shape[0], n))
        end = full.shape[0] - self.pad if length is None else self.pad + int(length)
        y = full[self.pad : end]
        if length is not None and y.shape[0] < length:
            y = np.concatenate([y, np.zeros(int(length) - y.shape[0])])
        return y.astype(np.float32)

    def inverse_stream(self) -> ISTFTStream:
        """A new synthesis stream: accept(frames (t, F)) -> samples (n,) float32, flush() -> the tail."""
        self._check_nola()
        return ISTFTStream(self)

    def _check_nola(self) -> None:
        if self._steady_envelope.min() <= _ENVELOPE_EPS:
            raise ValueError(
                f"the window is not invertible at hop_length={self.hop_length}: "
                "its squared overlap-add has zeros (NOLA)"
            )

    def _check_frames(self, frames: np.ndarray) -> np.ndarray:
        f = np.asarray(frames)
        if f.ndim != 2 or f.shape[1] != self.n_freqs:
            raise AudioError(f"frames must have shape (T, {self.n_freqs}) for n_fft={self.n_fft}, got {f.shape}")
        if not (np.issubdtype(f.dtype, np.number) and not np.issubdtype(f.dtype, np.bool_)):
            raise AudioError(f"frames must be numeric, got dtype {f.dtype}")
        if not np.all(np.isfinite(f)):
            raise AudioError("frames contain NaN or infinity")
        return f.astype(np.complex128, copy=False)

    def _synthesise(self, frames: np.ndarray) -> np.ndarray:
        """Windowed inverse rfft of each frame: (k, F) complex -> (k, n_fft) float64."""
        return np.fft.irfft(frames, n=self.n_fft, axis=-1) * self.window

    def _overlap_add(self, time: np.ndarray) -> np.ndarray:
        """Sum of k frames placed hop apart: (k, n_fft) -> ((k - 1) * hop + n_fft,) float64."""
        k, hop, r_count = time.shape[0], self.hop_length, self._n_segments
        if k == 1:
            return time[0]  # the common vocoder case: nothing overlaps within the call
        # Cut each frame into hop-long segments; segment r of every frame adds at once (a loop over r, not frames).
        seg = np.zeros((k, r_count * hop))
        seg[:, : self.n_fft] = time
        seg = seg.reshape(k, r_count, hop)
        out = np.zeros((k + r_count - 1) * hop)
        for r in range(r_count):
            out[r * hop : (r + k) * hop] += seg[:, r, :].reshape(-1)
        return out[: (k - 1) * hop + self.n_fft]

    def _envelope(self, start: int, stop: int, n_frames: int | None) -> np.ndarray:
        """Summed squared window at padded positions [start, stop) given frames 0..n_frames-1 (None: unbounded)."""
        hop = self.hop_length
        if n_frames is None and start >= (self._n_segments - 1) * hop:
            # Every overlapping frame exists here: the periodic steady state (the same sums, in the same order).
            return self._steady_envelope[np.arange(start, stop) % hop]
        p = np.arange(start, stop)
        env = np.zeros(p.shape[0])
        for r in range(self._n_segments):
            t = p // hop - r
            valid = t >= 0 if n_frames is None else (t >= 0) & (t < n_frames)
            env += np.where(valid, self._w2_segments[p % hop + r * hop], 0.0)
        return env


class STFTStream:
    """Analysis stream: emits each frame once all samples it needs have arrived.

    Holds the padded signal from the first frame not yet emitted (and at least the last n_fft // 2 + 1 samples,
    which the right reflection needs at flush). Frame t is ready once t * hop + n_fft <= n_fft // 2 + received
    and the left reflection (the first n_fft // 2 + 1 samples) is known.
    """

    def __init__(self, stft: STFT) -> None:
        self.stft = stft
        self.reset()

    @property
    def lookahead_samples(self) -> int:
        """Samples past a frame's centre that must arrive before the frame is emitted (away from the edges)."""
        return self.stft.n_fft - self.stft.pad - 1

    def reset(self) -> None:
        """Forget everything; the next accept starts a new signal."""
        self._buf = np.zeros(0, dtype=np.float32)  # padded signal from padded position self._buf_start
        self._buf_start = 0
        self._received = 0
        self._started = False  # left reflection prepended
        self._next_frame = 0

    def accept(self, samples: np.ndarray) -> np.ndarray:
        """Consume samples (n,) real; return the frames (t, F) complex64 that are now final."""
        x = _check_samples(samples)
        self._received += x.shape[0]
        self._buf = np.concatenate([self._buf, x])
        pad = self.stft.pad
        if not self._started:
            if self._received <= pad:
                return self.stft._analyse(self._buf, 0, 0)
            self._buf = np.concatenate([self._buf[pad:0:-1], self._buf])
            self._started = True
        return self._emit(self._received + pad, keep_tail=pad + 1)

    def flush(self) -> np.ndarray:
        """End the signal; return the last frames (those that reach into the right reflection), then reset."""
        try:
            self.stft._check_length(self._received)
            pad = self.stft.pad
            self._buf = np.concatenate([self._buf, _right_reflection(self._buf, pad)])
            return self._emit(self._received + 2 * pad, keep_tail=0)
        finally:
            self.reset()

    def _emit(self, end: int, keep_tail: int) -> np.ndarray:
        """Frames complete within padded positions [.., end); then drop what no later frame needs."""
        s, hop = self.stft, self.stft.hop_length
        last = (end - s.n_fft) // hop  # last frame that fits (negative: none)
        count = max(0, last - self._next_frame + 1)
        frames = s._analyse(self._buf, self._next_frame * hop - self._buf_start, count)
        self._next_frame += count
        keep = max(self._buf_start, min(self._next_frame * hop, end - keep_tail))
        self._buf = self._buf[keep - self._buf_start :]
        self._buf_start = keep
        return frames


class ISTFTStream:
    """Synthesis stream: overlap-adds frames into a small accumulator and emits each sample once final.

    After k frames, padded positions below k * hop get no more contributions, so output lags the newest frame's
    end by n_fft - hop samples (`latency_samples`). Concatenated output equals `STFT.inverse(all_frames)`.
    """

    def __init__(self, stft: STFT) -> None:
        self.stft = stft
        self.reset()

    @property
    def latency_samples(self) -> int:
        """Samples of the frames received so far that are held back until the next frame arrives."""
        return self.stft.inverse_latency_samples

    def reset(self) -> None:
        """Forget everything; the next accept starts a new signal."""
        self._acc = np.zeros(0)  # overlap-added numerator at padded positions from self._acc_start
        self._acc_start = 0  # the next padded position to emit
        self._n_frames = 0

    def accept(self, frames: np.ndarray) -> np.ndarray:
        """Consume frames (t, F); return the output samples (n,) float32 that are now final."""
        s = self.stft
        f = s._check_frames(frames)
        if f.shape[0] == 0:
            return np.zeros(0, dtype=np.float32)
        seg = s._overlap_add(s._synthesise(f))
        begin = self._n_frames * s.hop_length - self._acc_start
        acc = np.zeros(max(self._acc.shape[0], begin + seg.shape[0]))
        acc[: self._acc.shape[0]] = self._acc
        acc[begin : begin + seg.shape[0]] += seg
        self._acc = acc
        self._n_frames += f.shape[0]
        n = self._n_frames
        # Also never pass the end that a flush now would give (matters only when hop > n_fft - n_fft // 2).
        limit = min(n * s.hop_length, (n - 1) * s.hop_length + s.n_fft - s.pad)
        return self._emit(limit, None)

    def flush(self) -> np.ndarray:
        """End the stream; return the remaining samples, then reset."""
        try:
            n = self._n_frames
            if n == 0:
                return np.zeros(0, dtype=np.float32)
            s = self.stft
            return self._emit((n - 1) * s.hop_length + s.n_fft - s.pad, n)
        finally:
            self.reset()

    def _emit(self, limit: int, n_frames: int | None) -> np.ndarray:
        count = limit - self._acc_start
        env = self.stft._envelope(self._acc_start, limit, n_frames)
        y = _divide(self._acc[:count], env)
        y = y[max(0, self.stft.pad - self._acc_start) :]  # the left padding is not output
        self._acc = self._acc[count:]
        self._acc_start = limit
        return y.astype(np.float32)


def _check_samples(x: np.ndarray) -> np.ndarray:
    """A 1-D, real, finite signal as float32."""
    a = np.asarray(x)
    if a.ndim != 1:
        raise AudioError(f"expected a 1-D signal (N,), got shape {a.shape}")
    if np.iscomplexobj(a) or a.dtype == np.bool_ or not np.issubdtype(a.dtype, np.number):
        raise AudioError(f"expected real samples, got dtype {a.dtype}")
    a = a.astype(np.float32, copy=False)
    if not np.all(np.isfinite(a)):
        raise AudioError("signal contains NaN or infinity")
    return a


def _right_reflection(x: np.ndarray, pad: int) -> np.ndarray:
    """x[N-2], x[N-3], ..., x[N-1-pad]: the reflect padding after the end of x."""
    return x[x.shape[0] - 1 - np.arange(1, pad + 1)]


def _divide(numerator: np.ndarray, envelope: np.ndarray) -> np.ndarray:
    ok = envelope > _ENVELOPE_EPS
    return np.where(ok, numerator / np.where(ok, envelope, 1.0), 0.0)
