"""Vocal tract length perturbation (VTLP, Jaitly & Hinton 2013) on a padded batch of stored log-mel features.

Shapes: B batch, T frames, F mel bins.

A vocal tract shorter by a factor alpha moves every formant up by alpha. VTLP draws one alpha per utterance
and warps the spectrum's frequency axis piecewise-linearly: f -> alpha f up to a boundary f_b min(alpha, 1) / alpha,
then a straight line that keeps the Nyquist frequency in place. On stored log-mel frames the warp is applied to
the bin centres: output bin m takes the input's log-mel at the frequency that the warp sends to bin m's centre,
linearly interpolated between neighbouring bins. Our corpus has few real persons (recipes/asr/synth_en):
pseudo-speakers with other vocal-tract lengths are cheap diversity. Randomness comes from an explicit
``torch.Generator``, so a resumed run warps exactly as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from speechstream.audio import mel as mel_lib
from speechstream.audio.fbank import FbankConfig


@dataclass(frozen=True)
class VtlpConfig:
    max_warp: float = 0.0  # alpha ~ U(1 - max_warp, 1 + max_warp); 0 disables
    boundary_hz: float = 4800.0  # f_b: where the linear part ends (Jaitly & Hinton's value)

    @property
    def enabled(self) -> bool:
        return self.max_warp > 0


def mel_centres_hz(features: FbankConfig) -> np.ndarray:
    """(F,) centre frequency of each mel bin of the Fbank."""
    lo = mel_lib.hz_to_mel(np.array(features.low_freq), features.mel_scale)
    hi = mel_lib.hz_to_mel(np.array(features.nyquist_high_freq), features.mel_scale)
    edges = np.linspace(float(lo), float(hi), features.num_mel_bins + 2)
    return mel_lib.mel_to_hz(edges[1:-1], features.mel_scale)


def source_frequency(f: np.ndarray, alpha: float, boundary_hz: float, nyquist: float) -> np.ndarray:
    """The inverse warp: the input frequency that the warp with factor alpha moves to each f."""
    knee_out = boundary_hz * min(alpha, 1.0)  # the knee, in output frequencies
    knee_in = knee_out / alpha
    upper = nyquist - (nyquist - f) * (nyquist - knee_in) / (nyquist - knee_out)
    return np.where(f <= knee_out, f / alpha, upper)


def warp_positions(alpha: float, centres: np.ndarray, config: VtlpConfig, nyquist: float) -> np.ndarray:
    """(F,) fractional input-bin index that each output bin reads, clipped to the bins."""
    src = source_frequency(centres, alpha, config.boundary_hz, nyquist)
    return np.interp(src, centres, np.arange(len(centres), dtype=np.float64))


def warp(frames: Tensor, alpha: float, config: VtlpConfig, features: FbankConfig | None = None) -> Tensor:
    """frames (..., T, F) of one utterance -> the frames warped by factor alpha."""
    fb = features or FbankConfig()
    if frames.size(-1) != fb.num_mel_bins:
        raise ValueError(f"VTLP expects {fb.num_mel_bins} mel bins, got {frames.size(-1)}")
    pos = torch.from_numpy(warp_positions(alpha, mel_centres_hz(fb), config, fb.sample_rate / 2))
    lo = pos.floor().long().clamp(max=frames.size(-1) - 2).to(frames.device)
    w = (pos.to(frames.device) - lo).to(frames.dtype)
    return frames[..., lo] * (1 - w) + frames[..., lo + 1] * w


def vtlp(feats: Tensor, config: VtlpConfig, generator: torch.Generator,
         features: FbankConfig | None = None) -> Tensor:
    """feats (B, T, F) -> warped copy (B, T, F), one alpha ~ U(1 - max_warp, 1 + max_warp) per utterance
    (padding frames warp harmlessly)."""
    alphas = 1.0 + config.max_warp * (2 * torch.rand(feats.size(0), generator=generator) - 1)
    return torch.stack([warp(feats[b], a, config, features) for b, a in enumerate(alphas.tolist())])
