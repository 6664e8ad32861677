"""The live line stays within the terminal's width: partials wider than it show their tail, so `\\r\\033[K`
redraws one screen line and the screen never fills with copies of a wrapped partial."""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from asr_helpers import make_model_dir, utterances

from speechstream.cli import main
from speechstream.cli.live import ERASE, LiveLine, fit_tail


def test_fit_tail() -> None:
    assert fit_tail("hello", 10) == "hello"
    assert fit_tail("the quick brown fox", 10) == "\u2026brown fox"
    assert len(fit_tail("x" * 500, 79)) == 79


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def drawn_lines(out: str) -> list[str]:
    """The live redraws: what follows an erase up to the next one without a newline (finals end in one)."""
    return [part for part in out.split(ERASE)[1:] if "\n" not in part]


def test_live_line_keeps_to_the_width_and_prints_finals_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "20")
    term = Terminal()
    live = LiveLine(True, term)
    live.show("a partial result much wider than the terminal", prefix="[###] ")
    live.print("a final result much wider than the terminal")
    live.show("short")
    live.clear()
    assert all(len(line) < 20 for line in drawn_lines(term.getvalue()))
    assert "\na final result much wider than the terminal\n" in "\n" + term.getvalue().replace(ERASE, "\n")
    off = Terminal()
    LiveLine(False, off).show("anything")
    assert off.getvalue() == ""


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:  # noqa: ANN001
    return make_model_dir(tmp_path_factory.mktemp("model"))


def test_transcribe_partials_fit_an_narrow_terminal(model_dir: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    wav = tmp_path / "a.wav"
    sf.write(wav, utterances(np.random.default_rng(5), (16000 * 6,))[0], 16000, subtype="FLOAT")
    monkeypatch.setenv("COLUMNS", "12")
    term = Terminal()
    monkeypatch.setattr(sys, "stdout", term)
    assert main(["transcribe", str(wav), "--model", str(model_dir)]) == 0
    out = term.getvalue()
    partials = drawn_lines(out)
    assert partials and max(map(len, partials)) == 11  # the tail of a longer partial, one column spare
    finals = [line for line in out.replace(ERASE, "\n").splitlines() if re.match(r"\[\d", line)]
    assert finals and max(map(len, finals)) > 12  # finals are printed whole
