"""Causal 1-D convolution with an explicit cache, offline and streaming.

Shapes: B batch, C_in / C_out channels, T frames, c chunk frames, K kernel size.

Offline the input is left-padded with K - 1 zero frames; streaming keeps the last K - 1 input frames
(zeros initially, which is exactly that padding), so ``step`` over any chunking equals ``forward``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .depthwise import DepthwiseConv1d


class CausalConv1d(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, groups: int = 1,
                 bias: bool = True) -> None:
        super().__init__()
        if kernel_size < 1:
            raise ValueError(f"kernel_size must be >= 1, got {kernel_size}")
        self.in_channels = in_channels
        self.kernel_size = kernel_size
        if groups == in_channels == out_channels > 1:
            self.conv: nn.Conv1d = DepthwiseConv1d(in_channels, kernel_size, bias)
        else:
            self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, groups=groups, bias=bias)

    @property
    def cache_frames(self) -> int:
        return self.kernel_size - 1

    def forward(self, x: Tensor) -> Tensor:
        """x (B, C_in, T) -> (B, C_out, T); output t reads inputs [t - K + 1, t]."""
        return self.conv(nn.functional.pad(x, (self.cache_frames, 0)))

    def init_state(self, batch_size: int, device: torch.device | None = None) -> Tensor:
        """(B, C_in, K - 1) zeros: the offline left padding."""
        return torch.zeros(batch_size, self.in_channels, self.cache_frames, device=device)

    def step(self, x: Tensor, cache: Tensor) -> tuple[Tensor, Tensor]:
        """x (B, C_in, c) with c >= 1, cache (B, C_in, K - 1) -> (B, C_out, c), new cache (B, C_in, K - 1)."""
        window = torch.cat([cache, x], dim=2)
        return self.conv(window), window[:, :, window.size(2) - self.cache_frames:]
