"""Conditional flow matching for the vocoder: training losses, the start sample, and the ODE solvers.

Shapes: B batch, T frames, X = 2F frame channels, F bins.

Convention (rectified flow): x_t = (1 - t) x0 + t x1, t = 0 noise, t = 1 data; the velocity target is
x1 - x0. x0 ~ N(0, sigma0^2) with sigma0 = 1 ("gaussian" prior) or s(mel) ("mel" prior, PriorGrad-style:
noise already shaped by the mel envelope, so the flow only has to find phase and fine structure).

Early skip: start at t0 > 0 from a cheap prior. If the data were the complex Gaussian N(0, s(mel)^2)
(random phase under the mel envelope), x_t0 would be N(0, (1 - t0)^2 sigma0^2 + t0^2 s^2); we draw that
and integrate [t0, 1] only. t0 = 0 is plain sampling.

Mean flow (MeanFlow, Geng et al. 2025, in this convention): the network u(x_t, t, r) predicts the average
velocity over [t, r] (r >= t), x_r = x_t + (r - t) u. Differentiating (r - t) u = integral_t^r v ds in t
gives the identity u = v + (r - t) du/dt with du/dt = v . d_x u + d_t u, taken along the conditional path
(tangent (v, 1, 0) on (x_t, t, r), one forward-mode JVP). The target v + (r - t) * stopgrad(du/dt) is
regressed with MeanFlow's adaptive weight; a fraction of pairs has r = t, plain flow matching. Sampling
jumps x_{t_k+1} = x_t_k + (t_k+1 - t_k) u(x_t_k, t_k, t_k+1): 1-2 network evaluations.

Solvers evaluate ``velocity(x, k, t, r)`` where k numbers the evaluations of one sample (0 .. nfe - 1): the
streaming generator keeps one network state per k (the buffer bank); offline ignores k.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from speechstream.vocoder.config import SolverConfig, VocoderConfig

from .phase_loss import phase_loss
from .waveform_loss import frames_to_wave, mel_distance, stft_distance, waveform_loss

VelocityFn = Callable[[Tensor, int, float, float], Tensor]  # (x, k, t, r) -> v


# ---- sampling ----
def time_grid(solver: SolverConfig) -> list[float]:
    """steps + 1 times from t0 to 1, uniform."""
    n = solver.steps
    return [solver.t0 + (1.0 - solver.t0) * i / n for i in range(n + 1)]


def evaluations(solver: SolverConfig, mean_flow: bool) -> list[tuple[float, float]]:
    """(t, r) of each network evaluation, in order (r = t except for mean-flow jumps)."""
    grid, out = time_grid(solver), []
    for t, t_next in zip(grid[:-1], grid[1:]):
        if solver.name == "euler":
            out.append((t, t_next if mean_flow else t))
        else:
            mid = t + (t_next - t) / 2
            out += [(t, t), (mid, mid)]
    return out


def solve(x: Tensor, velocity: VelocityFn, solver: SolverConfig, mean_flow: bool) -> Tensor:
    """Integrate from x at t0 to t = 1 with the configured solver; exactly solver.nfe evaluations."""
    grid, k = time_grid(solver), 0
    for t, t_next in zip(grid[:-1], grid[1:]):
        h = t_next - t
        if solver.name == "euler":
            x = x + h * velocity(x, k, t, t_next if mean_flow else t)
            k += 1
        else:  # midpoint: x + h v(x + h/2 v(x, t), t + h/2)
            mid = t + h / 2
            x_mid = x + (h / 2) * velocity(x, k, t, t)
            x = x + h * velocity(x_mid, k + 1, mid, mid)
            k += 2
    return x


def prior_std(s: Tensor, config: VocoderConfig) -> Tensor:
    """sigma0 (B, T, F) of x0 from the mel envelope s (B, T, F)."""
    return s if config.prior == "mel" else torch.ones_like(s)


def start_sample(eps: Tensor, s: Tensor, config: VocoderConfig) -> Tensor:
    """eps (B, T, X) ~ N(0, 1), envelope s (B, T, F) -> x at t0 (B, T, X) (see the module note)."""
    t0 = config.solver.t0
    std = torch.sqrt((1 - t0) ** 2 * prior_std(s, config).square() + t0 ** 2 * s.square())
    return eps * torch.cat([std, std], dim=-1)


# ---- training ----
NetFn = Callable[..., Tensor]  # net(x_t, t, mel, r) -> v (B, T, X); mel (B, T + L, M)


def _path(x1: Tensor, s: Tensor, config: VocoderConfig, t: Tensor, generator: torch.Generator | None
          ) -> tuple[Tensor, Tensor]:
    """(x_t, x1 - x0) for x0 from the prior."""
    sigma0 = prior_std(s, config)
    x0 = torch.randn(x1.shape, generator=generator, device=x1.device) * torch.cat([sigma0, sigma0], dim=-1)
    tt = t[:, None, None]
    return (1 - tt) * x0 + tt * x1, x1 - x0


def _masked_mean(err: Tensor, mask: Tensor | None) -> Tensor:
    """err (B, T, X) -> mean over valid frames (mask (B, T) bool) and channels."""
    if mask is None:
        return err.mean()
    m = mask[..., None].to(err.dtype)
    return (err * m).sum() / (m.sum() * err.size(-1)).clamp_min(1.0)


@dataclass(frozen=True)
class LossWeights:
    """The terms of the flow-matching objective; all but the first act on a whole sample of the configured
    solver, run from the prior with gradients, so the shipped NFE itself is trained."""

    fm: float = 1.0  # velocity MSE to x1 - x0 at t ~ U(0, 1)
    aux: float = 0.0  # waveform_loss of the one-step estimate x1_hat = x_t + (1 - t) v (waveform_loss.py)
    sampler: float = 0.0  # waveform_loss of the sample, at weight 1
    mel: float = 0.0  # log-mel L1 of the sample's waveform (waveform_loss.mel_distance)
    phase: float = 0.0  # group delay + instantaneous frequency against x1's (phase_loss.py)

    @property
    def needs_sample(self) -> bool:
        return bool(self.sampler or self.mel or self.phase)


def flow_matching_loss(net: NetFn, x1: Tensor, mel: Tensor, s: Tensor, config: VocoderConfig,
                       mask: Tensor | None = None, generator: torch.Generator | None = None,
                       weights: LossWeights = LossWeights(),
                       sample_hook: Callable[[Tensor, Tensor], Tensor] | None = None) -> Tensor:
    """x1 (B, T, X) target frames, mel (B, T + L, M), s (B, T, F) envelope -> the weighted terms of
    LossWeights, plus sample_hook(fake, real) when given: a further term on the waveforms (B, N) of the sample
    (frames past the mask zeroed) and of x1, e.g. a discriminator's (adversary.py)."""
    w = weights
    t = torch.rand(x1.size(0), generator=generator, device=x1.device)
    loss = x1.new_zeros(())
    if w.fm or w.aux:
        x_t, target = _path(x1, s, config, t, generator)
        v = net(x_t, t, mel, None)
        loss = w.fm * _masked_mean((v - target).square(), mask)
        if w.aux:
            x1_hat = x_t + (1 - t)[:, None, None] * v
            loss = loss + w.aux * waveform_loss(_zero_past_end(x1_hat, mask), x1, t, config)
    if w.needs_sample or sample_hook is not None:
        b = x1.size(0)
        eps = torch.randn(x1.shape, generator=generator, device=x1.device)
        sample = solve(start_sample(eps, s, config),
                       lambda x, k, tt, r: net(x, torch.full((b,), tt, device=x.device), mel, None),
                       config.solver, False)
        sample = _zero_past_end(sample, mask)
        if w.phase:
            loss = loss + w.phase * phase_loss(sample, x1, mask)
        if w.sampler or w.mel or sample_hook is not None:  # the waveform terms share one ISTFT of each
            fake, real = frames_to_wave(sample, config), frames_to_wave(x1, config)
            if w.sampler:
                loss = loss + w.sampler * stft_distance(fake, real).mean()
            if w.mel:
                loss = loss + w.mel * mel_distance(fake, real).mean()
            if sample_hook is not None:
                loss = loss + sample_hook(fake, real)
    return loss


