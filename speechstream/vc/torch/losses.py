"""The VC model's training losses: CTC of the content encoder on phoneme ids, and the decoder's flow matching
and prior (the TTS decoder's own losses, speechstream.tts.torch.losses) on the content and target embedding.

Shapes: B batch, T frames, M mel bins, N phoneme ids, R reference frames.

The content encoder reads the perturbed source, the decoder regresses the unperturbed target (same length, same
frames), the target encoder reads another utterance of the target's speaker. ``content_grad`` scales the
gradient the decoder's losses send into the content encoder: 0 (default) keeps the content a pure CTC
bottleneck, trained to tell phonemes only, so the decoder cannot get the source speaker through it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from speechstream.tts.torch.losses import flow_matching_loss, prior_loss

from .model import VCModel


@dataclass(frozen=True)
class LossWeights:
    ctc: float = 1.0
    flow: float = 1.0
    prior: float = 1.0


def frame_mask(lengths: Tensor, frames: int) -> Tensor:
    """lengths (B,) -> (B, T) True on valid frames."""
    return torch.arange(frames, device=lengths.device)[None] < lengths[:, None]


def ctc_loss(model: VCModel, content: Tensor, lengths: Tensor, ids: Tensor, id_lengths: Tensor) -> Tensor:
    """content (B, T, D), lengths (B,), ids (B, N) padded, id_lengths (B,) -> CTC per target id, batch mean."""
    log_probs = torch.log_softmax(model.content.logits(content), dim=-1).transpose(0, 1)  # (T, B, V)
    return torch.nn.functional.ctc_loss(log_probs, ids, lengths, id_lengths, blank=0, reduction="mean",
                                        zero_infinity=True)


def vc_loss(model: VCModel, source: Tensor, target: Tensor, lengths: Tensor, reference: Tensor,
            reference_lengths: Tensor, ids: Tensor, id_lengths: Tensor, weights: LossWeights = LossWeights(),
            content_grad: float = 0.0, generator: torch.Generator | None = None) -> dict[str, Tensor]:
    """One batch: source and target mel (B, T, M) padded with silence, lengths (B,), reference (B, R, M),
    reference_lengths (B,), ids (B, N) CTC targets (0 pads), id_lengths (B,)
    -> {"loss", "ctc", "flow", "prior"}."""
    mask = frame_mask(lengths, source.size(1))
    content = model.content(source) * mask[..., None].to(source.dtype)  # zeros past the end, as a stream's end
    terms = {"ctc": ctc_loss(model, content, lengths, ids, id_lengths)}
    speaker = model.embed(reference, reference_lengths)
    cond_in = content.detach() + content_grad * (content - content.detach()) if content_grad != 1 else content
    cond, mu = model.decoder.condition(cond_in, speaker)
    x1 = model.normalise(target)
    terms["flow"] = flow_matching_loss(model, x1, cond, speaker, mask, generator)
    terms["prior"] = prior_loss(mu, x1, mask)
    terms["loss"] = weights.ctc * terms["ctc"] + weights.flow * terms["flow"] + weights.prior * terms["prior"]
    return terms
