"""Multi-head self-attention with chunked limited context and a learned relative-position bias.

Shapes: B batch, T frames, D model dim, H heads, Lc cached frames, c chunk frames.

Context ``(left, right)``: chunks of c = right + 1 frames aligned to the stream start; a frame in chunk k
(frames [k*c, (k+1)*c)) sees the valid keys in [k*c - left, (k+1)*c). Position enters as a per-head bias
indexed by the clipped distance (query_pos - key_pos): cheap, export-friendly and shift-invariant, so the
streaming step (which only knows distances inside its window) equals offline.

Streaming caches the attention input of the last Lc frames, right-aligned (newest last); keys are
[cache; chunk]. ``cache_len`` (B,) counts the valid cached frames.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def chunked_attention_mask(num_frames: int, lengths: Tensor, left: int, right: int) -> Tensor:
    """(B, T, T) bool, True where query i may attend to key j (offline / training)."""
    pos = torch.arange(num_frames, device=lengths.device)
    chunk = right + 1
    start = torch.div(pos, chunk, rounding_mode="floor") * chunk  # chunk start of each query
    q_start, k = start[:, None], pos[None, :]
    allowed = (k >= q_start - left) & (k < q_start + chunk)  # (T, T)
    return allowed[None] & (pos[None, None, :] < lengths[:, None, None])


def streaming_attention_mask(cache_frames: int, chunk: Tensor, cache_len: Tensor, left: int,
                             chunk_valid: Tensor | None = None) -> Tensor:
    """(B, 1, Lc + c) bool over keys [cache; chunk] for one chunk; every query of a chunk sees the same keys.

    chunk: any tensor whose dim 1 is the chunk length c (only its size is used, traceably).
    cache_len (B,): valid cached frames. chunk_valid (B,): valid frames of this chunk (the last chunk of a
    stream may be padded); None means all valid.
    """
    c = chunk.size(1)
    key = torch.arange(cache_frames + c, device=cache_len.device)[None, :]  # (1, Lc + c)
    in_cache = key < cache_frames
    # Cached frame m is (Lc - m) frames before the chunk start.
    cached_ok = (key >= cache_frames - cache_len[:, None]) & (key >= cache_frames - left)
    if chunk_valid is None:
        chunk_ok = ~in_cache
    else:
        chunk_ok = ~in_cache & (key - cache_frames < chunk_valid[:, None])
    # Logical ops, not torch.where: onnxruntime has no bool Where kernel.
    return ((in_cache & cached_ok) | chunk_ok)[:, None, :]


class ChunkedSelfAttention(nn.Module):
    def __init__(self, d_model: int, num_heads: int, max_rel_pos: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.d_head = d_model // num_heads
        self.max_rel_pos = max_rel_pos
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.rel_bias = nn.Embedding(2 * max_rel_pos + 1, num_heads)
        nn.init.normal_(self.rel_bias.weight, std=0.02)
        self.dropout = nn.Dropout(dropout)

    def _attend(self, q_in: Tensor, kv_in: Tensor, q_offset: int | Tensor, mask: Tensor) -> Tensor:
        """q_in (B, Tq, D), kv_in (B, Tk, D); query i sits at key position q_offset + i; mask (B, Tq|1, Tk)."""
        b, tq, d = q_in.shape
        tk = kv_in.size(1)
        w_q, w_kv = self.qkv.weight.split([d, 2 * d]), self.qkv.bias.split([d, 2 * d])
        q = nn.functional.linear(q_in, w_q[0], w_kv[0])
        k, v = nn.functional.linear(kv_in, w_q[1], w_kv[1]).chunk(2, dim=-1)
        q = q.view(b, tq, self.num_heads, self.d_head).transpose(1, 2)  # (B, H, Tq, dh)
        k = k.view(b, tk, self.num_heads, self.d_head).transpose(1, 2)
        v = v.view(b, tk, self.num_heads, self.d_head).transpose(1, 2)
        scores = q @ k.transpose(-1, -2) * self.d_head ** -0.5  # (B, H, Tq, Tk)
        q_pos = torch.arange(tq, device=q_in.device)[:, None] + q_offset
        k_pos = torch.arange(tk, device=q_in.device)[None, :]
        dist = (q_pos - k_pos).clamp(-self.max_rel_pos, self.max_rel_pos) + self.max_rel_pos
        scores = scores + self.rel_bias(dist).permute(2, 0, 1)  # (H, Tq, Tk) bias
        # finfo.min instead of -inf: a fully masked (padding) row becomes uniform, never NaN.
        scores = scores.masked_fill(~mask[:, None], torch.finfo(scores.dtype).min)
        att = self.dropout(scores.softmax(dim=-1))
        y = (att @ v).transpose(1, 2).reshape(b, tq, d)
        return self.out(y)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """x (B, T, D), mask (B, T, T) from chunked_attention_mask -> (B, T, D)."""
        return self._attend(x, x, 0, mask)

    def step(self, x: Tensor, cache: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """x (B, c, D) chunk, cache (B, Lc, D), mask (B, 1, Lc + c) -> (B, c, D), new cache (B, Lc, D)."""
        lc = cache.size(1)
        kv = torch.cat([cache, x], dim=1)
        y = self._attend(x, kv, lc, mask)
        return y, kv[:, kv.size(1) - lc:]
