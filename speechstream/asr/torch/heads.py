"""CTC head, stateless RNN-T predictor (icefall-style) and joiner. The blank is the last id, V - 1.

Shapes: B batch, T encoder frames, U target tokens, V vocabulary (blank included), De/Dp/Dj encoder,
predictor and joiner dims, N = context_size.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from speechstream.nn.depthwise import DepthwiseConv1d


class CTCHead(nn.Module):
    def __init__(self, d_enc: int, vocab_size: int) -> None:
        super().__init__()
        self.proj = nn.Linear(d_enc, vocab_size)

    def forward(self, enc: Tensor) -> Tensor:
        """enc (..., De) -> log-probs (..., V)."""
        return self.proj(enc).log_softmax(dim=-1)


class StatelessPredictor(nn.Module):
    """Embedding + depthwise conv over the last N tokens + ReLU; the blank pads the start.

    Its state is just the last N tokens, so a streaming decoder needs no hidden state.
    """

    def __init__(self, vocab_size: int, d_pred: int, context_size: int = 2) -> None:
        super().__init__()
        if context_size < 1:
            raise ValueError("context_size must be >= 1")
        self.blank_id = vocab_size - 1
        self.context_size = context_size
        self.embedding = nn.Embedding(vocab_size, d_pred)
        self.conv = DepthwiseConv1d(d_pred, context_size, bias=False)

    def _contexts(self, emb: Tensor) -> Tensor:
        """emb (B, N - 1 + S, Dp) -> (B, S, Dp): one output per window of N consecutive tokens."""
        return torch.relu(self.conv(emb.transpose(1, 2)).transpose(1, 2))

    def forward(self, y: Tensor) -> Tensor:
        """y (B, U) token ids -> (B, U + 1, Dp); position u predicts from [blank..., y_1..y_u]."""
        start = y.new_full((y.size(0), self.context_size), self.blank_id)
        return self._contexts(self.embedding(torch.cat([start, y], dim=1)))

    def step(self, last_tokens: Tensor) -> Tensor:
        """last_tokens (B, N), oldest first (blank-padded at the start) -> (B, Dp)."""
        return self._contexts(self.embedding(last_tokens))[:, -1]


class Joiner(nn.Module):
    def __init__(self, d_enc: int, d_pred: int, d_join: int, vocab_size: int) -> None:
        super().__init__()
        self.enc_proj = nn.Linear(d_enc, d_join)
        self.pred_proj = nn.Linear(d_pred, d_join)
        self.out = nn.Linear(d_join, vocab_size)

    def forward(self, enc: Tensor, pred: Tensor) -> Tensor:
        """enc (..., De), pred (..., Dp), broadcastable (e.g. (B, T, 1, De) and (B, 1, U+1, Dp)) -> (..., V)."""
        return self.out(torch.tanh(self.enc_proj(enc) + self.pred_proj(pred)))
