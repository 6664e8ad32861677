"""The exported generator step: onnxruntime equals eager over many steps, states included, at a dynamic
batch and chunk size; the metadata carries the streaming contract; the numpy-only runtime path (no torch)
drives the same Vocoder."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from speechstream.vocoder.config import SolverConfig
from speechstream.vocoder.onnx_generator import OnnxGenerator
from speechstream.vocoder.torch.export import INPUT_NAMES, export_generator_step
from speechstream.vocoder.vocoder import Vocoder

from vocoder_helpers import make_generator

torch.set_num_threads(1)


@pytest.mark.parametrize("kw", [
    dict(solver=SolverConfig("midpoint", 2, t0=0.2), lookahead_frames=2, cond_kernel=3),
    dict(mean_flow=True, solver=SolverConfig("euler", 1), prior="gaussian"),
], ids=["midpoint", "meanflow"])
def test_onnxruntime_equals_eager_over_many_steps(tmp_path, kw) -> None:  # noqa: ANN001
    gen = make_generator(**kw)
    path = tmp_path / "step.onnx"
    meta = export_generator_step(gen, path)
    og = OnnxGenerator(path)
    assert og.config == gen.config
    for key in ("chunk_frames", "lookahead_frames", "hop_length", "n_fft", "nfe", "solver", "latency_ms"):
        assert og.metadata[key] == meta[key]
    assert og.metadata["latency_ms"] == gen.config.latency_ms and og.metadata["nfe"] == gen.nfe
    assert [i.name for i in og.session.get_inputs()] == list(INPUT_NAMES)
    rng = np.random.default_rng(0)
    for batch, sizes in ((2, [3]), (1, [1, 5, 2])):  # dynamic batch and chunk length
        mel = (rng.standard_normal((batch, 80, 80)) * 2 - 8).astype(np.float32)
        eager, ort = gen.init_state(batch, seed=list(range(batch))), og.init_state(batch, seed=list(range(batch)))
        pos, steps = 0, 0
        while pos + max(sizes) <= mel.shape[1] and steps < 24:
            n = sizes[steps % len(sizes)]
            chunk = mel[:, pos:pos + n]
            with torch.no_grad():
                fe, eager = gen.step(torch.from_numpy(chunk), eager)
            fo, ort = og.step(chunk, ort)
            scale = max(1.0, float(np.abs(fe.numpy()).max()))
            assert np.abs(fo - fe.numpy()).max() <= 1e-4 * scale, steps
            for a, b in zip(ort, eager):
                assert a.dtype == b.numpy().dtype and a.shape == b.shape
                assert np.abs(a - b.numpy()).max() <= 1e-4
            pos, steps = pos + n, steps + 1
        assert steps >= 20
    # The whole runtime path: a Vocoder on the ONNX step equals the eager offline vocoder.
    mel = (rng.standard_normal((1, 29, 80)) * 2 - 8).astype(np.float32)
    state, outs = Vocoder(og).init_state(1, seed=4), []
    voc_ort = Vocoder(og)
    for a in range(0, 29, 4):
        y, state = voc_ort.step(mel[:, a:a + 4], state)
        outs.append(y)
    outs.append(voc_ort.flush(state))
    ref = Vocoder(gen).forward(mel, seed=4)
    np.testing.assert_allclose(np.concatenate(outs, 1), ref, rtol=0, atol=1e-4)
    np.testing.assert_allclose(voc_ort.forward(mel, seed=4), ref, rtol=0, atol=1e-4)


def test_runtime_modules_do_not_import_torch() -> None:
    code = ("import sys; import speechstream.vocoder.vocoder, speechstream.vocoder.onnx_generator, "
            "speechstream.vocoder.config; assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
