"""Durations without an external aligner: monotonic alignment search (MAS, Glow-TTS / Matcha-TTS) of mel
frames to phonemes under the encoder's per-phoneme mel estimate.

Shapes: B batch, N phonemes, T frames, M mel bins.

Every frame belongs to one phoneme, phonemes in order, each at least one frame; MAS finds the path that
maximises the summed log-likelihood of the frames under N(mu_i, I) of their phonemes, by dynamic programming
over frames (vectorised over the batch and the phonemes). The path's row sums are the duration targets, and
the likelihood of the aligned frames trains mu (alignment_loss), which sharpens the next alignment.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor


def log_likelihood(mu: Tensor, x: Tensor) -> Tensor:
    """mu (B, N, M) per-phoneme estimates, x (B, T, M) frames -> (B, N, T) log N(x_t; mu_i, I)."""
    m = mu.size(-1)
    sq = (mu.square().sum(-1)[:, :, None] - 2 * mu @ x.transpose(1, 2) + x.square().sum(-1)[:, None, :])
    return -0.5 * (sq + m * math.log(2 * math.pi))


def monotonic_alignment(log_p: Tensor, phonemes: Tensor, frames: Tensor) -> Tensor:
    """log_p (B, N, T), valid phonemes (B,) and frames (B,) per item (frames >= phonemes) -> the best path
    (B, N, T) as 0/1, zero outside each item."""
    lp = log_p.detach().cpu().double().numpy()
    b, n, t = lp.shape
    path = np.zeros((b, n, t), np.float32)
    for k in range(b):
        nk, tk = int(phonemes[k]), int(frames[k])
        if nk == 0 or tk == 0:
            continue
        if tk < nk:
            raise ValueError(f"item {k}: {tk} frames cannot align {nk} phonemes (each needs one frame)")
        path[k, :nk, :tk] = _search(lp[k, :nk, :tk])
    return torch.from_numpy(path).to(log_p.device)


def _search(lp: np.ndarray) -> np.ndarray:
    """(N, T) log-likelihoods -> (N, T) 0/1 path: frame 0 on phoneme 0, frame T-1 on phoneme N-1, each
    frame on the previous frame's phoneme or the next one."""
    n, t = lp.shape
    value = np.full(n, -np.inf)
    value[0] = lp[0, 0]
    moved = np.zeros((t, n), bool)  # whether frame j's best path came from phoneme i - 1
    for j in range(1, t):
        stay = value
        advance = np.concatenate([[-np.inf], value[:-1]])
        moved[j] = advance > stay
        value = np.maximum(stay, advance) + lp[:, j]  # phoneme i stays -inf until frame i
    out = np.zeros((n, t), np.float32)
    i = n - 1
    for j in range(t - 1, -1, -1):
        out[i, j] = 1.0
        if j and moved[j, i]:
            i -= 1
    return out


def path_from_durations(durations: Tensor, frames: int) -> Tensor:
    """(B, N) int64 frames per phoneme -> (B, N, T) 0/1 path over T = frames."""
    ends = durations.cumsum(dim=1)
    t = torch.arange(frames, device=durations.device)[None, None, :]
    return ((t >= (ends - durations)[..., None]) & (t < ends[..., None])).float()


def durations_from_path(path: Tensor) -> Tensor:
    """(B, N, T) path -> (B, N) int64 frames per phoneme."""
    return path.sum(-1).round().to(torch.int64)


def alignment_loss(mu: Tensor, x: Tensor, path: Tensor) -> Tensor:
    """Matcha's prior loss: mean over aligned frames and bins of the negative log-likelihood of x (B, T, M)
    under the phoneme estimates mu (B, N, M) that path (B, N, T) assigns them."""
    aligned = path.transpose(1, 2) @ mu  # (B, T, M)
    nll = 0.5 * ((x - aligned).square() + math.log(2 * math.pi))
    frames = path.sum(dim=1)  # (B, T) 1 where a frame is aligned
    return (nll.sum(-1) * frames).sum() / (frames.sum() * x.size(-1)).clamp_min(1.0)
