"""Sentences with numbers written out as words (prices, times, years, counts, scores), so a recogniser hears
numbers although the text sources' filter drops every sentence with digits. Written as words, the engine
reads exactly what the reference says. A fixed seeded draw: the same list every time.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
         "sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_words(n: int) -> str:
    """0 <= n < 10**9 in words, US style without "and": 342 -> "three hundred forty two"."""
    if not 0 <= n < 10**9:
        raise ValueError(f"{n} out of range")
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        return _ONES[n // 100] + " hundred" + ("" if n % 100 == 0 else " " + number_words(n % 100))
    for size, name in ((10**6, "million"), (1000, "thousand")):
        if n >= size:
            rest = n % size
            return number_words(n // size) + " " + name + ("" if rest == 0 else " " + number_words(rest))
    raise AssertionError(n)


def year_words(y: int) -> str:
    """How a year is said: 1984 -> "nineteen eighty four", 1905 -> "nineteen oh five", 2000 -> "two
    thousand", 2017 -> "twenty seventeen"."""
    if y % 1000 == 0 or 2000 <= y < 2010:
        return number_words(y)
    hi, lo = divmod(y, 100)
    if lo == 0:
        return number_words(hi) + " hundred"
    return number_words(hi) + " " + (number_words(lo) if lo >= 10 else "oh " + _ONES[lo])


_THINGS = ("tickets", "old bicycle", "new coat", "dinner", "books", "train fare", "repairs", "painting")
_PLACES = ("meeting", "concert", "wedding", "market", "station", "museum", "lake", "village")
_UNITS = ("miles", "minutes", "pages", "steps", "days", "letters", "boxes", "apples")


def _templates(rng: np.random.Generator) -> list[str]:
    def n(lo: int, hi: int) -> str:
        return number_words(int(rng.integers(lo, hi)))

    def pick(xs: tuple[str, ...]) -> str:
        return xs[int(rng.integers(len(xs)))]

    hour, minute = n(1, 13), int(rng.integers(10, 60))
    return [
        f"She paid {n(2, 1000)} dollars for the {pick(_THINGS)}",
        f"It costs {n(1, 100)} dollars and {n(1, 100)} cents",
        f"The train leaves at {hour} {number_words(minute)} tomorrow morning",
        f"We will meet at {hour} o'clock near the {pick(_PLACES)}",
        f"He was born in {year_words(int(rng.integers(1890, 2025)))} in a small town",
        f"There were {n(20, 100000)} people at the {pick(_PLACES)}",
        f"Please turn to page {n(2, 900)} of the book",
        f"The final score was {n(0, 12)} to {n(0, 12)}",
        f"They walked {n(2, 60)} {pick(_UNITS)} before it got dark",
        f"About {n(2, 100)} percent of the voters stayed at home",
        f"The temperature dropped to {n(2, 40)} degrees last night",
        f"Her room number is {n(100, 999)} on the third floor",
        f"The company sold {n(1000, 5000000)} copies that year",
        f"My number ends in {n(0, 10)} {n(0, 10)} {n(0, 10)} {n(0, 10)}",
        f"The bridge was finished in {year_words(int(rng.integers(1800, 2025)))}",
        f"I counted {n(3, 500)} {pick(_UNITS)} on the table",
    ]


def number_sentences(count: int = 3000, seed: int = 0) -> Iterator[str]:
    """``count`` sentences, drawn round the templates with fixed random numbers (duplicates possible:
    the corpus deduplicates by normalised text)."""
    rng = np.random.default_rng([seed, 314159])
    made = 0
    while made < count:
        for s in _templates(rng):
            if made == count:
                return
            yield s + "."
            made += 1
