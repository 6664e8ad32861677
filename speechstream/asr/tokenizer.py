"""Token ids <-> text for ASR models, from a sherpa-onnx style ``tokens.txt`` (``symbol id`` per line).

Contract (sherpa-onnx's NeMo one): ids are 0..V-1 without gaps or repeats and the blank ``<blk>`` is the last id.

Two vocabularies share one decoder:

- **sentencepiece BPE**: pieces where ``▁`` (U+2581) marks a word start; ``bpe.model`` sits beside
  ``tokens.txt`` and is needed only to *encode* (training); decoding reads ``tokens.txt`` alone.
- **characters**: one symbol per character and ``▁`` as the word boundary (``<space>`` is accepted in
  files we load too). Encoding maps each character directly, spaces between words become ``▁``.

Symbols written ``<...>`` (``<blk>``, ``<unk>``, ``<s>``...) are special and never appear in decoded text.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from typing import Any

from speechstream.data.text import normalize
from speechstream.errors import ModelError

BLANK = "<blk>"
UNK = "<unk>"
WORD_BOUNDARY = "\u2581"  # sentencepiece's "▁"
_SPACE_ALIASES = (WORD_BOUNDARY, "<space>")
_SPECIAL = re.compile(r"^<[^<>\s]+>$")


def normalize_text(s: str) -> str:
    """Training and scoring text: lower case, letters, apostrophes and single spaces.

    The same function as the corpus tools' scoring reference (speechstream.data.text.normalize), so
    transcripts, vocabularies and WER references never disagree.
    """
    return normalize(s)


def _is_special(sym: str) -> bool:
    return sym not in _SPACE_ALIASES and bool(_SPECIAL.match(sym))


def read_tokens(path: str) -> list[str]:
    """Symbols of a tokens.txt in id order; ModelError when the file breaks the contract."""
    if not os.path.isfile(path):
        raise ModelError(f"tokens file not found: {path}")
    by_id: dict[int, str] = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 2:
                raise ModelError(f"{path}:{n}: expected 'symbol id', got {line!r}")
            sym, idx = parts
            try:
                i = int(idx)
            except ValueError:
                raise ModelError(f"{path}:{n}: id {idx!r} is not an integer") from None
            if i in by_id:
                raise ModelError(f"{path}:{n}: id {i} appears twice")
            by_id[i] = sym
    if not by_id:
        raise ModelError(f"{path}: no tokens")
    if sorted(by_id) != list(range(len(by_id))):
        raise ModelError(f"{path}: ids must be 0..{len(by_id) - 1} without gaps")
    symbols = [by_id[i] for i in range(len(by_id))]
    if len(set(symbols)) != len(symbols):
        raise ModelError(f"{path}: a symbol appears twice")
    if symbols[-1] != BLANK:
        raise ModelError(f"{path}: the blank {BLANK} must have the last id, found {symbols[-1]!r}")
    return symbols


def write_tokens(symbols: Sequence[str], path: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for i, sym in enumerate(symbols):
            f.write(f"{sym} {i}\n")


class Tokenizer:
    """Decodes ids to text from the symbol table; encodes text (training) with bpe.model or per character."""

    def __init__(self, symbols: Sequence[str], bpe_model: str | None = None):
        self.symbols: list[str] = list(symbols)
        if not self.symbols or self.symbols[-1] != BLANK:
            raise ModelError(f"the blank {BLANK} must have the last id")
        self.bpe_model = bpe_model
        self._ids = {s: i for i, s in enumerate(self.symbols)}
        # Text pieces per id: specials vanish, word boundaries become spaces (collapsed in decode).
        self._text = ["" if _is_special(s) else s.replace(WORD_BOUNDARY, " ") for s in self.symbols]
        self._text = [" " if s in _SPACE_ALIASES else t for s, t in zip(self.symbols, self._text)]
        self._sp: Any = None

    @classmethod
    def from_file(cls, path: str, bpe_model: str | None = None) -> Tokenizer:
        return cls(read_tokens(path), bpe_model)

    @classmethod
    def from_dir(cls, model_dir: str) -> Tokenizer:
        """tokens.txt of a model directory, with its bpe.model when there is one."""
        bpe = os.path.join(model_dir, "bpe.model")
        return cls.from_file(os.path.join(model_dir, "tokens.txt"), bpe if os.path.isfile(bpe) else None)

    @property
    def vocab_size(self) -> int:
        return len(self.symbols)

    @property
    def blank_id(self) -> int:
        return len(self.symbols) - 1

    @property
    def is_char_vocab(self) -> bool:
        """Every ordinary symbol is one character (so text encodes without a sentencepiece model)."""
        return all(len(s) == 1 for s in self.symbols if not _is_special(s) and s not in _SPACE_ALIASES)

    def id_to_symbol(self, i: int) -> str:
        return self.symbols[i]

    def decode(self, ids: Iterable[int]) -> str:
        """Text of a token sequence: blanks and specials dropped, single spaces, no edge spaces."""
        return " ".join("".join(self._text[int(i)] for i in ids).split())

    def encode(self, text: str) -> list[int]:
        """Token ids of (already normalised) text, without blanks. BPE needs bpe.model."""
        if self.bpe_model is not None:
            return [int(i) for i in self._spm().encode(text)]
        if not self.is_char_vocab:
            raise ModelError("encoding text with a BPE vocabulary needs its bpe.model")
        boundary = next((s for s in _SPACE_ALIASES if s in self._ids), None)
        unk = self._ids.get(UNK)
        out: list[int] = []
        for ch in " ".join(text.split()):
            if ch == " ":
                if boundary is None:
                    raise ValueError("this vocabulary has no word boundary symbol")
                out.append(self._ids[boundary])
            elif ch in self._ids and not _is_special(ch):
                out.append(self._ids[ch])
            elif unk is not None:
                out.append(unk)
            else:
                raise ValueError(f"character {ch!r} is not in the vocabulary and there is no {UNK}")
        return out

    def _spm(self) -> Any:
        if self._sp is None:
            import sentencepiece as spm  # training-only dependency

            if not os.path.isfile(str(self.bpe_model)):
                raise ModelError(f"bpe model not found: {self.bpe_model}")
            sp = spm.SentencePieceProcessor(model_file=self.bpe_model)
            # The BPE model's ids must be ours, or encode() would return ids of other symbols.
            pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
            if pieces != self.symbols[: len(pieces)] or len(pieces) != self.vocab_size - 1:
                raise ModelError(f"{self.bpe_model} does not match tokens.txt (pieces must be ids 0..V-2)")
            self._sp = sp
        return self._sp


def train_bpe(texts: Iterable[str], vocab_size: int, out_dir: str) -> Tokenizer:
    """Trains a sentencepiece BPE model on normalised `texts`; writes bpe.model and tokens.txt.

    `vocab_size` counts the blank: the BPE model gets vocab_size - 1 pieces (``<unk>`` is id 0, no bos/eos)
    and tokens.txt appends ``<blk>`` as the last id. On a small corpus sentencepiece may stop early, so the
    returned tokenizer can have fewer ids than asked for.
    """
    import sentencepiece as spm  # training-only dependency

    os.makedirs(out_dir, exist_ok=True)
    corpus = os.path.join(out_dir, "bpe_train.txt")
    with open(corpus, "w", encoding="utf-8") as f:
        for t in texts:
            t = normalize_text(t)
            if t:
                f.write(t + "\n")
    prefix = os.path.join(out_dir, "bpe")
    try:
        spm.SentencePieceTrainer.train(
            input=corpus, model_prefix=prefix, model_type="bpe", vocab_size=vocab_size - 1,
            character_coverage=1.0, unk_id=0, bos_id=-1, eos_id=-1, pad_id=-1,
            hard_vocab_limit=False, minloglevel=2,
        )
    finally:
        os.remove(corpus)
    sp = spm.SentencePieceProcessor(model_file=prefix + ".model")
    symbols = [sp.id_to_piece(i) for i in range(sp.get_piece_size())] + [BLANK]
    write_tokens(symbols, os.path.join(out_dir, "tokens.txt"))
    return Tokenizer.from_dir(out_dir)


def build_char_vocab(texts: Iterable[str], out_dir: str) -> Tokenizer:
    """Character vocabulary of normalised `texts`: ``<unk>`` 0, ``▁`` (word boundary), the characters, ``<blk>``."""
    chars: set[str] = set()
    for t in texts:
        chars.update(normalize_text(t).replace(" ", ""))
    symbols = [UNK, WORD_BOUNDARY] + sorted(chars) + [BLANK]
    os.makedirs(out_dir, exist_ok=True)
    write_tokens(symbols, os.path.join(out_dir, "tokens.txt"))
    return Tokenizer(symbols)
