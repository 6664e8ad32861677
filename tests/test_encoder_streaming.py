"""Cache-aware Conformer encoder: streaming step == offline forward, batching of states, shape arithmetic."""

from __future__ import annotations

import itertools
import json

import pytest
import torch

from speechstream.asr.config import ConformerConfig
from speechstream.asr.torch.encoder import ConformerEncoder
from speechstream.asr.torch.heads import CTCHead

torch.set_num_threads(1)
CHUNKS = 42  # > 40 chunks per utterance: the left context (8 frames) is exceeded many times


def make_encoder(seed: int = 0, **overrides) -> ConformerEncoder:
    torch.manual_seed(seed)
    enc = ConformerEncoder(ConformerConfig.tiny(**overrides))
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # perturb everything, LayerNorm affine and position biases included
        for p in enc.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.2)
        # A non-trivial input normalisation, as trained models have.
        enc.subsampling.set_normalization(torch.randn(80, generator=g) - 10, torch.rand(80, generator=g) * 3 + 1)
    return enc.eval()


def stream(enc: ConformerEncoder, feats: torch.Tensor, lengths: torch.Tensor, ctx) -> torch.Tensor:
    """Batched streaming in chunk_frames steps; the last chunk of each stream is padded and its length given."""
    c = enc.chunk_frames(ctx)
    b, t, _ = feats.shape
    state, outs = enc.init_state(b), []
    for pos in range(0, t, c):
        chunk = feats[:, pos:pos + c]
        chunk = torch.cat([chunk, torch.randn(b, c - chunk.size(1), feats.size(2))], 1)  # junk padding
        valid = (lengths - pos).clamp(0, c)
        y, state = enc.step(chunk, state, ctx, valid)
        outs.append(y)
    return torch.cat(outs, 1)


def collapse(ids: list[int], blank: int) -> list[int]:
    return [k for k, _ in itertools.groupby(ids) if k != blank]


