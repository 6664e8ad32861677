"""The streaming VC model on tiny random weights: chunked steps equal forward() for many cuts of the source
frames (batch 2, different targets and seeds), gradients prove the declared look-ahead of both halves, the
target embedding ignores padding and changes the output, and the latency is computed from the config."""

from __future__ import annotations

import pytest
import torch

from speechstream.vc.config import VCConfig
from speechstream.vocoder.config import VocoderConfig
from vc_helpers import random_mel, stream_torch, tiny_model

torch.set_num_threads(1)


def test_config_latency_and_round_trip() -> None:
    c = VCConfig()
    assert VCConfig.from_dict(c.to_dict()) == c
    # Fbank frame i is complete 120 samples after (i + 1) hops; then content (4) + chunk (4) + decoder (2)
    # look-ahead, then the vocoder's look-ahead (2) and overlap-add (ceil(320 / 160) = 2) frames.
    assert c.latency_samples() == (4 + 4 + 2) * 160 + 120
    v = VocoderConfig()
    assert c.latency_samples(v) == (4 + 4 + 2 + 2 + 2) * 160 + 120
    assert c.latency(v)["latency_ms"] == pytest.approx(147.5)
    assert c.with_solver(name="midpoint", nfe=4).solver.steps == 2
    d = c.decoder_config()
    assert (d.lookahead_frames, d.chunk_frames, d.d_speaker) == (2, 4, 64)
    with pytest.raises(ValueError):
        VCConfig.tiny(content_lookahead=9)  # beyond what the content encoder's convolutions reach
    with pytest.raises(ValueError):
        VCConfig.from_dict({**c.to_dict(), "bogus": 1})


@pytest.mark.parametrize("cuts", [[1], [4], [3, 5, 1], [7, 2], [40]])
def test_streaming_equals_offline(cuts: list[int]) -> None:
    model = tiny_model()
    mel = random_mel(2, 37, seed=1)
    target = model.embed(random_mel(2, 50, seed=2))
    with torch.no_grad():
        offline = model(mel, target, seed=[3, 8])
    streamed = stream_torch(model, mel, target, cuts, seed=torch.tensor([3, 8]))
    assert streamed.shape == offline.shape == (2, 37, 80)
    assert (streamed - offline).abs().max() <= 1e-4


def test_midpoint_solver_streams_too() -> None:
    model = tiny_model(solver={"name": "midpoint", "nfe": 2})
    mel = random_mel(1, 21, seed=4)
    target = model.embed(random_mel(1, 30, seed=5))
    with torch.no_grad():
        offline = model(mel, target)
    assert (stream_torch(model, mel, target, [2, 3]) - offline).abs().max() <= 1e-4


def test_gradients_prove_the_lookahead() -> None:
    model = tiny_model()
    c = model.config
    mel = random_mel(1, 30, seed=6).requires_grad_(True)
    target = model.embed(random_mel(1, 30, seed=7)).detach()
    j = 12
    content = model.content(mel)
    w = torch.randn(c.d_content, generator=torch.Generator().manual_seed(0))  # (a LayerNorm's sum is constant)
    (g,) = torch.autograd.grad((content[0, j] * w).sum(), mel)
    reach = g[0].abs().sum(dim=1) > 0
    assert reach[j + c.content_lookahead] and not reach[j + c.content_lookahead + 1:].any()
    out = model(mel, target)
    (g,) = torch.autograd.grad(out[0, j].sum(), mel)
    reach = g[0].abs().sum(dim=1) > 0
    assert reach[j + c.lookahead_frames] and not reach[j + c.lookahead_frames + 1:].any()


def test_target_embedding_ignores_padding_and_matters() -> None:
    model = tiny_model()
    ref = random_mel(1, 40, seed=8)
    padded = torch.cat([ref, random_mel(1, 15, seed=9)], dim=1)
    with torch.no_grad():
        alone = model.embed(ref)
        masked = model.embed(padded, torch.tensor([40]))
        other = model.embed(random_mel(1, 40, seed=10))
        mel = random_mel(1, 20, seed=11)
        a, b = model(mel, alone), model(mel, other)
    assert alone.shape == (1, model.config.d_speaker)
    assert (alone - masked).abs().max() <= 1e-5
    assert (a - b).abs().max() > 1e-3
