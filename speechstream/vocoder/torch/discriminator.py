"""Waveform discriminators and the least-squares GAN losses for the vocoder's sampler (torch, training only).

Shapes: B batch, N samples, C channels, P period, T' frames, F' bins.

The waveform and phase losses (waveform_loss.py, phase_loss.py) reward the right magnitudes; what makes the
frames of a sample agree with each other well enough to sound like speech is left to a critic that hears
the waveform, as HiFi-GAN and Vocos do:

  period      HiFi-GAN's multi-period discriminator: the waveform folded into (N / P, P) columns for each
              period P, stacks of (K, 1) convolutions striding down the columns; it sees the periodic
              structure (pitch pulses, harmonics in phase) that overlap-add gets wrong.
  resolution  the multi-resolution discriminator of UnivNet / Vocos: 2-D convolutions over the log-magnitude
              spectrogram at several STFT resolutions (metrics.RESOLUTIONS), for spectral texture.

Every sub-discriminator returns its logits and the feature maps of its hidden layers. Losses are LSGAN's
(real -> 1, generated -> 0) plus HiFi-GAN's feature matching (L1 between the feature maps of real and
generated audio, each layer normalised by its mean magnitude on the real audio).
"""

from __future__ import annotations

import torch
import torch.nn.functional as fn
from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm

from speechstream.vocoder.metrics import RESOLUTIONS

Output = tuple[Tensor, list[Tensor]]  # logits (B, ...), feature maps
SLOPE = 0.1  # leaky ReLU


def _conv_stack(convs: nn.ModuleList, head: nn.Module, x: Tensor) -> Output:
    """x (B, C, H, W) through leaky-ReLU convs, keeping each layer's map -> (head logits flattened, maps)."""
    feats = []
    for conv in convs:
        x = fn.leaky_relu(conv(x), SLOPE)
        feats.append(x)
    return head(x).flatten(1), feats


class PeriodDiscriminator(nn.Module):
    def __init__(self, period: int, channels: tuple[int, ...] = (16, 32, 64, 128), kernel: int = 5) -> None:
        super().__init__()
        self.period = period
        dims = (1, *channels)
        self.convs = nn.ModuleList(
            weight_norm(nn.Conv2d(a, b, (kernel, 1), (3, 1), padding=(kernel // 2, 0)))
            for a, b in zip(dims[:-1], dims[1:]))
        self.head = weight_norm(nn.Conv2d(dims[-1], 1, (3, 1), padding=(1, 0)))

    def forward(self, wave: Tensor) -> Output:
        """wave (B, N) -> logits (B, T'P), features."""
        b, n = wave.shape
        pad = (-n) % self.period
        x = fn.pad(wave, (0, pad), mode="reflect" if pad < n else "constant")
        x = x.view(b, 1, -1, self.period)  # (B, 1, N / P, P)
        return _conv_stack(self.convs, self.head, x)


class ResolutionDiscriminator(nn.Module):
    def __init__(self, n_fft: int, hop: int, win: int, channels: int = 16, layers: int = 4) -> None:
        super().__init__()
        self.n_fft, self.hop, self.win = n_fft, hop, win
        self.register_buffer("window", torch.hann_window(win, periodic=True), persistent=False)
        # every layer halves the bins: on 2 CPU cores the full-resolution maps would cost 10x the period ones
        convs = [weight_norm(nn.Conv2d(1, channels, (7, 5), (2, 1), padding=(3, 2)))]
        convs += [weight_norm(nn.Conv2d(channels, channels, (5, 3), (2, 1), padding=(2, 1)))
                  for _ in range(layers - 1)]
        self.convs = nn.ModuleList(convs)
        self.head = weight_norm(nn.Conv2d(channels, 1, (3, 3), padding=(1, 1)))

    def forward(self, wave: Tensor) -> Output:
        """wave (B, N) -> logits (B, F'T'), features."""
        spec = torch.stft(wave, self.n_fft, self.hop, self.win, window=self.window, center=True,
                          return_complex=True)
        x = torch.log((spec.real.square() + spec.imag.square()).clamp_min(1e-10)).mul(0.5)[:, None]  # (B, 1, F', T')
        return _conv_stack(self.convs, self.head, x)


class Discriminators(nn.Module):
    """All sub-discriminators; forward(wave) -> one Output each."""

    def __init__(self, periods: tuple[int, ...] = (2, 3, 5, 7, 11),
                 resolutions: tuple[tuple[int, int, int], ...] = RESOLUTIONS) -> None:
        super().__init__()
        self.subs = nn.ModuleList([*(PeriodDiscriminator(p) for p in periods),
                                   *(ResolutionDiscriminator(*r) for r in resolutions)])

    def forward(self, wave: Tensor) -> list[Output]:
        return [d(wave) for d in self.subs]


def discriminator_loss(real: list[Output], fake: list[Output]) -> Tensor:
    """LSGAN critic loss: real logits toward 1, generated ones toward 0 (fake computed on detached audio)."""
    zero = real[0][0].new_zeros(())
    return sum(((r - 1).square().mean() + f.square().mean() for (r, _), (f, _) in zip(real, fake)), start=zero)


def generator_loss(real: list[Output], fake: list[Output]) -> tuple[Tensor, Tensor]:
    """(adversarial, feature matching) for the generator: generated logits toward 1, and each hidden layer's
    features toward the real audio's (L1 relative to their mean magnitude; real features are constants)."""
    zero = fake[0][0].new_zeros(())
    adv = sum(((f - 1).square().mean() for _, (f, _) in zip(real, fake)), start=zero)
    fm = zero
    for (_, real_feats), (_, fake_feats) in zip(real, fake):
        for r, f in zip(real_feats, fake_feats):
            r = r.detach()
            fm = fm + (f - r).abs().mean() / r.abs().mean().clamp_min(1e-5)
    return adv, fm / max(1, sum(len(fs) for _, fs in real))
