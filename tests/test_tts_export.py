"""The acoustic model's ONNX steps: onnxruntime equals torch eager over many steps of varying size, every
state included, at batch 2 with different voices and seeds; the metadata carries what the runtime needs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tts_helpers import pieces, tiny_model, voice

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory):
    from speechstream.tts.onnx_model import OnnxAcoustic
    from speechstream.tts.torch.export import export_acoustic

    model = tiny_model().with_solver(name="midpoint", nfe=2)
    out = tmp_path_factory.mktemp("tts_onnx")
    meta = export_acoustic(model, out)
    return model, OnnxAcoustic(out), meta


def test_metadata(exported) -> None:
    model, onnx_model, meta = exported
    c = model.config
    assert onnx_model.config == c
    assert meta["speakers"] == list(c.speakers) and meta["latency"] == c.latency()
    assert meta["lookahead_phonemes"] == c.lookahead_phonemes and meta["chunk_frames"] == c.chunk_frames
    assert meta["state_shapes"]["bank"][0] == c.solver.nfe == meta["nfe"]
    assert onnx_model.encoder.metadata["role"] == "encoder"


def _close(a: np.ndarray, b: torch.Tensor, what: str) -> None:
    b = b.numpy()
    assert a.shape == b.shape, what
    if a.dtype == np.int64:
        np.testing.assert_array_equal(a, b, err_msg=what)
    else:
        assert np.abs(a - b).max() <= 1e-4, (what, float(np.abs(a - b).max()))


def test_onnx_steps_equal_eager_over_many_steps(exported) -> None:
    model, onnx_model, _ = exported
    c = model.config
    voices = torch.cat([voice("af_heart", c), voice("af_heart:0.6,bm_george:0.4", c)])
    ids = torch.randint(1, c.vocab_size, (2, 30), generator=torch.Generator().manual_seed(3))
    t_enc, t_dec = model.init_state(2, seed=[5, 9])
    o_enc, o_dec = onnx_model.init_state(2, seed=[5, 9])
    for a, b in zip(o_enc + o_dec, t_enc + t_dec):
        _close(a, b, "initial state")
    with torch.no_grad():
        for step, (a, b) in enumerate(pieces(30, [1, 4, 2, 7, 3])):
            enc, log_dur, t_enc = model.encoder_step(ids[:, a:b], voices, t_enc)
            o_e, o_l, o_enc = onnx_model.encoder_step(ids[:, a:b].numpy(), voices.numpy(), o_enc)
            _close(o_e, enc, f"encodings {step}")
            _close(o_l, log_dur, f"log durations {step}")
            for x, y in zip(o_enc, t_enc):
                _close(x, y, f"encoder state {step}")
        frames = torch.randn(2, 60, c.cond_dim, generator=torch.Generator().manual_seed(4))
        for step, (a, b) in enumerate(pieces(60, [1, 5, 2, 8, 3])):
            mel, t_dec = model.decoder_step(frames[:, a:b], voices, t_dec)
            o_m, o_dec = onnx_model.decoder_step(frames[:, a:b].numpy(), voices.numpy(), o_dec)
            _close(o_m, mel, f"mel {step}")
            for x, y in zip(o_dec, t_dec):
                _close(x, y, f"decoder state {step}")
    assert o_dec[-1][:, 1].tolist() == [60, 60] and o_dec[-1][:, 0].tolist() == [5, 9]
