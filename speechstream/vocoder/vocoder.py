"""The user-facing vocoder: 80-dim Fbank frames -> 16 kHz waveform, offline or one chunk at a time.

Shapes: B batch, T mel frames, c chunk frames, M mel bins, F bins, N samples.

``Vocoder`` composes a generator (``FlowGenerator`` in torch, or ``OnnxGenerator`` with numpy and
onnxruntime only) with the numpy streaming ISTFT. Output for T mel frames is exactly T * hop samples:
the overlap-add of the T generated frames plus one closing all-zero frame, which makes the stream's last
hop final (it fades the last ~hop samples a little instead of dividing by a vanishing window sum).
Streamed output equals ``forward`` for any chunking (tests/test_vocoder_streaming.py).

This module imports no torch: a torch generator is driven through a small adapter that imports it lazily.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Protocol, Sequence

import numpy as np

from speechstream.audio.stft import STFT, ISTFTStream
from speechstream.errors import AudioError

from .config import VocoderConfig


class GeneratorBackend(Protocol):
    """What the vocoder needs from a generator, in numpy."""

    config: VocoderConfig

    def init_state(self, batch_size: int, seed: int | Sequence[int] = 0) -> Any: ...

    def step(self, mel: np.ndarray, state: Any) -> tuple[np.ndarray, Any]: ...

    def generate(self, mel: np.ndarray, seed: int | Sequence[int] = 0) -> np.ndarray: ...


class _TorchBackend:
    """numpy in and out around a torch FlowGenerator (offline = its own ``forward``)."""

    def __init__(self, generator: Any) -> None:
        self.generator = generator
        self.config = generator.config

    def init_state(self, batch_size: int, seed: int | Sequence[int] = 0) -> Any:
        return self.generator.init_state(batch_size, seed)

    def step(self, mel: np.ndarray, state: Any) -> tuple[np.ndarray, Any]:
        import torch

        with torch.inference_mode():
            frames, state = self.generator.step(torch.from_numpy(mel), state)
        return frames.numpy(), state

    def generate(self, mel: np.ndarray, seed: int | Sequence[int] = 0) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return self.generator(torch.from_numpy(mel), seed).numpy()


def as_backend(generator: Any) -> GeneratorBackend:
    """A torch module goes through the adapter; anything else must already speak numpy."""
    return _TorchBackend(generator) if hasattr(generator, "parameters") else generator


@dataclass(frozen=True)
class VocoderState:
    """One step's state: the generator's tensors, one ISTFT stream per batch row, pre-roll frames to drop.

    ``Vocoder.step`` never changes a state it is given (the ISTFT streams are copied), so re-running a step
    from an old state gives the same samples.
    """

    generator: Any
    streams: tuple[ISTFTStream, ...]
    preroll: int  # generated frames still to drop (the look-ahead's negative positions)


class Vocoder:
    def __init__(self, generator: Any) -> None:
        self.backend = as_backend(generator)
        self.config: VocoderConfig = self.backend.config
        self.stft = STFT(self.config.n_fft, self.config.hop_length)

    # ---- derived from the config, never hard-coded ----
    @property
    def latency_samples(self) -> int:
        return self.config.latency_samples

    @property
    def latency_ms(self) -> float:
        return self.config.latency_ms

    @property
    def chunk_frames(self) -> int:
        return self.config.chunk_frames

    def num_samples(self, num_frames: int) -> int:
        return num_frames * self.config.hop_length

    # ---- offline ----
    def forward(self, mel: np.ndarray, seed: int | Sequence[int] = 0) -> np.ndarray:
        """mel (B, T, M) -> waveform (B, T * hop) float32."""
        mel = self._check_mel(mel)
        if mel.shape[1] == 0:
            return np.zeros((mel.shape[0], 0), np.float32)
        frames = self.backend.generate(mel, seed)
        return np.stack([self.stft.inverse(self._closed(_complex(f))) for f in frames]).astype(np.float32)

    __call__ = forward

    # ---- streaming ----
    def init_state(self, batch_size: int = 1, seed: int | Sequence[int] = 0) -> VocoderState:
        streams = tuple(self.stft.inverse_stream() for _ in range(batch_size))
        return VocoderState(self.backend.init_state(batch_size, seed), streams, self.config.lookahead_frames)

    def step(self, mel: np.ndarray, state: VocoderState) -> tuple[np.ndarray, VocoderState]:
        """mel (B, c, M) next frames (any c >= 0) -> samples (B, n) now final, new state."""
        mel = self._check_mel(mel, len(state.streams))
        if mel.shape[1] == 0:
            return np.zeros((mel.shape[0], 0), np.float32), state
        frames, gen_state = self.backend.step(mel, state.generator)
        drop = min(state.preroll, frames.shape[1])
        streams = tuple(copy.copy(s) for s in state.streams)  # accept() rebinds, never mutates, its arrays
        out = np.stack([s.accept(_complex(f)) for s, f in zip(streams, frames[:, drop:])])
        return out, VocoderState(gen_state, streams, state.preroll - drop)

    def flush(self, state: VocoderState) -> np.ndarray:
        """End the streams: pad the look-ahead with pad_feature, close the overlap-add -> samples (B, n)."""
        b, c = len(state.streams), self.config
        pad = np.full((b, c.lookahead_frames, c.n_mels), c.pad_feature, np.float32)
        head, state = self.step(pad, state)
        streams = tuple(copy.copy(s) for s in state.streams)
        closing = np.zeros((1, c.n_freqs), np.complex64)
        tails = [np.concatenate([s.accept(closing), s.flush()]) for s in streams]
        return np.concatenate([head, np.stack(tails)], axis=1).astype(np.float32)

    # ---- helpers ----
    def _closed(self, frames: np.ndarray) -> np.ndarray:
        return np.concatenate([frames, np.zeros((1, frames.shape[1]), frames.dtype)])

    def _check_mel(self, mel: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        m = np.asarray(mel)
        if m.ndim != 3 or m.shape[2] != self.config.n_mels or (batch_size is not None and m.shape[0] != batch_size):
            want = f"({batch_size if batch_size is not None else 'B'}, T, {self.config.n_mels})"
            raise AudioError(f"mel frames must have shape {want}, got {m.shape}")
        if not np.issubdtype(m.dtype, np.floating) or not np.all(np.isfinite(m)):
            raise AudioError("mel frames must be finite floats")
        return np.ascontiguousarray(m, dtype=np.float32)


def _complex(frames: np.ndarray) -> np.ndarray:
    """(c, 2, F) [real; imaginary] -> (c, F) complex64."""
    return (frames[:, 0] + 1j * frames[:, 1]).astype(np.complex64)
