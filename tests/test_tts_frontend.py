"""The TTS text front end: normalisation cases, determinism, sentence splitting, and that text fed in any
pieces releases exactly the whole text's phoneme ids."""

from __future__ import annotations

import random

import pytest

from speechstream.tts.normalize import normalize_text, number_words, ordinal_words
from speechstream.tts.segment import Segmenter, split_sentences

CASES = {
    "It costs $5.": "It costs five dollars.",
    "It costs $1.": "It costs one dollar.",
    "Pay $3.50 now": "Pay three dollars and fifty cents now",
    "only $0.99": "only ninety nine cents",
    "£2.05 and €1": "two pounds and five pence and one euro",
    "$3.5 million": "three point five million dollars",
    "$1,234,567": "one million two hundred thirty four thousand five hundred sixty seven dollars",
    "on Jan. 5th, 2024": "on January fifth, twenty twenty four",
    "on 2024-01-05": "on January fifth, twenty twenty four",
    "on 1/5/2024": "on January fifth, twenty twenty four",
    "on 5 January 1999": "on the fifth of January nineteen ninety nine",
    "the 21st and the 12th and the 40th": "the twenty first and the twelfth and the fortieth",
    "in 1905 and 2017 and 2000": "in nineteen oh five and twenty seventeen and two thousand",
    "the 1990s": "the nineteen nineties",
    "at 3:30 pm.": "at three thirty PM.",
    "at 7:00, at 12:05": "at seven o'clock, at twelve oh five",
    "at 5 p.m. today": "at five PM today",
    "50% of 2,500 people": "fifty percent of two thousand five hundred people",
    "pi is 3.14 and -5 is less": "pi is three point one four and minus five is less",
    "No. 5 and #3": "number five and number three",
    "Dr. Smith and Mrs. Jones vs. Mr. Brown": "Doctor Smith and Missus Jones versus Mister Brown",
    "St. Paul lives on Baker St.": "Saint Paul lives on Baker Street.",
    "Baker St. is long": "Baker Street is long",
    "apples, pears, etc. Then e.g. this": "apples, pears, et cetera. Then for example this",
    "code 0042": "code zero zero four two",
    "R&D": "R and D",
    "10000000000000": "ten trillion",
    "a plain sentence, unchanged.": "a plain sentence, unchanged.",
}


@pytest.mark.parametrize("text", sorted(CASES))
def test_normaliser_cases(text: str) -> None:
    assert normalize_text(text) == CASES[text]


def test_number_words() -> None:
    assert number_words(0) == "zero"
    assert number_words(1_200_000_000) == "one billion two hundred million"
    assert number_words(-3) == "minus three"
    assert [ordinal_words(n) for n in (1, 2, 3, 5, 9, 12, 20, 101)] == [
        "first", "second", "third", "fifth", "ninth", "twelfth", "twentieth", "one hundred first"]


def test_normaliser_is_deterministic_and_leaves_no_digits() -> None:
    text = " ".join(CASES)
    once = normalize_text(text)
    assert once == normalize_text(text)
    assert not any(c.isdigit() for c in once)
    assert normalize_text(once) == once  # idempotent on its own output


def test_normaliser_never_fails_and_reads_every_digit() -> None:
    rng = random.Random(0)
    alphabet = "0123456789 .,:;$£€%-/#&+@aApPmMstndrhJan"
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 30)))
        out = normalize_text(text)
        assert not any(c.isdigit() for c in out), (text, out)


def test_sentence_splitter() -> None:
    text = ('Dr. Smith met J. Jones at 3 p.m. Then they left. Apples etc. were sold! Really? Yes... '
            '"Quoted." At 5 p.m. we ate. End')
    assert split_sentences(text) == ["Dr. Smith met J. Jones at 3 p.m.", "Then they left.",
                                     "Apples etc. were sold!", "Really?", "Yes...", '"Quoted."',
                                     "At 5 p.m. we ate.", "End"]


def test_segmenter_cuts_long_clauses_and_word_runs() -> None:
    seg = Segmenter(clause_words=4, max_words=6)
    done, rest = seg.split("One two, three four five, six seven eight nine ten eleven twelve thirteen", final=False)
    assert done == ["One two, three four five,", "six seven eight nine ten eleven"]
    assert rest == "twelve thirteen"
    assert seg.split("on January 5, 2024 we met")[0] == ["on January 5, 2024 we met"]
    assert seg.split("a first line\nand a second \n\n third", final=False) == (
        ["a first line", "and a second"], "third")
    assert seg.split("no line end yet ", final=False) == ([], "no line end yet ")


TEXT = ("Dr. Smith paid $3.50 on Jan. 5th, 2024 at 3 p.m. Then the apple, the pear and the cat went home; "
        "I read it twice!  Did you?  The 21st guest arrived at 7:45, and 50% stayed\nA new line \n  without a stop\n")


@pytest.fixture(scope="module")
def frontend():
    from speechstream.tts.frontend import TextFrontend

    return TextFrontend(british=False)


def test_phonemes_ids_and_vocab(frontend) -> None:
    vocab = frontend.phonemizer.vocab
    assert len(vocab) == 114 and 0 not in vocab.values()
    ids = frontend.ids(TEXT)
    assert ids and all(1 <= i <= 177 for i in ids)
    assert ids == frontend.ids(TEXT)  # deterministic
    segments = frontend.segments(TEXT)
    assert segments[0].words.startswith("Doctor Smith paid three dollars and fifty cents")
    assert "ði ˈæpᵊl" in "".join(s.phonemes for s in segments)  # context within a segment: "the" before a vowel


def test_incremental_equals_whole_for_any_split(frontend) -> None:
    whole = frontend.ids(TEXT)
    rng = random.Random(0)
    splits = [[1] * len(TEXT), [len(TEXT)]] + [[rng.randint(1, 12) for _ in range(len(TEXT))] for _ in range(6)]
    for sizes in splits:
        stream, out, pos, early = frontend.stream(), [], 0, 0
        for n in sizes:
            if pos >= len(TEXT):
                break
            got = stream.accept_text(TEXT[pos:pos + n])
            pos += n
            out += got
            early = early or (got and pos < len(TEXT))
        out += stream.input_finished()
        assert out == whole
        if len(sizes) > 1:
            assert early  # segments leave before the text ends


def test_stream_releases_a_sentence_once_it_is_final(frontend) -> None:
    stream = frontend.stream()
    assert stream.accept_text("Hello there.") == []  # "there." may still go on ("there.com")
    first = stream.accept_text(" How")
    assert first == frontend.ids("Hello there.")
    rest = stream.accept_text(" are you?") + stream.input_finished()
    assert first + rest == frontend.ids("Hello there. How are you?")
    with pytest.raises(RuntimeError):
        stream.accept_text("more")


def test_british_readings_differ() -> None:
    from speechstream.tts.frontend import TextFrontend

    assert TextFrontend(british=True).ids("Hello there.") != TextFrontend(british=False).ids("Hello there.")
