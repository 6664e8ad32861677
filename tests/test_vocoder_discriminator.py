"""The GAN pieces of the vocoder recipe: discriminators take any waveform length and pass gradients back to
it; the LSGAN and feature-matching losses are zero exactly where their definitions say."""

from __future__ import annotations

import torch

from speechstream.vocoder.torch.discriminator import Discriminators, discriminator_loss, generator_loss


def test_every_sub_discriminator_scores_any_length_and_passes_gradients() -> None:
    torch.manual_seed(0)
    d = Discriminators()
    for n in (4000, 4003):  # 4003: not a multiple of any period
        wave = (0.1 * torch.randn(2, n)).requires_grad_()
        outs = d(wave)
        assert len(outs) == 5 + 3
        for logits, feats in outs:
            assert logits.shape[0] == 2 and torch.isfinite(logits).all() and len(feats) >= 4
        sum(o[0].mean() for o in outs).backward()
        assert wave.grad is not None and wave.grad.abs().sum() > 0


def test_losses_vanish_at_their_targets() -> None:
    def outs(value: float, feat: torch.Tensor) -> list:
        return [(torch.full((2, 7), value), [feat, 2 * feat])]

    feat = torch.randn(2, 3, 5)
    assert float(discriminator_loss(outs(1.0, feat), outs(0.0, feat))) == 0.0
    assert float(discriminator_loss(outs(0.0, feat), outs(1.0, feat))) == 2.0  # both sides wrong by 1
    adv, fm = generator_loss(outs(1.0, feat), outs(1.0, feat))
    assert float(adv) == 0.0 and float(fm) == 0.0
    adv, fm = generator_loss(outs(1.0, feat), outs(0.0, 1.5 * feat))
    assert float(adv) == 1.0 and abs(float(fm) - 0.5) < 1e-6  # |1.5f - f| / |f| on each layer