def _zero_past_end(x: Tensor, mask: Tensor | None) -> Tensor:
    """Frames past a crop's end (mask False) become zeros: silence, as in x1 there."""
    return x if mask is None else x * mask[..., None].to(x.dtype)


def mean_flow_target(u_fn: Callable[[Tensor, Tensor, Tensor], Tensor], x_t: Tensor, t: Tensor, r: Tensor,
                     v: Tensor) -> tuple[Tensor, Tensor]:
    """u = u_fn(x_t, t, r) (differentiable) and its regression target stopgrad(v + (r - t) du/dt), where
    du/dt = v . d_x u + d_t u is one forward-mode JVP with tangent (v, 1, 0). x_t, v (B, ...), t, r (B,)."""
    with warnings.catch_warnings():  # torch.func's first JVP scripts a decomposition and warns about it
        warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=FutureWarning)
        u, dudt = torch.func.jvp(u_fn, (x_t, t, r), (v, torch.ones_like(t), torch.zeros_like(r)))
    gap = (r - t).reshape(-1, *([1] * (u.dim() - 1)))
    return u, (v + gap * dudt).detach()


def mean_flow_loss(net: NetFn, x1: Tensor, mel: Tensor, s: Tensor, config: VocoderConfig,
                   mask: Tensor | None = None, generator: torch.Generator | None = None,
                   jump_fraction: float = 0.25, adaptive_p: float = 1.0) -> Tensor:
    """The MeanFlow objective (module note): (t, r) logit-normal(-0.4, 1) sorted, r = t for 1 - jump_fraction
    of the batch; loss = weighted MSE of u(x_t, t, r) to stopgrad(v + (r - t) du/dt)."""
    b, dev = x1.size(0), x1.device
    a = torch.sigmoid(torch.randn(b, generator=generator, device=dev) - 0.4)
    c = torch.sigmoid(torch.randn(b, generator=generator, device=dev) - 0.4)
    jump = torch.rand(b, generator=generator, device=dev) < jump_fraction
    t = torch.minimum(a, c)
    r = torch.where(jump, torch.maximum(a, c), t)
    x_t, v = _path(x1, s, config, t, generator)
    u, target = mean_flow_target(lambda x, tt, rr: net(x, tt, mel, rr), x_t, t, r, v)
    err = (u - target).square()
    if mask is not None:
        err = err * mask[..., None].to(err.dtype)
    per_item = err.flatten(1).mean(dim=1)
    weight = 1.0 / (per_item.detach() + 1e-3) ** adaptive_p  # MeanFlow's adaptive loss weight
    return (weight * per_item).mean()


def loss_fn(config: VocoderConfig, weights: LossWeights = LossWeights()) -> Callable[..., Tensor]:
    """The training objective the config implies (weights: flow matching's terms)."""
    if config.mean_flow:
        return mean_flow_loss
    return functools.partial(flow_matching_loss, weights=weights)
