"""Source perturbation for training the content encoder, on stored log-mel frames: the content it reads must
not tell who spoke, so the source's voice is changed at random while its words stay (after MeanVC's and
NANSY's perturbations, done here on Fbank frames rather than waveforms).

Shapes: T frames, M mel bins, R reference frames.

  VTLP     one warp factor alpha per utterance on the source's frequency axis (speechstream.train.vtlp): formants
           and harmonics, so pitch, move by alpha together, a shorter or longer vocal tract
  gain     a level change in dB (log-mel + gain * ln(10) / 10)
  rate     source and target stretched in time together by one factor (linear interpolation of frames), so
           speaking rate does not identify the speaker either; the decoder's target stays frame-aligned
  target   optional pseudo-speakers: target and reference warped together by another alpha, a new voice the
           target encoder must describe and the decoder must produce
Every draw comes from the explicit generator, so a resumed run perturbs exactly as before.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from speechstream.train.vtlp import VtlpConfig, warp


@dataclass(frozen=True)
class PerturbConfig:
    vtlp: float = 0.15  # source alpha ~ U(1 - vtlp, 1 + vtlp)
    gain_db: float = 6.0  # source level change ~ U(-gain_db, gain_db)
    rate: float = 0.1  # source and target stretched by r ~ U(1 - rate, 1 + rate)
    target_warp: float = 0.0  # target and reference warped by alpha ~ U(1 - target_warp, 1 + target_warp)
    boundary_hz: float = 4800.0


def time_stretch(mel: Tensor, rate: float) -> Tensor:
    """mel (T, M) spoken `rate` times faster -> (round(T / rate), M), frames linearly interpolated."""
    t = mel.size(0)
    n = max(1, round(t / rate))
    if n == t or t < 2:
        return mel if n == t else mel[:1].expand(n, -1).clone()
    pos = torch.linspace(0, t - 1, n, dtype=torch.float64)
    lo = pos.floor().long().clamp(max=t - 2)
    w = (pos - lo).to(mel.dtype)[:, None]
    return mel[lo] * (1 - w) + mel[lo + 1] * w


def _uniform(g: torch.Generator, half_width: float) -> float:
    return 1.0 + half_width * (2 * float(torch.rand(1, generator=g)) - 1)


def perturb(mel: Tensor, reference: Tensor, config: PerturbConfig, g: torch.Generator
            ) -> tuple[Tensor, Tensor, Tensor]:
    """One utterance's mel (T, M) and its reference (R, M) -> (source (T', M), target (T', M), reference (R, M)):
    the source perturbed, the target stretched (and with target_warp warped) like it, the reference warped
    with the target. Draws in a fixed order: rate, source alpha, gain, target alpha."""
    rate = _uniform(g, config.rate)
    alpha = _uniform(g, config.vtlp)
    gain = config.gain_db * (2 * float(torch.rand(1, generator=g)) - 1)
    target_alpha = _uniform(g, config.target_warp)
    target = time_stretch(mel, rate) if config.rate else mel
    source = target
    if config.vtlp:
        source = warp(source, alpha, VtlpConfig(config.vtlp, config.boundary_hz))
    source = source + gain * math.log(10) / 10
    if config.target_warp:
        warp_config = VtlpConfig(config.target_warp, config.boundary_hz)
        target, reference = warp(target, target_alpha, warp_config), warp(reference, target_alpha, warp_config)
    return source, target, reference
