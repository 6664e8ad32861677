"""Flow matching pieces: the solvers' schedules and accuracy, the early-skip start, both losses' conventions
(zero at the exact solution), the MeanFlow target identity, and gradients reaching the weights."""

from __future__ import annotations

import math

import pytest
import torch

from speechstream.vocoder.config import SolverConfig, VocoderConfig
from speechstream.vocoder.torch.flow import (evaluations, flow_matching_loss, mean_flow_loss, mean_flow_target, solve,
                                       start_sample, time_grid)
from speechstream.vocoder.torch.network import VelocityNetwork

torch.set_num_threads(1)


@pytest.mark.parametrize(("solver", "mean_flow"), [(SolverConfig("euler", 3, 0.4), False),
                                                   (SolverConfig("midpoint", 4, 0.2), False),
                                                   (SolverConfig("euler", 2), True)])
def test_solver_makes_exactly_nfe_evaluations_in_order(solver: SolverConfig, mean_flow: bool) -> None:
    calls: list[tuple[int, float, float]] = []

    def velocity(x: torch.Tensor, k: int, t: float, r: float) -> torch.Tensor:
        calls.append((k, t, r))
        return torch.zeros_like(x)

    solve(torch.zeros(1), velocity, solver, mean_flow)
    assert [k for k, _, _ in calls] == list(range(solver.nfe))
    assert [v for _, t, r in calls for v in (t, r)] == pytest.approx(
        [v for pair in evaluations(solver, mean_flow) for v in pair])
    grid = time_grid(solver)
    assert grid[0] == solver.t0 and grid[-1] == pytest.approx(1.0) and len(grid) == solver.steps + 1
    if mean_flow:
        assert all(r > t for _, t, r in calls)  # jumps to the next grid time


def test_solver_orders_on_a_known_ode() -> None:
    """dx/dt = x from 0 to 1: Euler's error shrinks ~1/n, midpoint's ~1/n^2."""
    def vel(x: torch.Tensor, k: int, t: float, r: float) -> torch.Tensor:
        return x

    x0 = torch.ones(1, dtype=torch.float64)
    err = {name: [abs(float(solve(x0, vel, SolverConfig(name, m * n), False)) - math.e) for n in (4, 8)]
           for name, m in (("euler", 1), ("midpoint", 2))}
    assert 1.8 < err["euler"][0] / err["euler"][1] < 2.2
    assert 3.6 < err["midpoint"][0] / err["midpoint"][1] < 4.4


def test_straight_paths_are_solved_exactly_in_one_step() -> None:
    """For a single data point x1 the exact velocity (x1 - x) / (1 - t) is also the average velocity:
    one Euler step, one midpoint step and one mean-flow jump from any t0 land on x1."""
    x1 = torch.randn(5)

    def vel(x: torch.Tensor, k: int, t: float, r: float) -> torch.Tensor:
        return (x1 - x) / (1 - t)

    for solver, mf in ((SolverConfig("euler", 1, 0.3), False), (SolverConfig("midpoint", 2), False),
                       (SolverConfig("euler", 1), True)):
        torch.testing.assert_close(solve(torch.randn(5), vel, solver, mf), x1)


def test_early_skip_start_matches_the_gaussian_marginal() -> None:
    cfg = VocoderConfig.tiny(solver=SolverConfig("euler", 2, t0=0.6), prior="gaussian")
    s = torch.full((1, 20000, cfg.n_freqs), 3.0)
    x = start_sample(torch.randn(1, 20000, cfg.frame_dim), s, cfg)
    expected = math.sqrt(0.4 ** 2 + (0.6 * 3.0) ** 2)  # (1 - t0) N(0, 1) + t0 N(0, s^2)
    assert abs(float(x.std()) - expected) < 0.01 * expected
    plain = start_sample(torch.ones(1, 3, cfg.frame_dim), s[:, :3], cfg.with_solver(t0=0.0))
    assert torch.equal(plain, torch.ones_like(plain))  # t0 = 0: the prior's noise itself
    mel_prior = start_sample(torch.ones(1, 3, cfg.frame_dim), s[:, :3], VocoderConfig.tiny(prior="mel"))
    assert torch.allclose(mel_prior, torch.full_like(mel_prior, 3.0))


def _oracle_net(x1: torch.Tensor):  # noqa: ANN202
    """The exact (average) velocity toward the single data point x1, as a network would be called."""
    def net(x: torch.Tensor, t: torch.Tensor, mel: torch.Tensor, r: torch.Tensor | None) -> torch.Tensor:
        return (x1 - x) / (1 - t)[:, None, None]
    return net


@pytest.mark.parametrize("prior", ["gaussian", "mel"])
def test_losses_vanish_at_the_exact_solution(prior: str) -> None:
    cfg = VocoderConfig.tiny(prior=prior)
    x1 = torch.randn(4, 6, cfg.frame_dim)
    s = torch.rand(4, 6, cfg.n_freqs) + 0.5
    mel = torch.zeros(4, 6 + cfg.lookahead_frames, 80)
    g = torch.Generator().manual_seed(0)
    assert float(flow_matching_loss(_oracle_net(x1), x1, mel, s, cfg, generator=g)) < 1e-8
    assert float(mean_flow_loss(_oracle_net(x1), x1, mel, s, cfg, generator=g, jump_fraction=1.0)) < 1e-6
    wrong = lambda x, t, mel, r: -_oracle_net(x1)(x, t, mel, r)  # noqa: E731
    assert float(flow_matching_loss(wrong, x1, mel, s, cfg, generator=g)) > 0.1


def test_mean_flow_target_satisfies_the_identity() -> None:
    """For dx/dt = x the exact average velocity over [t, r] is u = x (e^(r - t) - 1) / (r - t); the MeanFlow
    target v + (r - t) du/dt must give back u itself (a sign or tangent error would not)."""
    x = torch.randn(6, 3, dtype=torch.float64)
    t = torch.rand(6, dtype=torch.float64) * 0.5
    r = t + 0.1 + torch.rand(6, dtype=torch.float64) * 0.4

    def u_exact(x: torch.Tensor, t: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        gap = (r - t)[:, None]
        return x * torch.expm1(gap) / gap

    u, target = mean_flow_target(u_exact, x, t, r, v=x)
    torch.testing.assert_close(target, u)


def test_losses_train_the_network() -> None:
    for mean_flow in (False, True):
        torch.manual_seed(0)
        cfg = VocoderConfig.tiny(mean_flow=mean_flow, solver=SolverConfig("euler", 1))
        net = VelocityNetwork(cfg)
        with torch.no_grad():  # adaLN starts at zero (no gradient reaches the time embedding yet)
            for p in net.parameters():
                p.add_(torch.randn_like(p) * 0.1)
        x1 = torch.randn(2, 8, cfg.frame_dim)
        mel = torch.randn(2, 8 + cfg.lookahead_frames, 80) - 8
        s = torch.ones(2, 8, cfg.n_freqs)
        mask = torch.ones(2, 8, dtype=torch.bool)
        if mean_flow:
            loss = mean_flow_loss(net, x1, mel, s, cfg, mask=mask, jump_fraction=1.0)
        else:
            loss = flow_matching_loss(net, x1, mel, s, cfg, mask=mask)
        loss.backward()
        assert torch.isfinite(loss)
        for name, p in net.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert float(net.blocks[0].modulation.weight.grad.abs().sum()) > 0  # t reaches the blocks
        if mean_flow:
            assert float(net.gap_embed.mlp[0].weight.grad.abs().sum()) > 0  # and so does r - t
