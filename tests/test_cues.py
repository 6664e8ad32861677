"""Subtitle cues from synthetic final results: tight to the words, cut at the longest pauses, two lines of
<= 42 characters, at most 7 s, never across a long pause."""

from __future__ import annotations

import re

from speechstream.asr.cues import CueConfig, cues, words_of, wrap
from speechstream.asr.recognizer import Result
from speechstream.cli.subtitles import subtitles

B = "\u2581"


def result(words: list[tuple[str, float]], start: float, end: float, segment: int = 0) -> Result:
    """A final result whose words are one piece each, then two letters: '▁wo' 'rd' at t, t + 0.08."""
    tokens, stamps = [], []
    for w, t in words:
        tokens += [B + w[:2], w[2:]] if len(w) > 2 else [B + w]
        stamps += [t, t + 0.08] if len(w) > 2 else [t]
    return Result(" ".join(w for w, _ in words), segment, True, start, end, tokens, stamps)


def test_cue_times_are_tight_to_the_first_and_last_token() -> None:
    # Speech from 4.28 to about 7.06 s in a segment that the endpointer closed at 8.32 s.
    r = result([("hello", 4.28), ("there", 4.8), ("my", 5.3), ("good", 5.8), ("old", 6.3), ("friend", 6.78)],
               4.0, 8.32)
    (cue,) = cues([r])
    assert cue.start == 4.28 and abs(cue.end - (6.86 + 0.2)) < 1e-9
    srt = subtitles([r], "srt")
    assert srt.startswith("1\n00:00:04,280 --> 00:00:07,060\nhello there my good old friend\n"), srt
    # The tail never runs past the segment's end.
    assert cues([result([("hi", 1.0)], 0.0, 1.1)])[0].end == 1.1


def test_a_long_segment_becomes_short_cues_cut_at_pauses() -> None:
    # 20 s, ~60 words with 0.22 s pauses every 4 words and one 0.6 s pause: like a long file that never
    # reaches the endpointer's 1.2 s of silence.
    words, t = [], 0.5
    for i in range(60):
        words.append((["quick", "brown", "foxes", "jump"][i % 4] + str(i), t))
        t += 0.3 + (0.22 if i % 4 == 3 else 0.0) + (0.6 if i == 31 else 0.0)
    r = result(words, 0.0, t + 0.5)
    out = cues([r])
    assert " ".join(" ".join(c.lines) for c in out) == r.text  # nothing lost or repeated
    for c in out:
        assert 1 <= len(c.lines) <= 2 and all(len(line) <= 42 for line in c.lines), c.lines
        assert c.end - c.start <= 7.0 and c.end > c.start
    for a, b in zip(out, out[1:]):
        assert a.end <= b.start
    # Cuts fall at the pauses: every cue but the last ends with a word before a pause (i % 4 == 3).
    ends = [int(re.search(r"(\d+)$", c.lines[-1]).group(1)) for c in out[:-1]]
    assert all(i % 4 == 3 for i in ends), ends
    assert 31 in ends  # the longest pause


def test_a_long_pause_ends_a_cue_even_when_it_would_fit() -> None:
    out = cues([result([("one", 1.0), ("two", 1.3), ("three", 3.0)], 0.0, 4.0)])
    assert [c.lines for c in out] == [("one two",), ("three",)]


def test_wrap_balances_two_lines() -> None:
    cfg = CueConfig()
    assert wrap("short", cfg) == ("short",)
    text = "the quick brown fox jumps over the lazy dog again and again"
    lines = wrap(text, cfg)
    assert lines is not None and len(lines) == 2 and " ".join(lines) == text
    assert abs(len(lines[0]) - len(lines[1])) <= 8
    assert wrap("x" * 50, cfg) is None and wrap(" ".join(["word"] * 30), cfg) is None


def test_words_of_character_and_special_tokens() -> None:
    r = Result("ab c", 0, True, 0.0, 2.0, ["a", "b", B, "<unk>", "c"], [0.1, 0.2, 0.5, 0.6, 0.9])
    words = words_of(r)
    assert [(w.text, w.start, w.last) for w in words] == [("ab", 0.1, 0.2), ("c", 0.9, 0.9)]
    assert words[0].end == 0.4 and words[1].end == 1.1


def test_vtt_has_the_same_cues() -> None:
    r = result([("hello", 4.28), ("there", 4.8)], 4.0, 8.32)
    vtt = subtitles([r], "vtt")
    assert vtt.startswith("WEBVTT\n\n00:00:04.280 --> 00:00:05.080\nhello there\n"), vtt
