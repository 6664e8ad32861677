"""recipes/asr/synth_en/ship.py: which precision ships, decided from evaluate.py's rows."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("synth_en_ship", ROOT / "recipes/asr/synth_en/ship.py")
ship = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ship)


def rows(int8_wer: dict[float, float]) -> list[dict]:
    out = []
    for la, wer in {80.0: 10.0, 480.0: 6.0}.items():
        out.append({"split": "test", "method": "ctc-greedy", "lookahead_ms": la, "wer": wer})
        out.append({"split": "test", "method": "ctc-greedy int8", "lookahead_ms": la, "wer": int8_wer[la]})
    return out


def test_int8_ships_only_when_every_row_is_within_tolerance() -> None:
    holds, worst = ship.int8_holds(rows({80.0: 10.2, 480.0: 5.9}), 0.3)
    assert holds and abs(worst - 0.2) < 1e-9
    holds, worst = ship.int8_holds(rows({80.0: 10.2, 480.0: 6.5}), 0.3)
    assert not holds and abs(worst - 0.5) < 1e-9


def test_no_int8_rows_means_fp32() -> None:
    fp32_only = [r for r in rows({80.0: 0.0, 480.0: 0.0}) if not r["method"].endswith("int8")]
    assert ship.int8_holds(fp32_only, 0.3) == (False, None)
