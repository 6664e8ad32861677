"""`speechstream bench vocoder` end to end (a subprocess) on a tiny model directory, and on random weights when
no model is there: every sampler the model can run is timed, every result key is there and finite.

A benchmark test checks what was measured, never how fast: the machines are shared and noisy.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from speechstream.bench.common import all_finite
from speechstream.bench.vocoder import samplers
from speechstream.vocoder.config import SolverConfig, VocoderConfig
from speechstream.vocoder.model_dir import ENV_VAR
from speechstream.vocoder.torch.checkpoint import save_vocoder_dir
from speechstream.vocoder.torch.generator import FlowGenerator

ALL = ["euler-nfe1", "euler-nfe2", "midpoint-nfe2", "euler-nfe4", "midpoint-nfe4"]
KEYS = {"rtf", "rtf_offline", "latency_ms", "parameters", "random_weights", "timings", "model", "run", "notes"}


def speechstream(*args: object, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "speechstream", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=300)


def test_bench_vocoder_on_a_model_dir(tmp_path: Path) -> None:
    torch.manual_seed(0)
    gen = FlowGenerator(VocoderConfig.tiny())
    d = save_vocoder_dir(gen, tmp_path / "model")
    out = tmp_path / "vocoder.json"
    r = speechstream("bench", "vocoder", "--model", d, "--seconds", "1", "--repeats", "1", "--json", out)
    assert r.returncode == 0, r.stderr
    result = json.loads(out.read_text())
    assert set(result) == KEYS
    for key in ("rtf", "rtf_offline"):
        assert list(result[key]) == ALL and all_finite(result[key]) and min(result[key].values()) > 0, key
    assert result["latency_ms"] == gen.config.latency_ms
    assert result["parameters"] == sum(p.numel() for p in gen.parameters())
    assert result["random_weights"] is False and result["model"]["source"] == str(d)
    assert result["model"]["samplers"] == ALL and result["model"]["default_sampler"] == "midpoint-nfe2"
    assert all_finite(result["timings"]["ms_per_chunk"]) and result["run"]["threads"] == 1
    table = r.stdout
    assert "random weights" not in table and all(s in table for s in ("euler", "midpoint", "rtf stream"))
    # What was timed, in words that read: "audio: 1 s (a 7.80 s espeak-ng clip, repeated)".
    assert re.search(r"audio: 1 s \(a \d+\.\d\d s (espeak-ng clip|clip of tones and noise .*), repeated\)", table), table


def test_bench_vocoder_without_a_model_times_random_weights(tmp_path: Path) -> None:
    out = tmp_path / "vocoder.json"
    env = {**os.environ, ENV_VAR: str(tmp_path / "nowhere")}
    r = speechstream("bench", "vocoder", "--seconds", "0.5", "--repeats", "1", "--json", out, env=env)
    assert r.returncode == 0, r.stderr
    result = json.loads(out.read_text())
    assert result["random_weights"] is True and "random weights" in r.stdout
    assert result["model"]["config"] == VocoderConfig().to_dict() and all_finite(result["rtf"])
    assert any("random weights" in n for n in result["notes"])


def test_samplers_the_model_can_run() -> None:
    assert [f"{s}-nfe{n}" for s, n in samplers(VocoderConfig.tiny())] == ALL
    mean_flow = VocoderConfig.tiny(mean_flow=True, solver=SolverConfig("euler", 1))
    assert samplers(mean_flow) == [("euler", 1), ("euler", 2), ("euler", 4)]


@pytest.mark.parametrize("argv, message", [
    (["--repeats", "0"], "--repeats must be >= 1"),
    (["--seconds", "0"], "--seconds must be > 0"),
    (["--model", "/nonexistent"], "not found"),
    (["--json", "/nonexistent/x.json"], "the folder /nonexistent does not exist"),
    (["--json", "out.txt"], "use .json"),
])
def test_bad_arguments_are_one_line_errors(argv: list[str], message: str) -> None:
    r = speechstream("bench", "vocoder", *argv)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr
