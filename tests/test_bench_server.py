"""`speechstream bench server` end to end on the tiny model: both servers run as subprocesses, the JSON has
every stat for every step, and no stream is lost. What was measured is checked, never how fast."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from test_server_helpers import model_dir

from speechstream.bench.common import all_finite
from speechstream.bench.server import Search
from speechstream.bench.servers import OURS, SHERPA, SHERPA_BIN
from speechstream.cli import main

STEP_KEYS = ("clients", "passed", "delay_ms", "final_delay_ms", "send_lag_ms", "lost", "errors", "final_after_done",
             "results", "anomalies", "server_cpu", "server_rss_mb", "generator_cpu", "wall_s", "audio_s")
DELAY_KEYS = ("p50", "p95", "max", "min", "mean", "count")
HAS_SHERPA = (Path(sys.executable).parent / SHERPA_BIN).is_file()


def test_bench_server_quick_writes_every_result(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "server.json"
    # --quick cut further: 2 s steps, at most 4 clients (2, then 4) per server.
    argv = ["bench", "server", "--quick", "--model", str(model_dir(sherpa=True)), "--seconds", "2",
            "--max-clients", "4", "--json", str(out)]
    assert main(argv) == 0
    r = json.loads(out.read_text())
    names = [OURS, SHERPA] if HAS_SHERPA else [OURS]
    assert list(r["servers"]) == [OURS, SHERPA]  # sherpa's entry holds an error when its program is missing
    assert set(r["max_streams"]) == {OURS, SHERPA} and r["delay_definition"] and r["criterion"]
    for name in names:
        s = r["servers"][name]
        assert s.get("error") is None, s.get("error")
        assert s["search"][0] == 2 and set(s["search"]) <= {1, 2, 3, 4}, s["search"]
        assert list(s["runs"]) == sorted(s["runs"], key=int) and set(s["runs"]) == {str(n) for n in s["search"]}
        for n, run in s["runs"].items():
            for key in STEP_KEYS:
                assert key in run, (name, n, key)
            assert run["clients"] == int(n) and run["audio_s"] == pytest.approx(2.0)
            assert run["lost"] == 0, (name, n, run["errors"])
            assert run["anomalies"] == 0, (name, n)  # no result arrived before the audio it needs was sent
            assert set(run["delay_ms"]) == set(DELAY_KEYS) and run["delay_ms"]["count"] >= 1, (name, n)
            assert all_finite([run["delay_ms"], run["final_delay_ms"], run["server_cpu"], run["server_rss_mb"]])
            assert run["server_rss_mb"]["peak"] > 1
        assert isinstance(s["max_streams"], int) and 0 <= s["max_streams"] <= 4
        assert r["max_streams"][name] == s["max_streams"]
    if HAS_SHERPA and r["max_streams"][SHERPA]:
        assert r["ratio"] == pytest.approx(r["max_streams"][OURS] / r["max_streams"][SHERPA])
    assert r["run"]["seconds"] == 2 and r["run"]["max_clients"] == 4
    table = capsys.readouterr().out
    assert "max streams" in table and OURS in table


def test_bench_server_arguments_are_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "server", "--quick", "--seconds", "0.5"]) == 2
    assert "--seconds must be >= 1" in capsys.readouterr().err
    assert main(["bench", "server", "--quick", "--max-clients", "0"]) == 2
    assert "--max-clients must be >= 1" in capsys.readouterr().err
    assert main(["bench", "server", "--model", str(tmp_path / "missing")]) == 2
    assert "not found" in capsys.readouterr().err


@pytest.mark.parametrize("limit, cap, expected", [
    (100, 512, 96),  # doubling to 128 fails, bisection closes the gap to <= 1/8 of the pass
    (1000, 64, 64),  # never fails: stops at the cap
    (0, 64, 0),  # even one stream fails
    (5, 64, 5),
])
def test_search_doubles_then_bisects(limit: int, cap: int, expected: int) -> None:
    s = Search(start=4, cap=cap)
    while (n := s.next()) is not None:
        s.record(n, n <= limit)
    assert s.lo == expected and s.lo <= limit
    assert s.hi is None or s.hi - s.lo <= max(1, s.lo // 8)
    assert s.capped == (limit >= cap)


def test_a_model_shipping_int8_graphs_runs_int8_on_both_servers(tmp_path: Path) -> None:
    import onnx

    from speechstream.asr.torch.export import export_model_dir
    from speechstream.bench.asr_torch import random_model_dir
    from speechstream.bench.server import ServerBenchConfig
    from speechstream.bench.servers import our_server, prepare_model

    src = random_model_dir("tiny", tmp_path / "model")
    export_model_dir(src, src, int8=True)
    for g in ("encoder", "predictor", "joiner"):
        (src / f"{g}.onnx").unlink()
    cfg = ServerBenchConfig(model_dir=src).resolved()
    bm = prepare_model(cfg, tmp_path / "work")
    assert bm.int8 and bm.graph_dir == src and bm.sherpa_ctc is not None
    assert "MatMulInteger" in {n.op_type for n in onnx.load(str(bm.sherpa_ctc)).graph.node}
    assert "--int8" in our_server(bm, cfg, tmp_path).argv
