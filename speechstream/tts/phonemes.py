"""Words -> phonemes -> token ids: hibari's G2P (misaki-style phonemes, US or UK readings) and Kokoro's
114-symbol vocabulary, which hibari ships as ``assets/vocab.json``.

hibari needs numpy and onnxruntime only (no torch, spaCy or espeak-ng), so this is runtime code. Its G2P
is loaded lazily, once per accent. Symbols outside the vocabulary are dropped (rare; the teacher does the
same). Id 0 is not a symbol: it pads (the model's "no phoneme").
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from speechstream.errors import ModelError

G2P_PACKAGE = "hibari-tts"
PAD_ID = 0
SPACE = " "


def load_vocab() -> dict[str, int]:
    """hibari's vocab.json: phoneme symbol -> Kokoro token id (1 .. 177, 114 symbols)."""
    import hibari

    with (resources.files(hibari) / "assets" / "vocab.json").open(encoding="utf-8") as f:
        raw = json.load(f)
    return dict(raw.get("vocab", raw))


class Phonemizer:
    """Text (already normalised) -> phoneme string -> ids. ``british`` picks the UK lexicon (b* voices)."""

    def __init__(self, british: bool = False) -> None:
        try:
            from hibari.g2p import G2P
        except ImportError:
            raise ModelError(f"text to phonemes needs {G2P_PACKAGE}: pip install {G2P_PACKAGE}") from None
        self.british = british
        self._g2p: Any = G2P(british=british)
        self.vocab = load_vocab()

    def phonemes(self, text: str) -> str:
        out = self._g2p(text) if text.strip() else ""
        return out[0] if isinstance(out, (tuple, list)) else out

    def ids(self, phonemes: str) -> list[int]:
        return [self.vocab[c] for c in phonemes if c in self.vocab]

    def __call__(self, text: str) -> list[int]:
        return self.ids(self.phonemes(text))
