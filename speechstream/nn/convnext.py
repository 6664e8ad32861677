"""Causal ConvNeXt block (Vocos' backbone block, made causal) with optional adaptive LayerNorm, offline and
streaming.

Shapes: B batch, T frames, c chunk frames, D model dim, E conditioning dim, K kernel size.

x + gamma * W2(GELU(W1(AdaLN(dwconv_causal(x), e)))). Only the depthwise conv mixes time (left padding
K - 1, cache of its last K - 1 input frames); the norm is over channels, so step == forward for any
chunking. With ``cond_dim`` the LayerNorm has no affine of its own and takes (1 + scale, shift) from a
linear map of a per-sequence embedding e (B, E) - the flow time t in the vocoder (DiT's adaLN).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .causal_conv import CausalConv1d


class CausalConvNeXtBlock(nn.Module):
    def __init__(self, d_model: int, kernel_size: int, ff_mult: int = 3, cond_dim: int = 0,
                 layer_scale: float = 0.1) -> None:
        super().__init__()
        self.d_model = d_model
        self.dwconv = CausalConv1d(d_model, d_model, kernel_size, groups=d_model)
        self.norm = nn.LayerNorm(d_model, elementwise_affine=cond_dim == 0)
        self.modulation = nn.Linear(cond_dim, 2 * d_model) if cond_dim else None
        if self.modulation is not None:
            nn.init.zeros_(self.modulation.weight)  # starts as a plain LayerNorm
            nn.init.zeros_(self.modulation.bias)
        self.pw1 = nn.Linear(d_model, ff_mult * d_model)
        self.pw2 = nn.Linear(ff_mult * d_model, d_model)
        self.gamma = nn.Parameter(torch.full((d_model,), layer_scale))

    @property
    def cache_frames(self) -> int:
        return self.dwconv.cache_frames

    def _mlp(self, h: Tensor, emb: Tensor | None) -> Tensor:
        """depthwise conv output (B, D, T), emb (B, E) | None -> residual branch (B, T, D)."""
        h = self.norm(h.transpose(1, 2))
        if self.modulation is not None:
            if emb is None:
                raise ValueError("this block is conditioned: pass emb (B, E)")
            scale, shift = self.modulation(emb)[:, None].chunk(2, dim=-1)  # (B, 1, D) each
            h = h * (1 + scale) + shift
        return self.gamma * self.pw2(nn.functional.gelu(self.pw1(h)))

    def forward(self, x: Tensor, emb: Tensor | None = None) -> Tensor:
        """x (B, T, D), emb (B, E) | None -> (B, T, D), causal."""
        return x + self._mlp(self.dwconv(x.transpose(1, 2)), emb)

    def init_state(self, batch_size: int, device: torch.device | None = None) -> Tensor:
        return self.dwconv.init_state(batch_size, device)

    def step(self, x: Tensor, cache: Tensor, emb: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """x (B, c, D), cache (B, D, K - 1), emb (B, E) | None -> (B, c, D), new cache (B, D, K - 1)."""
        h, cache = self.dwconv.step(x.transpose(1, 2), cache)
        return x + self._mlp(h, emb), cache
