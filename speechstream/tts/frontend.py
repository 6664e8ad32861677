"""The text front end: text -> segments (segment.py) -> normalised words (normalize.py) -> phonemes and
token ids (phonemes.py), whole or incrementally.

Each segment is normalised and phonemised on its own and the segments' ids are joined by the space
symbol, so ``TextStream`` - fed the text in any pieces - releases exactly ``TextFrontend.ids(text)``, each
segment as soon as its end is certain (tests/test_tts_frontend.py checks every split).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .normalize import normalize_text
from .phonemes import SPACE, Phonemizer
from .segment import Segmenter


@dataclass(frozen=True)
class Segment:
    text: str  # as written
    words: str  # normalised
    phonemes: str
    ids: tuple[int, ...]


class TextFrontend:
    def __init__(self, british: bool = False, segmenter: Segmenter = Segmenter()) -> None:
        self.phonemizer = Phonemizer(british)
        self.segmenter = segmenter
        self.space_id = self.phonemizer.vocab[SPACE]

    def segment(self, text: str) -> Segment:
        words = normalize_text(text)
        phonemes = self.phonemizer.phonemes(words)
        return Segment(text, words, phonemes, tuple(self.phonemizer.ids(phonemes)))

    def segments(self, text: str) -> list[Segment]:
        return [s for s in map(self.segment, self.segmenter.split(text)[0]) if s.ids]

    def join(self, segments: list[Segment], first: bool = True) -> list[int]:
        """The ids of consecutive segments, a space between them (and before the first unless `first`)."""
        out: list[int] = []
        for s in segments:
            if out or not first:
                out.append(self.space_id)
            out.extend(s.ids)
        return out

    def ids(self, text: str) -> list[int]:
        """Token ids of the whole text (1 .. 177; never 0)."""
        return self.join(self.segments(text))

    def stream(self) -> TextStream:
        return TextStream(self)


@dataclass
class TextStream:
    """Text in pieces -> token ids as soon as they are final. Not thread-safe; one per utterance."""

    frontend: TextFrontend
    buffer: str = ""
    finished: bool = False
    released: list[Segment] = field(default_factory=list)

    def accept_text(self, piece: str) -> list[int]:
        """Adds text; returns the ids that became final (maybe none)."""
        if self.finished:
            raise RuntimeError("input_finished() was called: start a new stream")
        self.buffer += piece
        return self._release(final=False)

    def input_finished(self) -> list[int]:
        """No more text: returns the ids of the rest."""
        if self.finished:
            return []
        self.finished = True
        return self._release(final=True)

    def _release(self, final: bool) -> list[int]:
        texts, self.buffer = self.frontend.segmenter.split(self.buffer, final)
        new = [s for s in map(self.frontend.segment, texts) if s.ids]
        ids = self.frontend.join(new, first=not self.released)
        self.released.extend(new)
        return ids
