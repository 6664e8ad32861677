"""The chunk-causal flow-matching decoder: per-frame conditions -> Fbank frames, offline and streaming.

Shapes: B batch, T frames, c frames per step, C = D + 1 condition channels, M mel bins, H decoder dim,
E speaker dim, N = nfe network evaluations, Kc / K kernels, Lc / Lv condition / velocity blocks,
L look-ahead frames.

Rectified flow in normalised mel units x = (mel - mel_mean) / mel_std: x_t = (1 - t) x0 + t x1, x0 ~ N(0, 1)
drawn per (seed, frame, bin) (speechstream.vocoder.torch.noise), velocity target x1 - x0.
  condition  frame conditions -> causal conv (Kc) -> Lc causal ConvNeXt blocks (adaLN: speaker) -> LN: cond,
             read L frames late (frame j's cond sees conditions <= j + L); mu = linear(cond), a mel estimate
             (Matcha's prior: trained by prior_loss, the start of an early-skip sampler at t0 > 0);
  velocity   x_t -> linear + cond -> Lv causal ConvNeXt blocks (adaLN: time and speaker) -> LN -> linear: v,
             once per solver evaluation.
Every layer is causal per frame, so evaluation k of frame j needs only evaluation k's inputs at frames <= j:
streaming runs every evaluation on each chunk and keeps one velocity-stack cache per evaluation (the
buffer bank); the condition stack runs once per chunk. An utterance ends with L all-zero condition frames.

Streaming: a step takes c conditions at frames [p, p + c) and returns mel frames [p - L, p - L + c); the
first L of a stream are pre-roll (the caller drops them). State (a fixed tuple, batch first):
  in_cache   (B, C, Kc - 1)         the last conditions
  cond_cache (B, Lc, H, K - 1)      condition blocks' caches
  bank       (B, N, Lv, H, K - 1)   velocity blocks' caches, one set per solver evaluation
  counter    (B, 2) int64           [noise seed, condition frames seen p]
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from speechstream.nn.causal_conv import CausalConv1d
from speechstream.nn.convnext import CausalConvNeXtBlock
from speechstream.tts.config import AcousticConfig
from speechstream.vocoder.torch.flow import solve
from speechstream.vocoder.torch.network import TimeEmbedding
from speechstream.vocoder.torch.noise import frame_noise

DecoderState = tuple[Tensor, Tensor, Tensor, Tensor]


class FlowDecoder(nn.Module):
    def __init__(self, config: AcousticConfig, cond_dim: int | None = None) -> None:
        """`cond_dim` overrides the config's condition channels C (voice conversion conditions on content
        frames, not on phoneme encodings)."""
        super().__init__()
        c = config
        self.config = config
        self.cond_dim = c.cond_dim if cond_dim is None else cond_dim
        self.cond_in = CausalConv1d(self.cond_dim, c.d_decoder, c.cond_kernel)
        self.cond_blocks = nn.ModuleList(CausalConvNeXtBlock(c.d_decoder, c.decoder_kernel, c.ff_mult, cond_dim=c.d_speaker)
                                         for _ in range(c.cond_layers))
        self.cond_norm = nn.LayerNorm(c.d_decoder)
        self.mu_out = nn.Linear(c.d_decoder, c.n_mels)
        self.x_in = nn.Linear(c.n_mels, c.d_decoder)
        self.time_embed = TimeEmbedding(c.d_time)
        self.speaker_time = nn.Linear(c.d_speaker, c.d_time)
        self.blocks = nn.ModuleList(CausalConvNeXtBlock(c.d_decoder, c.decoder_kernel, c.ff_mult, cond_dim=c.d_time)
                                    for _ in range(c.decoder_layers))
        self.out_norm = nn.LayerNorm(c.d_decoder)
        self.out = nn.Linear(c.d_decoder, c.n_mels)

    @property
    def nfe(self) -> int:
        return self.config.solver.nfe

    def _embed(self, t: Tensor | float, speaker: Tensor) -> Tensor:
        t = torch.as_tensor(t, dtype=speaker.dtype, device=speaker.device).expand(speaker.size(0))
        return self.time_embed(t) + self.speaker_time(speaker)

    def _start(self, eps: Tensor, mu: Tensor) -> Tensor:
        """x at t0: noise, moved towards the prior mu when sampling starts late (t0 > 0)."""
        t0 = self.config.solver.t0
        return eps if t0 == 0 else (1 - t0) * eps + t0 * mu

    # ---- offline ----
    def condition(self, frames: Tensor, speaker: Tensor) -> tuple[Tensor, Tensor]:
        """frames (B, T, C) conditions, speaker (B, E) -> cond (B, T, H), mu (B, T, M); the L look-ahead
        frames of the end (zeros) are appended here."""
        lookahead = self.config.lookahead_frames
        frames = torch.cat([frames, frames.new_zeros(frames.size(0), lookahead, frames.size(2))], dim=1)
        h = self.cond_in(frames.transpose(1, 2)).transpose(1, 2)
        for block in self.cond_blocks:
            h = block(h, speaker)
        cond = self.cond_norm(h)[:, lookahead:]
        return cond, self.mu_out(cond)

    def velocity(self, x: Tensor, t: Tensor | float, cond: Tensor, speaker: Tensor) -> Tensor:
        """x (B, T, M) at time t (B,) or float, cond (B, T, H), speaker (B, E) -> v (B, T, M)."""
        emb = self._embed(t, speaker)
        h = self.x_in(x) + cond
        for block in self.blocks:
            h = block(h, emb)
        return self.out(self.out_norm(h))

    def forward(self, frames: Tensor, speaker: Tensor, seed: Tensor) -> Tensor:
        """Sampling offline: conditions (B, T, C), speaker (B, E), seed (B,) int64 -> x1 (B, T, M), normalised."""
        b, t, _ = frames.shape
        cond, mu = self.condition(frames, speaker)
        positions = torch.arange(t, device=frames.device)[None].expand(b, t)
        x = self._start(frame_noise(seed, positions, self.config.n_mels), mu)
        return solve(x, lambda x, k, tt, r: self.velocity(x, tt, cond, speaker), self.config.solver, False)

    # ---- streaming ----
    def init_state(self, batch_size: int, seed: Tensor, device: torch.device | None = None) -> DecoderState:
        c = self.config
        bank = torch.zeros(batch_size, self.nfe, c.decoder_layers, c.d_decoder, c.decoder_kernel - 1, device=device)
        counter = torch.stack([seed.to(torch.int64).reshape(batch_size), torch.zeros_like(seed).reshape(batch_size)],
                              dim=1)
        return (self.cond_in.init_state(batch_size, device),
                torch.zeros(batch_size, c.cond_layers, c.d_decoder, c.decoder_kernel - 1, device=device),
                bank, counter.to(device))

    def step(self, frames: Tensor, speaker: Tensor, state: DecoderState) -> tuple[Tensor, DecoderState]:
        """frames (B, c, C) conditions [p, p + c), speaker (B, E) -> x1 (B, c, M) normalised, of frames
        [p - L, p - L + c) (negative ones are pre-roll), state. Traceable; c may be dynamic."""
        in_cache, cond_cache, bank, counter = state
        h, in_cache = self.cond_in.step(frames.transpose(1, 2), in_cache)
        h = h.transpose(1, 2)
        new_cond = []
        for i, block in enumerate(self.cond_blocks):
            h, cache = block.step(h, cond_cache[:, i], speaker)
            new_cond.append(cache)
        cond = self.cond_norm(h)
        positions = counter[:, 1:2] - self.config.lookahead_frames + torch.arange(frames.size(1), device=frames.device)
        keep = (positions >= 0)[..., None].to(cond.dtype)
        x = self._start(frame_noise(counter[:, 0], positions, self.config.n_mels), self.mu_out(cond))
        new_bank: list[Tensor] = [bank[:, 0]] * self.nfe

        def velocity(x: Tensor, k: int, t: float, r: float) -> Tensor:
            emb = self._embed(t, speaker)
            g, caches = self.x_in(x) + cond, []
            for i, block in enumerate(self.blocks):
                g, cache = block.step(g * keep, bank[:, k, i], emb)
                caches.append(cache)
            new_bank[k] = torch.stack(caches, dim=1) if caches else bank[:, k]
            return self.out(self.out_norm(g))

        x = solve(x, velocity, self.config.solver, False)
        cond_cache = torch.stack(new_cond, dim=1) if new_cond else cond_cache
        counter = torch.cat([counter[:, :1], counter[:, 1:2] + frames.size(1)], dim=1)
        return x, (in_cache, cond_cache, torch.stack(new_bank, dim=1), counter)
