"""The exported ASR graphs as numpy callables (onnxruntime only, never torch).

Shapes: B streams, C feature frames per step, F feature bins, c = C / f encoder frames, D encoder dim,
V vocabulary, N predictor rows, Dp predictor dim. The state is the four arrays of ConformerEncoder.step,
batch first, so the states of several streams stack along axis 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from speechstream.errors import ModelError
from speechstream.runtime.session import create_session, read_metadata, require

EncoderState = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
STATE_NAMES = ("pre_encode_cache", "cache_last_channel", "cache_last_time", "cache_last_channel_len")
REQUIRED_META = ["subsampling_factor", "pre_encode_cache_frames", "att_cache_frames", "att_cache_dim",
                 "conv_cache_frames",
                 "num_layers", "d_model", "feat_dim", "pad_feature", "att_contexts", "default_att_context",
                 "chunk_frames", "latency_ms", "vocab_size", "blank_id", "context_size", "features"]


@dataclass(frozen=True)
class StreamingContract:
    """What the encoder graph's metadata says about streaming it (all computed by the export)."""

    subsampling_factor: int
    pre_encode_cache_frames: int
    att_cache_frames: int
    att_cache_dim: int  # a cached frame's key and value: 2 * d_model
    conv_cache_frames: int
    num_layers: int
    d_model: int
    feat_dim: int
    pad_feature: float
    att_contexts: tuple[tuple[int, int], ...]
    default_att_context: int
    chunk_frames: tuple[int, ...]
    latency_ms: tuple[float, ...]
    vocab_size: int
    blank_id: int
    context_size: int
    features: dict[str, Any]

    @classmethod
    def from_metadata(cls, meta: dict[str, Any]) -> StreamingContract:
        kw = {k: meta[k] for k in REQUIRED_META}
        kw["att_contexts"] = tuple(tuple(x) for x in kw["att_contexts"])
        kw["chunk_frames"] = tuple(kw["chunk_frames"])
        kw["latency_ms"] = tuple(float(x) for x in kw["latency_ms"])
        return cls(**kw)

    @property
    def lookahead_ms(self) -> tuple[float, ...]:
        """Chunk duration of each look-ahead (80, 160, 480 ms ...): what users choose by."""
        shift_ms = self.features["frame_shift"] / self.features["sample_rate"] * 1000
        return tuple(c * shift_ms for c in self.chunk_frames)

    def context_index(self, lookahead_ms: float | None) -> int:
        """The default look-ahead for None, else the longest one that is <= lookahead_ms."""
        if lookahead_ms is None:
            return self.default_att_context
        fitting = [i for i, ms in enumerate(self.lookahead_ms) if ms <= lookahead_ms + 1e-6]
        if not fitting:
            choices = ", ".join(f"{ms:g}" for ms in self.lookahead_ms)
            raise ModelError(f"this model has no look-ahead of {lookahead_ms:g} ms or less (it has {choices} ms)")
        return max(fitting, key=lambda i: self.lookahead_ms[i])


class EncoderGraph:
    """encoder.onnx: one streaming step for a batch of streams at any of the model's look-aheads."""

    def __init__(self, path: str | Path, num_threads: int = 1, provider: str = "cpu") -> None:
        self.session = create_session(path, num_threads, provider)
        meta = read_metadata(self.session)
        require(meta, REQUIRED_META, path)
        self.contract = StreamingContract.from_metadata(meta)

    def init_state(self, batch_size: int) -> EncoderState:
        c = self.contract
        return (np.full((batch_size, c.pre_encode_cache_frames, c.feat_dim), c.pad_feature, np.float32),
                np.zeros((batch_size, c.num_layers, c.att_cache_frames, c.att_cache_dim), np.float32),
                np.zeros((batch_size, c.num_layers, c.d_model, c.conv_cache_frames), np.float32),
                np.zeros(batch_size, np.int64))

    def step(self, feats: np.ndarray, lengths: np.ndarray, state: EncoderState
             ) -> tuple[np.ndarray, np.ndarray, EncoderState]:
        """feats (B, C, F), lengths (B,) valid frames -> encoder_out (B, c, D), ctc_log_probs (B, c, V), state."""
        inputs = {"feats": np.ascontiguousarray(feats, np.float32), "lengths": lengths.astype(np.int64),
                  **dict(zip(STATE_NAMES, state))}
        enc, log_probs, *next_state = self.session.run(None, inputs)
        return enc, log_probs, tuple(next_state)  # type: ignore[return-value]


class PredictorGraph:
    """predictor.onnx as the numpy decoders' `predictor(tokens (N, context)) -> (N, Dp)`."""

    def __init__(self, path: str | Path, num_threads: int = 1, provider: str = "cpu") -> None:
        self.session = create_session(path, num_threads, provider)

    def __call__(self, tokens: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"tokens": tokens.astype(np.int64)})[0]


class JoinerGraph:
    """joiner.onnx as the numpy decoders' `joiner(enc (N, D), pred (N, Dp)) -> logits (N, V)`."""

    def __init__(self, path: str | Path, num_threads: int = 1, provider: str = "cpu") -> None:
        self.session = create_session(path, num_threads, provider)

    def __call__(self, enc: np.ndarray, pred: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"encoder_out": np.ascontiguousarray(enc, np.float32),
                                       "pred": np.ascontiguousarray(pred, np.float32)})[0]


def stack_states(states: list[EncoderState]) -> EncoderState:
    return tuple(np.concatenate(parts, axis=0) for parts in zip(*states))  # type: ignore[return-value]


def split_state(state: EncoderState, batch_size: int) -> list[EncoderState]:
    return [tuple(s[i:i + 1] for s in state) for i in range(batch_size)]  # type: ignore[misc]
