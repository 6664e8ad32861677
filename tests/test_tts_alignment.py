"""Monotonic alignment search: the optimum of every monotonic path on small problems (checked by brute force),
durations that cover each item's frames, and a training step that finds its own durations."""

from __future__ import annotations

import itertools

import pytest
import torch

from speechstream.tts.torch.alignment import (durations_from_path, log_likelihood, monotonic_alignment,
                                              path_from_durations)
from tts_helpers import tiny_model, voice

torch.set_num_threads(1)


def brute_force(lp: torch.Tensor) -> tuple[float, torch.Tensor]:
    """Best total over all durations (each >= 1) of N phonemes covering T frames."""
    n, t = lp.shape
    best, best_d = -float("inf"), None
    for cuts in itertools.combinations(range(1, t), n - 1):
        d = torch.tensor([b - a for a, b in zip((0, *cuts), (*cuts, t))])
        score = float((path_from_durations(d[None], t)[0] * lp).sum())
        if score > best:
            best, best_d = score, d
    return best, best_d


@pytest.mark.parametrize("n,t", [(1, 4), (3, 3), (3, 7), (4, 9), (5, 8)])
def test_mas_finds_the_best_monotonic_path(n: int, t: int) -> None:
    gen = torch.Generator().manual_seed(n * 100 + t)
    for _ in range(5):
        lp = torch.randn(1, n, t, generator=gen) * 3
        path = monotonic_alignment(lp, torch.tensor([n]), torch.tensor([t]))
        d = durations_from_path(path)[0]
        assert (d >= 1).all() and int(d.sum()) == t
        torch.testing.assert_close(path, path_from_durations(d[None], t))
        best, _ = brute_force(lp[0])
        assert float((path[0] * lp[0]).sum()) == pytest.approx(best, abs=1e-5)


def test_mas_on_a_padded_batch_and_a_clear_alignment() -> None:
    mu = torch.zeros(2, 4, 3)
    mu[:, :, 0] = torch.tensor([0.0, 10.0, 20.0, 30.0])  # phonemes far apart on one bin
    want = torch.tensor([[2, 3, 1, 4], [3, 2, 2, 0]])
    x = path_from_durations(want, 12).transpose(1, 2) @ mu + 0.1 * torch.randn(2, 12, 3)
    path = monotonic_alignment(log_likelihood(mu, x), torch.tensor([4, 3]), torch.tensor([10, 7]))
    assert durations_from_path(path).tolist() == want.tolist()
    assert path[1, :, 7:].sum() == 0 and path[1, 3].sum() == 0
    with pytest.raises(ValueError):
        monotonic_alignment(log_likelihood(mu, x), torch.tensor([4, 3]), torch.tensor([3, 7]))


def test_log_likelihood_matches_the_definition() -> None:
    mu, x = torch.randn(2, 3, 5), torch.randn(2, 4, 5)
    want = torch.distributions.Normal(mu[:, :, None], 1.0).log_prob(x[:, None]).sum(-1)
    torch.testing.assert_close(log_likelihood(mu, x), want, rtol=1e-4, atol=1e-4)


def test_training_finds_its_own_durations() -> None:
    from speechstream.tts.torch.losses import acoustic_loss

    model = tiny_model().train()
    c = model.config
    ids = torch.randint(1, 178, (2, 8), generator=torch.Generator().manual_seed(1))
    ids[1, 6:] = 0
    mel = torch.randn(2, 40, 80, generator=torch.Generator().manual_seed(2)) * 2 - 6
    lengths = torch.tensor([40, 25])
    v = torch.cat([voice("af_heart", c), voice("bm_lewis", c)])
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        terms = acoustic_loss(model, ids, mel, v, mel_lengths=lengths)
        opt.zero_grad()
        terms["loss"].backward()
        opt.step()
        losses.append(float(terms["align"].detach()))
    assert all(torch.isfinite(t) for t in terms.values())
    assert losses[-1] < losses[0]
