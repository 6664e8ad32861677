"""Anti-wrapping phase losses on generated STFT frames (torch, training only), after APNet (Ai & Ling, 2023).

Shapes: B batch, T frames, X = 2F frame channels, F bins.

Overlap-add only gives the intended magnitudes when neighbouring frames and bins agree in phase; a waveform
loss sees that agreement only through its effect on the re-analysed magnitudes. These losses supervise it
directly: the phase difference between neighbouring bins (group delay, GD) and between neighbouring frames
(instantaneous angular frequency, IAF) against the ground truth's, each through the anti-wrapping function
|x - 2 pi round(x / 2 pi)| so that 2 pi apart counts as equal. The absolute phase of a voice is not in its
mel frames, so it is not supervised. Bins are weighted by the ground truth's compressed magnitude: phases
of silent bins mean nothing.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

EPS = 1e-4


def anti_wrap(x: Tensor) -> Tensor:
    """|x - 2 pi round(x / 2 pi)|: the distance of an angle difference from 0 on the circle."""
    return (x - 2 * math.pi * torch.round(x / (2 * math.pi))).abs()


def _phase_and_weight(x: Tensor) -> tuple[Tensor, Tensor]:
    """x (B, T, X) compressed frames -> phase (B, T, F) and compressed magnitude (B, T, F)."""
    re, im = x.chunk(2, dim=-1)
    mag = (re.square() + im.square() + EPS ** 2).sqrt()
    return torch.atan2(im, re), mag


def phase_loss(x_hat: Tensor, x1: Tensor, mask: Tensor | None = None) -> Tensor:
    """x_hat, x1 (B, T, X) generated and true frames, mask (B, T) valid frames -> GD + IAF loss (scalar).
    Compression and scale leave angles alone, so the compressed frames serve as they are."""
    phase_hat, _ = _phase_and_weight(x_hat)
    phase, mag = _phase_and_weight(x1)
    valid = torch.ones_like(mag) if mask is None else mask[..., None].to(mag.dtype).expand_as(mag)
    w = mag * valid
    # group delay: along bins; a pair counts by the smaller of its two weights
    w_f = torch.minimum(w[..., 1:], w[..., :-1])
    gd = anti_wrap(phase_hat.diff(dim=-1) - phase.diff(dim=-1))
    # instantaneous angular frequency: along frames
    w_t = torch.minimum(w[:, 1:], w[:, :-1])
    iaf = anti_wrap(phase_hat.diff(dim=1) - phase.diff(dim=1))
    return (gd * w_f).sum() / w_f.sum().clamp_min(EPS) + (iaf * w_t).sum() / w_t.sum().clamp_min(EPS)
