"""Conformer feed-forward module: LN -> Linear(D -> m*D) -> Swish -> dropout -> Linear(m*D -> D) -> dropout.

Per frame, so offline and streaming are the same call.
"""

from __future__ import annotations

from torch import Tensor, nn


class FeedForward(nn.Module):
    def __init__(self, d_model: int, mult: int = 4, dropout: float = 0.0) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(d_model), nn.Linear(d_model, mult * d_model), nn.SiLU(), nn.Dropout(dropout),
            nn.Linear(mult * d_model, d_model), nn.Dropout(dropout))

    def forward(self, x: Tensor) -> Tensor:
        """x (..., D) -> (..., D)."""
        return self.net(x)
