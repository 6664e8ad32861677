"""The exported acoustic model (encoder.onnx + decoder.onnx) run by onnxruntime with numpy only.

Shapes: B batch, p phonemes per step, c frames per step, S speakers, D encoding dim, C = D + 1, M mel bins.
The graphs and their state are those of speechstream.tts.torch (encoder.py, decoder.py); export.py writes
them with the metadata read here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from speechstream.errors import ModelError
from speechstream.runtime.session import create_session, read_metadata, require

from .config import AcousticConfig

MODEL_TYPE = "speechstream-tts-acoustic"
VERSION = 1
ENCODER_STATES = ("enc_in_cache", "enc_cache", "dur_cache", "position")
DECODER_STATES = ("dec_in_cache", "cond_cache", "bank", "counter")
_REQUIRED = ["model_type", "role", "config", "state_names", "state_shapes", "speakers"]

OnnxState = tuple[np.ndarray, ...]


class _Graph:
    def __init__(self, path: Path, role: str, num_threads: int, provider: str) -> None:
        self.session = create_session(path, num_threads, provider)
        self.metadata = read_metadata(self.session)
        require(self.metadata, _REQUIRED, path)
        if self.metadata["model_type"] != MODEL_TYPE or self.metadata["role"] != role:
            raise ModelError(f"{path} is not a {MODEL_TYPE} {role} graph")
        self.state_names: list[str] = list(self.metadata["state_names"])
        self.outputs = [o.name for o in self.session.get_outputs()]

    def zeros(self, batch_size: int) -> list[np.ndarray]:
        """The float states (all but the last, an int64 counter) at zero."""
        shapes = self.metadata["state_shapes"]
        return [np.zeros([batch_size, *shapes[n]], np.float32) for n in self.state_names[:-1]]

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self.session.run(self.outputs, feeds)


class OnnxAcoustic:
    """Both streaming steps in numpy; ``config`` is the model's AcousticConfig (from the metadata)."""

    def __init__(self, model_dir: str | Path, num_threads: int = 1, provider: str = "cpu") -> None:
        d = Path(model_dir)
        self.encoder = _Graph(d / "encoder.onnx", "encoder", num_threads, provider)
        self.decoder = _Graph(d / "decoder.onnx", "decoder", num_threads, provider)
        try:
            self.config = AcousticConfig.from_dict(self.decoder.metadata["config"])
        except (TypeError, ValueError) as e:
            raise ModelError(f"{d}: bad acoustic config in the graph metadata ({e})") from None
        if AcousticConfig.from_dict(self.encoder.metadata["config"]) != self.config:
            raise ModelError(f"{d}: encoder.onnx and decoder.onnx come from different models; re-export")

    def init_state(self, batch_size: int = 1, seed: int | Sequence[int] = 0) -> tuple[OnnxState, OnnxState]:
        enc = (*self.encoder.zeros(batch_size), np.zeros(batch_size, np.int64))
        seeds = np.broadcast_to(np.asarray(seed, np.int64), (batch_size,))
        dec = (*self.decoder.zeros(batch_size), np.stack([seeds, np.zeros(batch_size, np.int64)], axis=1))
        return enc, dec

    def encoder_step(self, ids: np.ndarray, voice: np.ndarray, state: OnnxState
                     ) -> tuple[np.ndarray, np.ndarray, OnnxState]:
        """ids (B, p) int64, voice (B, S) -> encodings (B, p, D), log durations (B, p), state."""
        feeds = {"ids": np.ascontiguousarray(ids, np.int64), "voice": np.ascontiguousarray(voice, np.float32),
                 **dict(zip(self.encoder.state_names, state))}
        enc, log_dur, *new = self.encoder.run(feeds)
        return enc, log_dur, tuple(new)

    def decoder_step(self, frames: np.ndarray, voice: np.ndarray, state: OnnxState) -> tuple[np.ndarray, OnnxState]:
        """frames (B, c, C) conditions, voice (B, S) -> mel (B, c, M), state."""
        feeds = {"frames": np.ascontiguousarray(frames, np.float32), "voice": np.ascontiguousarray(voice, np.float32),
                 **dict(zip(self.decoder.state_names, state))}
        mel, *new = self.decoder.run(feeds)
        return mel, tuple(new)
