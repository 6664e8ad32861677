"""SRT and WebVTT text from final results."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def _clock(seconds: float, decimal: str) -> str:
    ms = int(round(seconds * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{decimal}{ms:03d}"


def subtitles(results: Sequence[Any], fmt: str) -> str:
    """`fmt` "srt" or "vtt"; one cue per non-empty final segment."""
    cues = [r for r in results if r.is_final and r.text]
    decimal = "," if fmt == "srt" else "."
    lines = ["WEBVTT", ""] if fmt == "vtt" else []
    for n, r in enumerate(cues, 1):
        if fmt == "srt":
            lines.append(str(n))
        lines += [f"{_clock(r.start, decimal)} --> {_clock(r.end, decimal)}", r.text, ""]
    return "\n".join(lines)
