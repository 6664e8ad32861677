"""The vocoder's building blocks: causal conv / ConvNeXt step == forward, config round trip and checks,
the counter-based noise, the frame representation and the mel prior."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from speechstream.audio.stft import STFT
from speechstream.nn.causal_conv import CausalConv1d
from speechstream.nn.convnext import CausalConvNeXtBlock
from speechstream.vocoder.config import SolverConfig, VocoderConfig
from speechstream.vocoder.torch.noise import frame_noise
from speechstream.vocoder.torch.spectral import MelPrior, decode, encode, stft_frames

torch.set_num_threads(1)


def _cuts(total: int, sizes: list[int]) -> list[tuple[int, int]]:
    out, pos = [], 0
    for n in sizes:
        if pos >= total:
            break
        out.append((pos, min(total, pos + n)))
        pos += n
    if pos < total:
        out.append((pos, total))
    return out


@settings(max_examples=25, deadline=None)
@given(kernel=st.integers(1, 6), groups=st.sampled_from([1, 4]), sizes=st.lists(st.integers(1, 7), max_size=12))
def test_causal_conv_step_equals_forward(kernel: int, groups: int, sizes: list[int]) -> None:
    torch.manual_seed(kernel)
    conv = CausalConv1d(8, 4, kernel, groups=groups)
    x = torch.randn(2, 8, 23)
    with torch.no_grad():
        ref = conv(x)
        cache, outs = conv.init_state(2), []
        for a, b in _cuts(23, sizes):
            y, cache = conv.step(x[:, :, a:b], cache)
            outs.append(y)
    assert cache.shape == (2, 8, kernel - 1)
    torch.testing.assert_close(torch.cat(outs, 2), ref, rtol=0, atol=1e-6)


@settings(max_examples=15, deadline=None)
@given(cond=st.booleans(), sizes=st.lists(st.integers(1, 6), max_size=10))
def test_convnext_step_equals_forward_and_is_causal(cond: bool, sizes: list[int]) -> None:
    torch.manual_seed(1)
    block = CausalConvNeXtBlock(8, 5, 2, cond_dim=4 if cond else 0)
    with torch.no_grad():
        for p in block.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    emb = torch.randn(2, 4) if cond else None
    x = torch.randn(2, 20, 8, requires_grad=True)
    ref = block(x, emb)
    with torch.no_grad():
        cache, outs = block.init_state(2), []
        for a, b in _cuts(20, sizes):
            y, cache = block.step(x[:, a:b], cache, emb)
            outs.append(y)
    torch.testing.assert_close(torch.cat(outs, 1), ref.detach(), rtol=0, atol=1e-5)
    (grad,) = torch.autograd.grad(ref[0, 10].sum(), x)
    per_frame = grad[0].abs().sum(-1)
    assert (per_frame[11:] == 0).all() and per_frame[10] > 0 and per_frame[6] > 0  # kernel 5: frames 6..10


def test_config_round_trip_and_checks() -> None:
    c = VocoderConfig.tiny(solver=SolverConfig("euler", 3, 0.25), mean_flow=True)
    assert VocoderConfig.from_dict(c.to_dict()) == c
    assert c.with_solver(nfe=1).solver == SolverConfig("euler", 1, 0.25)
    d = VocoderConfig()
    assert d.hop_length == 160 and d.frame_dim == 2 * 321
    assert d.latency_samples == (4 + 2 + 2) * 160 and d.latency_ms == 80.0
    with pytest.raises(ValueError, match="nfe must be even"):
        SolverConfig("midpoint", 3)
    with pytest.raises(ValueError, match="lookahead_frames"):
        VocoderConfig(chunk_frames=2, lookahead_frames=3, cond_kernel=4)
    with pytest.raises(ValueError, match="cond_kernel"):
        VocoderConfig(lookahead_frames=2, cond_kernel=2)
    with pytest.raises(ValueError, match="mean-flow"):
        VocoderConfig(mean_flow=True, solver=SolverConfig("midpoint", 2))
    with pytest.raises(ValueError, match="NOLA"):
        VocoderConfig(n_fft=100)  # a window shorter than the hop leaves gaps the overlap-add cannot invert
    with pytest.raises(ValueError, match="unknown"):
        VocoderConfig.from_dict({"n_fft": 640, "bogus": 1})


def test_noise_is_a_pure_function_of_seed_frame_channel() -> None:
    frames = torch.arange(300)[None].repeat(2, 1)
    z = frame_noise(torch.tensor([0, 1]), frames, 322)
    assert z.shape == (2, 300, 322) and z.dtype == torch.float32
    # Any slice of frames, alone or in another batch, draws the same numbers.
    part = frame_noise(torch.tensor([1]), torch.arange(37, 41)[None], 322)
    assert torch.equal(part[0], z[1, 37:41])
    # Seeds and frames differ; the pre-roll (negative frames) is frame 0.
    assert not torch.equal(z[0], z[1])
    assert torch.equal(frame_noise(torch.tensor([0]), torch.tensor([[-2, 0]]), 8)[0, 0],
                       frame_noise(torch.tensor([0]), torch.tensor([[0]]), 8)[0, 0])
    a = z.numpy().astype(np.float64)
    assert abs(a.mean()) < 0.01 and abs(a.std() - 1) < 0.01
    assert abs((a ** 4).mean() - 3) < 0.1  # Gaussian kurtosis
    assert abs((a < -1.96).mean() - 0.025) < 0.003
    for x, y in ((a[0, :-1], a[0, 1:]), (a[0, :, :-1], a[0, :, 1:]), (a[0], a[1])):
        assert abs(np.corrcoef(x.ravel(), y.ravel())[0, 1]) < 0.01


def test_representation_round_trip_and_stft_match() -> None:
    c = VocoderConfig()
    rng = np.random.default_rng(0)
    wave = (rng.standard_normal(3200) * 0.1).astype(np.float32)
    frames = stft_frames(torch.from_numpy(wave)[None], c)[0]
    ref = STFT(c.n_fft, c.hop_length)(wave)
    np.testing.assert_allclose(frames.numpy(), ref, rtol=0, atol=1e-4)
    back = decode(encode(frames, c), c)
    np.testing.assert_allclose(back[:, 0].numpy() + 1j * back[:, 1].numpy(), ref, rtol=0, atol=1e-4)
    x = encode(frames, c)
    mag = torch.sqrt(x[:, :321] ** 2 + x[:, 321:] ** 2)
    torch.testing.assert_close(mag, frames.abs() ** c.spec_compress, rtol=1e-4, atol=1e-5)


def test_mel_prior_matches_the_envelope_of_noise() -> None:
    """For white noise the prior (std of each compressed part) is about right in every band: the
    de-emphasis, window and band-weight corrections are in place (off by none of them)."""
    from speechstream.audio.fbank import Fbank

    c = VocoderConfig()
    rng = np.random.default_rng(1)
    wave = (rng.standard_normal(16000) * 0.05).astype(np.float32)
    mel = torch.from_numpy(Fbank()(wave))
    x = encode(stft_frames(torch.from_numpy(wave)[None], c)[0, : mel.size(0)], c)
    s = MelPrior(c)(mel)
    actual = x.square().reshape(-1, 2, 321).mean(dim=(0, 1)).sqrt()  # per-bin rms of the parts
    ratio = (actual / s.square().mean(0).sqrt())[5:-5]  # band edges aside
    assert 0.8 < float(ratio.min()) and float(ratio.max()) < 1.25, ratio
