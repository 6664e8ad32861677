"""Sentence sources for synthetic speech corpora (Debian main text packages) and their filtering.

Sources: WordNet example sentences (``wordnet-base``), ``fortunes`` + ``fortunes-min``, the World English
Bible read with ``diatheke`` (``sword-text-web``), generated sentences with numbers written as words
(``numbers``), or any plain text file (one sentence a line).
Every source yields raw sentences; :func:`clean_sentence` keeps those a TTS engine reads exactly as the
reference says (4-30 words, ASCII, no digits, no abbreviations or acronyms) and :func:`normalize` gives the
scoring reference: lower case, letters, apostrophes and single spaces.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import warnings
from collections.abc import Iterable, Iterator

WORDNET_DIR = "/usr/share/wordnet"
FORTUNE_DIRS = ("/usr/share/games/fortunes",)
DICT_PATH = "/usr/share/dict/american-english"
BIBLE_MODULES = ("engWEB2015eb", "WEB")

_ASCII_MAP = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2014": " - ",
                            "\u2013": " - ", "\u2026": "...", "\u00a0": " "})
# Characters a TTS engine reads aloud (or mangles) so the reference would not match the audio.
_BAD_CHARS = re.compile(r"[0-9@#$%&*/\\<>_=+~^|\[\]{}`]")
_ABBREV = {"mr", "mrs", "ms", "dr", "st", "jr", "sr", "vs", "etc", "prof", "gen", "col", "lt", "capt", "sgt",
           "co", "corp", "inc", "ltd", "no", "vol", "ch", "e.g", "i.e", "cf", "ca", "approx", "dept", "mt",
           "ft", "oz", "lb", "lbs", "rev", "fig"}
_SENT_SPLIT = re.compile(r"(?<=[.!?])[\"')]*\s+")
_WORD = re.compile(r"[A-Za-z']+")


def normalize(text: str) -> str:
    """Scoring reference: lower case; letters, apostrophes and single spaces (word-edge apostrophes dropped)."""
    text = text.translate(_ASCII_MAP).lower().replace("-", " ")
    text = re.sub(r"[^a-z' ]+", " ", text)
    words = [w.strip("'") for w in text.split()]
    return " ".join(w for w in words if w)


def clean_sentence(raw: str, min_words: int = 4, max_words: int = 30) -> str | None:
    """The sentence as the engine should read it, or None when it is unfit (see module doc)."""
    s = " ".join(raw.translate(_ASCII_MAP).split())
    s = s.replace("--", " - ").strip(" -")
    if not s or not s.isascii() or _BAD_CHARS.search(s):
        return None
    for tok in s.split():
        core = tok.strip("\"'(),;:.!?-")
        if not core:
            continue
        low = core.lower()
        if low in _ABBREV and tok.rstrip("\"')").endswith("."):
            return None
        if "." in core:  # e.g. U.S.A, i.e
            return None
        letters = core.replace("'", "").replace("-", "")
        if len(letters) > 1 and letters.isupper():  # acronyms, roman numerals
            return None
        if len(letters) == 1 and letters.lower() not in ("a", "i", "o"):  # spelled letters
            return None
        if any(c.isupper() for c in letters[1:]) and not letters[0].isupper():  # camelCase
            return None
    n = len(normalize(s).split())
    if n < min_words or n > max_words:
        return None
    return s


def split_sentences(text: str) -> list[str]:
    return [p.strip() for p in _SENT_SPLIT.split(" ".join(text.split())) if p.strip()]


def wordnet_examples(wordnet_dir: str = WORDNET_DIR) -> Iterator[str]:
    """Quoted usage examples from the glosses of WordNet's data.* files."""
    for pos in ("noun", "verb", "adj", "adv"):
        path = os.path.join(wordnet_dir, f"data.{pos}")
        with open(path, encoding="latin-1") as f:
            for line in f:
                if line.startswith("  ") or "|" not in line:
                    continue
                gloss = line.split("|", 1)[1]
                for ex in re.findall(r'"([^"]+)"', gloss):
                    yield ex


