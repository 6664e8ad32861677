"""Text normalisation for synthesis: numbers, dates, times, money, ordinals and common abbreviations become
words, deterministically (pure Python, no locale, no randomness).

    normalize_text("Dr. Smith paid $3.50 on Jan. 5th, 2024 at 3:30 pm.")
    -> "Doctor Smith paid three dollars and fifty cents on January fifth, twenty twenty four at three thirty
       PM."

Cardinals and years are read by ``speechstream.data.numbers`` (the corpus engine's spelling, so the voices
the model learns from and the text it is given agree), US style without "and". The rules run in a fixed
order, most specific first (dates before times before money before plain numbers); what no rule reads is
left as it is, for the G2P.
"""

from __future__ import annotations

import re

from speechstream.data.numbers import number_words as _below_billion
from speechstream.data.numbers import year_words

ASCII_MAP = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2014": " - ",
                           "\u2013": " - ", "\u2026": "...", "\u00a0": " "})
MONTHS = ("January February March April May June July August September October November December").split()
_MONTH_ABBREV = {m[:3].lower(): m for m in MONTHS} | {"sept": "September"}
# Expanded wherever they stand (with their dot); titles only before a capitalised word.
ABBREVIATIONS = {
    "e.g.": "for example", "i.e.": "that is", "etc.": "et cetera", "vs.": "versus", "approx.": "approximately",
    "Jr.": "Junior", "Sr.": "Senior", "Inc.": "Incorporated", "Ltd.": "Limited", "Corp.": "Corporation",
    "Dept.": "Department", "Ave.": "Avenue", "Rd.": "Road", "Blvd.": "Boulevard", "Mon.": "Monday",
    "Tue.": "Tuesday", "Wed.": "Wednesday", "Thu.": "Thursday", "Fri.": "Friday", "Sat.": "Saturday",
    "Sun.": "Sunday",
}
SENTENCE_FINAL = {"et cetera", "Incorporated", "Limited", "Corporation"}  # may end a sentence, keep its "."
TITLES = {"Mr": "Mister", "Mrs": "Missus", "Ms": "Miz", "Dr": "Doctor", "Prof": "Professor", "St": "Saint",
          "Mt": "Mount", "Capt": "Captain", "Gen": "General", "Sgt": "Sergeant", "Lt": "Lieutenant",
          "Rev": "Reverend", "Gov": "Governor", "Sen": "Senator", "Rep": "Representative"}
STREET_AFTER = {"St": "Street", "Dr": "Drive"}  # "Baker St." at the end of a name
CURRENCIES = {"$": ("dollar", "dollars", "cent", "cents"), "£": ("pound", "pounds", "penny", "pence"),
              "€": ("euro", "euros", "cent", "cents")}
SCALES = {"k": "thousand", "K": "thousand", "m": "million", "M": "million", "b": "billion", "B": "billion",
          "bn": "billion", "thousand": "thousand", "million": "million", "billion": "billion",
          "trillion": "trillion"}
SYMBOLS = {"&": " and ", "+": " plus ", "@": " at ", "=": " equals ", "%": " percent "}
_ORDINAL_LAST = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
                 "nine": "ninth", "twelve": "twelfth"}

NUM = r"\d{1,3}(?:,\d{3})+|\d+"  # a cardinal, with or without thousands commas


def number_words(n: int) -> str:
    """Any integer in words: 1200000000 -> "one billion two hundred million", -3 -> "minus three"."""
    if n < 0:
        return "minus " + number_words(-n)
    for size, name in ((10**12, "trillion"), (10**9, "billion")):
        if n >= size:
            head, rest = divmod(n, size)
            if head >= 1000:  # beyond the named scales: digit by digit
                return digits_words(str(n))
            return number_words(head) + " " + name + ("" if rest == 0 else " " + number_words(rest))
    return _below_billion(n)


