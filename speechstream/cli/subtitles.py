"""SRT and WebVTT text from final results: cues cut at pauses, timed to their words, two lines of <= 42."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from speechstream.asr.cues import CueConfig, cues


def _clock(seconds: float, decimal: str) -> str:
    ms = int(round(seconds * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{decimal}{ms:03d}"


def subtitles(results: Sequence[Any], fmt: str, config: CueConfig | None = None) -> str:
    """`fmt` "srt" or "vtt"; the cues of the final, non-empty segments (speechstream.asr.cues)."""
    decimal = "," if fmt == "srt" else "."
    lines = ["WEBVTT", ""] if fmt == "vtt" else []
    for n, cue in enumerate(cues(results, config), 1):
        if fmt == "srt":
            lines.append(str(n))
        lines += [f"{_clock(cue.start, decimal)} --> {_clock(cue.end, decimal)}", *cue.lines, ""]
    return "\n".join(lines)
