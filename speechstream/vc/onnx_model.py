"""The exported VC model (content.onnx, decoder.onnx, speaker.onnx) run by onnxruntime with numpy only.

Shapes: B batch, c frames per step, M mel bins, D content dim, E target embedding dim, R reference frames.
The graphs and their state are those of speechstream.vc.torch (content.py, the TTS decoder, speaker.py);
vc/torch/export.py writes them with the metadata read here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from speechstream.errors import ModelError
from speechstream.runtime.session import create_session, read_metadata, require

from .config import VCConfig

MODEL_TYPE = "speechstream-vc"
VERSION = 1
CONTENT_STATES = ("content_in_cache", "content_block_cache")
DECODER_STATES = ("dec_in_cache", "cond_cache", "bank", "counter")
ROLES = ("content", "decoder", "speaker")
_REQUIRED = ["model_type", "role", "config", "state_names", "state_shapes"]

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

    def zeros(self, batch_size: int, names: Sequence[str]) -> list[np.ndarray]:
        shapes = self.metadata["state_shapes"]
        return [np.zeros([batch_size, *shapes[n]], np.float32) for n in names]

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self.session.run(self.outputs, feeds)


class OnnxVC:
    """The three graphs in numpy; ``config`` is the model's VCConfig (from the metadata)."""

    def __init__(self, model_dir: str | Path, num_threads: int = 1, provider: str = "cpu") -> None:
        d = Path(model_dir)
        self.content = _Graph(d / "content.onnx", "content", num_threads, provider)
        self.decoder = _Graph(d / "decoder.onnx", "decoder", num_threads, provider)
        self.speaker = _Graph(d / "speaker.onnx", "speaker", num_threads, provider)
        try:
            self.config = VCConfig.from_dict(self.decoder.metadata["config"])
        except (TypeError, ValueError) as e:
            raise ModelError(f"{d}: bad VC config in the graph metadata ({e})") from None
        for graph in (self.content, self.speaker):
            if graph.metadata["config"] != self.decoder.metadata["config"]:
                raise ModelError(f"{d}: the graphs come from different models; re-export")

    def init_state(self, batch_size: int = 1, seed: int | Sequence[int] = 0) -> tuple[OnnxState, OnnxState]:
        content = tuple(self.content.zeros(batch_size, CONTENT_STATES))
        seeds = np.broadcast_to(np.asarray(seed, np.int64), (batch_size,))
        decoder = (*self.decoder.zeros(batch_size, DECODER_STATES[:-1]),
                   np.stack([seeds, np.zeros(batch_size, np.int64)], axis=1))
        return content, decoder

    def content_step(self, mel: np.ndarray, state: OnnxState) -> tuple[np.ndarray, OnnxState]:
        """source mel (B, c, M) -> content (B, c, D) of the frames L_c earlier, state."""
        feeds = {"mel": np.ascontiguousarray(mel, np.float32), **dict(zip(self.content.state_names, state))}
        content, *new = self.content.run(feeds)
        return content, tuple(new)

    def decoder_step(self, content: np.ndarray, target: np.ndarray, state: OnnxState
                     ) -> tuple[np.ndarray, OnnxState]:
        """content (B, c, D), target (B, E) -> mel (B, c, M) of the frames L_d earlier, state."""
        feeds = {"content": np.ascontiguousarray(content, np.float32),
                 "target": np.ascontiguousarray(target, np.float32), **dict(zip(self.decoder.state_names, state))}
        mel, *new = self.decoder.run(feeds)
        return mel, tuple(new)

    def embed(self, reference: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        """reference mel (B, R, M), lengths (B,) -> target embedding (B, E)."""
        ref = np.ascontiguousarray(reference, np.float32)
        if lengths is None:
            lengths = np.full(ref.shape[0], ref.shape[1], np.int64)
        (emb,) = self.speaker.run({"reference": ref, "lengths": np.asarray(lengths, np.int64)})
        return emb
