"""Subtitle cues from final results: timed words, cut at pauses into cues of at most two short lines.

A segment can last up to the endpointer's length limit (20 s) and hold hundreds of characters, and its
start / end include the silence around the speech. A cue shows one screenful: at most `max_lines` lines of
`max_line_chars` characters (the usual 42), at most `max_duration_s` long, never across a pause of
`split_pause_s`; a segment that does not fit is cut at its longest pause between words, again and again.
A cue lasts from its first token to its last: a token's timestamp is where the model emitted it, and its
sound is taken to go on for `token_tail_s` after that (clipped to the next word and the segment's end).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from speechstream.asr.tokenizer import WORD_BOUNDARY

_SPACE = "<space>"


@dataclass(frozen=True)
class CueConfig:
    max_line_chars: int = 42
    max_lines: int = 2  # 1 or 2
    max_duration_s: float = 7.0
    split_pause_s: float = 1.0
    token_tail_s: float = 0.2

    def __post_init__(self) -> None:
        if self.max_lines not in (1, 2):
            raise ValueError(f"max_lines must be 1 or 2, got {self.max_lines}")
        if self.max_line_chars < 1 or self.max_duration_s <= 0:
            raise ValueError("max_line_chars and max_duration_s must be positive")


@dataclass(frozen=True)
class Word:
    text: str
    start: float  # the first token's time
    last: float  # the last token's time
    end: float  # where its sound is taken to end


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def words_of(result: Any, token_tail_s: float = 0.2) -> list[Word]:
    """The words of a Result (tokens, timestamps, end), from its word-boundary marks."""
    pieces: list[list[Any]] = []  # [text, start, last] per word
    for sym, t in zip(result.tokens, result.timestamps):
        if sym != _SPACE and sym.startswith("<") and sym.endswith(">"):
            continue  # <unk> and the like never reach the text
        if sym.startswith(WORD_BOUNDARY) or sym == _SPACE or not pieces:
            pieces.append(["", None, None])
        piece = "" if sym == _SPACE else sym.replace(WORD_BOUNDARY, "")
        if piece:  # a bare boundary's time is the pause's, not the word's
            word = pieces[-1]
            word[0] += piece
            word[1] = t if word[1] is None else word[1]
            word[2] = t
    pieces = [p for p in pieces if p[0]]
    words = []
    for i, (text, start, last) in enumerate(pieces):
        limit = pieces[i + 1][1] if i + 1 < len(pieces) else float(result.end)
        words.append(Word(text, start, last, max(min(last + token_tail_s, limit), last)))
    return words


def wrap(text: str, config: CueConfig) -> tuple[str, ...] | None:
    """The text in at most max_lines lines of max_line_chars (two balanced lines), or None if it does not fit."""
    if len(text) <= config.max_line_chars:
        return (text,)
    if config.max_lines < 2:
        return None
    spaces = [i for i, c in enumerate(text) if c == " "]
    best = min(spaces, key=lambda i: max(i, len(text) - i - 1), default=None)
    if best is None or max(best, len(text) - best - 1) > config.max_line_chars:
        return None
    return text[:best], text[best + 1:]


def _pause(words: Sequence[Word], i: int) -> float:
    """The pause before words[i]: from the previous word's last token to this word's first."""
    return words[i].start - words[i - 1].last


def _fits(words: Sequence[Word], config: CueConfig) -> bool:
    return (words[-1].end - words[0].start <= config.max_duration_s
            and all(_pause(words, i) < config.split_pause_s for i in range(1, len(words)))
            and wrap(" ".join(w.text for w in words), config) is not None)


def _split(words: Sequence[Word], config: CueConfig) -> list[Sequence[Word]]:
    if len(words) == 1 or _fits(words, config):
        return [words]
    total = sum(len(w.text) + 1 for w in words)

    def score(i: int) -> tuple[float, float]:  # the longest pause; among equal ones the most even halves
        left = sum(len(w.text) + 1 for w in words[:i])
        return round(_pause(words, i), 3), -abs(2 * left - total)

    i = max(range(1, len(words)), key=score)
    return _split(words[:i], config) + _split(words[i:], config)


def cues(results: Iterable[Any], config: CueConfig | None = None) -> list[Cue]:
    """Cues of the final, non-empty results (in order), each within the limits of `config`."""
    config = config or CueConfig()
    out = []
    for r in results:
        if not (r.is_final and r.text):
            continue
        for group in _split(words_of(r, config.token_tail_s), config):
            if not group:
                continue
            text = " ".join(w.text for w in group)
            lines = wrap(text, config) or (text,)  # one word longer than a line stays whole
            out.append(Cue(group[0].start, group[-1].end, lines))
    return out
