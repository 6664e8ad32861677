"""The exported generator step run by onnxruntime, with numpy only (no torch): plugs into ``Vocoder``.

Shapes: B batch, c chunk frames, M mel bins, F bins.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from speechstream.errors import ModelError
from speechstream.runtime.session import create_session, read_metadata, require

from .config import VocoderConfig

OnnxState = tuple[np.ndarray, ...]
MODEL_TYPE = "speechstream-flow-vocoder"  # the metadata contract torch/export.py writes and this class reads
VERSION = 1
_REQUIRED = ["model_type", "config", "state_names", "state_shapes", "chunk_frames", "lookahead_frames"]


class OnnxGenerator:
    def __init__(self, path: str | Path, num_threads: int = 1, provider: str = "cpu") -> None:
        self.session = create_session(path, num_threads, provider)
        self.metadata = read_metadata(self.session)
        require(self.metadata, _REQUIRED, path)
        if self.metadata["model_type"] != MODEL_TYPE:
            raise ModelError(f"{path} is a {self.metadata['model_type']!r} graph, not a {MODEL_TYPE!r} generator step")
        try:
            self.config = VocoderConfig.from_dict(self.metadata["config"])
        except (TypeError, ValueError) as e:
            raise ModelError(f"{path}: bad vocoder config in its metadata ({e})") from None
        self.state_names: list[str] = list(self.metadata["state_names"])
        self._outputs = [o.name for o in self.session.get_outputs()]

    def init_state(self, batch_size: int, seed: int | Sequence[int] = 0) -> OnnxState:
        shapes = self.metadata["state_shapes"]
        state = [np.zeros([batch_size, *shapes[n]], np.float32) for n in self.state_names[:-1]]
        seeds = np.broadcast_to(np.asarray(seed, dtype=np.int64), (batch_size,))
        counter = np.stack([seeds, np.zeros(batch_size, np.int64)], axis=1)
        return (*state, counter)

    def step(self, mel: np.ndarray, state: OnnxState) -> tuple[np.ndarray, OnnxState]:
        """mel (B, c, M) float32 -> STFT frames (B, c, 2, F), new state (see torch/generator.py: FlowGenerator.step)."""
        feeds = {"mel": np.ascontiguousarray(mel, np.float32), **dict(zip(self.state_names, state))}
        frames, *new = self.session.run(self._outputs, feeds)
        return frames, tuple(new)

    def generate(self, mel: np.ndarray, seed: int | Sequence[int] = 0) -> np.ndarray:
        """Offline: the whole utterance as one step, plus the look-ahead padding; the pre-roll dropped."""
        c = self.config
        pad = np.full((mel.shape[0], c.lookahead_frames, c.n_mels), c.pad_feature, np.float32)
        frames, _ = self.step(np.concatenate([mel.astype(np.float32), pad], axis=1),
                              self.init_state(mel.shape[0], seed))
        return frames[:, c.lookahead_frames:]
