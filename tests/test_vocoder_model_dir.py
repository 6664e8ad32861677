"""The vocoder model directory: save (torch) and load (onnxruntime, no torch) give the same vocoder; every
broken directory is a ModelError that names what is wrong; the default model's absence says how to make one."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from speechstream.errors import ModelError
from speechstream.vocoder.config import SolverConfig
from speechstream.vocoder.model_dir import CONFIG, ENV_VAR, GRAPH, WEIGHTS, default_vocoder_model, load_vocoder
from speechstream.vocoder.torch.checkpoint import load_generator, save_vocoder_dir
from speechstream.vocoder.torch.generator import FlowGenerator
from speechstream.vocoder.vocoder import Vocoder

from vocoder_helpers import make_generator

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> tuple[FlowGenerator, Path]:  # noqa: ANN001
    gen = make_generator(solver=SolverConfig("midpoint", 2, t0=0.2), lookahead_frames=2, cond_kernel=3)
    return gen, save_vocoder_dir(gen, tmp_path_factory.mktemp("vocoder") / "model", model_card="# tiny\n")


def random_mel(frames: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((1, frames, 80)) * 2.0 - 8.0).astype(np.float32)


def test_round_trip_equals_the_torch_generator(saved: tuple[FlowGenerator, Path]) -> None:
    gen, d = saved
    assert sorted(p.name for p in d.iterdir()) == ["MODEL_CARD.md", CONFIG, GRAPH, WEIGHTS]
    voc = load_vocoder(d)
    assert voc.config == gen.config and voc.latency_ms == gen.config.latency_ms
    mel = random_mel(41)
    ref = Vocoder(gen).forward(mel, seed=3)  # torch, offline
    assert np.abs(ref).max() > 1e-3
    np.testing.assert_allclose(voc.forward(mel, seed=3), ref, rtol=0, atol=1e-4)
    state, outs = voc.init_state(1, seed=3), []  # and streamed through the ONNX step
    for a in range(0, 41, 4):
        y, state = voc.step(mel[:, a:a + 4], state)
        outs.append(y)
    outs.append(voc.flush(state))
    np.testing.assert_allclose(np.concatenate(outs, axis=1), ref, rtol=0, atol=1e-4)
    loaded = load_generator(d)
    assert loaded.config == gen.config
    mine, theirs = loaded.state_dict(), gen.state_dict()
    assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine)


def test_loading_needs_no_torch(saved: tuple[FlowGenerator, Path]) -> None:
    code = ("import sys; from speechstream.vocoder.model_dir import load_vocoder; "
            f"v = load_vocoder({str(saved[1])!r}); assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def _break(d: Path, how: str) -> None:
    config = json.loads((d / CONFIG).read_text())
    if how == "no config":
        (d / CONFIG).unlink()
    elif how == "bad json":
        (d / CONFIG).write_text('{"format": "speechstream-vocoder", ')
    elif how == "asr dir":
        (d / CONFIG).write_text(json.dumps({"format": "speechstream-asr", "version": 1, "model": {}}))
    elif how == "bad version":
        (d / CONFIG).write_text(json.dumps({**config, "version": 99}))
    elif how == "bad field":
        (d / CONFIG).write_text(json.dumps({**config, "model": {**config["model"], "d_modle": 3}}))
    elif how == "no onnx":
        (d / GRAPH).unlink()
    elif how == "truncated onnx":
        data = (d / GRAPH).read_bytes()
        (d / GRAPH).write_bytes(data[: len(data) // 3])
    elif how == "onnx of another kind":
        import onnx

        graph = onnx.load(str(d / GRAPH))
        next(p for p in graph.metadata_props if p.key == "model_type").value = "speechstream_conformer_ctc"
        onnx.save(graph, str(d / GRAPH))
    elif how == "onnx of another config":
        (d / CONFIG).write_text(json.dumps({**config, "model": {**config["model"], "chunk_frames": 5}}))
    elif how == "no weights":
        (d / WEIGHTS).unlink()
    elif how == "truncated weights":
        data = (d / WEIGHTS).read_bytes()
        (d / WEIGHTS).write_bytes(data[: len(data) // 2])
    elif how == "weights of another config":
        (d / CONFIG).write_text(json.dumps({**config, "model": {**config["model"], "d_model": 24}}))
    else:
        raise AssertionError(how)


@pytest.mark.parametrize("how, loader, message", [
    ("no config", "vocoder", "config.json is missing"),
    ("bad json", "vocoder", "not valid JSON"),
    ("asr dir", "vocoder", "ASR model directory"),
    ("bad version", "generator", "format version 99"),
    ("bad field", "vocoder", "d_modle"),
    ("no onnx", "vocoder", "lacks generator.onnx"),
    ("truncated onnx", "vocoder", "cannot load"),
    ("onnx of another kind", "vocoder", "not a 'speechstream-flow-vocoder' generator step"),
    ("onnx of another config", "vocoder", "another config"),
    ("no weights", "generator", "lacks model.safetensors"),
    ("truncated weights", "generator", "corrupt"),
    ("weights of another config", "generator", "does not match"),
])
def test_broken_directories_are_model_errors(saved: tuple[FlowGenerator, Path], tmp_path: Path, how: str,
                                             loader: str, message: str) -> None:
    d = tmp_path / "model"
    shutil.copytree(saved[1], d)
    _break(d, how)
    load = load_vocoder if loader == "vocoder" else load_generator
    with pytest.raises(ModelError, match=message) as e:
        load(d)
    assert str(d) in str(e.value)


def test_missing_directory(tmp_path: Path) -> None:
    for load in (load_vocoder, load_generator):
        with pytest.raises(ModelError, match="vocoder model directory not found"):
            load(tmp_path / "nowhere")


def test_default_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nowhere"))
    with pytest.raises(ModelError, match=r"no vocoder model at .*nowhere.*recipes/vocoder/train\.py.*--model"):
        default_vocoder_model()
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert default_vocoder_model() == tmp_path
    monkeypatch.delenv(ENV_VAR)
    try:
        path = default_vocoder_model()
    except ModelError as e:  # none ships yet
        assert "models/vocoder_en" in str(e) and "recipes/vocoder/train.py" in str(e)
    else:
        assert path.name == "vocoder_en"
