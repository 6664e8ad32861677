"""One macaron Conformer layer with chunked attention and a causal conv, offline and streaming.

Shapes: B batch, T frames, c chunk frames, D model dim, Lc attention cache frames, K conv kernel.

x + FF(x)/2 -> x + MHSA(LN(x)) -> x + Conv(x) -> x + FF(x)/2, every sub-block pre-normed and no
norm on the residual path (the encoder norms once after the last layer). A LayerNorm closing each layer,
as in the Conformer paper, makes the stack post-LN-like: on our data it sat on the CTC blank plateau at
learning rates this pre-LN stack trains at easily (a 10-layer model memorised 4 utterances by step 100 at
lr 3e-3 without it, and not in 300 steps at lr 1e-3 with it). The attention cache holds the keys and
values of past frames: those are final once computed, because no frame depends on anything past the end
of its own chunk.
"""

from __future__ import annotations

from torch import Tensor, nn

from .attention import ChunkedSelfAttention
from .convolution import CausalConvModule
from .feedforward import FeedForward


class ConformerLayer(nn.Module):
    def __init__(self, d_model: int, num_heads: int, ff_mult: int, conv_kernel: int, max_rel_pos: int,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.ff1 = FeedForward(d_model, ff_mult, dropout)
        self.norm_att = nn.LayerNorm(d_model)
        self.att = ChunkedSelfAttention(d_model, num_heads, max_rel_pos, dropout)
        self.att_dropout = nn.Dropout(dropout)
        self.conv = CausalConvModule(d_model, conv_kernel, dropout)
        self.ff2 = FeedForward(d_model, ff_mult, dropout)

    def forward(self, x: Tensor, mask: Tensor, rel_pos: Tensor | None = None) -> Tensor:
        """x (B, T, D), mask (B, T, T), rel_pos (T, T) (see attention.relative_positions) -> (B, T, D)."""
        x = x + 0.5 * self.ff1(x)
        x = x + self.att_dropout(self.att(self.norm_att(x), mask, rel_pos))
        x = x + self.conv(x)
        x = x + 0.5 * self.ff2(x)
        return x

    def step(self, x: Tensor, att_cache: Tensor, conv_cache: Tensor, mask: Tensor,
             rel_pos: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """x (B, c, D), att_cache (B, Lc, 2D), conv_cache (B, D, K-1), mask (B, 1, Lc + c), rel_pos (c, Lc + c)
        -> (B, c, D), new att_cache, new conv_cache."""
        x = x + 0.5 * self.ff1(x)
        a, att_cache = self.att.step(self.norm_att(x), att_cache, mask, rel_pos)
        x = x + a
        c, conv_cache = self.conv.step(x, conv_cache)
        x = x + c
        x = x + 0.5 * self.ff2(x)
        return x, att_cache, conv_cache
