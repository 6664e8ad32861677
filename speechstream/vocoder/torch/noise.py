"""Counter-based Gaussian noise: the sample for (seed, frame, channel) is a pure function of those three
integers, so a chunk re-run, any chunking, and the exported ONNX step all draw the same numbers.

Shapes: B batch, T frames, D channels.

Hash: integers modulo the prime p = 2^31 - 1, so every product of two residues fits in int64 and the graph
needs only int64 Mul / Add / Mod (no XOR or shifts, which ONNX lacks for signed types). A round is an
affine map followed by x -> x^5 mod p, a permutation of the residues (gcd(5, p - 1) = 1) that is
nonlinear; two rounds after each counter is added. Two uniforms per value, then Box-Muller.
This is a simulation-grade generator for sampling noise, not a cryptographic one; tests check its
moments and correlations.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

_P = 2147483647  # 2^31 - 1
_TWO_POW_24 = 16777216.0


def _pow5(h: Tensor) -> Tensor:
    h2 = h * h % _P
    return h2 * h2 % _P * h % _P


def _round(h: Tensor) -> Tensor:
    return _pow5((h * 48271 + 12345) % _P)


def _hash(h: Tensor) -> Tensor:
    return _round(_round(h))


def frame_noise(seed: Tensor, frames: Tensor, dim: int) -> Tensor:
    """seed (B,) int64, frames (B, T) int64 absolute frame indices -> (B, T, dim) float32 ~ N(0, 1).

    Negative frame indices (the look-ahead pre-roll, never output) are drawn as frame 0.
    """
    s = _hash(seed.remainder(_P))[:, None]  # (B, 1)
    f = _hash((s + frames.clamp_min(0)) % _P)[..., None]  # (B, T, 1)
    e = torch.arange(2 * dim, dtype=torch.int64, device=frames.device) * 7919  # (2D,), < 2^31
    h = _hash((f + e) % _P)  # (B, T, 2D)
    # The top 24 bits, exactly representable in float32: u in [0, 1 - 2^-24].
    u = torch.div(h, 128, rounding_mode="trunc").to(torch.float32) * (1.0 / _TWO_POW_24)
    u1, u2 = u[..., 0::2], u[..., 1::2]
    radius = torch.sqrt(-2.0 * torch.log(1.0 - u1))  # 1 - u1 in (0, 1]
    return radius * torch.cos((2.0 * math.pi) * u2)