def digits_words(digits: str) -> str:
    """"0042" -> "zero zero four two" (codes, long digit strings)."""
    return " ".join(_below_billion(int(d)) for d in digits)


def ordinal_words(n: int) -> str:
    """21 -> "twenty first", 12 -> "twelfth", 40 -> "fortieth"."""
    words = number_words(n).split()
    last = words[-1]
    if last in _ORDINAL_LAST:
        last = _ORDINAL_LAST[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return " ".join(words[:-1] + [last])


def decimal_words(whole: str, frac: str) -> str:
    """("3", "14") -> "three point one four"."""
    return number_words(int(whole.replace(",", ""))) + " point " + digits_words(frac)


def _int(s: str) -> int:
    return int(s.replace(",", ""))


# ---- rules: (pattern, replacement) in order ----
def _date(month: str, day: str, year: str | None) -> str:
    out = f"{month} {ordinal_words(int(day))}"
    return out + (f", {year_words(int(year))}" if year else "")


def _iso_date(m: re.Match) -> str:
    y, mo, d = int(m[1]), int(m[2]), int(m[3])
    if not (1 <= mo <= 12 and 1 <= d <= 31):
        return m[0]
    return _date(MONTHS[mo - 1], str(d), str(y))


def _us_date(m: re.Match) -> str:
    mo, d, y = int(m[1]), int(m[2]), m[3]
    if not (1 <= mo <= 12 and 1 <= d <= 31):
        return m[0]
    year = int(y) + (2000 if len(y) == 2 else 0)
    return _date(MONTHS[mo - 1], str(d), str(year))


def _month_name(token: str) -> str:
    t = token.rstrip(".")
    return t.capitalize() if t.capitalize() in MONTHS else _MONTH_ABBREV[t.lower()]


_MONTH_RE = "|".join(MONTHS + [a.capitalize() for a in _MONTH_ABBREV])


def _month_day(m: re.Match) -> str:
    return _date(_month_name(m[1]), m[2], m[3])


def _day_month(m: re.Match) -> str:
    out = f"the {ordinal_words(int(m[1]))} of {_month_name(m[2])}"
    return out + (f" {year_words(int(m[3]))}" if m[3] else "")


def _ends_sentence(m: re.Match) -> str:
    """"." when the match swallowed a sentence's full stop ("... at 5 p.m." / "etc. The")."""
    return "." if m[0].endswith(".") and re.match(r"\s*$|\s+[A-Z\"']", m.string[m.end():]) else ""


def _time(m: re.Match) -> str:
    h, mi = int(m[1]), int(m[2] or 0)
    if h > 24 or mi > 59:
        return m[0]
    minutes = "o'clock" if mi == 0 and not m[3] else "" if mi == 0 else (
        "oh " + number_words(mi) if mi < 10 else number_words(mi))
    out = " ".join(w for w in (number_words(h), minutes) if w)
    if m[3]:
        out += " " + m[3].replace(".", "").upper() + _ends_sentence(m)  # "PM": the G2P reads "P M." badly
    return out


def _money(m: re.Match) -> str:
    one, many, sub_one, sub_many = CURRENCIES[m[1]]
    whole, frac, scale = m[2], m[3], m[4]
    if scale:  # "$3.5 million" -> "three point five million dollars"
        amount = decimal_words(whole, frac) if frac else number_words(_int(whole))
        return f"{amount} {SCALES[scale]} {many}"
    n = _int(whole)
    out = f"{number_words(n)} {one if n == 1 else many}"
    if frac:
        cents = int((frac + "0")[:2]) if len(frac) <= 2 else None
        if cents is None:
            return f"{decimal_words(whole, frac)} {many}"
        if cents:
            out = (out + " and " if n else "") + f"{number_words(cents)} {sub_one if cents == 1 else sub_many}"
    return out


def _decade(m: re.Match) -> str:
    y = year_words(int(m[1]))
    return (y[:-1] + "ies" if y.endswith("y") else y + "s") if not y.endswith("hundred") else y + "s"


def _ordinal(m: re.Match) -> str:
    return ordinal_words(_int(m[1]))


def _year(m: re.Match) -> str:
    return year_words(int(m[1]))


def _decimal(m: re.Match) -> str:
    sign = "minus " if m[1] else ""
    return sign + decimal_words(m[2], m[3])


def _cardinal(m: re.Match) -> str:
    sign = "minus " if m[1] else ""
    digits = m[2].replace(",", "")
    if len(digits) > 1 and digits[0] == "0" or len(digits) > 15:
        return sign + digits_words(digits)
    return sign + number_words(int(digits))


def _title(m: re.Match) -> str:
    return TITLES[m[1]] + " "


RULES: tuple[tuple[re.Pattern[str], object], ...] = (
    (re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b"), _iso_date),
    (re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})\b"), _us_date),
    (re.compile(rf"\b({_MONTH_RE})\.? (\d{{1,2}})(?:st|nd|rd|th)?\b(?!:)(?:,? (\d{{4}})\b)?"), _month_day),
    (re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)? (?:of )?({_MONTH_RE})\b\.?(?: (\d{{4}})\b)?"), _day_month),
    (re.compile(r"\b(\d{1,2}):(\d{2})(?:\s?([AaPp]\.?[Mm]\.?)(?![A-Za-z]))?(?![\d:])"), _time),
    (re.compile(r"\b(\d{1,2})()\s?([AaPp]\.?[Mm]\.?)(?![A-Za-z])"), _time),
    (re.compile(rf"([$£€])\s?({NUM})(?:\.(\d+))?(?:\s?(thousand|million|billion|trillion|bn|[kKmMbB])\b)?"),
     _money),
    (re.compile(r"\b(1[1-9]\d0|20\d0)'?s\b"), _decade),
    (re.compile(rf"\b({NUM})(?:st|nd|rd|th)\b"), _ordinal),
    (re.compile(r"(?<![\d,.])\b(1[1-9]\d\d|20\d\d)\b(?![\d,]|\.\d)"), _year),
    (re.compile(r"(?<![\w.])(-)?(\d+(?:,\d{3})*)\.(\d+)\b"), _decimal),
    (re.compile(rf"(?<![\w.])(-)?({NUM})(?!\d)"), _cardinal),
)


def normalize_text(text: str) -> str:
    """Text as a reader says it: see the module note. Idempotent on text without digits or abbreviations."""
    s = text.translate(ASCII_MAP)
    for abbrev, words in ABBREVIATIONS.items():
        s = re.sub(rf"(?<![\w.]){re.escape(abbrev)}(?=\s|$|[,;:!?\"')])",
                   lambda m, w=words: w + (_ends_sentence(m) if w in SENTENCE_FINAL else ""), s)
    s = re.sub(r"\b(No|Nos|no)\.\s?(?=\d)", "number ", s)
    s = re.sub(r"(?<![\w&])#(?=\d)", "number ", s)
    s = re.sub(r"(?<=[a-z]) (St|Dr)\.?(?=\s*$|\s*[,;:!?]|\s+[a-z])",
               lambda m: " " + STREET_AFTER[m[1]] + _ends_sentence(m), s)
    s = re.sub(rf"\b({'|'.join(TITLES)})\.? (?=[A-Z])", _title, s)
    for pattern, repl in RULES:
        s = pattern.sub(repl, s)  # type: ignore[arg-type]
    s = re.sub(r"(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])", " ", s)  # "mp3" -> "mp 3" (read by the G2P)
    s = re.sub(r"\d+", lambda m: digits_words(m[0]) if len(m[0]) > 15 else number_words(int(m[0])), s)
    for sym, words in SYMBOLS.items():
        s = s.replace(sym, words)
    return re.sub(r"\s+([,.;:!?])", r"\1", " ".join(s.split()))
