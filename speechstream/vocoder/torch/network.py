"""The chunk-causal velocity network of the flow-matching vocoder: v(x_t, t, mel), or the mean-flow average
velocity u(x_t, t, r, mel), predicting compressed STFT frames aligned with mel frames.

Shapes: B batch, T frames, c chunk frames, M mel bins, X = 2F frame channels, D model dim, K kernel,
Kc mel-conv kernel, L look-ahead frames, Lc / Lv conditioning / velocity blocks.

Two stacks of causal ConvNeXt blocks (speechstream.nn.convnext):
  condition  mel -> causal conv (Kc) -> Lc blocks -> LN: cond, once per chunk, shared by all solver steps;
  velocity   x_t -> linear + cond -> Lv blocks adaLN-modulated by the embedding of t (and r - t) -> LN ->
             linear: v, once per solver evaluation.
Look-ahead is a delay: STFT frame j takes the conditioning computed at mel frame j + L. Every layer is
causal, so frame j depends on mel frames <= j + L and on x_t frames <= j, whatever the chunking.

Streaming: a step takes c new mel frames [p, p + c) (p = mel frames seen) and c frames of x_t at
positions [p - L, p - L + c). Positions < 0 are pre-roll: the velocity stack zeroes its input there before
every block, which is what the offline zero padding of the convs sees, and the caller drops them.

State of ``step`` (a fixed tuple, batch first, stacked over layers):
  mel_cache  (B, M, Kc - 1)      normalised mel frames [p - Kc + 1, p): conv cache and look-ahead delay line
  cond_cache (B, Lc, D, K - 1)   conditioning blocks' depthwise-conv inputs
  vel_cache  (B, Lv, D, K - 1)   velocity blocks' depthwise-conv inputs (one set per solver evaluation
                                 in the generator's buffer bank)
  position   (B,) int64          p
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from speechstream.nn.causal_conv import CausalConv1d
from speechstream.nn.convnext import CausalConvNeXtBlock
from speechstream.vocoder.config import VocoderConfig

NetworkState = tuple[Tensor, Tensor, Tensor, Tensor]


class TimeEmbedding(nn.Module):
    """t (B,) in [0, 1] -> (B, E): sinusoids at log-spaced frequencies, then an MLP."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        half = max(dim // 2, 1)
        self.register_buffer("freqs", torch.exp(torch.linspace(0.0, math.log(1000.0), half)) * math.pi,
                             persistent=False)
        self.mlp = nn.Sequential(nn.Linear(2 * half, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: Tensor) -> Tensor:
        arg = t[:, None] * self.freqs
        return self.mlp(torch.cat([torch.sin(arg), torch.cos(arg)], dim=-1))


class VelocityNetwork(nn.Module):
    def __init__(self, config: VocoderConfig) -> None:
        super().__init__()
        c = config
        self.config = config
        self.mel_in = CausalConv1d(c.n_mels, c.d_model, c.cond_kernel)
        self.cond_blocks = nn.ModuleList(CausalConvNeXtBlock(c.d_model, c.kernel_size, c.ff_mult)
                                         for _ in range(c.cond_layers))
        self.cond_norm = nn.LayerNorm(c.d_model)
        self.x_in = nn.Linear(c.frame_dim, c.d_model)
        self.time_embed = TimeEmbedding(c.d_time)
        self.gap_embed = TimeEmbedding(c.d_time) if c.mean_flow else None
        self.blocks = nn.ModuleList(CausalConvNeXtBlock(c.d_model, c.kernel_size, c.ff_mult, cond_dim=c.d_time)
                                    for _ in range(c.num_layers))
        self.out_norm = nn.LayerNorm(c.d_model)
        self.out = nn.Linear(c.d_model, c.frame_dim)

    # ---- pieces shared by forward and step ----
    def _normalise(self, mel: Tensor) -> Tensor:
        """mel (B, T, M) -> conv input (B, M, T); silence (the log floor) maps to 0."""
        return ((mel - self.config.mel_offset) / self.config.mel_scale).transpose(1, 2)

    def _denormalise(self, h: Tensor) -> Tensor:
        """conv input (B, M, T) -> mel (B, T, M)."""
        return h.transpose(1, 2) * self.config.mel_scale + self.config.mel_offset

    def _embed(self, t: Tensor | float, r: Tensor | float | None, batch: int, like: Tensor) -> Tensor:
        t = torch.as_tensor(t, dtype=like.dtype, device=like.device).expand(batch)
        emb = self.time_embed(t)
        if self.gap_embed is not None:
            r = t if r is None else torch.as_tensor(r, dtype=like.dtype, device=like.device).expand(batch)
            emb = emb + self.gap_embed(r - t)
        return emb

    # ---- offline ----
    def condition(self, mel: Tensor) -> tuple[Tensor, Tensor]:
        """mel (B, T + L, M), the L look-ahead frames included -> cond (B, T, D), aligned mel (B, T, M).

        aligned mel row j is mel frame j as the stream sees it (normalised and back), for the prior.
        """
        lookahead = self.config.lookahead_frames
        h_in = self._normalise(mel)
        h = self.mel_in(h_in).transpose(1, 2)
        for block in self.cond_blocks:
            h = block(h)
        t = mel.size(1) - lookahead
        return self.cond_norm(h)[:, lookahead:], self._denormalise(h_in)[:, :t]

    def velocity(self, x: Tensor, t: Tensor | float, cond: Tensor, r: Tensor | float | None = None) -> Tensor:
        """x (B, T, X) at time t (B,) or float, cond (B, T, D), r: mean-flow end time -> v (B, T, X)."""
        emb = self._embed(t, r, x.size(0), x)
        h = self.x_in(x) + cond
        for block in self.blocks:
            h = block(h, emb)
        return self.out(self.out_norm(h))

    def forward(self, x_t: Tensor, t: Tensor | float, mel: Tensor, r: Tensor | float | None = None) -> Tensor:
        """x_t (B, T, X), t (B,), mel (B, T + L, M) -> v (B, T, X). Pad the look-ahead of an utterance's end
        with pad_feature (``pad_lookahead``), as the stream does at its end."""
        if mel.size(1) != x_t.size(1) + self.config.lookahead_frames:
            raise ValueError(f"mel must have T + lookahead = {x_t.size(1) + self.config.lookahead_frames} "
                             f"frames, got {mel.size(1)}")
        cond, _ = self.condition(mel)
        return self.velocity(x_t, t, cond, r)

    def pad_lookahead(self, mel: Tensor) -> Tensor:
        """mel (B, T, M) -> (B, T + L, M) padded with pad_feature: the end of a stream."""
        pad = mel.new_full((mel.size(0), self.config.lookahead_frames, mel.size(2)), self.config.pad_feature)
        return torch.cat([mel, pad], dim=1)

    # ---- streaming ----
    def init_state(self, batch_size: int, device: torch.device | None = None) -> NetworkState:
        c = self.config
        return (self.mel_in.init_state(batch_size, device),
                self.init_block_cache(batch_size, c.cond_layers, device),
                self.init_block_cache(batch_size, c.num_layers, device),
                torch.zeros(batch_size, dtype=torch.int64, device=device))

    def init_block_cache(self, batch_size: int, layers: int, device: torch.device | None = None) -> Tensor:
        """(B, layers, D, K - 1) zeros."""
        c = self.config
        return torch.zeros(batch_size, layers, c.d_model, c.kernel_size - 1, device=device)

    def condition_step(self, mel: Tensor, mel_cache: Tensor, cond_cache: Tensor
                       ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """mel (B, c, M) new frames -> cond (B, c, D) and aligned mel (B, c, M) of positions [p - L, p - L + c),
        new mel_cache, new cond_cache."""
        h_in = self._normalise(mel)
        window = torch.cat([mel_cache, h_in], dim=2)  # (B, M, Kc - 1 + c): mel frames [p - Kc + 1, p + c)
        start = self.mel_in.cache_frames - self.config.lookahead_frames
        aligned = self._denormalise(window[:, :, start:start + mel.size(1)])
        h, mel_cache = self.mel_in.step(h_in, mel_cache)
        h = h.transpose(1, 2)
        new = []
        for i, block in enumerate(self.cond_blocks):
            h, cache = block.step(h, cond_cache[:, i])
            new.append(cache)
        return self.cond_norm(h), aligned, mel_cache, torch.stack(new, dim=1)

    def velocity_step(self, x: Tensor, t: Tensor | float, cond: Tensor, vel_cache: Tensor, valid: Tensor,
                      r: Tensor | float | None = None) -> tuple[Tensor, Tensor]:
        """x (B, c, X), cond (B, c, D), vel_cache (B, Lv, D, K - 1), valid (B, c) bool (position >= 0)
        -> v (B, c, X), new vel_cache."""
        emb = self._embed(t, r, x.size(0), x)
        keep = valid[..., None].to(x.dtype)
        h = self.x_in(x) + cond
        new = []
        for i, block in enumerate(self.blocks):
            h, cache = block.step(h * keep, vel_cache[:, i], emb)
            new.append(cache)
        return self.out(self.out_norm(h)), torch.stack(new, dim=1)

    def positions(self, position: Tensor, chunk: Tensor) -> Tensor:
        """STFT-frame positions (B, c) int64 of a step: [p - L, p - L + c). chunk: any (B, c, ...) tensor."""
        offsets = torch.arange(chunk.size(1), device=position.device)
        return position[:, None] - self.config.lookahead_frames + offsets[None, :]

    def step(self, x_t: Tensor, t: Tensor | float, mel: Tensor, state: NetworkState,
             r: Tensor | float | None = None) -> tuple[Tensor, NetworkState]:
        """x_t (B, c, X) at positions [p - L, p - L + c), mel (B, c, M) frames [p, p + c) -> v (B, c, X), state.

        Rows at negative positions are pre-roll (junk); all others equal ``forward``.
        """
        mel_cache, cond_cache, vel_cache, position = state
        cond, _, mel_cache, cond_cache = self.condition_step(mel, mel_cache, cond_cache)
        valid = self.positions(position, mel) >= 0
        v, vel_cache = self.velocity_step(x_t, t, cond, vel_cache, valid, r)
        return v, (mel_cache, cond_cache, vel_cache, position + mel.size(1))
