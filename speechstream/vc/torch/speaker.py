"""The speaker (target) encoder: a reference utterance's Fbank frames -> one target embedding, computed once
per target (not streaming: the whole reference is known before conversion starts).

Shapes: B batch, T reference frames, M mel bins, H encoder dim, E embedding dim.

  (mel - mel_mean) / mel_std -> linear -> N ConvNeXt blocks -> LN -> attentive statistics pooling over the valid
  frames (a weighted mean and standard deviation, weights from a softmax over time) -> linear -> LN: embedding.
The final LayerNorm (no affine) keeps every embedding at one scale, so embeddings average into blends.
Padding frames (beyond ``lengths``) get no weight; the blocks are causal, so they never reach valid frames.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from speechstream.nn.convnext import CausalConvNeXtBlock
from speechstream.vc.config import VCConfig


class SpeakerEncoder(nn.Module):
    def __init__(self, config: VCConfig) -> None:
        super().__init__()
        c = config
        self.config = config
        self.proj = nn.Linear(c.n_mels, c.d_speaker_encoder)
        self.blocks = nn.ModuleList(CausalConvNeXtBlock(c.d_speaker_encoder, c.speaker_kernel, c.ff_mult)
                                    for _ in range(c.speaker_layers))
        self.norm = nn.LayerNorm(c.d_speaker_encoder)
        self.attention = nn.Linear(c.d_speaker_encoder, 1)
        self.out = nn.Linear(2 * c.d_speaker_encoder, c.d_speaker)
        self.out_norm = nn.LayerNorm(c.d_speaker, elementwise_affine=False)

    def forward(self, mel: Tensor, lengths: Tensor | None = None) -> Tensor:
        """mel (B, T, M) log-mel, lengths (B,) valid frames (default all T) -> embedding (B, E)."""
        x = (mel - self.config.mel_mean) / self.config.mel_std
        h = self.proj(x)
        for block in self.blocks:
            h = block(h)
        h = self.norm(h)
        scores = self.attention(h)[..., 0]  # (B, T)
        if lengths is not None:
            valid = torch.arange(mel.size(1), device=mel.device)[None] < lengths[:, None]
            scores = scores.masked_fill(~valid, -1e4)
        w = torch.softmax(scores, dim=1)[..., None]  # (B, T, 1)
        mean = (w * h).sum(dim=1)
        std = ((w * h.square()).sum(dim=1) - mean.square()).clamp_min(1e-6).sqrt()
        return self.out_norm(self.out(torch.cat([mean, std], dim=-1)))
