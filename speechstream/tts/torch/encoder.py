"""The text encoder and duration predictor: phoneme ids -> encodings and log durations, with a fixed phoneme
look-ahead, offline and streaming.

Shapes: B batch, N phonemes, p phonemes per step, D model dim, E speaker dim, K / Kd kernels,
Le / Ld encoder / duration blocks, L look-ahead phonemes.

  ids -> embedding (0 pads to zeros) -> causal conv (K) -> Le causal ConvNeXt blocks, adaLN on the speaker
      -> LN: the encoding of phoneme i is the output where phoneme i + L entered (a delay of L);
  encodings (gradient stopped) -> Ld causal ConvNeXt blocks, adaLN on the speaker -> linear: log(1 + frames);
  encodings -> linear (``mel_out``): a per-phoneme mel estimate that training aligns frames with (alignment.py).
Every layer is causal, so phoneme i's encoding and duration depend on phonemes <= i + L only, whatever the
chunking (tests/test_tts_acoustic.py proves it by gradients). An utterance ends with L pad ids (0), offline
(``forward`` appends them) and streaming (the caller feeds them).

Streaming: a step takes p new ids at input positions [q, q + p) and returns the encodings of phonemes
[q - L, q - L + p); those at negative positions are pre-roll (the caller drops them), and the duration stack
zeroes its input there before every block - what the offline zero padding sees.

State (a fixed tuple, batch first, stacked over layers):
  in_cache  (B, D, K - 1)        embedded ids [q - K + 1, q)
  enc_cache (B, Le, D, K - 1)    encoder blocks' depthwise-conv inputs
  dur_cache (B, Ld, D, Kd - 1)   duration blocks' depthwise-conv inputs
  position  (B,) int64           q, ids seen
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from speechstream.nn.causal_conv import CausalConv1d
from speechstream.nn.convnext import CausalConvNeXtBlock
from speechstream.tts.config import AcousticConfig

EncoderState = tuple[Tensor, Tensor, Tensor, Tensor]


class TextEncoder(nn.Module):
    def __init__(self, config: AcousticConfig) -> None:
        super().__init__()
        c = config
        self.config = config
        self.embed = nn.Embedding(c.vocab_size, c.d_model, padding_idx=0)
        self.conv_in = CausalConv1d(c.d_model, c.d_model, c.encoder_kernel)
        self.blocks = nn.ModuleList(CausalConvNeXtBlock(c.d_model, c.encoder_kernel, c.ff_mult, cond_dim=c.d_speaker)
                                    for _ in range(c.encoder_layers))
        self.norm = nn.LayerNorm(c.d_model)
        self.duration_blocks = nn.ModuleList(
            CausalConvNeXtBlock(c.d_model, c.duration_kernel, c.ff_mult, cond_dim=c.d_speaker)
            for _ in range(c.duration_layers))
        self.duration_out = nn.Linear(c.d_model, 1)
        nn.init.constant_(self.duration_out.bias, 1.8)  # log(1 + 5 frames): a start near the typical phoneme
        self.mel_out = nn.Linear(c.d_model, c.n_mels)  # per-phoneme mel estimate: training's alignment only

    # ---- offline ----
    def forward(self, ids: Tensor, speaker: Tensor) -> tuple[Tensor, Tensor]:
        """ids (B, N) int64 (0 pads), speaker (B, E) -> encodings (B, N, D), log durations (B, N)."""
        lookahead = self.config.lookahead_phonemes
        ids = torch.cat([ids, ids.new_zeros(ids.size(0), lookahead)], dim=1)
        h = self.conv_in(self.embed(ids).transpose(1, 2)).transpose(1, 2)
        for block in self.blocks:
            h = block(h, speaker)
        enc = self.norm(h)[:, lookahead:]
        g = enc.detach()  # durations do not shape the encodings (Glow-TTS, Matcha)
        for block in self.duration_blocks:
            g = block(g, speaker)
        return enc, self.duration_out(g).squeeze(-1)

    # ---- streaming ----
    def init_state(self, batch_size: int, device: torch.device | None = None) -> EncoderState:
        c = self.config
        return (self.conv_in.init_state(batch_size, device),
                torch.zeros(batch_size, c.encoder_layers, c.d_model, c.encoder_kernel - 1, device=device),
                torch.zeros(batch_size, c.duration_layers, c.d_model, c.duration_kernel - 1, device=device),
                torch.zeros(batch_size, dtype=torch.int64, device=device))

    def step(self, ids: Tensor, speaker: Tensor, state: EncoderState) -> tuple[Tensor, Tensor, EncoderState]:
        """ids (B, p) at input positions [q, q + p), speaker (B, E) -> encodings (B, p, D) and log durations
        (B, p) of phonemes [q - L, q - L + p) (negative ones are pre-roll), state. Traceable; p may be dynamic."""
        in_cache, enc_cache, dur_cache, position = state
        h, in_cache = self.conv_in.step(self.embed(ids).transpose(1, 2), in_cache)
        h = h.transpose(1, 2)
        new_enc = []
        for i, block in enumerate(self.blocks):
            h, cache = block.step(h, enc_cache[:, i], speaker)
            new_enc.append(cache)
        enc = self.norm(h)
        offsets = torch.arange(ids.size(1), device=ids.device)
        keep = ((position[:, None] - self.config.lookahead_phonemes + offsets[None]) >= 0)[..., None].to(enc.dtype)
        g, new_dur = enc, []
        for i, block in enumerate(self.duration_blocks):
            g, cache = block.step(g * keep, dur_cache[:, i], speaker)
            new_dur.append(cache)
        log_dur = self.duration_out(g).squeeze(-1)
        state = (in_cache, _stack(new_enc, enc_cache), _stack(new_dur, dur_cache), position + ids.size(1))
        return enc, log_dur, state


def _stack(caches: list[Tensor], empty: Tensor) -> Tensor:
    """Per-layer caches -> (B, layers, D, K - 1); a stack of no layers stays as it was."""
    return torch.stack(caches, dim=1) if caches else empty
