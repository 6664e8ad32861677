"""Splitting text into the pieces the G2P reads one at a time: sentences, long clauses, word-capped runs.

Every boundary is decided by the text before it plus, at most, the next word's first character, so text
that arrives in pieces splits exactly as the whole text does: ``split(buffer, final=False)`` returns the
segments that are already certain and the undecided rest, which the caller keeps and extends.

A boundary follows a word (a run of non-space characters with whitespace after it) that
  - ends a line (text read line by line: a line is said when it ends, punctuated or not);
  - ends a sentence: its last character before closing quotes or brackets is . ! or ? - except after a
    title or a Latin abbreviation ("Dr.", "e.g.") or an initial ("J."); "etc." and the like end one only
    when the next word starts with a capital;
  - ends a clause (, ; :) when the segment has at least ``clause_words`` words (None: never) and the next
    word does not start with a digit ("January 5, 2024");
  - is the segment's ``max_words``-th word (None: no cap).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NEVER_FINAL = frozenset("mr mrs ms dr prof st mt jr sr vs e.g i.e no capt gen sgt lt rev gov sen rep ave "
                        "rd blvd dept approx jan feb mar apr jun jul aug sep sept oct nov dec".split())
MAYBE_FINAL = frozenset("etc inc ltd corp a.m p.m".split())
_CLOSERS = "\"')]}"
_TOKEN = re.compile(r"\S+")


@dataclass(frozen=True)
class Segmenter:
    clause_words: int | None = 4
    max_words: int | None = 24

    def split(self, text: str, final: bool = True) -> tuple[list[str], str]:
        """text -> (complete segments, rest). With final=True the rest is empty and its text is the last
        segment."""
        segments: list[str] = []
        start, words = 0, 0
        tokens = list(_TOKEN.finditer(text))
        for i, m in enumerate(tokens):
            if m.end() == len(text):  # no whitespace after it yet: the word may go on
                break
            words += 1
            nxt = tokens[i + 1].group() if i + 1 < len(tokens) else None
            gap = text[m.end():tokens[i + 1].start() if nxt is not None else len(text)]
            verdict = True if "\n" in gap else self._boundary(m.group(), words, nxt)
            if verdict is None:  # needs the next word, which has not come
                if final:
                    continue
                break
            if verdict:
                segments.append(text[start:m.end()].strip())
                start = tokens[i + 1].start() if i + 1 < len(tokens) else len(text)
                words = 0
        rest = text[start:]
        if final:
            if rest.strip():
                segments.append(rest.strip())
            rest = ""
        return [s for s in segments if s], rest

    def _boundary(self, word: str, words: int, next_word: str | None) -> bool | None:
        core = word.rstrip(_CLOSERS)
        last = core[-1:] if core else ""
        if last in ("!", "?"):
            return True
        if last == ".":
            stem = core.rstrip(".").lstrip("\"'([{").lower()
            if core.endswith("..."):
                return True
            if stem in MAYBE_FINAL:
                return None if next_word is None else next_word.lstrip("\"'([{")[:1].isupper()
            if stem in NEVER_FINAL or (len(stem) == 1 and stem.isalpha()):
                return bool(self.max_words and words >= self.max_words)
            return True
        if last in (",", ";", ":") and self.clause_words is not None and words >= self.clause_words:
            if next_word is None:  # "January 5, 2024" stays whole: wait for the next word
                return None
            return not next_word[:1].isdigit() or bool(self.max_words and words >= self.max_words)
        return bool(self.max_words and words >= self.max_words)


SENTENCES = Segmenter(clause_words=None, max_words=None)


def split_sentences(text: str) -> list[str]:
    """Long text -> its sentences (no clause or word-count cuts)."""
    return SENTENCES.split(" ".join(text.split()))[0]  # line ends inside a sentence do not split it here
