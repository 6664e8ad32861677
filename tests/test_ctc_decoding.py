"""Streaming CTC decoding: brute-force posteriors, chunking invariance, greedy references."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from speechstream.asr.ctc_decoding import CtcBeamDecoder, CtcGreedyDecoder, frames_to_seconds


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def random_log_probs(rng: np.random.Generator, T: int, V: int, scale: float = 2.0) -> np.ndarray:
    return log_softmax(scale * rng.standard_normal((T, V)))


def collapse(path: tuple[int, ...], blank: int) -> tuple[int, ...]:
    return tuple(k for k, _ in itertools.groupby(path) if k != blank)


def brute_force(lp: np.ndarray) -> dict[tuple[int, ...], float]:
    """log P(label sequence) for every sequence, by summing over all V^T alignments."""
    T, V = lp.shape
    probs: dict[tuple[int, ...], float] = {}
    for path in itertools.product(range(V), repeat=T):
        p = float(np.exp(sum(lp[t, y] for t, y in enumerate(path))))
        key = collapse(path, V - 1)
        probs[key] = probs.get(key, 0.0) + p
    return {k: np.log(p) for k, p in probs.items()}


def split(x: np.ndarray, cuts: list[int]) -> list[np.ndarray]:
    return np.split(x, sorted(set(c for c in cuts if 0 <= c <= len(x))))


def run(decoder, chunks):
    state = decoder.init_state()
    for c in chunks:
        state = decoder.step(c, state)
    return state


@pytest.mark.parametrize("T,V,seed", [(5, 3, 0), (5, 4, 1), (6, 3, 2), (4, 5, 3)])
def test_prefix_beam_search_equals_brute_force(T, V, seed):
    lp = random_log_probs(np.random.default_rng(seed), T, V)
    exact = brute_force(lp)
    state = run(CtcBeamDecoder(beam=100_000), [lp])
    got = dict(zip(state.prefixes, state.scores))
    assert set(got) == set(exact)  # every reachable sequence, nothing else
    for k, v in exact.items():
        assert got[k] == pytest.approx(v, abs=1e-9)
    best = max(exact, key=exact.get)
    assert state.tokens == best and state.scores[0] == pytest.approx(exact[best], abs=1e-9)
    assert np.all(np.diff(state.scores) <= 0)  # best first


@pytest.mark.parametrize("seed", range(4))
def test_small_beam_finds_best_on_peaked_input(seed):
    """A moderate beam and top-k pruning still find the best sequence of a confident model; pruned paths
    only lose probability, so its score is a close lower bound of the exact one."""
    rng = np.random.default_rng(seed)
    T, V = 6, 4
    lp = random_log_probs(rng, T, V, scale=4.0)
    exact = brute_force(lp)
    best = max(exact, key=exact.get)
    state = run(CtcBeamDecoder(beam=8, top_k=2), [lp])
    assert state.tokens == best
    assert exact[best] - 0.05 < state.scores[0] <= exact[best] + 1e-12


def test_top_k_covering_vocab_changes_nothing():
    lp = random_log_probs(np.random.default_rng(5), 12, 6)
    a = run(CtcBeamDecoder(beam=5), [lp])
    b = run(CtcBeamDecoder(beam=5, top_k=5), [lp])
    assert a.prefixes == b.prefixes and np.array_equal(a.scores, b.scores)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), T=st.integers(0, 30), V=st.integers(2, 7), beam=st.integers(1, 6),
       cuts=st.lists(st.integers(0, 30), max_size=6))
def test_prefix_beam_chunking_invariant(seed, T, V, beam, cuts):
    lp = random_log_probs(np.random.default_rng(seed), T, V)
    dec = CtcBeamDecoder(beam=beam, top_k=3)
    whole = run(dec, [lp])
    chunked = run(dec, split(lp, cuts))
    assert whole.prefixes == chunked.prefixes and whole.prefix_frames == chunked.prefix_frames
    assert np.array_equal(whole.log_pb, chunked.log_pb) and np.array_equal(whole.log_pnb, chunked.log_pnb)
    assert np.array_equal(whole.last_emit, chunked.last_emit) and whole.num_frames == chunked.num_frames == T


def greedy_reference(lp: np.ndarray) -> tuple[list[int], list[int], int]:
    """Tokens, their first frames and trailing blank frames of the argmax path, by walking its runs."""
    best = lp.argmax(axis=1).tolist()
    blank = lp.shape[1] - 1
    tokens, frames, t = [], [], 0
    for y, run_ in itertools.groupby(best):
        n = len(list(run_))
        if y != blank:
            tokens.append(y)
            frames.append(t)
        t += n
    trailing = len(best) - max((i + 1 for i, y in enumerate(best) if y != blank), default=0)
    return tokens, frames, trailing


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), T=st.integers(0, 40), V=st.integers(2, 5),
       cuts=st.lists(st.integers(0, 40), max_size=8))
def test_greedy_chunking_invariant_and_matches_reference(seed, T, V, cuts):
    # Few classes and a strong blank make repeats across chunk edges and long blank runs common.
    rng = np.random.default_rng(seed)
    lp = random_log_probs(rng, T, V)
    lp[:, -1] += rng.uniform(0, 1.5)
    dec = CtcGreedyDecoder()
    whole = run(dec, [lp])
    chunked = run(dec, split(lp, cuts))
    assert whole == chunked
    tokens, frames, trailing = greedy_reference(lp)
    assert list(whole.tokens) == tokens and list(whole.frames) == frames
    assert whole.num_trailing_blanks == trailing and whole.num_frames == T


@pytest.mark.parametrize("seed", range(6))
def test_beam_one_agrees_with_greedy_on_confident_input(seed):
    """With one symbol near-certain per frame, beam 1 follows the argmax path: tokens, frames and silence."""
    rng = np.random.default_rng(seed)
    T, V = 40, 4
    path = rng.integers(0, V, T)
    logits = rng.standard_normal((T, V))
    logits[np.arange(T), path] += 12.0
    lp = log_softmax(logits)
    g = run(CtcGreedyDecoder(), [lp])
    b = run(CtcBeamDecoder(beam=1), np.array_split(lp, 5))
    assert b.tokens == g.tokens and b.frames == g.frames
    assert b.num_trailing_blanks == g.num_trailing_blanks


def test_explicit_blank_id_and_batch_helpers():
    rng = np.random.default_rng(7)
    chunks = [random_log_probs(rng, n, 5) for n in (3, 0, 7)]
    moved = [np.roll(c, 1, axis=1) for c in chunks]  # blank (last) becomes id 0, token k becomes k + 1
    g, g0 = CtcGreedyDecoder(), CtcGreedyDecoder(blank_id=0)
    assert [y + 1 for y in run(g, [np.concatenate(chunks)]).tokens] == list(run(g0, moved).tokens)
    b, b0 = CtcBeamDecoder(beam=3), CtcBeamDecoder(beam=3, blank_id=0)
    assert [y + 1 for y in run(b, chunks).tokens] == list(run(b0, moved).tokens)
    states = g.step_batch(chunks, [g.init_state()] * 3)
    assert states == [g.step(c, g.init_state()) for c in chunks]
    bstates = b.step_batch(chunks, [b.init_state()] * 3)
    assert [s.prefixes for s in bstates] == [b.step(c, b.init_state()).prefixes for c in chunks]


def test_frames_to_seconds():
    np.testing.assert_allclose(frames_to_seconds([0, 1, 10]), [0.0, 0.08, 0.8])
    np.testing.assert_allclose(frames_to_seconds([2], subsampling_factor=4, frame_shift=0.01, offset=1.5), [1.58])
