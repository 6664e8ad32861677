"""The VC evaluation's DSP baseline: sox `pitch` by the ratio of two median F0s moves a buzz's pitch there and
keeps its length (the judges themselves are the TTS evaluation's, tested with it)."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(shutil.which("sox") is None, reason="needs sox")
ROOT = Path(__file__).resolve().parents[1]


def _evaluate():
    spec = importlib.util.spec_from_file_location("vc_evaluate", ROOT / "recipes" / "vc" / "kokoro_en" / "evaluate.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_sox_pitch_reaches_the_target_f0() -> None:
    ev = _evaluate()
    rate = 16000
    t = np.arange(rate) / rate
    buzz = (0.3 * np.sign(np.sin(2 * np.pi * 150 * t))).astype(np.float32)
    assert ev.median_f0(buzz, rate) == pytest.approx(150, rel=0.03)
    shifted = ev.sox_pitch(buzz, rate, 225 / 150)
    assert len(shifted) == len(buzz)
    assert ev.median_f0(shifted, rate) == pytest.approx(225, rel=0.05)
    assert np.array_equal(ev.sox_pitch(buzz, rate, float("nan"))[:100], ev.sox_pitch(buzz, rate, 1.0)[:100])
