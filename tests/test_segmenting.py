"""Long segments are cut at their longest pause before a word, never inside one: the cut point on synthetic
token streams, and the recogniser with a short length limit against the same audio decoded as one segment."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from asr_helpers import NEVER, make_piece_model_dir, stream_finals, utterances

from speechstream.asr.endpoint import EndpointConfig, EndpointRule
from speechstream.asr.recognizer import Recognizer
from speechstream.asr.segmenting import Split, TokenKinds, best_split

PIECES = ["<unk>", "\u2581the", "\u2581qu", "ick", "\u2581fox", "\u2581", "a", "b", "<blk>"]
KINDS = TokenKinds.from_symbols(PIECES)


def test_the_cut_is_at_the_longest_pause_before_a_word() -> None:
    # ▁the(2) ▁qu(10) ick(30) ▁fox(34): the longest gap (10 -> 30) is inside "quick", so the cut goes
    # before ▁qu (2 -> 10), the longest pause between words, in its middle.
    assert best_split([1, 2, 3, 4], [2, 10, 30, 34], KINDS, 12) == Split(1, 6)
    # Equal pauses: the later boundary.
    assert best_split([1, 1, 1, 1], [2, 6, 10, 14], KINDS, 16).num_tokens == 3
    # A boundary in the segment's second half beats a longer pause in its first (no stub segments).
    assert best_split([1, 4, 1, 4], [2, 15, 18, 21], KINDS, 40).num_tokens == 3
    # One word only: nothing can be cut.
    assert best_split([2, 3], [2, 30], KINDS, 40) is None


def test_character_vocabularies_cut_at_the_bare_boundary() -> None:
    # a a ▁ b: the bare ▁ spike sits in the pause; the cut keeps it with "b" and measures a(3) -> b(12).
    cut = best_split([6, 6, 5, 7], [1, 3, 10, 12], KINDS, 14)
    assert cut is not None and cut.num_tokens == 2 and 3 < cut.frame <= 10


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:  # noqa: ANN001
    """The tiny random model with sentencepiece-like labels: every other letter starts a word."""
    return make_piece_model_dir(tmp_path_factory.mktemp("model"))


@pytest.mark.parametrize("decoding", ["ctc-greedy", "ctc-beam", "rnnt-greedy", "rnnt-beam"])
def test_length_limit_cuts_between_words(model_dir: Path, decoding: str) -> None:
    never = EndpointRule(True, 1e9, 1e9)
    limited = Recognizer.from_dir(model_dir, decoding=decoding,
                                  endpoint=EndpointConfig(never, never, EndpointRule(False, 0.0, 1.5)))
    x = utterances(np.random.default_rng(5), (16000 * 8,))[0]
    finals = stream_finals(limited, x, 1, limited.lookaheads_ms[0])
    assert len(finals) >= 3
    for r in finals[1:-1]:  # every cut is before a word (the last segment ends with the input)
        assert r.tokens and r.tokens[0].startswith("\u2581"), [f.tokens for f in finals]
    for a, b in zip(finals, finals[1:]):
        assert a.end == b.start
    for r in finals:
        assert all(r.start <= t < r.end for t in r.timestamps), (r.start, r.end, r.timestamps)
    # Streaming in any pieces gives the same segments.
    assert [(r.tokens, r.start, r.end) for r in stream_finals(limited, x, 37, limited.lookaheads_ms[0])] == [(r.tokens, r.start, r.end) for r in finals]
    if decoding == "ctc-greedy":  # greedy is frame-local: the cuts neither lose nor repeat a token
        unlimited = Recognizer.from_dir(model_dir, decoding=decoding, endpoint=NEVER)
        whole = stream_finals(unlimited, x, 1, unlimited.lookaheads_ms[0])
        assert [t for r in finals for t in r.tokens] == whole[0].tokens


def test_a_cut_keeps_the_transducer_context() -> None:
    """After a cut the predictor still sees the last tokens before it (greedy and beam alike)."""
    import numpy as np

    from speechstream.asr.rnnt_decoding import Hypothesis, RnntBeamDecoder, RnntBeamState, RnntGreedyDecoder

    def never(*_: object) -> np.ndarray:
        raise AssertionError("no model call in drop_prefix")

    beam = RnntBeamDecoder(never, never, blank_id=9, context_size=2)
    state = RnntBeamState((Hypothesis((1, 2, 3, 4), -1.0, (0, 2, 5, 7)), Hypothesis((1, 2, 3), -2.0, (0, 2, 5)),
                           Hypothesis((1, 5, 3), -3.0, (0, 2, 5))), num_frames=9)
    cut = beam.drop_prefix(state, 3, 6)
    assert [h.tokens for h in cut.hyps] == [(4,), ()] and cut.hyps[0].frames == (1,) and cut.num_frames == 3
    assert [beam.context(h.tokens, h.history) for h in cut.hyps] == [(3, 4), (2, 3)]
    again = beam.drop_prefix(cut, 1, 2)  # a second cut right after: the history spans both
    assert beam.context(again.hyps[0].tokens, again.hyps[0].history) == (3, 4)
    greedy = RnntGreedyDecoder(never, never, blank_id=9, context_size=2)
    g = greedy.drop_prefix(greedy.init_state().__class__(context=(3, 4), tokens=(1, 2, 3, 4), frames=(0, 2, 5, 7),
                                                         num_frames=9), 3, 6)
    assert g.context == (3, 4) and g.tokens == (4,) and g.frames == (1,)