@pytest.mark.parametrize("factor,contexts", [(8, ((8, 0), (8, 3))), (4, ((8, 0), (5, 3), (3, 1)))])
def test_streaming_equals_offline_every_context(factor: int, contexts) -> None:  # noqa: ANN001
    """Every context of the config, including ones with less left context than the cache holds."""
    enc = make_encoder(factor, subsampling_factor=factor, att_contexts=contexts)
    ctc = CTCHead(enc.config.d_model, 7).eval()
    for ctx in enc.config.att_contexts:
        c = enc.chunk_frames(ctx)
        lengths = torch.tensor([CHUNKS * c, CHUNKS * c + 2 * c + 3, CHUNKS * c + c // 2])
        feats = torch.randn(3, int(lengths.max()), 80)
        with torch.no_grad():
            ref, ref_len = enc(feats, lengths, ctx)
            got = stream(enc, feats, lengths, ctx)
            assert ref_len.tolist() == [-(-n // factor) for n in lengths.tolist()]
            for b, n in enumerate(ref_len.tolist()):
                diff = (got[b, :n] - ref[b, :n]).abs().max().item()
                assert diff <= 1e-5, (ctx, b, diff)
                ids_ref = collapse(ctc(ref[b, :n]).argmax(-1).tolist(), 6)
                ids_got = collapse(ctc(got[b, :n]).argmax(-1).tolist(), 6)
                assert ids_ref == ids_got and len(ids_ref) > 0


def test_contexts_differ() -> None:
    """The check above is not vacuous: another context gives other outputs."""
    enc = make_encoder()
    feats = torch.randn(1, 40 * 8, 80)
    with torch.no_grad():
        a, _ = enc(feats, torch.tensor([320]), 0)
        b, _ = enc(feats, torch.tensor([320]), 1)
        c, _ = enc(feats, torch.tensor([320]), (2, 0))
    assert (a - b).abs().max() > 1e-3 and (a - c).abs().max() > 1e-3


def test_states_stack_across_streams() -> None:
    enc = make_encoder(3)
    ctx = enc.config.att_contexts[1]
    c = enc.chunk_frames(ctx)
    feats = torch.randn(3, 12 * c, 80)
    with torch.no_grad():
        batched = enc.init_state(3)
        singles = [enc.init_state(1) for _ in range(3)]
        for pos in range(0, feats.size(1), c):
            yb, batched = enc.step(feats[:, pos:pos + c], batched, ctx)
            for i in range(3):
                yi, singles[i] = enc.step(feats[i:i + 1, pos:pos + c], singles[i], ctx)
                torch.testing.assert_close(yi, yb[i:i + 1], rtol=0, atol=1e-5)
        for k, s in enumerate(batched):
            torch.testing.assert_close(torch.cat([st[k] for st in singles]), s, rtol=0, atol=1e-5)
        # A stream joining later stacks with one already running: the state carries everything.
        late = enc.init_state(1)
        running = tuple(s[:1] for s in batched)
        both = tuple(torch.cat([a, b]) for a, b in zip(running, late))
        y2, _ = enc.step(feats[:2, :c], both, ctx)
        y_late, _ = enc.step(feats[1:2, :c], late, ctx)
        torch.testing.assert_close(y2[1:], y_late, rtol=0, atol=1e-5)


def test_step_window_equals_step() -> None:
    enc = make_encoder(4)
    c, p = enc.chunk_frames(0), enc.pre_encode_cache_frames
    feats = torch.randn(2, 6 * c, 80)
    with torch.no_grad():
        state = enc.init_state(2)
        padded = torch.cat([state[0], feats], 1)
        caches = state[1:]
        for k in range(6):
            y, state = enc.step(feats[:, k * c:(k + 1) * c], state, 0)
            yw, *caches = enc.step_window(padded[:, k * c:k * c + p + c], *caches, att_context=0)
            torch.testing.assert_close(yw, y, rtol=0, atol=1e-6)
            for a, b in zip(caches, state[1:]):
                torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_shape_arithmetic() -> None:
    cfg = ConformerConfig.tiny(att_contexts=((8, 0), (6, 3)), conv_kernel=5, num_layers=3)
    enc = ConformerEncoder(cfg)
    assert enc.subsampling_factor == 8
    assert enc.pre_encode_cache_frames == 8  # look-back 7 -> 8
    assert ConformerEncoder(ConformerConfig.tiny(subsampling_factor=4)).pre_encode_cache_frames == 4
    assert enc.chunk_frames(0) == 8 and enc.chunk_frames(1) == 32 and enc.chunk_frames((8, 5)) == 48
    assert enc.latency_ms(0) == 80.0 and enc.latency_ms(1) == 320.0
    assert enc.chunk_frames() == enc.chunk_frames(cfg.default_att_context)
    pre, chan, time_, length = enc.init_state(2)
    assert pre.shape == (2, 8, 80) and (pre == cfg.pad_feature).all()
    assert chan.shape == (2, 3, 8, 2 * 32) and time_.shape == (2, 3, 32, 4)  # keys and values cached
    assert length.shape == (2,) and length.dtype == torch.int64 and (length == 0).all()
    with torch.no_grad():
        y, state = enc.step(torch.randn(2, 32, 80), (pre, chan, time_, length), 1)
        assert y.shape == (2, 4, 32) and state[3].tolist() == [4, 4]
        y, state = enc.step(torch.randn(2, 32, 80), state, 1)
        y, state = enc.step(torch.randn(2, 32, 80), state, 1)
        assert state[3].tolist() == [8, 8]  # capped at the cache size
        out, out_len = enc(torch.randn(2, 50, 80), torch.tensor([50, 17]), 1)
    assert out.shape == (2, 7, 32) and out_len.tolist() == [7, 3]
    with pytest.raises(ValueError):
        cfg.resolve_att_context((9, 0))  # more left context than the cache holds


def test_config_round_trip() -> None:
    cfg = ConformerConfig.tiny()
    again = ConformerConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg and hash(again) == hash(cfg)
    assert ConformerConfig.tiny(default_att_context=(8, 3)).default_att_context == 1
    with pytest.raises(ValueError):
        ConformerConfig.tiny(default_att_context=(7, 3))


class _StepWrapper(torch.nn.Module):
    """The thin export wrapper shape: flat inputs and outputs around ``step``."""

    def __init__(self, enc: ConformerEncoder, ctx) -> None:
        super().__init__()
        self.enc, self.ctx = enc, ctx

    def forward(self, feats, lengths, pre, chan, time_, chan_len):  # noqa: ANN001, ANN201
        y, state = self.enc.step(feats, (pre, chan, time_, chan_len), self.ctx, lengths)
        return (y, *state)


def test_onnx_export_of_step_matches_eager(tmp_path) -> None:  # noqa: ANN001
    import warnings

    import numpy as np
    import onnxruntime as ort

    enc = make_encoder(5)
    ctx = enc.config.att_contexts[1]
    c = enc.chunk_frames(ctx)
    names = ["feats", "lengths", "pre", "chan", "time", "chan_len"]
    path = str(tmp_path / "step.onnx")
    state = enc.init_state(2)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(_StepWrapper(enc, ctx), (torch.randn(2, c, 80), torch.tensor([c, c]), *state), path,
                          input_names=names, output_names=["enc", "pre_o", "chan_o", "time_o", "chan_len_o"],
                          dynamic_axes={n: {0: "B"} for n in names} | {"feats": {0: "B", 1: "T"}},
                          dynamo=False)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    for batch, size in ((2, c), (3, 2 * c)):  # dynamic batch and chunk length
        feats = torch.randn(batch, 6 * size, 80)
        state = enc.init_state(batch)
        ort_state = [s.numpy() for s in state]
        for pos in range(0, feats.size(1), size):
            chunk = feats[:, pos:pos + size]
            lengths = torch.full((batch,), size)
            if pos + size == feats.size(1):
                lengths[0] = size - 5  # a padded last chunk
            with torch.no_grad():
                y, state = enc.step(chunk, state, ctx, lengths)
            out = sess.run(None, dict(zip(names, [chunk.numpy(), lengths.numpy(), *ort_state])))
            ort_state = out[1:]
            assert np.abs(out[0] - y.numpy()).max() <= 1e-4
            for a, b in zip(ort_state, state):
                assert a.dtype == b.numpy().dtype and np.abs(a - b.numpy()).max() <= 1e-4
