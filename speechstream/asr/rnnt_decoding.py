"""Streaming RNN-T decoding in numpy: greedy and modified beam search, batched across streams.

The model parts are callables (onnxruntime sessions at run time):

- ``predictor(tokens: int64 (N, C)) -> (N, Dp) float32``: a stateless predictor over the last C tokens
  (C = context_size), the blank padding the start (icefall's stateless decoder);
- ``joiner(enc: (N, De), pred: (N, Dp)) -> (N, V)`` logits, the blank being the last id unless told.

Each step takes one chunk of encoder frames per stream, (T_i, De), chunks may differ in length, and makes
one joiner call per frame (greedy: per emitted symbol of a frame, up to max_symbols_per_frame) for all
streams and hypotheses together, and at most one predictor call after it for every new context.
Frame indices count encoder frames from the state's start; see ctc_decoding.frames_to_seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

Predictor = Callable[[np.ndarray], np.ndarray]
Joiner = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def _predict(predictor: Predictor, contexts: Sequence[tuple[int, ...]]) -> np.ndarray:
    """(N, Dp) predictor outputs for N contexts, one call."""
    return np.asarray(predictor(np.array(contexts, dtype=np.int64)))


# eq=False on states holding arrays: == compares identity instead of raising on array truth values.
@dataclass(frozen=True, eq=False)
class RnntGreedyState:
    """One stream's greedy result so far.

    context: the predictor's input, the last context_size tokens (blank-padded at the start).
    pred_out: (Dp,) predictor output for `context`, kept so the predictor runs only when a token is
        emitted (None until the first step computes it).
    num_trailing_blanks: frames since the last frame that emitted a token (the endpointer's silence).
    """

    context: tuple[int, ...]
    tokens: tuple[int, ...] = ()
    frames: tuple[int, ...] = ()
    num_frames: int = 0
    num_trailing_blanks: int = 0
    pred_out: np.ndarray | None = None


@dataclass(frozen=True)
class RnntGreedyDecoder:
    predictor: Predictor
    joiner: Joiner
    blank_id: int
    context_size: int = 2
    max_symbols_per_frame: int = 3

    def init_state(self) -> RnntGreedyState:
        return RnntGreedyState(context=(self.blank_id,) * self.context_size)

    def step(self, encoder_out: np.ndarray, state: RnntGreedyState) -> RnntGreedyState:
        """encoder_out: (T, De) of one stream."""
        return self.step_batch([encoder_out], [state])[0]

    def step_batch(self, encoder_out: Sequence[np.ndarray],
                   states: Sequence[RnntGreedyState]) -> list[RnntGreedyState]:
        """encoder_out: one (T_i, De) chunk per stream; returns the streams' new states."""
        N = len(states)
        if N != len(encoder_out):
            raise ValueError(f"{len(encoder_out)} encoder chunks for {N} states")
        if N == 0:
            return []
        lengths = np.array([len(e) for e in encoder_out])
        contexts = [list(s.context) for s in states]
        tokens = [list(s.tokens) for s in states]
        frames = [list(s.frames) for s in states]
        trailing = [s.num_trailing_blanks for s in states]
        pred_rows = [s.pred_out for s in states]
        missing = [i for i, s in enumerate(states) if s.pred_out is None]
        if missing:
            for i, row in zip(missing, _predict(self.predictor, [states[i].context for i in missing])):
                pred_rows[i] = row
        pred = np.stack(pred_rows)  # (N, Dp)
        for t in range(int(lengths.max(initial=0))):
            active = np.flatnonzero(lengths > t)
            enc_t = np.stack([encoder_out[i][t] for i in active])
            emitted = np.zeros(N, dtype=bool)
            live = np.arange(len(active))  # rows of enc_t still allowed to emit on this frame
            for _ in range(self.max_symbols_per_frame):
                streams = active[live]
                y = np.argmax(self.joiner(enc_t[live], pred[streams]), axis=-1)
                hit = y != self.blank_id
                if not hit.any():
                    break
                live, streams, y = live[hit], streams[hit], y[hit]
                for i, tok in zip(streams, y):
                    tokens[i].append(int(tok))
                    frames[i].append(states[i].num_frames + t)
                    contexts[i] = contexts[i][1:] + [int(tok)] if self.context_size else []
                    emitted[i] = True
                pred[streams] = _predict(self.predictor, [tuple(contexts[i]) for i in streams])
            for i in active:
                trailing[i] = 0 if emitted[i] else trailing[i] + 1
        return [RnntGreedyState(context=tuple(contexts[i]), tokens=tuple(tokens[i]), frames=tuple(frames[i]),
                                num_frames=s.num_frames + int(lengths[i]), num_trailing_blanks=trailing[i],
                                pred_out=pred[i].copy())
                for i, s in enumerate(states)]

    def drop_prefix(self, state: RnntGreedyState, num_tokens: int, num_frames: int) -> RnntGreedyState:
        """The state seen from frame `num_frames` on, without its first `num_tokens` tokens (a segment cut
        there); the predictor's context keeps the real last tokens."""
        return replace(state, tokens=state.tokens[num_tokens:],
                       frames=tuple(f - num_frames for f in state.frames[num_tokens:]),
                       num_frames=state.num_frames - num_frames)


@dataclass(frozen=True, eq=False)
class Hypothesis:
    """A token sequence with its log-probability summed over the alignments merged into it.

    frames: frame of each token (of the best-scoring alignment when the hypothesis was formed).
    pred_out: (Dp,) predictor output for the hypothesis's context, or None until computed.
    history: the last tokens of the segment before (drop_prefix), which the predictor's context still sees.
    """

    tokens: tuple[int, ...]
    log_prob: float
    frames: tuple[int, ...] = ()
    num_trailing_blanks: int = 0
    pred_out: np.ndarray | None = None
    history: tuple[int, ...] = ()


@dataclass(frozen=True, eq=False)
class RnntBeamState:
    """One stream's beam, best first."""

    hyps: tuple[Hypothesis, ...]
    num_frames: int = 0

    @property
    def best(self) -> Hypothesis:
        return self.hyps[0]

    @property
    def tokens(self) -> tuple[int, ...]:
        return self.hyps[0].tokens

    @property
    def frames(self) -> tuple[int, ...]:
        return self.hyps[0].frames

    @property
    def num_trailing_blanks(self) -> int:
        return self.hyps[0].num_trailing_blanks


@dataclass(frozen=True)
class RnntBeamDecoder:
    """icefall's modified beam search: at most one symbol per frame, equal token sequences merged (log-add).

    Per frame and stream the `beam` best (hypothesis, symbol) pairs of all hypotheses are kept.
    """

    predictor: Predictor
    joiner: Joiner
    blank_id: int
    context_size: int = 2
    beam: int = 4

    def init_state(self) -> RnntBeamState:
        return RnntBeamState(hyps=(Hypothesis(tokens=(), log_prob=0.0),))

    def drop_prefix(self, state: RnntBeamState, num_tokens: int, num_frames: int) -> RnntBeamState:
        """The beam seen from frame `num_frames` on, after the best hypothesis's first `num_tokens` tokens were
        finalised: only the hypotheses that begin with them go on, without them."""
        head = state.tokens[:num_tokens]
        history = (state.hyps[0].history + head)[-self.context_size:] if self.context_size else ()
        return RnntBeamState(hyps=tuple(
            replace(h, tokens=h.tokens[num_tokens:], frames=tuple(f - num_frames for f in h.frames[num_tokens:]),
                    history=history)
            for h in state.hyps if h.tokens[:num_tokens] == head), num_frames=state.num_frames - num_frames)

    def context(self, tokens: tuple[int, ...], history: tuple[int, ...] = ()) -> tuple[int, ...]:
        if self.context_size == 0:
            return ()
        return ((self.blank_id,) * self.context_size + history + tokens)[-self.context_size:]

    def step(self, encoder_out: np.ndarray, state: RnntBeamState) -> RnntBeamState:
        """encoder_out: (T, De) of one stream."""
        return self.step_batch([encoder_out], [state])[0]

    def step_batch(self, encoder_out: Sequence[np.ndarray], states: Sequence[RnntBeamState]) -> list[RnntBeamState]:
        """encoder_out: one (T_i, De) chunk per stream; returns the streams' new states."""
        if len(states) != len(encoder_out):
            raise ValueError(f"{len(encoder_out)} encoder chunks for {len(states)} states")
        beams = [list(s.hyps) for s in states]
        cache: dict[tuple[int, ...], np.ndarray] = {}  # predictor outputs by context, for this call
        beams = self._fill_pred(beams, cache)
        lengths = [len(e) for e in encoder_out]
        for t in range(max(lengths, default=0)):
            active = [i for i, n in enumerate(lengths) if n > t]
            # All hypotheses of all active streams in one joiner call: rows (H, ·).
            rows = [(i, h) for i in active for h in beams[i]]
            enc = np.stack([encoder_out[i][t] for i, _ in rows])
            pred = np.stack([h.pred_out for _, h in rows])  # type: ignore[misc]
            scores = _log_softmax(self.joiner(enc, pred)) + np.array([h.log_prob for _, h in rows])[:, None]
            V = scores.shape[1]
            start = 0
            for i in active:
                n = len(beams[i])
                beams[i] = self._select(beams[i], scores[start:start + n], states[i].num_frames + t, V)
                start += n
            beams = self._fill_pred(beams, cache)
        return [RnntBeamState(hyps=tuple(beams[i]), num_frames=s.num_frames + lengths[i])
                for i, s in enumerate(states)]

    def _select(self, hyps: list[Hypothesis], scores: np.ndarray, frame: int, V: int) -> list[Hypothesis]:
        """The beam after one frame: the best `beam` (hyp, symbol) pairs, merged by token sequence."""
        flat = scores.ravel()
        k = min(self.beam, flat.size)
        top = np.argpartition(-flat, k - 1)[:k] if k < flat.size else np.arange(flat.size)
        top = top[np.argsort(-flat[top], kind="stable")]
        merged: dict[tuple[int, ...], Hypothesis] = {}
        for idx in top:
            h_i, y = divmod(int(idx), V)
            h, score = hyps[h_i], float(flat[idx])
            if y == self.blank_id:
                new = Hypothesis(h.tokens, score, h.frames, h.num_trailing_blanks + 1, h.pred_out, h.history)
            else:
                new = Hypothesis(h.tokens + (y,), score, h.frames + (frame,), 0, None, h.history)
            old = merged.get(new.tokens)
            if old is None:
                merged[new.tokens] = new
            else:  # candidates come best first, so the merged one keeps the better alignment's frames
                merged[new.tokens] = replace(old, log_prob=float(np.logaddexp(old.log_prob, score)))
        return sorted(merged.values(), key=lambda h: -h.log_prob)

    def _fill_pred(self, beams: list[list[Hypothesis]],
                   cache: dict[tuple[int, ...], np.ndarray]) -> list[list[Hypothesis]]:
        """Predictor outputs for hypotheses that lack one: one call for all contexts not in `cache`.

        Hypotheses that differ only before their last context_size tokens share a context, and a context
        often comes back a few frames later in another hypothesis, so the cache saves predictor rows.
        """
        need = sorted({c for b in beams for h in b if h.pred_out is None
                       for c in [self.context(h.tokens, h.history)] if c not in cache})
        if need:
            cache.update(zip(need, _predict(self.predictor, need)))
        return [[h if h.pred_out is not None else
                 replace(h, pred_out=cache[self.context(h.tokens, h.history)])
                 for h in b] for b in beams]
