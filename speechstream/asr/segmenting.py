"""Where a segment that reached its maximum length is cut: at the longest pause before a word, never inside one.

The endpointer's length rule (rule3, 20 s by default) fires whatever the audio is doing; cutting the whole
hypothesis there splits the word being spoken between two segments (and a CTC decoder that restarts emits the
token it was in again). Instead the recogniser finalises only the tokens before the best word boundary of the
segment's best path and carries the rest into the next segment, whose decoder state keeps running.

A word starts at a token whose symbol starts with the word boundary ``▁`` (sentencepiece pieces, and the
character vocabularies' lone ``▁``). A boundary's pause is the run of frames between the last token with text
before it and the first token with text from it on (a lone ``▁`` spike sits inside that pause).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from speechstream.asr.tokenizer import WORD_BOUNDARY

_SPACE = "<space>"


@dataclass(frozen=True)
class TokenKinds:
    """Per token id: whether it starts a word, and whether it carries text (not a bare boundary, not special)."""

    starts_word: tuple[bool, ...]
    has_text: tuple[bool, ...]

    @classmethod
    def from_symbols(cls, symbols: Sequence[str]) -> TokenKinds:
        starts = tuple(s.startswith(WORD_BOUNDARY) or s == _SPACE for s in symbols)
        text = tuple(bool(s.replace(WORD_BOUNDARY, "")) and s != _SPACE
                     and not (s.startswith("<") and s.endswith(">")) for s in symbols)
        return cls(starts, text)


@dataclass(frozen=True)
class Split:
    """Finalise tokens[:num_tokens]; the segment ends at encoder frame `frame` (relative to its start),
    where the next one begins."""

    num_tokens: int
    frame: int


def best_split(tokens: Sequence[int], frames: Sequence[int], kinds: TokenKinds, num_frames: int) -> Split | None:
    """The cut of a segment of `num_frames` encoder frames at its longest pause before a word, or None when no
    token after the first word starts another one (then nothing can be cut without splitting a word).

    Boundaries in the segment's second half are preferred, so a cut never leaves a stub of a segment behind
    it only to reach the maximum again soon after; the latest wins among equal pauses.
    """
    n = len(tokens)
    # The frame of the last token with text before k, and of the first one from k on (None: there is none).
    last_text: list[int | None] = [None] * (n + 1)
    for k in range(n):
        last_text[k + 1] = frames[k] if kinds.has_text[tokens[k]] else last_text[k]
    first_text: list[int | None] = [None] * (n + 1)
    for k in range(n - 1, -1, -1):
        first_text[k] = frames[k] if kinds.has_text[tokens[k]] else first_text[k + 1]
    candidates = []  # (pause frames, k, frame of the last text before, frame of the first text after)
    for k in range(1, n):
        # frames[k - 1] == frames[k] (RNN-T emits several symbols on one frame): no frame lies between them.
        if not kinds.starts_word[tokens[k]] or frames[k - 1] >= frames[k]:
            continue
        a, b = last_text[k], first_text[k]
        if a is None or b is None:  # no word on one side: a cut there would not separate two words
            continue
        candidates.append((b - a, k, a, b))
    if not candidates:
        return None
    late = [c for c in candidates if c[3] >= num_frames // 2]
    pause, k, a, b = max(late or candidates, key=lambda c: (c[0], c[1]))
    cut = a + 1 + max(pause - 1, 0) // 2  # the middle of the pause
    # Every finalised token lies before the cut, every carried one at or after it (a lone boundary token
    # in the pause stays with the word it starts).
    return Split(num_tokens=k, frame=min(max(cut, frames[k - 1] + 1), frames[k]))
