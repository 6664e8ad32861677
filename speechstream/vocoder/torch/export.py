"""ONNX export of the generator's streaming step (every solver evaluation of a chunk in one graph).

Inputs, by name and position: mel (B, c, M) float32, mel_cache, cond_cache, bank, counter (int64); outputs:
frames (B, c, 2, F) float32 and the four next states with an ``_out`` suffix. B and c are dynamic. The
metadata carries what the runtime needs (``onnx_generator.OnnxGenerator`` reads it): the whole config as
JSON plus the streaming geometry, solver and latency as separate keys, and the state shapes without B.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from speechstream.vocoder.onnx_generator import MODEL_TYPE, VERSION, OnnxGenerator
from speechstream.vocoder.vocoder import Vocoder

from .generator import FlowGenerator

STATE_NAMES = ("mel_cache", "cond_cache", "bank", "counter")
INPUT_NAMES = ("mel", *STATE_NAMES)
OUTPUT_NAMES = ("frames", *(f"{n}_out" for n in STATE_NAMES))


class GeneratorStep(nn.Module):
    """The thin wrapper: flat tensors in and out around ``FlowGenerator.step``; the state is flattened here only."""

    def __init__(self, generator: FlowGenerator) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, mel: Tensor, mel_cache: Tensor, cond_cache: Tensor, bank: Tensor, counter: Tensor
                ) -> tuple[Tensor, ...]:
        frames, state = self.generator.step(mel, (mel_cache, cond_cache, bank, counter))
        return (frames, *state)


def metadata(generator: FlowGenerator) -> dict[str, Any]:
    c = generator.config
    state = generator.init_state(1)
    return {
        "model_type": MODEL_TYPE, "version": VERSION, "config": c.to_dict(),
        "sample_rate": c.sample_rate, "n_mels": c.n_mels, "n_fft": c.n_fft, "hop_length": c.hop_length,
        "chunk_frames": c.chunk_frames, "lookahead_frames": c.lookahead_frames,
        "solver": c.solver.name, "nfe": c.solver.nfe, "t0": c.solver.t0, "mean_flow": c.mean_flow,
        "latency_samples": c.latency_samples, "latency_ms": c.latency_ms, "pad_feature": c.pad_feature,
        "state_names": list(STATE_NAMES),
        "state_shapes": {n: list(s.shape[1:]) for n, s in zip(STATE_NAMES, state)},
    }


def export_generator_step(generator: FlowGenerator, path: str | Path, opset: int = 17) -> dict[str, Any]:
    """Writes the step graph with its metadata to `path`; returns the metadata."""
    import onnx

    generator = generator.eval()
    c = generator.config
    state = generator.init_state(1)
    example = (torch.randn(1, c.chunk_frames, c.n_mels) - 8.0, *state)  # log-mel-like values
    dynamic = {n: {0: "B"} for n in INPUT_NAMES + OUTPUT_NAMES}
    dynamic["mel"] = {0: "B", 1: "T"}
    dynamic["frames"] = {0: "B", 1: "T"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(GeneratorStep(generator), example, str(path), input_names=list(INPUT_NAMES),
                          output_names=list(OUTPUT_NAMES), dynamic_axes=dynamic, opset_version=opset,
                          dynamo=False)
    meta = metadata(generator)
    model = onnx.load(str(path))
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value if isinstance(value, str) else json.dumps(value)
    onnx.save(model, str(path))
    return meta


def export_sampler(generator: FlowGenerator, solver: str, nfe: int, path: str | Path, num_threads: int = 1,
                   provider: str = "cpu") -> Vocoder:
    """The streaming Vocoder of a torch FlowGenerator's weights sampled with another solver and NFE.

    Both are baked into the step graph, so the step is exported to `path` (an .onnx file) and run through
    onnxruntime like a directory's generator.onnx. ValueError for a sampler the model cannot run.
    """
    export_generator_step(generator.with_solver(name=solver, nfe=nfe), path)
    return Vocoder(OnnxGenerator(path, num_threads, provider))
