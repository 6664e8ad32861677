"""Length regulation in torch, batched (the training path); speechstream.tts.regulate is the runtime's numpy
twin and gives the same rows (tests/test_tts_acoustic.py).

Shapes: B batch, N phonemes, D encoding dim, T frames.
"""

from __future__ import annotations

import torch
from torch import Tensor


def durations(log_durations: Tensor, speed: float = 1.0, max_duration: int = 50) -> Tensor:
    """(B, N) predicted log(1 + frames) -> (B, N) int64 frames (see speechstream.tts.regulate.durations)."""
    frames = torch.expm1(log_durations.float()) / speed
    return frames.round().clamp(0, round(max_duration / speed)).to(torch.int64)


def frame_conditions(encodings: Tensor, durations: Tensor) -> tuple[Tensor, Tensor]:
    """encodings (B, N, D), durations (B, N) int64 (padding phonemes 0) -> conditions (B, T, D + 1) with
    T = the longest total, zero past each item's end, and its frame mask (B, T) bool."""
    b, n, d = encodings.shape
    ends = durations.cumsum(dim=1)  # (B, N)
    total = ends[:, -1] if n else durations.new_zeros(b)
    t = int(total.max()) if b and n else 0
    frames = torch.arange(t, device=encodings.device)[None].expand(b, t).contiguous()
    index = torch.searchsorted(ends, frames, right=True).clamp_max(max(n - 1, 0))  # (B, T)
    starts = (ends - durations).gather(1, index)
    length = durations.gather(1, index)
    progress = ((frames - starts).float() + 0.5) / length.clamp_min(1).float()
    mask = frames < total[:, None]
    rows = encodings.gather(1, index[..., None].expand(b, t, d))
    cond = torch.cat([rows, progress[..., None]], dim=-1)
    return cond * mask[..., None].to(cond.dtype), mask
