"""The streaming content encoder: source Fbank frames -> speaker-independent content frames, offline and
streaming, plus the CTC head that trains it (phoneme ids; training only, never exported).

Shapes: B batch, T frames, c frames per step, M mel bins, H encoder dim, D content dim, V phoneme vocabulary,
K / Ki kernels, N blocks, L look-ahead frames.

  (mel - mel_mean) / mel_std -> causal conv (Ki) -> N causal ConvNeXt blocks (K) -> LN -> linear -> LN: content,
  read L frames late: content frame j sees source frames <= j + L and nothing later. logits = linear(content).
The causal convolutions' zero padding is the (normalised) mean frame, at the start offline and in a fresh
state alike. An utterance ends with L silence frames (PAD_FEATURE): offline ``forward`` appends them, a stream
feeds them (``end_frames``).

Streaming: a step takes source frames [p, p + c) and returns content frames [p - L, p - L + c); the first L of a
stream are pre-roll (the caller drops them). State (a fixed tuple, batch first):
  in_cache     (B, M, Ki - 1)      the last normalised source frames
  block_cache  (B, N, H, K - 1)    the blocks' depthwise-conv caches
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from speechstream.nn.causal_conv import CausalConv1d
from speechstream.nn.convnext import CausalConvNeXtBlock
from speechstream.vc.config import PAD_FEATURE, VCConfig

ContentState = tuple[Tensor, Tensor]


class ContentEncoder(nn.Module):
    def __init__(self, config: VCConfig) -> None:
        super().__init__()
        c = config
        self.config = config
        self.conv_in = CausalConv1d(c.n_mels, c.d_encoder, c.encoder_in_kernel)
        self.blocks = nn.ModuleList(CausalConvNeXtBlock(c.d_encoder, c.encoder_kernel, c.ff_mult)
                                    for _ in range(c.encoder_layers))
        self.norm = nn.LayerNorm(c.d_encoder)
        self.bottleneck = nn.Linear(c.d_encoder, c.d_content)
        self.content_norm = nn.LayerNorm(c.d_content, elementwise_affine=False)
        self.ctc = nn.Linear(c.d_content, c.vocab_size)

    def _normalise(self, mel: Tensor) -> Tensor:
        return (mel - self.config.mel_mean) / self.config.mel_std

    def _head(self, h: Tensor) -> Tensor:
        """h (B, T, H) -> content (B, T, D)."""
        return self.content_norm(self.bottleneck(self.norm(h)))

    def end_frames(self, batch_size: int, device: torch.device | None = None) -> Tensor:
        """(B, L, M) the silence frames that end an utterance (what the look-ahead reads past the end)."""
        c = self.config
        return torch.full((batch_size, c.content_lookahead, c.n_mels), PAD_FEATURE, device=device)

    # ---- offline ----
    def forward(self, mel: Tensor) -> Tensor:
        """mel (B, T, M) log-mel -> content (B, T, D); the L silence frames of the end are appended here."""
        x = self._normalise(torch.cat([mel, self.end_frames(mel.size(0), mel.device).to(mel.dtype)], dim=1))
        h = self.conv_in(x.transpose(1, 2)).transpose(1, 2)
        for block in self.blocks:
            h = block(h)
        return self._head(h)[:, self.config.content_lookahead:]

    def logits(self, content: Tensor) -> Tensor:
        """content (B, T, D) -> CTC logits (B, T, V) (0 is the blank)."""
        return self.ctc(content)

    # ---- streaming ----
    def init_state(self, batch_size: int, device: torch.device | None = None) -> ContentState:
        c = self.config
        return (self.conv_in.init_state(batch_size, device),
                torch.zeros(batch_size, c.encoder_layers, c.d_encoder, c.encoder_kernel - 1, device=device))

    def step(self, mel: Tensor, state: ContentState) -> tuple[Tensor, ContentState]:
        """mel (B, c, M) source frames [p, p + c) -> content (B, c, D) of frames [p - L, p - L + c), state.
        Traceable; c may be dynamic."""
        in_cache, block_cache = state
        h, in_cache = self.conv_in.step(self._normalise(mel).transpose(1, 2), in_cache)
        h = h.transpose(1, 2)
        caches = []
        for i, block in enumerate(self.blocks):
            h, cache = block.step(h, block_cache[:, i])
            caches.append(cache)
        return self._head(h), (in_cache, torch.stack(caches, dim=1))
