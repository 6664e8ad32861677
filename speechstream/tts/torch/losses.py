"""The acoustic model's training losses: log-duration MSE, flow matching, the prior (mu) MSE, and the alignment
likelihood that trains the per-phoneme mel estimate MAS aligns with (alignment.py).

Shapes: B batch, N phonemes, T frames, M mel bins.

The recipe weights and sums them; each takes a mask so padded phonemes and frames count for nothing.
Durations are frames per phoneme, given (an external alignment) or found by MAS; the mel is the audio's Fbank.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .alignment import alignment_loss, durations_from_path, log_likelihood, monotonic_alignment, path_from_durations
from .model import AcousticModel
from .regulate import frame_conditions


def _masked_mean(err: Tensor, mask: Tensor) -> Tensor:
    """err (B, T[, X]) -> mean over the True entries of mask (B, T) (and the channels)."""
    if err.dim() == 3:
        mask = mask[..., None].expand_as(err)
    m = mask.to(err.dtype)
    return (err * m).sum() / m.sum().clamp_min(1.0)


def duration_loss(log_durations: Tensor, durations: Tensor, mask: Tensor) -> Tensor:
    """Predicted log(1 + frames) (B, N), true frames (B, N) (int, or float when rescaled), phoneme mask (B, N)
    -> MSE."""
    return _masked_mean((log_durations - torch.log1p(durations.float())).square(), mask)


def flow_matching_loss(model: AcousticModel, x1: Tensor, cond: Tensor, speaker: Tensor, mask: Tensor,
                       generator: torch.Generator | None = None) -> Tensor:
    """Rectified-flow velocity MSE: x1 (B, T, M) normalised target, cond (B, T, H) from the decoder's
    condition stack, speaker (B, E), frame mask (B, T); t ~ U(0, 1) per item, x0 ~ N(0, 1)."""
    t = torch.rand(x1.size(0), generator=generator, device=x1.device)
    x0 = torch.randn(x1.shape, generator=generator, device=x1.device)
    tt = t[:, None, None]
    v = model.decoder.velocity((1 - tt) * x0 + tt * x1, t, cond, speaker)
    return _masked_mean((v - (x1 - x0)).square(), mask)


def prior_loss(mu: Tensor, x1: Tensor, mask: Tensor) -> Tensor:
    """mu (B, T, M), the condition stack's mel estimate, against x1 (B, T, M): MSE (Matcha's prior loss)."""
    return _masked_mean((mu - x1).square(), mask)


@dataclass(frozen=True)
class LossWeights:
    duration: float = 1.0
    flow: float = 1.0
    prior: float = 1.0
    align: float = 1.0


def acoustic_loss(model: AcousticModel, ids: Tensor, mel: Tensor, voice: Tensor, durations: Tensor | None = None,
                  mel_lengths: Tensor | None = None, speeds: Tensor | None = None,
                  weights: LossWeights = LossWeights(), generator: torch.Generator | None = None
                  ) -> dict[str, Tensor]:
    """One training batch: ids (B, N) (0 pads), mel (B, T, M) log-mel, voice (B, S), durations (B, N) int
    (0 for padding; None: found by monotonic alignment search over mel_lengths (B,) frames, default T),
    speeds (B,) the rates the audio was spoken at (the duration target is frames * speed, the speed-1
    duration the runtime's speed divides) -> {"loss", "duration", "flow", "prior", "align"}.
    Given durations must fit each item's frames (corpus.collate gives the batch as keywords)."""
    speaker = model.speaker(voice)
    enc, log_dur = model.encoder(ids, speaker)
    x = model.normalise(mel)
    mu_x = model.encoder.mel_out(enc)  # (B, N, M)
    if durations is None:
        lengths = mel_lengths if mel_lengths is not None else torch.full_like(ids[:, 0], mel.size(1))
        with torch.no_grad():
            path = monotonic_alignment(log_likelihood(mu_x, x), (ids != 0).sum(1), lengths)
        durations = durations_from_path(path)
    else:
        path = path_from_durations(durations, mel.size(1))
    frames, mask = frame_conditions(enc, durations)
    x1 = x[:, :frames.size(1)]
    cond, mu = model.decoder.condition(frames, speaker)
    target = durations if speeds is None else durations * speeds.to(log_dur.dtype)[:, None]
    terms = {"duration": duration_loss(log_dur, target, ids != 0),
             "flow": flow_matching_loss(model, x1, cond, speaker, mask, generator),
             "prior": prior_loss(mu, x1, mask),
             "align": alignment_loss(mu_x, x, path)}
    terms["loss"] = (weights.duration * terms["duration"] + weights.flow * terms["flow"]
                     + weights.prior * terms["prior"] + weights.align * terms["align"])
    return terms
