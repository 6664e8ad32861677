"""Exported graphs against torch eager: encoder step over many steps with its states, predictor, joiner;
metadata equal to what the model computes; the export CLI end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from speechstream.asr.config import ASRModelConfig
from speechstream.asr.graphs import EncoderGraph, JoinerGraph, PredictorGraph
from speechstream.asr.tokenizer import write_tokens
from speechstream.asr.torch.checkpoint import save_model_dir
from speechstream.asr.torch.export import export_runtime_graphs
from speechstream.asr.torch.model import ASRModel
from speechstream.audio.fbank import FbankConfig


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[ASRModel, Path]:  # noqa: ANN001
    torch.manual_seed(3)
    model = ASRModel(ASRModelConfig.tiny()).eval()
    d = tmp_path_factory.mktemp("graphs")
    export_runtime_graphs(model, FbankConfig(), d)
    return model, d


def test_encoder_graph_equals_eager_over_many_steps(exported: tuple[ASRModel, Path]) -> None:
    model, d = exported
    graph = EncoderGraph(d / "encoder.onnx")
    enc = model.encoder
    for ctx in range(len(model.config.encoder.att_contexts)):  # one graph, every look-ahead
        c, batch, steps = enc.chunk_frames(ctx), 3, 45
        feats = torch.randn(batch, steps * c, 80) * 3 - 5
        state, ort_state = enc.init_state(batch), graph.init_state(batch)
        for a, b in zip(state, ort_state):
            assert a.numpy().dtype == b.dtype and np.array_equal(a.numpy(), b)  # same initial state
        for k in range(steps):
            lengths = torch.full((batch,), c)
            if k == steps - 1:
                lengths[1] = c - 3  # a padded last chunk
            chunk = feats[:, k * c:(k + 1) * c]
            with torch.no_grad():
                y, state = enc.step(chunk, state, ctx, lengths)
                log_probs = model.ctc(y)
            y_ort, lp_ort, ort_state = graph.step(chunk.numpy(), lengths.numpy(), ort_state)
            assert np.abs(y_ort - y.numpy()).max() <= 1e-4
            assert np.abs(lp_ort - log_probs.numpy()).max() <= 1e-4
            for a, b in zip(ort_state, state):
                assert a.dtype == b.numpy().dtype and np.abs(a - b.numpy()).max() <= 1e-4


def test_predictor_and_joiner_graphs_equal_eager(exported: tuple[ASRModel, Path]) -> None:
    model, d = exported
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, model.config.vocab_size, (7, model.config.context_size))
    with torch.no_grad():
        pred = model.predictor.step(torch.from_numpy(tokens)).numpy()
        enc = torch.randn(7, model.config.encoder.d_model)
        logits = model.joiner(enc, torch.from_numpy(pred)).numpy()
    assert np.abs(PredictorGraph(d / "predictor.onnx")(tokens) - pred).max() <= 1e-5
    assert np.abs(JoinerGraph(d / "joiner.onnx")(enc.numpy(), pred) - logits).max() <= 1e-5


def test_metadata_is_computed_from_the_model(exported: tuple[ASRModel, Path]) -> None:
    model, d = exported
    contract = EncoderGraph(d / "encoder.onnx").contract
    enc = model.encoder
    contexts = model.config.encoder.att_contexts
    assert contract.chunk_frames == tuple(enc.chunk_frames(x) for x in contexts)
    assert contract.pre_encode_cache_frames == enc.pre_encode_cache_frames
    assert contract.att_cache_frames == max(left for left, _ in contexts)
    assert contract.subsampling_factor == model.config.encoder.subsampling_factor
    assert contract.lookahead_ms == tuple(float(c * 10) for c in contract.chunk_frames)
    assert FbankConfig.from_dict(contract.features) == FbankConfig()


def test_export_cli_writes_every_graph_and_int8(tmp_path: Path) -> None:
    from speechstream.asr.recognizer import Recognizer
    from speechstream.cli import main

    torch.manual_seed(0)
    model = ASRModel(ASRModelConfig.tiny(vocab_size=5)).eval()
    src = tmp_path / "model"
    src.mkdir()
    write_tokens(["<unk>", "\u2581", "a", "b", "<blk>"], str(src / "tokens.txt"))
    save_model_dir(model, src, src)
    out = tmp_path / "out"
    assert main(["export", str(src), "--out", str(out), "--int8", "--no-sherpa"]) == 0
    for name in ("encoder", "predictor", "joiner"):
        assert (out / f"{name}.onnx").is_file() and (out / f"{name}.int8.onnx").is_file()
    rec = Recognizer.from_dir(out, decoding="rnnt-greedy", int8=True)
    s = rec.create_stream()
    s.accept_waveform(16000, np.random.default_rng(0).standard_normal(8000).astype(np.float32) * 0.1)
    s.input_finished()
    while rec.is_ready(s):
        rec.decode_streams([s])
    assert rec.get_result(s).is_final


def test_export_cli_bad_model_dir_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from speechstream.cli import main

    assert main(["export", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "model directory not found" in err and "Traceback" not in err
