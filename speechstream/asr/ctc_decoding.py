"""Streaming CTC decoding in numpy: greedy and prefix beam search, state passed in and returned.

Shapes: T encoder frames in a chunk, V vocabulary size (the blank is the last id, V - 1, unless told).
Frame indices count encoder frames from the state's start (``init_state``); each covers
``subsampling_factor`` feature frames of ``frame_shift`` seconds (see :func:`frames_to_seconds`).
Every step processes frame by frame in effect, so any chunking of the input gives the same state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

NEG_INF = -np.inf


def frames_to_seconds(frames: Sequence[int] | np.ndarray, subsampling_factor: int = 8,
                      frame_shift: float = 0.01, offset: float = 0.0) -> np.ndarray:
    """Start times (s) of encoder frames: frame * subsampling_factor * frame_shift + offset."""
    return np.asarray(frames, dtype=np.float64) * (subsampling_factor * frame_shift) + offset


@dataclass(frozen=True)
class CtcGreedyState:
    """One stream's greedy result so far.

    prev: argmax of the last frame (-1 before any), so a token split across chunks is not repeated.
    num_trailing_blanks: frames since the last non-blank argmax (the endpointer's silence).
    """

    tokens: tuple[int, ...] = ()
    frames: tuple[int, ...] = ()
    prev: int = -1
    num_frames: int = 0
    num_trailing_blanks: int = 0


@dataclass(frozen=True)
class CtcGreedyDecoder:
    blank_id: int | None = None  # None: the last id

    def init_state(self) -> CtcGreedyState:
        return CtcGreedyState()

    def step(self, log_probs: np.ndarray, state: CtcGreedyState) -> CtcGreedyState:
        """log_probs: (T, V) of one stream (log-probabilities or logits: only the argmax matters)."""
        T, V = log_probs.shape
        if T == 0:
            return state
        blank = V - 1 if self.blank_id is None else self.blank_id
        best = np.argmax(log_probs, axis=1)
        prev = np.concatenate(([state.prev], best[:-1]))
        emit = np.flatnonzero((best != blank) & (best != prev))
        nonblank = np.flatnonzero(best != blank)
        trailing = state.num_trailing_blanks + T if len(nonblank) == 0 else T - 1 - int(nonblank[-1])
        return CtcGreedyState(
            tokens=state.tokens + tuple(int(y) for y in best[emit]),
            frames=state.frames + tuple(int(t) + state.num_frames for t in emit),
            prev=int(best[-1]),
            num_frames=state.num_frames + T,
            num_trailing_blanks=trailing,
        )

    def step_batch(self, log_probs: Sequence[np.ndarray], states: Sequence[CtcGreedyState]) -> list[CtcGreedyState]:
        """log_probs: one (T_i, V) per stream (chunks may differ in length)."""
        return [self.step(x, s) for x, s in zip(log_probs, states, strict=True)]

    def drop_prefix(self, state: CtcGreedyState, num_tokens: int, num_frames: int) -> CtcGreedyState:
        """The state of the same path seen from frame `num_frames` on, without its first `num_tokens` tokens
        (a segment cut there); `prev` stays, so a token that spans the cut is not emitted twice."""
        return replace(state, tokens=state.tokens[num_tokens:],
                       frames=tuple(f - num_frames for f in state.frames[num_tokens:]),
                       num_frames=state.num_frames - num_frames)


# eq=False: == compares identity instead of raising on array truth values.
@dataclass(frozen=True, eq=False)
class CtcBeamState:
    """The beam of a CTC prefix beam search, best first (B <= beam prefixes).

    log_pb / log_pnb: (B,) log-probability of the prefix with its paths ending in blank / in its last token.
    prefix_frames: per prefix, the frame at which each token was first emitted (a prefix reached again by another
        path keeps the frames it had).
    last_emit: (B,) last frame at which the prefix's more probable ending was its last token (-1: never);
        the frames after it are the prefix's trailing silence.
    """

    prefixes: tuple[tuple[int, ...], ...] = ((),)
    log_pb: np.ndarray = field(default_factory=lambda: np.zeros(1))
    log_pnb: np.ndarray = field(default_factory=lambda: np.full(1, NEG_INF))
    prefix_frames: tuple[tuple[int, ...], ...] = ((),)
    last_emit: np.ndarray = field(default_factory=lambda: np.full(1, -1, dtype=np.int64))
    num_frames: int = 0

    @property
    def scores(self) -> np.ndarray:
        """(B,) log-probability of each prefix (all its alignments so far)."""
        return np.logaddexp(self.log_pb, self.log_pnb)

    @property
    def tokens(self) -> tuple[int, ...]:
        """The best prefix."""
        return self.prefixes[0]

    @property
    def frames(self) -> tuple[int, ...]:
        return self.prefix_frames[0]

    @property
    def num_trailing_blanks(self) -> int:
        return self.num_frames - 1 - int(self.last_emit[0])


@dataclass(frozen=True)
class CtcBeamDecoder:
    """CTC prefix beam search; `top_k` keeps only the k most probable non-blank tokens of each frame."""

    beam: int = 4
    top_k: int | None = None
    blank_id: int | None = None  # None: the last id

    def init_state(self) -> CtcBeamState:
        return CtcBeamState()

    def step(self, log_probs: np.ndarray, state: CtcBeamState) -> CtcBeamState:
        """log_probs: (T, V) log-probabilities of one stream (log-softmax of the CTC head)."""
        lp = np.asarray(log_probs, dtype=np.float64)
        for t in range(lp.shape[0]):
            state = self._frame(lp[t], state)
        return state

    def step_batch(self, log_probs: Sequence[np.ndarray], states: Sequence[CtcBeamState]) -> list[CtcBeamState]:
        return [self.step(x, s) for x, s in zip(log_probs, states, strict=True)]

    def drop_prefix(self, state: CtcBeamState, num_tokens: int, num_frames: int) -> CtcBeamState:
        """The beam seen from frame `num_frames` on, after the best prefix's first `num_tokens` tokens were
        finalised: only the prefixes that begin with them go on, without them."""
        head = state.prefixes[0][:num_tokens]
        keep = [i for i, p in enumerate(state.prefixes) if p[:num_tokens] == head]
        return CtcBeamState(tuple(state.prefixes[i][num_tokens:] for i in keep), state.log_pb[keep],
                            state.log_pnb[keep],
                            tuple(tuple(f - num_frames for f in state.prefix_frames[i][num_tokens:]) for i in keep),
                            state.last_emit[keep] - num_frames, state.num_frames - num_frames)

    def _frame(self, lp: np.ndarray, s: CtcBeamState) -> CtcBeamState:
        V = lp.shape[0]
        blank = V - 1 if self.blank_id is None else self.blank_id
        t = s.num_frames
        B = len(s.prefixes)
        total = np.logaddexp(s.log_pb, s.log_pnb)
        last = np.array([p[-1] if p else -1 for p in s.prefixes])

        # Staying on a prefix: a blank, or its last token again without a blank between.
        stay_pb = total + lp[blank]
        stay_pnb = s.log_pnb + np.where(last >= 0, lp[np.maximum(last, 0)], NEG_INF)

        # Extending prefix b by token c: (B, V). Repeating the last token needs a blank in between.
        ext = total[:, None] + lp[None, :]
        rows = np.flatnonzero(last >= 0)
        ext[rows, last[rows]] = s.log_pb[rows] + lp[last[rows]]
        ext[:, blank] = NEG_INF
        if self.top_k is not None and self.top_k < V - 1:
            masked = lp.copy()
            masked[blank] = NEG_INF
            keep = np.argpartition(-masked, self.top_k)[: self.top_k]
            drop = np.ones(V, dtype=bool)
            drop[keep] = False
            ext[:, drop] = NEG_INF

        # An extension that equals a prefix already in the beam merges into it (at most one per prefix:
        # its parent is unique), so all remaining extensions are distinct new prefixes.
        index = {p: i for i, p in enumerate(s.prefixes)}
        for i, p in enumerate(s.prefixes):
            parent = index.get(p[:-1]) if p else None
            if parent is not None:
                stay_pnb[i] = np.logaddexp(stay_pnb[i], ext[parent, p[-1]])
                ext[parent, p[-1]] = NEG_INF

        # Keep the best `beam` of: B merged stays, then B*V extensions (stays first on ties).
        cand = np.concatenate((np.logaddexp(stay_pb, stay_pnb), ext.ravel()))
        order = np.argsort(-cand, kind="stable")
        order = order[np.isfinite(cand[order])][: self.beam]
        prefixes, pb, pnb, frames, last_emit = [], [], [], [], []
        for k in order:
            if k < B:
                prefixes.append(s.prefixes[k])
                pb.append(stay_pb[k])
                pnb.append(stay_pnb[k])
                frames.append(s.prefix_frames[k])
                last_emit.append(t if stay_pnb[k] > stay_pb[k] else s.last_emit[k])
            else:
                b, c = divmod(int(k) - B, V)
                prefixes.append(s.prefixes[b] + (c,))
                pb.append(NEG_INF)
                pnb.append(ext[b, c])
                frames.append(s.prefix_frames[b] + (t,))
                last_emit.append(t)
        return CtcBeamState(tuple(prefixes), np.array(pb), np.array(pnb), tuple(frames),
                            np.array(last_emit, dtype=np.int64), t + 1)
