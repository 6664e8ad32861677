"""The GAN half of a vocoder training step (torch, training only): discriminators, their optimizer, and the
two calls around the generator's update.

    loss = flow_matching_loss(..., sample_hook=adversary.generator_term)   # on the sample's waveform
    loss.backward(); opt.step()
    d_loss = adversary.update()   # the critics, on that sample detached vs the real audio

Shapes: B batch, N samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .discriminator import Discriminators, discriminator_loss, generator_loss


@dataclass(frozen=True)
class AdversaryConfig:
    weight: float = 1.0  # of (adversarial + feature_weight x feature matching) in the generator's loss
    feature_weight: float = 2.0
    lr: float = 2e-4  # constant
    items: int = 8  # crops of a batch the critics hear (they cost ~3x the generator per crop on a CPU)
    weight_decay: float = 0.01
    grad_clip: float = 1.0


class Adversary:
    def __init__(self, config: AdversaryConfig) -> None:
        self.config = config
        self.disc = Discriminators()
        self.opt = torch.optim.AdamW(self.disc.parameters(), lr=config.lr, betas=(0.8, 0.99),
                                     weight_decay=config.weight_decay)
        self._waves: tuple[Tensor, Tensor] | None = None  # (real, generated) of the last generator_term

    def extras(self) -> dict:
        """What a checkpoint stores besides the generator (speechstream.train.checkpoint)."""
        return {"discriminator": (self.disc, self.opt)}

    def generator_term(self, fake: Tensor, real: Tensor) -> Tensor:
        """The sample_hook of flow_matching_loss: generated and real waveforms (B, N) -> the generator's
        adversarial loss on the first `items` of them (their waveforms kept for update)."""
        fake, real = fake[: self.config.items], real[: self.config.items].detach()
        with torch.no_grad():
            real_out = self.disc(real)
        self._waves = (real, fake.detach())
        adv, fm = generator_loss(real_out, self.disc(fake))
        return self.config.weight * (adv + self.config.feature_weight * fm)

    def update(self) -> float:
        """One critic update on the waveforms of the last hook call; returns its loss."""
        if self._waves is None:
            raise RuntimeError("update() before the generator's loss called generator_term")
        real, fake = self._waves
        self.opt.zero_grad(set_to_none=True)  # also drops what the generator's backward left here
        loss = discriminator_loss(self.disc(real), self.disc(fake))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.disc.parameters(), self.config.grad_clip)
        self.opt.step()
        self._waves = None
        return loss.item()
