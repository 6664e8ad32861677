"""`speechstream bench asr` end to end on a random tiny model: every result key is there and finite.

A benchmark test checks what was measured, never how fast: the machines are shared and noisy.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from speechstream.bench.asr_table import format_asr_table
from speechstream.bench.common import all_finite
from speechstream.cli import main

HEADLINE = ("cache_vs_buffered", "vs_sherpa", "rtf", "ort_vs_eager", "late_vs_early", "rss_growth_mb")


def test_bench_asr_quick_writes_every_result(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "asr.json"
    # --quick, cut further (3 s of audio, a 2-minute stream, one repeat) to keep the suite fast.
    argv = ["bench", "asr", "--quick", "--json", str(out), "--seconds", "3", "--minutes", "2", "--repeats", "1"]
    assert main(argv) == 0
    r = json.loads(out.read_text())
    lookaheads = [f"{ms:g}" for ms in r["model"]["lookaheads_ms"]]
    assert len(lookaheads) >= 2 and r["model"]["source"].startswith("random tiny")
    for key in HEADLINE:
        assert key in r, key
    for key in ("cache_vs_buffered", "rtf", "rtf_rnnt_greedy", "ort_vs_eager"):
        assert list(r[key]) == lookaheads and all_finite(r[key]), (key, r[key])
    for key in ("late_vs_early", "rss_growth_mb"):
        assert all_finite(r[key]), (key, r[key])
    p1 = r["timings"]["cache_vs_buffered"]
    assert list(p1["work_ratio"]) == lookaheads and all(v > 1 for v in p1["work_ratio"].values())
    try:
        import sherpa_onnx  # noqa: F401
    except ImportError:
        assert r["vs_sherpa"] is None and r["vs_sherpa_reason"]
    else:
        assert all_finite(r["vs_sherpa"]) and r["vs_sherpa_reason"] is None, r["vs_sherpa_reason"]
    assert r["timings"]["long_stream"]["minutes"] == pytest.approx(2.0, abs=0.01)
    assert r["run"]["threads"] == 1 and r["run"]["repeats"] == 1
    table = capsys.readouterr().out
    for key in HEADLINE:
        assert key in table
    assert "null" in format_asr_table({**r, "vs_sherpa": None, "vs_sherpa_reason": "sherpa-onnx missing"})


def test_bench_arguments_are_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "asr", "--quick", "--minutes", "1"]) == 2
    assert "--minutes must be >= 2" in capsys.readouterr().err
    assert main(["bench", "asr", "--model", str(tmp_path / "missing")]) == 2
    assert "not found" in capsys.readouterr().err


def test_bench_help_does_not_import_torch() -> None:
    code = ("import sys; from speechstream.cli import build_parser; build_parser(); "
            "assert 'torch' not in sys.modules and 'speechstream.bench.asr' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parent.parent)


def test_a_failing_sherpa_export_gives_null_with_a_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    from speechstream.asr.torch import sherpa_ctc_export
    from speechstream.bench import asr

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("exporter under construction")

    monkeypatch.setattr(sherpa_ctc_export, "export_sherpa_ctc", broken)
    cfg = asr.AsrBenchConfig(quick=True, repeats=1).resolved()
    bm = asr.prepare_model(cfg, tmp_path, [])
    assert bm.sherpa_dir is None and (bm.graph_dir / "encoder.onnx").is_file()
    ratio, why = asr.bench_vs_sherpa(bm, np.zeros(16000, np.float32), cfg)
    assert ratio is None and why is not None and "exporter under construction" in why


def test_a_model_shipping_int8_graphs_is_benchmarked_in_int8(tmp_path: Path) -> None:
    """Every onnxruntime side runs the precision users get: a directory with only int8 runtime graphs (what
    ship.py ships when int8 holds) is benchmarked on quantized graphs, sherpa-onnx's ctc.onnx included."""
    import onnx

    from speechstream.asr.torch.export import export_model_dir
    from speechstream.bench.asr import AsrBenchConfig, prepare_model
    from speechstream.bench.asr_torch import random_model_dir
    from speechstream.bench.common import ships_int8_only

    def quantized(path: Path) -> bool:
        return "MatMulInteger" in {n.op_type for n in onnx.load(str(path)).graph.node}

    src = random_model_dir("tiny", tmp_path / "model")
    export_model_dir(src, src, int8=True)
    assert not ships_int8_only(src)
    for g in ("encoder", "predictor", "joiner"):
        (src / f"{g}.onnx").unlink()
    assert ships_int8_only(src)
    bm = prepare_model(AsrBenchConfig(model_dir=src).resolved(), tmp_path / "work", [])
    assert bm.int8 and quantized(bm.graph("encoder")) and quantized(bm.sherpa_ctc)
    fp32 = prepare_model(AsrBenchConfig(model_dir=src, int8=False).resolved(), tmp_path / "work32", [])
    assert not quantized(fp32.graph("encoder")) and not quantized(fp32.sherpa_ctc)
