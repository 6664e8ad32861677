"""Causality by gradients: no encoder output depends on feature frames past the end of its chunk.

Output frame i lies in chunk k = i // c (c = right + 1 encoder frames); its chunk ends at feature frame
(k + 1) * c * f, its declared look-ahead. The gradient w.r.t. every later frame must be exactly zero,
and w.r.t. the chunk's last frame nonzero (so the look-ahead is tight and the test can fail).
"""

from __future__ import annotations

import pytest
import torch

from speechstream.asr.config import ConformerConfig
from speechstream.asr.torch.encoder import ConformerEncoder

torch.set_num_threads(1)


def make_encoder(factor: int) -> ConformerEncoder:
    torch.manual_seed(factor)
    enc = ConformerEncoder(ConformerConfig.tiny(subsampling_factor=factor, att_contexts=((3, 0), (4, 2))))
    with torch.no_grad():
        for p in enc.parameters():
            p.add_(torch.randn_like(p) * 0.2)
    return enc.eval()


@pytest.mark.parametrize("factor", [8, 4])
def test_no_dependence_beyond_chunk(factor: int) -> None:
    enc = make_encoder(factor)
    for ctx in enc.config.att_contexts:
        c = ctx[1] + 1
        n_out = 4 * c  # four chunks: the left context (3-4 frames) runs out
        t = n_out * factor
        feats = torch.randn(1, t, 80, requires_grad=True)
        out, _ = enc(feats, torch.tensor([t]), ctx)
        assert out.shape[1] == n_out
        for i in range(n_out):
            # A random projection: the plain sum of a LayerNorm output can be constant.
            (grad,) = torch.autograd.grad(out[0, i] @ torch.randn(out.size(2)), feats, retain_graph=True)
            per_frame = grad[0].abs().sum(-1)
            end = (i // c + 1) * c * factor  # first feature frame after i's chunk
            assert (per_frame[end:] == 0).all(), (ctx, i)
            assert per_frame[end - 1] > 0, (ctx, i)  # the chunk's last frame is seen
            assert per_frame[i * factor] > 0, (ctx, i)


def test_limited_left_context_in_one_layer() -> None:
    """With one layer and a causal subsampler, attention reaches back `left` frames before the chunk start
    (plus the subsampler's and conv's own look-back), not the whole past."""
    torch.manual_seed(0)
    enc = ConformerEncoder(ConformerConfig.tiny(num_layers=1, conv_kernel=1, att_contexts=((2, 0),))).eval()
    f = enc.subsampling_factor
    t = 12 * f
    feats = torch.randn(1, t, 80, requires_grad=True)
    out, _ = enc(feats, torch.tensor([t]), 0)
    (grad,) = torch.autograd.grad(out[0, 10] @ torch.randn(out.size(2)), feats)
    per_frame = grad[0].abs().sum(-1)
    first_seen = (10 - 2) * f - 7  # key frame 8's group start minus the subsampler's look-back
    assert (per_frame[:first_seen] == 0).all() and per_frame[first_seen] > 0
