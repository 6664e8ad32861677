"""Sentences with numbers written as words: the spelling, the fixed draw, and that the text filter keeps them."""

from __future__ import annotations

from speechstream.data import numbers, text as textmod


def test_number_words():
    cases = {0: "zero", 13: "thirteen", 40: "forty", 42: "forty two", 100: "one hundred",
             342: "three hundred forty two", 1000: "one thousand", 20019: "twenty thousand nineteen",
             1000001: "one million one"}
    for n, words in cases.items():
        assert numbers.number_words(n) == words
    years = {1984: "nineteen eighty four", 1905: "nineteen oh five", 1800: "eighteen hundred",
             2000: "two thousand", 2003: "two thousand three", 2017: "twenty seventeen"}
    for y, words in years.items():
        assert numbers.year_words(y) == words


def test_number_sentences_are_fixed_and_clean():
    a = list(numbers.number_sentences(200))
    assert a == list(numbers.number_sentences(200)) and len(a) == 200
    for s in a:
        kept = textmod.clean_sentence(s)
        assert kept == s and not any(c.isdigit() for c in s)
    assert "numbers" not in textmod.available_sources()  # explicit only: old sentence caches stay valid
    rows = textmod.collect_sentences(["numbers"])
    assert len(rows) > 1000 and all(r["source"] == "numbers" for r in rows)
