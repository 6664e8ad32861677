"""Shared by the VC tests: a tiny random VC model, random source / reference frames, a torch streaming driver
that cuts the source frames where it is told, and tiny model directories (VC + vocoder) on disk."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from speechstream.vc.config import VCConfig


def tiny_model(seed: int = 0, **overrides):
    from speechstream.vc.torch.model import VCModel

    torch.manual_seed(seed)
    model = VCModel(VCConfig.tiny(**overrides)).eval()
    with torch.no_grad():  # adaLN modulations start at zero: make the target and time matter
        for name, p in model.named_parameters():
            if "modulation" in name:
                p.normal_(0.0, 0.3)
    return model


def random_mel(batch: int, frames: int, seed: int = 0) -> torch.Tensor:
    """(B, T, 80) log-mel-like frames around the Fbank's range."""
    g = torch.Generator().manual_seed(seed)
    return -10.0 + 3.0 * torch.randn(batch, frames, 80, generator=g)


def pieces(n: int, sizes: Sequence[int]) -> list[tuple[int, int]]:
    """[0, n) cut into consecutive pieces of the given sizes (cycled)."""
    out, pos, i = [], 0, 0
    while pos < n:
        size = sizes[i % len(sizes)]
        out.append((pos, min(n, pos + size)))
        pos, i = pos + size, i + 1
    return out


def stream_torch(model, mel: torch.Tensor, target: torch.Tensor, cuts: Sequence[int], seed: int = 0) -> torch.Tensor:
    """mel (B, T, M) streamed in pieces of `cuts` through content_step (then its end frames) and decoder_step
    (each half's pre-roll dropped, L_d zero frames at the end) -> mel (B, T, M)."""
    c = model.config
    b = mel.size(0)
    content_state, decoder_state = model.init_state(b, seed)
    source = torch.cat([mel, model.content.end_frames(b)], dim=1)
    out, content_seen, mel_seen = [], 0, 0
    with torch.no_grad():
        for a, e in pieces(source.size(1), cuts):
            content, content_state = model.content_step(source[:, a:e], content_state)
            drop = max(0, min(c.content_lookahead - content_seen, content.size(1)))
            content_seen += content.size(1)
            content = content[:, drop:]
            if e == source.size(1):
                content = torch.cat([content, content.new_zeros(b, c.decoder_lookahead, c.d_content)], dim=1)
            if content.size(1):
                y, decoder_state = model.decoder_step(content, target, decoder_state)
                out.append(y)
    return torch.cat(out, dim=1)[:, c.decoder_lookahead:]


def make_vocoder_dir(path: Path) -> Path:
    from vocoder_helpers import make_generator

    from speechstream.vocoder.torch.checkpoint import save_vocoder_dir

    return save_vocoder_dir(make_generator(), path)


def make_vc_dir(path: Path, voices: bool = True, seed: int = 0, **overrides) -> Path:
    """A tiny VC model directory with its graphs, a tiny vocoder inside (vocoder/) and, with `voices`, two
    built-in voices."""
    from speechstream.vc.torch.checkpoint import save_vc_dir

    model = tiny_model(seed, **overrides)
    rng = np.random.default_rng(seed)
    table = {name: rng.standard_normal(model.config.d_speaker).astype(np.float32).tolist()
             for name in ("alpha", "beta")} if voices else None
    vocoder = make_vocoder_dir(path.parent / f"{path.name}_vocoder")
    return save_vc_dir(model, path, vocoder=vocoder, voices=table)
