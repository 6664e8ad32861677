"""The streaming flow-matching generator: mel frames -> STFT frames, all solver steps of a chunk in one call.

Shapes: B batch, T frames, c chunk frames, M mel bins, F bins, X = 2F, N = nfe network evaluations,
D model dim, K kernel, Kc mel-conv kernel, Lc / Lv conditioning / velocity blocks, L look-ahead.

The velocity network is causal per frame, so the solver commutes with chunking: evaluation k of frame j
needs only evaluation k's inputs at frames <= j. Streaming therefore runs every evaluation on the chunk
and keeps one velocity-stack state per evaluation (the "buffer bank"); the conditioning stack does not
depend on x or t and runs once per chunk.

State (a fixed tuple, batch first):
  mel_cache  (B, M, Kc - 1)         last normalised mel frames (conv cache + look-ahead delay line)
  cond_cache (B, Lc, D, K - 1)      conditioning blocks' caches
  bank       (B, N, Lv, D, K - 1)   velocity blocks' caches, one set per solver evaluation
  counter    (B, 2) int64           [noise seed, mel frames seen p]

A step takes mel frames [p, p + c) and returns STFT frames [p - L, p - L + c); the first L frames of a
stream are pre-roll (negative positions) and the stream's end needs L frames of pad_feature (``Vocoder``
does both). Noise is drawn per (seed, absolute frame, channel) (noise.frame_noise).
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor, nn

from speechstream.vocoder.config import VocoderConfig

from .flow import solve, start_sample
from .network import VelocityNetwork
from .noise import frame_noise
from .spectral import MelPrior, decode

GeneratorState = tuple[Tensor, Tensor, Tensor, Tensor]


def seed_tensor(seed: int | Sequence[int] | Tensor, batch_size: int, device: torch.device | None = None) -> Tensor:
    """(B,) int64 seeds: one int for every stream, or one per stream."""
    s = torch.as_tensor(seed, dtype=torch.int64, device=device)
    return s.expand(batch_size).clone() if s.dim() == 0 else s.reshape(batch_size)


class FlowGenerator(nn.Module):
    def __init__(self, config: VocoderConfig, net: VelocityNetwork | None = None) -> None:
        super().__init__()
        self.config = config
        self.net = net if net is not None else VelocityNetwork(config)
        self.prior = MelPrior(config)

    def with_solver(self, **kw: Any) -> FlowGenerator:
        """A generator sharing these weights with other sampling options (name, nfe, t0)."""
        return FlowGenerator(self.config.with_solver(**kw), self.net)

    @property
    def nfe(self) -> int:
        return self.config.solver.nfe

    # ---- offline ----
    def forward(self, mel: Tensor, seed: int | Sequence[int] | Tensor = 0) -> Tensor:
        """mel (B, T, M) -> STFT frames (B, T, 2, F) [real; imaginary], the stream's end padding included."""
        b, t, _ = mel.shape
        cond, aligned = self.net.condition(self.net.pad_lookahead(mel))
        positions = torch.arange(t, device=mel.device)[None].expand(b, t)
        eps = frame_noise(seed_tensor(seed, b, mel.device), positions, self.config.frame_dim)
        x = start_sample(eps, self.prior(aligned), self.config)
        x = solve(x, lambda x, k, tt, r: self.net.velocity(x, tt, cond, r), self.config.solver,
                  self.config.mean_flow)
        return decode(x, self.config)

    # ---- streaming ----
    def init_state(self, batch_size: int, seed: int | Sequence[int] | Tensor = 0,
                   device: torch.device | None = None) -> GeneratorState:
        mel_cache, cond_cache, vel_cache, position = self.net.init_state(batch_size, device)
        bank = vel_cache[:, None].repeat(1, self.nfe, 1, 1, 1)
        counter = torch.stack([seed_tensor(seed, batch_size, device), position], dim=1)
        return mel_cache, cond_cache, bank, counter

    def step(self, mel: Tensor, state: GeneratorState) -> tuple[Tensor, GeneratorState]:
        """mel (B, c, M) frames [p, p + c) -> STFT frames (B, c, 2, F) of positions [p - L, p - L + c), state.

        Traceable for ONNX export: no Python branches on tensor values; c may be dynamic.
        """
        mel_cache, cond_cache, bank, counter = state
        cond, aligned, mel_cache, cond_cache = self.net.condition_step(mel, mel_cache, cond_cache)
        positions = self.net.positions(counter[:, 1], mel)
        valid = positions >= 0
        eps = frame_noise(counter[:, 0], positions, self.config.frame_dim)
        x = start_sample(eps, self.prior(aligned), self.config)
        new_bank: list[Tensor] = [bank[:, 0]] * self.nfe

        def velocity(x: Tensor, k: int, t: float, r: float) -> Tensor:
            v, new_bank[k] = self.net.velocity_step(x, t, cond, bank[:, k], valid, r)
            return v

        x = solve(x, velocity, self.config.solver, self.config.mean_flow)
        counter = torch.stack([counter[:, 0], counter[:, 1] + mel.size(1)], dim=1)
        return decode(x, self.config), (mel_cache, cond_cache, torch.stack(new_bank, dim=1), counter)
