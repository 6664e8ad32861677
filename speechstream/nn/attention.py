"""Multi-head self-attention with chunked limited context and a learned relative-position bias.

Shapes: B batch, T frames, D model dim, H heads, Lc cached frames, c chunk frames.

Context ``(left, right)``: chunks of c = right + 1 frames aligned to the stream start; a frame in chunk k
(frames [k*c, (k+1)*c)) sees the valid keys in [k*c - left, (k+1)*c). Position enters as a per-head bias
indexed by the clipped distance (query_pos - key_pos): cheap, export-friendly and shift-invariant, so the
streaming step (which only knows distances inside its window) equals offline.

Streaming caches the keys and values of the last Lc frames, right-aligned (newest last), as one (B, Lc, 2D)
tensor [k | v]: a step projects only its own c frames, where caching the attention input (as NeMo does)
would re-project all Lc + c every step - at one frame per step most of the layer's arithmetic. The keys
of a step are [cache; chunk]; ``cache_len`` (B,) counts the valid cached frames.
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


def relative_positions(num_queries: int, q_offset: int, max_rel_pos: int, device: torch.device) -> Tensor:
    """(Tq, q_offset + Tq) int64: the bias row of each (query, key) pair, the clipped distance
    q_offset + i - j shifted to [0, 2 * max_rel_pos]; keys are the q_offset cached frames and the queries'.
    Sizes may come from ``Tensor.size`` (traceable). The same for every layer: computed once per call."""
    q_pos = torch.arange(num_queries, device=device)[:, None] + q_offset
    k_pos = torch.arange(num_queries + q_offset, device=device)[None, :]
    return (q_pos - k_pos).clamp(-max_rel_pos, max_rel_pos) + max_rel_pos


class ChunkedSelfAttention(nn.Module):
    def __init__(self, d_model: int, num_heads: int, max_rel_pos: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.d_head = d_model // num_heads
        self.d_model = d_model
        self.max_rel_pos = max_rel_pos
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.rel_bias = nn.Embedding(2 * max_rel_pos + 1, num_heads)
        nn.init.normal_(self.rel_bias.weight, std=0.02)
        self.dropout = nn.Dropout(dropout)

    @property
    def cache_dim(self) -> int:
        """Width of one cached frame: its key and value."""
        return 2 * self.num_heads * self.d_head

    def _heads(self, x: Tensor) -> Tensor:
        """(B, T, D) -> (B, H, T, dh)."""
        # explicit sizes, not unflatten: the ONNX tracer keeps size() calls dynamic but bakes unflatten's
        return x.view(x.size(0), x.size(1), self.num_heads, self.d_head).transpose(1, 2)

    def _attend(self, q: Tensor, kv: Tensor, mask: Tensor, rel_pos: Tensor) -> Tensor:
        """q (B, Tq, D) projected queries, kv (B, Tk, 2D) projected [keys | values], mask (B, Tq|1, Tk),
        rel_pos (Tq, Tk) from relative_positions -> (B, Tq, D)."""
        k, v = kv.split(self.d_model, dim=-1)  # a constant split: chunk() exports as shape arithmetic + 2 slices
        q, k, v = self._heads(q), self._heads(k), self._heads(v)
        scores = q @ k.transpose(-1, -2) * self.d_head ** -0.5  # (B, H, Tq, Tk)
        scores = scores + self.rel_bias(rel_pos).permute(2, 0, 1)  # (H, Tq, Tk) bias
        # finfo.min instead of -inf: a fully masked (padding) row becomes uniform, never NaN.
        scores = scores.masked_fill(~mask[:, None], torch.finfo(scores.dtype).min)
        att = self.dropout(scores.softmax(dim=-1))
        y = (att @ v).transpose(1, 2)  # (B, Tq, H, dh)
        return self.out(y.reshape(y.size(0), y.size(1), self.d_model))

    def forward(self, x: Tensor, mask: Tensor, rel_pos: Tensor | None = None) -> Tensor:
        """x (B, T, D), mask (B, T, T) from chunked_attention_mask -> (B, T, D)."""
        q, kv = self.qkv(x).split([self.d_model, 2 * self.d_model], dim=-1)
        if rel_pos is None:
            rel_pos = relative_positions(x.size(1), 0, self.max_rel_pos, x.device)
        return self._attend(q, kv, mask, rel_pos)

    def step(self, x: Tensor, cache: Tensor, mask: Tensor, rel_pos: Tensor | None = None
             ) -> tuple[Tensor, Tensor]:
        """x (B, c, D) chunk, cache (B, Lc, 2D) past [k | v], mask (B, 1, Lc + c) -> (B, c, D), new cache.
        rel_pos: relative_positions(c, Lc, max_rel_pos, device), computed here when not given."""
        lc = cache.size(1)
        q, kv = self.qkv(x).split([self.d_model, 2 * self.d_model], dim=-1)
        kv = torch.cat([cache, kv], dim=1)
        if rel_pos is None:
            rel_pos = relative_positions(x.size(1), lc, self.max_rel_pos, x.device)
        return self._attend(q, kv, mask, rel_pos), kv[:, kv.size(1) - lc:]
