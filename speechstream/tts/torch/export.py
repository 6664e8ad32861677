"""ONNX export of the acoustic model's two streaming steps, each a thin wrapper around the model's step.

encoder.onnx  inputs  ids (B, p) int64, voice (B, S), in_cache, enc_cache, dur_cache, position (int64)
              outputs encodings (B, p, D), log_durations (B, p), the four next states (``_out`` suffix)
decoder.onnx  inputs  frames (B, c, C), voice (B, S), in_cache, cond_cache, bank, counter (int64)
              outputs mel (B, c, M), the four next states (``_out`` suffix)
B, p and c are dynamic. Both graphs carry the metadata the runtime needs (speechstream.tts.onnx_model reads
it): the whole config as JSON, the speakers, the look-ahead, chunk and latency as separate keys, and the
state names and shapes without B.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from speechstream.tts.onnx_model import DECODER_STATES, ENCODER_STATES, MODEL_TYPE, VERSION

from .model import AcousticModel


class EncoderStep(nn.Module):
    """Flat tensors in and out around ``AcousticModel.encoder_step``; the state is flattened here only."""

    def __init__(self, model: AcousticModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, ids: Tensor, voice: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        enc, log_dur, new = self.model.encoder_step(ids, voice, tuple(state))  # type: ignore[arg-type]
        return (enc, log_dur, *new)


class DecoderStep(nn.Module):
    """Flat tensors in and out around ``AcousticModel.decoder_step``."""

    def __init__(self, model: AcousticModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, frames: Tensor, voice: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        mel, new = self.model.decoder_step(frames, voice, tuple(state))  # type: ignore[arg-type]
        return (mel, *new)


def metadata(model: AcousticModel, role: str) -> dict[str, Any]:
    c = model.config
    enc_state, dec_state = model.init_state(1)
    names, state = (ENCODER_STATES, enc_state) if role == "encoder" else (DECODER_STATES, dec_state)
    return {
        "model_type": MODEL_TYPE, "version": VERSION, "role": role, "config": c.to_dict(),
        "speakers": list(c.speakers), "sample_rate": c.sample_rate, "hop_length": c.hop_length, "n_mels": c.n_mels,
        "lookahead_phonemes": c.lookahead_phonemes, "chunk_frames": c.chunk_frames,
        "lookahead_frames": c.lookahead_frames, "solver": c.solver.name, "nfe": c.solver.nfe, "t0": c.solver.t0,
        "latency": c.latency(), "state_names": list(names),
        "state_shapes": {n: list(s.shape[1:]) for n, s in zip(names, state)},
    }


def _export(module: nn.Module, example: tuple[Tensor, ...], inputs: list[str], outputs: list[str],
            dynamic: dict[str, dict[int, str]], meta: dict[str, Any], path: Path, opset: int) -> None:
    import onnx

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, example, str(path), input_names=inputs, output_names=outputs,
                          dynamic_axes=dynamic, opset_version=opset, dynamo=False)
    graph = onnx.load(str(path))
    for key, value in meta.items():
        entry = graph.metadata_props.add()
        entry.key, entry.value = key, value if isinstance(value, str) else json.dumps(value)
    onnx.save(graph, str(path))


def export_acoustic(model: AcousticModel, out_dir: str | Path, opset: int = 17) -> dict[str, Any]:
    """Writes encoder.onnx and decoder.onnx into `out_dir`; returns the decoder's metadata."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    c = model.config
    enc_state, dec_state = model.init_state(1)
    voice = torch.zeros(1, len(c.speakers))
    voice[0, 0] = 1.0

    inputs = ["ids", "voice", *ENCODER_STATES]
    outputs = ["encodings", "log_durations", *(f"{n}_out" for n in ENCODER_STATES)]
    dynamic = {n: {0: "B"} for n in inputs + outputs}
    dynamic.update(ids={0: "B", 1: "P"}, encodings={0: "B", 1: "P"}, log_durations={0: "B", 1: "P"})
    ids = torch.randint(1, c.vocab_size, (1, max(2, c.lookahead_phonemes + 1)))
    _export(EncoderStep(model), (ids, voice, *enc_state), inputs, outputs, dynamic, metadata(model, "encoder"),
            out / "encoder.onnx", opset)

    inputs = ["frames", "voice", *DECODER_STATES]
    outputs = ["mel", *(f"{n}_out" for n in DECODER_STATES)]
    dynamic = {n: {0: "B"} for n in inputs + outputs}
    dynamic.update(frames={0: "B", 1: "T"}, mel={0: "B", 1: "T"})
    frames = torch.randn(1, c.chunk_frames, c.cond_dim)
    meta = metadata(model, "decoder")
    _export(DecoderStep(model), (frames, voice, *dec_state), inputs, outputs, dynamic, meta, out / "decoder.onnx",
            opset)
    return meta
