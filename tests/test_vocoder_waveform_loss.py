"""The vocoder's auxiliary waveform loss: frames go back to the waveform they came from, the STFT distance
matches the evaluation metric's numpy implementation, and the loss vanishes at the exact velocity."""

from __future__ import annotations

import math

import numpy as np
import torch

from speechstream.vocoder.config import VocoderConfig
from speechstream.vocoder.metrics import mr_stft_distance
from speechstream.vocoder.torch.flow import LossWeights, flow_matching_loss
from speechstream.vocoder.torch.spectral import encode, stft_frames
from speechstream.vocoder.torch.waveform_loss import frames_to_wave, stft_distance

torch.set_num_threads(1)
CFG = VocoderConfig()


def _noise(n: int = 16000, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).standard_normal((2, n)).astype(np.float32) * 0.1)


def test_frames_go_back_to_their_waveform() -> None:
    w = _noise()
    y = frames_to_wave(encode(stft_frames(w, CFG), CFG), CFG)
    n = CFG.n_fft
    torch.testing.assert_close(y[:, n:-n], w[:, n:y.size(1) - n], atol=1e-5, rtol=0)


def test_stft_distance_matches_the_metric_and_scales() -> None:
    w, other = _noise(), _noise(seed=1)
    assert torch.allclose(stft_distance(w, w), torch.zeros(2))
    # twice as loud: spectral convergence 1 and log-magnitude log 2 at every resolution
    torch.testing.assert_close(stft_distance(2 * w, w), torch.full((2,), 1 + math.log(2)), atol=1e-3, rtol=0)
    ours = stft_distance(other, w)
    for b in range(2):  # the numpy evaluation metric (a separate implementation) on the same pair
        ref = mr_stft_distance(w[b].numpy(), other[b].numpy()).mr_stft
        assert abs(float(ours[b]) - ref) < 0.02 * ref, (float(ours[b]), ref)


def _oracle_net(x1: torch.Tensor):  # noqa: ANN202
    def net(x: torch.Tensor, t: torch.Tensor, mel: torch.Tensor, r: torch.Tensor | None) -> torch.Tensor:
        return (x1 - x) / (1 - t)[:, None, None]
    return net


def test_the_loss_vanishes_at_the_exact_velocity_and_not_elsewhere() -> None:
    x1 = encode(stft_frames(_noise(6400), CFG), CFG)
    mel = torch.zeros(2, x1.size(1) + CFG.lookahead_frames, 80)
    s = torch.ones(2, x1.size(1), CFG.n_freqs)
    g = torch.Generator().manual_seed(0)
    exact = flow_matching_loss(_oracle_net(x1), x1, mel, s, CFG, generator=g, weights=LossWeights(aux=1.0))
    assert float(exact) < 1e-4
    half = lambda x, t, mel, r: 0.5 * _oracle_net(x1)(x, t, mel, r)  # noqa: E731
    plain = float(flow_matching_loss(half, x1, mel, s, CFG, generator=torch.Generator().manual_seed(1)))
    aux = float(flow_matching_loss(half, x1, mel, s, CFG, generator=torch.Generator().manual_seed(1),
                                   weights=LossWeights(aux=1.0)))
    assert aux > plain + 0.05  # the same draws: the waveform term adds the estimate's error


def test_the_sampler_loss_vanishes_for_the_exact_velocity_and_not_elsewhere() -> None:
    """The exact velocity toward x1 takes any solver from the prior to x1 itself (Euler and midpoint alike)."""
    from speechstream.vocoder.config import SolverConfig

    x1 = encode(stft_frames(_noise(6400), CFG), CFG)
    mel = torch.zeros(2, x1.size(1) + CFG.lookahead_frames, 80)
    s = torch.ones(2, x1.size(1), CFG.n_freqs)
    for solver in (SolverConfig("euler", 1), SolverConfig("midpoint", 2)):
        cfg = VocoderConfig(solver=solver)
        exact = float(flow_matching_loss(_oracle_net(x1), x1, mel, s, cfg, generator=torch.Generator().manual_seed(0),
                                         weights=LossWeights(sampler=1.0)))
        assert exact < 1e-4, (solver, exact)
        half = lambda x, t, mel, r: 0.5 * _oracle_net(x1)(x, t, mel, r)  # noqa: E731
        plain = float(flow_matching_loss(half, x1, mel, s, cfg, generator=torch.Generator().manual_seed(1)))
        sampled = float(flow_matching_loss(half, x1, mel, s, cfg, generator=torch.Generator().manual_seed(1),
                                           weights=LossWeights(sampler=1.0)))
        assert sampled > plain + 0.05



def test_without_the_velocity_mse_only_the_sample_counts() -> None:
    """fm 0 (aux 0): the loss is the sampler's waveform loss alone, zero for the exact velocity and
    the same whatever the MSE would have been."""
    x1 = encode(stft_frames(_noise(6400), CFG), CFG)
    mel = torch.zeros(2, x1.size(1) + CFG.lookahead_frames, 80)
    s = torch.ones(2, x1.size(1), CFG.n_freqs)
    only = dict(weights=LossWeights(fm=0.0, sampler=1.0))
    assert float(flow_matching_loss(_oracle_net(x1), x1, mel, s, CFG, generator=torch.Generator(), **only)) < 1e-4
    half = lambda x, t, mel, r: 0.5 * _oracle_net(x1)(x, t, mel, r)  # noqa: E731
    both = float(flow_matching_loss(half, x1, mel, s, CFG, generator=torch.Generator().manual_seed(1),
                                    weights=LossWeights(sampler=1.0)))
    alone = float(flow_matching_loss(half, x1, mel, s, CFG, generator=torch.Generator().manual_seed(1), **only))
    assert 0.05 < alone < both


def test_mel_distance_is_the_evaluations_mel_l1() -> None:
    """Independent reference: metrics.mel_l1, the numpy Fbank the evaluation scores with."""
    import numpy as np

    from speechstream.vocoder.metrics import mel_l1
    from speechstream.vocoder.torch.waveform_loss import mel_distance

    a, b = _noise(8000), _noise(8000) * 0.3
    ours = mel_distance(a, b)
    for i in range(a.size(0)):
        ref = mel_l1(a[i].numpy().astype(np.float64), b[i].numpy())
        assert abs(float(ours[i]) - ref) < 1e-3 * max(ref, 1.0), (float(ours[i]), ref)
    assert float(mel_distance(a, a).max()) == 0.0


def test_the_flow_loss_adds_the_mel_term_for_the_sample() -> None:
    x1 = encode(stft_frames(_noise(6400), CFG), CFG)
    mel = torch.zeros(2, x1.size(1) + CFG.lookahead_frames, 80)
    s = torch.ones(2, x1.size(1), CFG.n_freqs)
    only = dict(weights=LossWeights(fm=0.0, mel=1.0))
    assert float(flow_matching_loss(_oracle_net(x1), x1, mel, s, CFG, generator=torch.Generator(), **only)) < 1e-3
    zero = lambda x, t, mel, r: torch.zeros_like(x)  # noqa: E731 - the sample stays the prior's noise
    assert float(flow_matching_loss(zero, x1, mel, s, CFG, generator=torch.Generator(), **only)) > 0.5
