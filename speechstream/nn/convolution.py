"""Conformer convolution module with a causal depthwise conv, offline and streaming.

Shapes: B batch, T frames, D model dim, K kernel size.

LN -> pointwise (D -> 2D) + GLU -> causal depthwise conv (left pad K-1) -> LN -> Swish -> pointwise (D -> D).
Norms are over channels only (no BatchNorm), so nothing mixes time except the causal conv; streaming keeps
the conv input of the last K-1 frames (zeros initially, as the offline left padding).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .depthwise import DepthwiseConv1d


class CausalConvModule(nn.Module):
    def __init__(self, d_model: int, kernel_size: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.norm_in = nn.LayerNorm(d_model)
        self.pointwise_in = nn.Linear(d_model, 2 * d_model)
        self.depthwise = DepthwiseConv1d(d_model, kernel_size)
        self.norm_mid = nn.LayerNorm(d_model)
        self.pointwise_out = nn.Linear(d_model, d_model)
        self.dropout = nn.Dropout(dropout)

    @property
    def cache_frames(self) -> int:
        return self.kernel_size - 1

    def _pre(self, x: Tensor) -> Tensor:
        """(B, T, D) -> depthwise conv input (B, D, T)."""
        return nn.functional.glu(self.pointwise_in(self.norm_in(x)), dim=-1).transpose(1, 2)

    def _post(self, h: Tensor) -> Tensor:
        """depthwise conv output (B, D, T) -> (B, T, D)."""
        h = nn.functional.silu(self.norm_mid(h.transpose(1, 2)))
        return self.dropout(self.pointwise_out(h))

    def forward(self, x: Tensor) -> Tensor:
        """x (B, T, D) -> (B, T, D), causal."""
        h = nn.functional.pad(self._pre(x), (self.cache_frames, 0))
        return self._post(self.depthwise(h))

    def init_state(self, batch_size: int, d_model: int, device: torch.device | None = None) -> Tensor:
        return torch.zeros(batch_size, d_model, self.cache_frames, device=device)

    def step(self, x: Tensor, cache: Tensor) -> tuple[Tensor, Tensor]:
        """x (B, c, D), cache (B, D, K-1) -> (B, c, D), new cache (B, D, K-1)."""
        h = torch.cat([cache, self._pre(x)], dim=2)
        return self._post(self.depthwise(h)), h[:, :, h.size(2) - self.cache_frames:]
