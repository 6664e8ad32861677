"""Shared vocoder test set-up."""

from __future__ import annotations

import torch

from speechstream.vocoder.config import VocoderConfig
from speechstream.vocoder.torch.generator import FlowGenerator


def make_generator(**kw) -> FlowGenerator:  # noqa: ANN003
    """Tiny, with weights perturbed so every path carries signal."""
    torch.manual_seed(0)
    gen = FlowGenerator(VocoderConfig.tiny(**kw)).eval()
    with torch.no_grad():
        for p in gen.parameters():
            p.add_(torch.randn_like(p) * 0.2)
    return gen
