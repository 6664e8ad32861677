"""The VC model's ONNX graphs: onnxruntime equals torch eager over many steps of varying size, every state
included, at batch 2 with different targets and seeds; the target encoder agrees with padding; the metadata
carries what the runtime needs; the model directory round-trips its weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vc_helpers import pieces, random_mel, tiny_model

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory):
    from speechstream.vc.onnx_model import OnnxVC
    from speechstream.vc.torch.export import export_vc

    model = tiny_model()
    out = tmp_path_factory.mktemp("vc_onnx")
    meta = export_vc(model, out)
    return model, OnnxVC(out), meta


def _close(a: np.ndarray, b: torch.Tensor, what: str) -> None:
    b = b.detach().numpy()
    assert a.shape == b.shape, what
    if a.dtype == np.int64:
        np.testing.assert_array_equal(a, b, err_msg=what)
    else:
        assert np.abs(a - b).max() <= 1e-4, (what, float(np.abs(a - b).max()))


def test_metadata(exported) -> None:
    model, onnx_model, meta = exported
    c = model.config
    assert onnx_model.config == c
    assert meta["latency"] == c.latency() and meta["chunk_frames"] == c.chunk_frames
    assert meta["content_lookahead"] == c.content_lookahead and meta["decoder_lookahead"] == c.decoder_lookahead
    assert meta["state_shapes"]["bank"][0] == c.solver.nfe == meta["nfe"]
    assert onnx_model.content.metadata["role"] == "content" and onnx_model.speaker.metadata["role"] == "speaker"


def test_onnx_steps_equal_eager_over_many_steps(exported) -> None:
    model, onnx_model, _ = exported
    c = model.config
    mel = random_mel(2, 50, seed=3)
    with torch.no_grad():
        target = model.embed(random_mel(2, 40, seed=4))
    t_content, t_dec = model.init_state(2, seed=[5, 9])
    o_content, o_dec = onnx_model.init_state(2, seed=[5, 9])
    for a, b in zip(o_content + o_dec, t_content + t_dec):
        _close(a, b, "initial state")
    with torch.no_grad():
        for step, (a, b) in enumerate(pieces(50, [1, 4, 2, 7, 3])):
            content, t_content = model.content_step(mel[:, a:b], t_content)
            o_c, o_content = onnx_model.content_step(mel[:, a:b].numpy(), o_content)
            _close(o_c, content, f"content {step}")
            for x, y in zip(o_content, t_content):
                _close(x, y, f"content state {step}")
            out, t_dec = model.decoder_step(content, target, t_dec)
            o_m, o_dec = onnx_model.decoder_step(o_c, target.numpy(), o_dec)
            _close(o_m, out, f"mel {step}")
            for x, y in zip(o_dec, t_dec):
                _close(x, y, f"decoder state {step}")
    assert o_dec[-1][:, 1].tolist() == [50, 50] and o_dec[-1][:, 0].tolist() == [5, 9]


def test_speaker_graph_equals_eager_with_padding(exported) -> None:
    model, onnx_model, _ = exported
    ref = random_mel(2, 60, seed=6)
    lengths = torch.tensor([60, 35])
    with torch.no_grad():
        eager = model.embed(ref, lengths)
    _close(onnx_model.embed(ref.numpy(), lengths.numpy()), eager, "embedding")
    alone = onnx_model.embed(ref[1:, :35].numpy())
    assert np.abs(alone[0] - eager[1].numpy()).max() <= 1e-4


def test_model_dir_round_trip(tmp_path) -> None:
    from speechstream.vc.model_dir import read_voices
    from speechstream.vc.torch.checkpoint import load_vc, save_vc_dir

    model = tiny_model(seed=3)
    d = save_vc_dir(model, tmp_path / "vc", voices={"x": [0.5] * model.config.d_speaker}, model_card="# vc\n")
    loaded = load_vc(d)
    assert loaded.config == model.config
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name
    assert read_voices(d, model.config.d_speaker)["x"].shape == (model.config.d_speaker,)
    assert {p.name for p in d.iterdir()} >= {"config.json", "model.safetensors", "content.onnx", "decoder.onnx",
                                             "speaker.onnx", "voices.json", "MODEL_CARD.md"}
    save_vc_dir(model, d, graphs=False)  # weights only: graphs of other weights never stay beside them
    assert not (d / "decoder.onnx").exists()