def fortunes(dirs: Iterable[str] = FORTUNE_DIRS) -> Iterator[str]:
    """Sentences of the fortune cookies (files without .dat/.u8 suffix), attributions dropped."""
    for d in dirs:
        for path in sorted(glob.glob(os.path.join(d, "*"))):
            if not os.path.isfile(path) or path.endswith((".dat", ".u8")) or os.path.islink(path):
                continue
            with open(path, encoding="utf-8", errors="replace") as f:
                entries = f.read().split("\n%\n")
            for e in entries:
                lines = [ln for ln in e.splitlines() if not ln.lstrip().startswith("--")]
                # Indented or very short lines are verse, code or ASCII art: skip those entries.
                if any(ln.startswith(("\t", "    ")) for ln in lines):
                    continue
                yield from split_sentences(" ".join(lines))


def _dictionary(path: str = DICT_PATH) -> set[str]:
    with open(path, encoding="utf-8", errors="replace") as f:
        return {w.strip().lower() for w in f if w.strip()}


def _glued(word: str, words: set[str]) -> bool:
    """True when an out-of-dictionary word splits into two dictionary words (two verses' words glued)."""
    w = word.lower().strip("'")
    if w in words or w.endswith("'s") and w[:-2] in words or len(w) < 5:
        return False
    return any(w[:i] in words and w[i:] in words for i in range(2, len(w) - 1))


def bible(module: str | None = None, dict_path: str = DICT_PATH) -> Iterator[str]:
    """Sentences of the World English Bible via diatheke; verses with glued words are dropped."""
    if module is None:
        mods = subprocess.run(["diatheke", "-b", "system", "-k", "modulelist"], capture_output=True,
                              text=True).stdout
        module = next((m for m in BIBLE_MODULES if re.search(rf"^{m} :", mods, re.M)), None)
        if module is None:
            warnings.warn("no World English Bible module for diatheke; skipping the bible")
            return
    raw = subprocess.run(["diatheke", "-b", module, "-k", "Genesis-Revelation"], capture_output=True,
                         text=True, errors="replace").stdout
    words = _dictionary(dict_path) if os.path.exists(dict_path) else set()
    for line in raw.splitlines():
        line = re.sub(r"<title.*?</title>", " ", line)
        line = re.sub(r"</w>(?=<w)", " ", line)  # adjacent word tags lack a space: keep words apart
        line = re.sub(r"<[^>]*>", "", line)
        line = re.sub(r"^.*?\d+:\d+:\s*", "", line)  # "Genesis 1:1: "
        for s in split_sentences(line):
            if words and any(_glued(w, words) for w in _WORD.findall(s.translate(_ASCII_MAP))):
                continue
            yield s


def text_file(path: str) -> Iterator[str]:
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield line.strip()


def numbers() -> Iterator[str]:
    """Sentences with numbers written as words (see :mod:`speechstream.data.numbers`)."""
    from speechstream.data.numbers import number_sentences

    return number_sentences()


# "numbers" is never picked by available_sources(): asking for it explicitly keeps older sentence caches
# (keyed by the source list) and the corpora planned from them unchanged.
SOURCES = {"wordnet": wordnet_examples, "fortunes": fortunes, "bible": bible, "numbers": numbers}


def available_sources() -> list[str]:
    out = []
    if os.path.exists(os.path.join(WORDNET_DIR, "data.noun")):
        out.append("wordnet")
    if any(os.path.isdir(d) for d in FORTUNE_DIRS):
        out.append("fortunes")
    if shutil.which("diatheke"):
        out.append("bible")
    return out


def collect_sentences(sources: Iterable[str], text_files: Iterable[str] = (),
                      min_words: int = 4, max_words: int = 30) -> list[dict]:
    """Deduplicated (by normalised text) sentences, in source order: [{"text", "norm", "source"}]."""
    seen: set[str] = set()
    out: list[dict] = []

    def add(raw_iter: Iterable[str], name: str) -> None:
        for raw in raw_iter:
            s = clean_sentence(raw, min_words, max_words)
            if s is None:
                continue
            norm = normalize(s)
            if norm in seen:
                continue
            seen.add(norm)
            out.append({"text": s, "norm": norm, "source": name})

    for name in sources:
        add(SOURCES[name](), name)
    for path in text_files:
        add(text_file(path), os.path.basename(path))
    return out
