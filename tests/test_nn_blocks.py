"""Streaming building blocks: step == forward for random chunkings; masks against brute-force references."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from speechstream.nn.attention import ChunkedSelfAttention, chunked_attention_mask, streaming_attention_mask
from speechstream.nn.conformer import ConformerLayer
from speechstream.nn.convolution import CausalConvModule
from speechstream.nn.feedforward import FeedForward
from speechstream.nn.subsampling import CausalConvSubsampling, lookback_frames, pre_encode_cache_frames

torch.set_num_threads(1)
PAD = float(np.log(1.1920929e-7))


def randomize(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random non-trivial weights (LayerNorm affine and biases too), eval mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * (0.3 if p.dim() > 1 else 0.5) + (p.dim() == 1) * 0.5)
    return module.eval()


def random_chunks(rng: np.random.Generator, total: int, unit: int, max_units: int = 5) -> list[int]:
    sizes, left = [], total
    while left > 0:
        s = min(left, unit * int(rng.integers(1, max_units + 1)))
        sizes.append(s)
        left -= s
    return sizes


# ---------------------------------------------------------------- subsampling

def test_subsampling_sizes() -> None:
    assert lookback_frames(8) == 7 and pre_encode_cache_frames(8) == 8
    assert lookback_frames(4) == 3 and pre_encode_cache_frames(4) == 4


@pytest.mark.parametrize("factor", [4, 8])
def test_subsampling_step_equals_forward(factor: int) -> None:
    sub = randomize(CausalConvSubsampling(80, 8, 16, factor, PAD))
    rng = np.random.default_rng(factor)
    t = factor * 37
    x = torch.randn(2, t, 80)
    with torch.no_grad():
        y, yl = sub(x, torch.tensor([t, t]))
        assert y.shape == (2, t // factor, 16) and yl.tolist() == [t // factor] * 2
        for trial in range(3):
            cache, outs, pos = sub.init_state(2, 80), [], 0
            for size in random_chunks(rng, t, factor):
                o, cache = sub.step(x[:, pos:pos + size], cache)
                outs.append(o)
                pos += size
            torch.testing.assert_close(torch.cat(outs, 1), y, rtol=0, atol=1e-5)


@pytest.mark.parametrize("factor", [4, 8])
def test_subsampling_lengths_and_padding(factor: int) -> None:
    """Output length ceil(T/f); outputs before a length do not depend on what follows it."""
    sub = randomize(CausalConvSubsampling(80, 8, 16, factor, PAD))
    t = factor * 9 + 3
    torch.manual_seed(factor)
    x = torch.randn(1, t, 80)
    with torch.no_grad():
        y, yl = sub(x, torch.tensor([t]))
        assert y.shape[1] == -(-t // factor) == yl.item()
        # Junk after the length changes nothing: the padding is overwritten by pad_value.
        y2, _ = sub(torch.cat([x, torch.randn(1, 2 * factor, 80)], 1), torch.tensor([t]))
        torch.testing.assert_close(y2[:, :y.shape[1]], y, rtol=0, atol=1e-6)
        # A padded last chunk streamed with its length gives the offline frames.
        cache = sub.init_state(1, 80)
        full = t - t % factor
        a, cache = sub.step(x[:, :full], cache)
        tail = torch.cat([x[:, full:], torch.randn(1, factor - t % factor, 80)], 1)
        b, _ = sub.step(tail, cache, torch.tensor([t % factor]))
        # Outputs reach ~40 here: compare at float32 precision relative to their size.
        torch.testing.assert_close(torch.cat([a, b], 1), y, rtol=1e-6, atol=1e-5)


# ---------------------------------------------------------------- attention masks

def reference_mask(lengths: list[int], t: int, starts: list[int], left: int) -> torch.Tensor:
    """Brute force: chunk boundaries `starts` (plus t); query i sees keys [start - left, end) below its length."""
    bounds = starts + [t]
    m = torch.zeros(len(lengths), t, t, dtype=torch.bool)
    for b, n in enumerate(lengths):
        for s, e in zip(bounds[:-1], bounds[1:]):
            for i in range(s, e):
                for j in range(max(0, s - left), min(e, n)):
                    m[b, i, j] = True
    return m


@pytest.mark.parametrize("left,right", [(0, 0), (3, 0), (5, 2), (2, 4), (100, 1)])
def test_chunked_mask_matches_brute_force(left: int, right: int) -> None:
    t, lengths = 17, [17, 11, 1]
    starts = list(range(0, t, right + 1))
    got = chunked_attention_mask(t, torch.tensor(lengths), left, right)
    assert torch.equal(got, reference_mask(lengths, t, starts, left))


def test_fully_masked_rows_are_finite() -> None:
    att = randomize(ChunkedSelfAttention(16, 2, 8))
    x = torch.randn(2, 12, 16)
    mask = chunked_attention_mask(12, torch.tensor([12, 2]), 1, 0)
    assert not mask[1, 9].any()  # a padding query with no valid key
    assert torch.isfinite(att(x, mask)).all()


def run_attention_stream(att: ChunkedSelfAttention, x: torch.Tensor, sizes: list[int], cache_frames: int,
                         left: int) -> torch.Tensor:
    b = x.size(0)
    cache, cache_len, outs, pos = torch.zeros(b, cache_frames, att.cache_dim), torch.zeros(b, dtype=torch.long), [], 0
    for size in sizes:
        chunk = x[:, pos:pos + size]
        mask = streaming_attention_mask(cache_frames, chunk, cache_len, left)
        y, cache = att.step(chunk, cache, mask)
        cache_len = (cache_len + size).clamp(max=cache_frames)
        outs.append(y)
        pos += size
    return torch.cat(outs, 1)


@pytest.mark.parametrize("left,cache_frames", [(4, 4), (3, 6), (0, 2), (6, 6)])
def test_attention_step_equals_forward_random_chunks(left: int, cache_frames: int) -> None:
    """Each step is one chunk: offline with the brute-force mask of the same boundaries == streaming."""
    att = randomize(ChunkedSelfAttention(16, 2, max_rel_pos=5))
    rng = np.random.default_rng(left)
    t = 41
    x = torch.randn(2, t, 16)
    with torch.no_grad():
        for trial in range(3):
            sizes = random_chunks(rng, t, 1, 4)
            starts = list(np.cumsum([0] + sizes[:-1]))
            ref = att(x, reference_mask([t, t], t, [int(s) for s in starts], left))
            got = run_attention_stream(att, x, sizes, cache_frames, left)
            torch.testing.assert_close(got, ref, rtol=0, atol=1e-5)


# ---------------------------------------------------------------- convolution / layer

@pytest.mark.parametrize("kernel", [1, 3, 5])
def test_conv_step_equals_forward(kernel: int) -> None:
    conv = randomize(CausalConvModule(16, kernel))
    rng = np.random.default_rng(kernel)
    x = torch.randn(2, 30, 16)
    with torch.no_grad():
        ref = conv(x)
        for trial in range(3):
            cache, outs, pos = conv.init_state(2, 16), [], 0
            for size in random_chunks(rng, 30, 1, 4):
                y, cache = conv.step(x[:, pos:pos + size], cache)
                outs.append(y)
                pos += size
            torch.testing.assert_close(torch.cat(outs, 1), ref, rtol=0, atol=1e-5)


def test_conv_is_causal() -> None:
    conv = randomize(CausalConvModule(8, 4))
    x = torch.randn(1, 12, 8, requires_grad=True)
    conv(x)[0, 5].sum().backward()
    g = x.grad[0].abs().sum(-1)
    assert (g[6:] == 0).all() and (g[2:6] > 0).all() and (g[:2] == 0).all()


def test_feedforward_is_per_frame() -> None:
    ff = randomize(FeedForward(8, 2))
    x = torch.randn(2, 7, 8)
    torch.testing.assert_close(ff(x)[:, 3], ff(x[:, 3]), rtol=0, atol=1e-6)


def test_conformer_layer_step_equals_forward() -> None:
    layer = randomize(ConformerLayer(16, 2, 2, 3, max_rel_pos=6))
    left, right, t, lc = 5, 2, 27, 5
    c = right + 1
    x = torch.randn(2, t, 16)
    with torch.no_grad():
        ref = layer(x, chunked_attention_mask(t, torch.tensor([t, t]), left, right))
        att_cache, conv_cache = torch.zeros(2, lc, layer.att.cache_dim), torch.zeros(2, 16, 2)
        cache_len, outs = torch.zeros(2, dtype=torch.long), []
        for pos in range(0, t, c):
            chunk = x[:, pos:pos + c]
            mask = streaming_attention_mask(lc, chunk, cache_len, left)
            y, att_cache, conv_cache = layer.step(chunk, att_cache, conv_cache, mask)
            cache_len = (cache_len + c).clamp(max=lc)
            outs.append(y)
    torch.testing.assert_close(torch.cat(outs, 1), ref, rtol=0, atol=1e-5)
