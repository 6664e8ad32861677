"""ONNX export of the VC model: its two streaming steps and the target encoder, each a thin wrapper.

content.onnx  inputs  mel (B, c, M), content_in_cache, content_block_cache
              outputs content (B, c, D), the two next states (``_out`` suffix)
decoder.onnx  inputs  content (B, c, D), target (B, E), dec_in_cache, cond_cache, bank, counter (int64)
              outputs mel (B, c, M), the four next states (``_out`` suffix)
speaker.onnx  inputs  reference (B, R, M), lengths (B,) int64; output embedding (B, E)
B, c and R are dynamic. Every graph carries the whole config as JSON, its role, the look-aheads, chunk and
latency (without the vocoder's, which the runtime adds from its own config), and the state names and shapes
without B (speechstream.vc.onnx_model reads them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from speechstream.tts.torch.export import _export
from speechstream.vc.onnx_model import CONTENT_STATES, DECODER_STATES, MODEL_TYPE, VERSION

from .model import VCModel


class ContentStep(nn.Module):
    """Flat tensors in and out around ``VCModel.content_step``; the state is flattened here only."""

    def __init__(self, model: VCModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, mel: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        content, new = self.model.content_step(mel, tuple(state))  # type: ignore[arg-type]
        return (content, *new)


class DecoderStep(nn.Module):
    """Flat tensors in and out around ``VCModel.decoder_step``."""

    def __init__(self, model: VCModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, content: Tensor, target: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        mel, new = self.model.decoder_step(content, target, tuple(state))  # type: ignore[arg-type]
        return (mel, *new)


class SpeakerGraph(nn.Module):
    def __init__(self, model: VCModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, reference: Tensor, lengths: Tensor) -> Tensor:
        return self.model.embed(reference, lengths)


def metadata(model: VCModel, role: str) -> dict[str, Any]:
    c = model.config
    content_state, decoder_state = model.init_state(1)
    names, state = {"content": (CONTENT_STATES, content_state), "decoder": (DECODER_STATES, decoder_state),
                    "speaker": ((), ())}[role]
    return {
        "model_type": MODEL_TYPE, "version": VERSION, "role": role, "config": c.to_dict(),
        "sample_rate": c.sample_rate, "hop_length": c.hop_length, "n_mels": c.n_mels,
        "content_lookahead": c.content_lookahead, "chunk_frames": c.chunk_frames,
        "decoder_lookahead": c.decoder_lookahead, "solver": c.solver.name, "nfe": c.solver.nfe,
        "latency": c.latency(), "state_names": list(names),
        "state_shapes": {n: list(s.shape[1:]) for n, s in zip(names, state)},
    }


def export_vc(model: VCModel, out_dir: str | Path, opset: int = 17) -> dict[str, Any]:
    """Writes content.onnx, decoder.onnx and speaker.onnx into `out_dir`; returns the decoder's metadata."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    c = model.config
    content_state, decoder_state = model.init_state(1)
    g = torch.Generator().manual_seed(0)
    mel = -10.0 + 3.0 * torch.randn(1, c.chunk_frames, c.n_mels, generator=g)

    inputs = ["mel", *CONTENT_STATES]
    outputs = ["content", *(f"{n}_out" for n in CONTENT_STATES)]
    dynamic = {n: {0: "B"} for n in inputs + outputs}
    dynamic.update(mel={0: "B", 1: "T"}, content={0: "B", 1: "T"})
    _export(ContentStep(model), (mel, *content_state), inputs, outputs, dynamic, metadata(model, "content"),
            out / "content.onnx", opset)

    inputs = ["content", "target", *DECODER_STATES]
    outputs = ["mel", *(f"{n}_out" for n in DECODER_STATES)]
    dynamic = {n: {0: "B"} for n in inputs + outputs}
    dynamic.update(content={0: "B", 1: "T"}, mel={0: "B", 1: "T"})
    content = torch.randn(1, c.chunk_frames, c.d_content, generator=g)
    target = torch.randn(1, c.d_speaker, generator=g)
    meta = metadata(model, "decoder")
    _export(DecoderStep(model), (content, target, *decoder_state), inputs, outputs, dynamic, meta,
            out / "decoder.onnx", opset)

    reference = -10.0 + 3.0 * torch.randn(1, 50, c.n_mels, generator=g)
    _export(SpeakerGraph(model), (reference, torch.tensor([50])), ["reference", "lengths"], ["embedding"],
            {"reference": {0: "B", 1: "R"}, "lengths": {0: "B"}, "embedding": {0: "B"}},
            metadata(model, "speaker"), out / "speaker.onnx", opset)
    return meta
