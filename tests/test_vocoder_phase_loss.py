"""The anti-wrapping phase losses: zero for the true frames, blind to what the mel frames cannot carry (a
constant phase rotation, silent bins), and clearly positive for phases that do not belong to the signal."""

from __future__ import annotations

import math

import torch

from speechstream.vocoder.config import VocoderConfig
from speechstream.vocoder.torch.flow import LossWeights, flow_matching_loss
from speechstream.vocoder.torch.phase_loss import anti_wrap, phase_loss
from speechstream.vocoder.torch.spectral import encode, stft_frames

CFG = VocoderConfig()


def frames(wave: torch.Tensor) -> torch.Tensor:
    return encode(stft_frames(wave, CFG), CFG)


def rotate(x: torch.Tensor, angle: torch.Tensor | float) -> torch.Tensor:
    re, im = x.chunk(2, dim=-1)
    c = torch.complex(re, im) * torch.exp(1j * torch.as_tensor(angle))
    return torch.cat([c.real, c.imag], dim=-1)


def test_anti_wrap_measures_on_the_circle() -> None:
    x = torch.tensor([0.0, 2 * math.pi, -2 * math.pi + 0.1, math.pi - 0.1, 3 * math.pi])
    torch.testing.assert_close(anti_wrap(x), torch.tensor([0.0, 0.0, 0.1, math.pi - 0.1, math.pi]))


def test_zero_for_the_truth_and_blind_to_a_constant_rotation() -> None:
    x1 = frames(torch.randn(2, 6400, generator=torch.Generator().manual_seed(0)))
    assert float(phase_loss(x1, x1)) == 0.0
    assert float(phase_loss(rotate(x1, 1.3), x1)) < 1e-5


def test_positive_for_foreign_phases_and_masked_frames_do_not_count() -> None:
    g = torch.Generator().manual_seed(1)
    x1 = frames(torch.randn(2, 6400, generator=g))
    scrambled = rotate(x1, 2 * math.pi * torch.rand(x1.shape[:-1] + (x1.size(-1) // 2,), generator=g))
    assert float(phase_loss(scrambled, x1)) > 1.5  # uniform phase errors: about pi / 2 per term
    mask = torch.zeros(x1.shape[:2], dtype=torch.bool)
    mask[:, :10] = True
    half = x1.clone()
    half[:, 10:] = scrambled[:, 10:]  # wrong only past the mask (and at the one boundary pair of frames)
    assert float(phase_loss(half, x1, mask)) < 0.01


def test_the_flow_loss_adds_it_for_the_sample() -> None:
    x1 = frames(torch.randn(2, 6400, generator=torch.Generator().manual_seed(2)))
    mel = torch.zeros(2, x1.size(1) + CFG.lookahead_frames, 80)
    s = torch.ones(2, x1.size(1), CFG.n_freqs)

    def oracle(x: torch.Tensor, t: torch.Tensor, mel: torch.Tensor, r: torch.Tensor | None) -> torch.Tensor:
        return (x1 - x) / (1 - t)[:, None, None]

    only = dict(weights=LossWeights(fm=0.0, phase=1.0))
    assert float(flow_matching_loss(oracle, x1, mel, s, CFG, generator=torch.Generator(), **only)) < 1e-3
    zero = lambda x, t, mel, r: torch.zeros_like(x)  # noqa: E731 - the sample stays the prior's noise
    assert float(flow_matching_loss(zero, x1, mel, s, CFG, generator=torch.Generator(), **only)) > 1.0
