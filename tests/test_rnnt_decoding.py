"""Streaming RNN-T decoding with random numpy predictor/joiner: references, brute force, batching, chunking."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from speechstream.asr.rnnt_decoding import RnntBeamDecoder, RnntGreedyDecoder


class TinyModel:
    """A random stateless predictor and joiner with the runtime's signatures; counts calls and batch sizes.

    Computed in float64 and rounded to float32, so a row's output does not depend on its batch.
    """

    def __init__(self, V: int, context_size: int, seed: int, blank_bias: float = 0.0, De: int = 5, Dp: int = 6):
        rng = np.random.default_rng(seed)
        self.V, self.C, self.De = V, context_size, De
        self.emb = rng.standard_normal((max(context_size, 1), V, Dp))
        self.w_enc = rng.standard_normal((De, 8))
        self.w_pred = rng.standard_normal((Dp, 8))
        self.w_out = 2.0 * rng.standard_normal((8, V))
        self.bias = np.zeros(V)
        self.bias[V - 1] = blank_bias
        self.predictor_calls: list[int] = []
        self.joiner_calls: list[int] = []

    def predictor(self, tokens: np.ndarray) -> np.ndarray:
        assert tokens.dtype == np.int64 and tokens.shape[1] == self.C
        self.predictor_calls.append(len(tokens))
        acc = np.zeros((len(tokens), self.emb.shape[2]))
        for k in range(self.C):
            acc += self.emb[k][tokens[:, k]]
        return np.tanh(acc).astype(np.float32)

    def joiner(self, enc: np.ndarray, pred: np.ndarray) -> np.ndarray:
        assert enc.ndim == 2 and pred.ndim == 2 and len(enc) == len(pred)
        self.joiner_calls.append(len(enc))
        h = np.tanh(enc.astype(np.float64) @ self.w_enc + pred.astype(np.float64) @ self.w_pred)
        return (h @ self.w_out + self.bias).astype(np.float32)

    def encoder_out(self, rng: np.random.Generator, T: int) -> np.ndarray:
        return rng.standard_normal((T, self.De)).astype(np.float32)


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    x = x - x.max()
    return x - np.log(np.exp(x).sum())


def greedy_reference(m: TinyModel, enc: np.ndarray, max_symbols: int) -> tuple[list[int], list[int], int]:
    """Per-stream loop, no caching: predictor and joiner on one row at every decision."""
    blank = m.V - 1
    ctx = [blank] * m.C
    tokens, frames, trailing = [], [], 0
    for t in range(len(enc)):
        n = 0
        while n < max_symbols:
            logits = m.joiner(enc[t][None], m.predictor(np.array([ctx], dtype=np.int64)))[0]
            y = int(np.argmax(logits))
            if y == blank:
                break
            tokens.append(y)
            frames.append(t)
            ctx = (ctx + [y])[len(ctx) + 1 - m.C:] if m.C else []
            n += 1
        trailing = 0 if n else trailing + 1
    return tokens, frames, trailing


def one_symbol_brute_force(m: TinyModel, enc: np.ndarray) -> dict[tuple[int, ...], float]:
    """log P(sequence) summed over all alignments with exactly one symbol (blank or token) per frame."""
    blank = m.V - 1
    totals: dict[tuple[int, ...], list[float]] = {}
    for path in itertools.product(range(m.V), repeat=len(enc)):
        ctx, seq, score = [blank] * m.C, [], 0.0
        for t, y in enumerate(path):
            logits = m.joiner(enc[t][None], m.predictor(np.array([ctx], dtype=np.int64)))[0]
            score += log_softmax(logits)[y]
            if y != blank:
                seq.append(y)
                ctx = (ctx + [y])[1:] if m.C else []
        totals.setdefault(tuple(seq), []).append(score)
    return {k: float(np.logaddexp.reduce(v)) for k, v in totals.items()}


def run(decoder, chunks):
    state = decoder.init_state()
    for c in chunks:
        state = decoder.step(c, state)
    return state


@pytest.mark.parametrize("context_size", [1, 2, 3])
@pytest.mark.parametrize("max_symbols", [1, 3])
def test_greedy_matches_reference(context_size, max_symbols):
    seen_counts = set()
    for seed in range(6):
        m = TinyModel(V=6, context_size=context_size, seed=seed, blank_bias=1.0)
        rng = np.random.default_rng(100 + seed)
        enc = m.encoder_out(rng, 25)
        tokens, frames, trailing = greedy_reference(m, enc, max_symbols)
        seen_counts.update(np.bincount(frames, minlength=len(enc)).tolist())
        dec = RnntGreedyDecoder(m.predictor, m.joiner, blank_id=m.V - 1, context_size=context_size,
                                max_symbols_per_frame=max_symbols)
        state = run(dec, np.array_split(enc, [3, 4, 4, 11]))  # includes an empty chunk
        assert list(state.tokens) == tokens and list(state.frames) == frames
        assert state.num_trailing_blanks == trailing and state.num_frames == len(enc)
        assert state.context == tuple(([m.V - 1] * context_size + tokens)[len(tokens):])
    # The data exercise silent frames and, when allowed, frames that hit the symbol cap.
    assert 0 in seen_counts and max_symbols in seen_counts


def test_greedy_batched_equals_per_stream_and_batches_calls():
    m = TinyModel(V=7, context_size=2, seed=11, blank_bias=0.5)
    rng = np.random.default_rng(3)
    dec = RnntGreedyDecoder(m.predictor, m.joiner, blank_id=6, context_size=2, max_symbols_per_frame=3)
    lengths = [[4, 0, 7, 2], [5, 5, 1, 0], [0, 3, 3, 9]]  # per step, per stream
    chunks = [[m.encoder_out(rng, n) for n in step] for step in lengths]
    batched = [dec.init_state() for _ in range(4)]
    for step in chunks:
        m.joiner_calls.clear()
        m.predictor_calls.clear()
        batched = dec.step_batch(step, batched)
        longest = max(len(c) for c in step)
        # At most one joiner call per symbol slot of a frame, and one predictor call after each that emits.
        assert len(m.joiner_calls) <= longest * 3
        assert len(m.predictor_calls) <= len(m.joiner_calls) + 1
    for i in range(4):
        single = run(dec, [step[i] for step in chunks])
        assert batched[i].tokens == single.tokens and batched[i].frames == single.frames
        assert batched[i].num_trailing_blanks == single.num_trailing_blanks
        assert batched[i].num_frames == single.num_frames == sum(step[i] for step in lengths)
        ref = greedy_reference(m, np.concatenate([step[i] for step in chunks]), 3)
        assert (list(single.tokens), list(single.frames), single.num_trailing_blanks) == ref


@pytest.mark.parametrize("seed", range(5))
def test_modified_beam_one_equals_greedy_one_symbol(seed):
    m = TinyModel(V=8, context_size=2, seed=seed, blank_bias=0.5)
    enc = m.encoder_out(np.random.default_rng(seed + 50), 30)
    g = run(RnntGreedyDecoder(m.predictor, m.joiner, 7, 2, max_symbols_per_frame=1), np.array_split(enc, 3))
    b = run(RnntBeamDecoder(m.predictor, m.joiner, 7, 2, beam=1), np.array_split(enc, 4))
    assert b.tokens == g.tokens and b.frames == g.frames and b.num_trailing_blanks == g.num_trailing_blanks
    assert len(g.tokens) > 3


@pytest.mark.parametrize("V,T,C,seed", [(3, 4, 2, 0), (4, 4, 2, 1), (3, 5, 1, 2), (4, 3, 3, 3)])
def test_modified_beam_large_equals_brute_force(V, T, C, seed):
    m = TinyModel(V=V, context_size=C, seed=seed)
    enc = m.encoder_out(np.random.default_rng(seed + 9), T)
    exact = one_symbol_brute_force(m, enc)
    state = run(RnntBeamDecoder(m.predictor, m.joiner, V - 1, C, beam=V ** T), [enc[:2], enc[2:]])
    got = {h.tokens: h.log_prob for h in state.hyps}
    assert set(got) == set(exact)
    for k, v in exact.items():
        assert got[k] == pytest.approx(v, abs=1e-6)
    best = max(exact, key=exact.get)
    assert state.tokens == best


@pytest.mark.parametrize("beam", [2, 4])
def test_modified_beam_small_beam_scores_are_lower_bounds(beam):
    """Pruning only drops alignments: every kept hypothesis scores at most its exact probability."""
    m = TinyModel(V=4, context_size=2, seed=21)
    enc = m.encoder_out(np.random.default_rng(4), 5)
    exact = one_symbol_brute_force(m, enc)
    state = run(RnntBeamDecoder(m.predictor, m.joiner, 3, 2, beam=beam), [enc])
    assert 1 <= len(state.hyps) <= beam
    assert all(h.log_prob <= exact[h.tokens] + 1e-6 for h in state.hyps)
    assert all(a.log_prob >= b.log_prob for a, b in zip(state.hyps, state.hyps[1:]))


def test_modified_beam_batched_equals_per_stream_and_one_joiner_call_per_frame():
    m = TinyModel(V=9, context_size=2, seed=5, blank_bias=0.3)
    rng = np.random.default_rng(8)
    dec = RnntBeamDecoder(m.predictor, m.joiner, 8, 2, beam=4)
    lengths = [[3, 0, 6], [5, 2, 2], [0, 4, 1]]
    chunks = [[m.encoder_out(rng, n) for n in step] for step in lengths]
    batched = [dec.init_state() for _ in range(3)]
    for step in chunks:
        m.joiner_calls.clear()
        m.predictor_calls.clear()
        batched = dec.step_batch(step, batched)
        longest = max(len(c) for c in step)
        assert len(m.joiner_calls) == longest
        assert len(m.predictor_calls) <= longest + 1
    for i in range(3):
        whole = run(dec, [np.concatenate([step[i] for step in chunks])])
        assert [h.tokens for h in batched[i].hyps] == [h.tokens for h in whole.hyps]
        assert [h.frames for h in batched[i].hyps] == [h.frames for h in whole.hyps]
        np.testing.assert_allclose([h.log_prob for h in batched[i].hyps], [h.log_prob for h in whole.hyps],
                                   rtol=0, atol=1e-9)
        assert batched[i].num_frames == whole.num_frames == sum(step[i] for step in lengths)
