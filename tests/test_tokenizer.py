"""Tokenizer: tokens.txt contract, char and BPE round trips, decoding without sentencepiece."""

from __future__ import annotations

import os

import pytest

from speechstream.asr.tokenizer import Tokenizer, build_char_vocab, normalize_text, read_tokens, train_bpe
from speechstream.errors import ModelError

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "She sells sea shells by the sea shore!",
    "Don't count your chickens before they hatch.",
    "A stitch in time saves nine; a penny saved is a penny earned.",
    "Streaming speech recognition decodes while you talk.",
    "Peter Piper picked a peck of pickled peppers.",
    "How much wood would a woodchuck chuck if a woodchuck could chuck wood?",
    "It's   the  END of the world as we know it.",
]


def test_normalize_text():
    assert normalize_text("  Hello,   WORLD!  It's  me-too. ") == "hello world it's me too"
    assert normalize_text("'quoted' words") == "quoted words"
    assert normalize_text("123 !!") == ""


def test_char_vocab_round_trip(tmp_path):
    tok = build_char_vocab(SENTENCES, str(tmp_path))
    loaded = Tokenizer.from_dir(str(tmp_path))
    assert loaded.symbols == tok.symbols and loaded.bpe_model is None
    assert loaded.symbols[-1] == "<blk>" and loaded.blank_id == loaded.vocab_size - 1
    assert loaded.is_char_vocab
    for s in SENTENCES:
        text = normalize_text(s)
        ids = loaded.encode(text)
        assert loaded.blank_id not in ids and len(ids) == len(text)
        assert loaded.decode(ids) == text
        # Blanks anywhere (as a CTC alignment would hold them) change nothing.
        assert loaded.decode([loaded.blank_id] + [i for y in ids for i in (y, loaded.blank_id)]) == text


def test_char_vocab_unknown_characters(tmp_path):
    tok = build_char_vocab(["abc"], str(tmp_path))
    unk = tok.symbols.index("<unk>")
    assert tok.encode("abz") == [tok.symbols.index("a"), tok.symbols.index("b"), unk]
    assert tok.decode(tok.encode("abz")) == "ab"
    no_unk = Tokenizer(["\u2581", "a", "<blk>"])
    with pytest.raises(ValueError):
        no_unk.encode("ab")


def test_space_alias_tokens_file(tmp_path):
    path = tmp_path / "tokens.txt"
    path.write_text("<space> 0\nh 1\ni 2\n<unk> 3\n<blk> 4\n")
    tok = Tokenizer.from_file(str(path))
    assert tok.decode([1, 2, 0, 4, 2, 3]) == "hi i"
    assert tok.encode("hi i") == [1, 2, 0, 2]


def test_bpe_round_trip_and_decoding_without_sentencepiece(tmp_path):
    tok = train_bpe(SENTENCES * 3, vocab_size=60, out_dir=str(tmp_path))
    assert os.path.isfile(tmp_path / "bpe.model")
    symbols = read_tokens(str(tmp_path / "tokens.txt"))
    assert symbols == tok.symbols and symbols[-1] == "<blk>" and symbols.count("<blk>") == 1
    assert 10 < tok.vocab_size <= 60 and not tok.is_char_vocab
    decode_only = Tokenizer.from_file(str(tmp_path / "tokens.txt"))  # no bpe.model: decoding still works
    multi_char = 0
    for s in SENTENCES:
        text = normalize_text(s)
        ids = tok.encode(text)
        assert all(0 <= i < tok.blank_id for i in ids)
        multi_char += sum(len(tok.symbols[i].lstrip("\u2581")) > 1 for i in ids)
        assert tok.decode(ids) == text
        assert decode_only.decode(ids) == text
        assert decode_only.decode([tok.blank_id, *ids, tok.blank_id]) == text
    assert multi_char > 0  # real merges, not a character model in disguise
    with pytest.raises(ModelError, match="bpe.model"):
        decode_only.encode("the fox")


def test_bpe_model_must_match_tokens(tmp_path):
    train_bpe(SENTENCES, vocab_size=40, out_dir=str(tmp_path))
    symbols = read_tokens(str(tmp_path / "tokens.txt"))
    swapped = [symbols[1], symbols[0]] + symbols[2:]
    (tmp_path / "tokens.txt").write_text("".join(f"{s} {i}\n" for i, s in enumerate(swapped)))
    with pytest.raises(ModelError, match="does not match"):
        Tokenizer.from_dir(str(tmp_path)).encode("the dog")


@pytest.mark.parametrize("content,match", [
    ("a 0\nb\n<blk> 2\n", "symbol id"),
    ("a 0\nb x\n<blk> 2\n", "not an integer"),
    ("a 0\nb 2\n<blk> 3\n", "without gaps"),
    ("a 1\nb 2\n<blk> 3\n", "without gaps"),
    ("a 0\nb 0\n<blk> 1\n", "twice"),
    ("a 0\na 1\n<blk> 2\n", "twice"),
    ("<blk> 0\na 1\nb 2\n", "last"),
    ("a 0\nb 1\n", "last"),
    ("\n\n", "no tokens"),
    ("a b 0\n<blk> 1\n", "symbol id"),
])
def test_malformed_tokens_file(tmp_path, content, match):
    path = tmp_path / "tokens.txt"
    path.write_text(content)
    with pytest.raises(ModelError, match=match):
        Tokenizer.from_file(str(path))


def test_missing_tokens_file(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        Tokenizer.from_dir(str(tmp_path))


def test_ids_in_file_order_may_be_listed_unsorted(tmp_path):
    path = tmp_path / "tokens.txt"
    path.write_text("b 1\n<blk> 2\na 0\n")
    tok = Tokenizer.from_file(str(path))
    assert tok.symbols == ["a", "b", "<blk>"] and tok.blank_id == 2
