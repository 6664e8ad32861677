"""Smoke test of recipes/vocoder/train.py on three espeak-ng utterances: a few steps of each objective write
atomic checkpoints, and a run stopped half-way and resumed ends with exactly the weights and optimizer
state of a run straight through."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")


def _recipe():
    spec = importlib.util.spec_from_file_location("vocoder_train", ROOT / "recipes/vocoder/train.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def wav_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("wavs")
    for i, text in enumerate(["the cat sat on the mat", "a dog ran in the park", "green trees grow"]):
        subprocess.run(["espeak-ng", "-s", "220", "-w", str(root / f"u{i}.wav"), text], check=True)
    return root  # 22.05 kHz files: the recipe resamples to 16 kHz


def _run(wav_dir: Path, exp: Path, *extra: str) -> None:
    args = ["--exp", str(exp), "--wav-dir", str(wav_dir), "--tiny", "--batch-size", "2", "--segment-frames", "24",
            "--max-steps", "4", "--save-every", "2", "--log-every", "100", "--warmup-steps", "2",
            "--num-threads", "1", *extra]
    assert _recipe().main(args) == 0


def _final(exp: Path) -> dict:
    from safetensors.torch import load_file

    ckpt = exp / "checkpoints" / "step-4"
    return {**load_file(str(ckpt / "model.safetensors")),
            **{f"opt.{k}": v for k, v in load_file(str(ckpt / "optimizer.safetensors")).items()}}


def test_resumed_run_equals_straight_run(wav_dir: Path, tmp_path: Path) -> None:
    _run(wav_dir, tmp_path / "straight")
    _run(wav_dir, tmp_path / "resumed", "--stop-after", "2")
    assert (tmp_path / "resumed" / "checkpoints" / "latest").read_text().strip() == "step-2"
    _run(wav_dir, tmp_path / "resumed")
    a, b = _final(tmp_path / "straight"), _final(tmp_path / "resumed")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    lines = (tmp_path / "straight" / "train.csv").read_text().splitlines()
    assert len(lines) == 4 and all(float(line.split(",")[1]) > 0 for line in lines)


def test_mean_flow_objective_runs(wav_dir: Path, tmp_path: Path) -> None:
    from speechstream.train.checkpoint import load_train_state
    from speechstream.vocoder.config import VocoderConfig

    _run(wav_dir, tmp_path / "mf", "--mean-flow")
    cfg = VocoderConfig.from_dict(load_train_state(tmp_path / "mf" / "checkpoints" / "step-4")["config"])
    assert cfg.mean_flow and cfg.solver.name == "euler" and cfg.solver.nfe == 1


def test_export_model_dir_from_the_newest_checkpoint(wav_dir: Path, tmp_path: Path) -> None:
    """Training with --export-model-dir writes a model directory; without data the option only exports; both
    are the newest checkpoint's weights, and a card someone wrote is kept."""
    import json

    import numpy as np

    from speechstream.train.checkpoint import latest_checkpoint, load_model_weights
    from speechstream.vocoder.model_dir import load_vocoder, read_config
    from speechstream.vocoder.torch.checkpoint import load_generator
    from speechstream.vocoder.torch.generator import FlowGenerator
    from speechstream.vocoder.vocoder import Vocoder

    exp, trained = tmp_path / "exp", tmp_path / "trained"
    _run(wav_dir, exp, "--max-steps", "2", "--export-model-dir", str(trained))
    assert json.loads((trained / "config.json").read_text())["step"] == 2
    assert "step 2" in (trained / "MODEL_CARD.md").read_text()
    exported = tmp_path / "exported"
    exported.mkdir()
    (exported / "MODEL_CARD.md").write_text("# mine\n")
    assert _recipe().main(["--exp", str(exp), "--export-model-dir", str(exported)]) == 0
    assert (exported / "MODEL_CARD.md").read_text() == "# mine\n"
    ckpt = latest_checkpoint(exp / "checkpoints")
    reference = FlowGenerator(read_config(exported))
    reference.load_state_dict(load_model_weights(ckpt))
    for d in (trained, exported):
        weights = load_generator(d).state_dict()
        assert all(torch.equal(v, weights[k]) for k, v in reference.state_dict().items())
    mel = (np.random.default_rng(0).standard_normal((1, 30, 80)) * 2 - 8).astype(np.float32)
    np.testing.assert_allclose(load_vocoder(exported).forward(mel), Vocoder(reference.eval()).forward(mel),
                               rtol=0, atol=1e-4)


def test_manifest_gives_clean_cuts_evenly_spaced(wav_dir: Path, tmp_path: Path) -> None:
    """From a lhotse manifest the recipe takes the clean cuts only (unless --all-conditions), evenly spaced."""
    import argparse

    import soundfile as sf
    from lhotse import CutSet, Recording, SupervisionSegment
    from lhotse.cut import MonoCut

    cuts = []
    for i in range(6):  # u0 u1 u2 u0 u1 u2; cut 3 is an augmented copy
        rec = Recording.from_file(wav_dir / f"u{i % 3}.wav", recording_id=f"r{i}")
        sup = SupervisionSegment(f"s{i}", f"r{i}", 0, rec.duration, custom={"aug": {"clean": i != 3}})
        cuts.append(MonoCut(f"c{i}", 0, rec.duration, 0, recording=rec, supervisions=[sup]))
    manifest = tmp_path / "cuts.jsonl.gz"
    CutSet.from_cuts(cuts).to_file(manifest)
    lengths = [len(sf.read(wav_dir / f"u{i % 3}.wav")[0]) * 16000 // 22050 for i in range(6)]

    def loaded(max_utts: int, all_conditions: bool) -> list[int]:
        args = argparse.Namespace(wav_dir=None, manifest=manifest, max_utts=max_utts, all_conditions=all_conditions)
        return [len(w) // 100 for w in _recipe().load_waves(args)]

    assert loaded(0, False) == [lengths[i] // 100 for i in (0, 1, 2, 4, 5)]
    assert loaded(0, True) == [n // 100 for n in lengths]
    assert loaded(3, False) == [lengths[i] // 100 for i in (0, 2, 5)]  # cuts 0, 2 and 5 of the 5 clean ones


def test_gan_run_resumes_exactly_with_its_discriminator(wav_dir: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    gan = ("--fm-weight", "0", "--aux-weight", "0", "--adv-weight", "1")
    _run(wav_dir, tmp_path / "straight", *gan)
    _run(wav_dir, tmp_path / "resumed", *gan, "--stop-after", "2")
    _run(wav_dir, tmp_path / "resumed", *gan)
    a, b = _final(tmp_path / "straight"), _final(tmp_path / "resumed")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    ckpts = [p / "checkpoints" / "step-4" for p in (tmp_path / "straight", tmp_path / "resumed")]
    da, db = (load_file(str(c / "discriminator.safetensors")) for c in ckpts)
    assert da.keys() == db.keys() and all(torch.equal(da[k], db[k]) for k in da)
    lines = (tmp_path / "straight" / "train.csv").read_text().splitlines()
    assert all(len(line.split(",")) == 5 and float(line.split(",")[4]) > 0 for line in lines)  # the critic's loss


def test_init_from_starts_at_the_model_dirs_weights(wav_dir: Path, tmp_path: Path) -> None:
    """--init-from on a fresh exp: the model dir's config (the model flags are ignored) and weights; at
    learning rate 0 the first checkpoint still holds exactly those weights."""
    from speechstream.vocoder.torch.checkpoint import load_generator

    model = tmp_path / "model"
    _run(wav_dir, tmp_path / "first", "--max-steps", "2", "--export-model-dir", str(model))
    _run(wav_dir, tmp_path / "second", "--init-from", str(model), "--lr", "0", "--d-model", "24")
    start, after = load_generator(model).state_dict(), _final(tmp_path / "second")
    assert all(torch.equal(v, after[k]) for k, v in start.items())


def test_gan_run_continues_from_a_model_dir_with_its_critics(wav_dir: Path, tmp_path: Path) -> None:
    """A GAN run's export carries its critics; a GAN run --init-from that dir starts from them (at learning
    rates 0 its first checkpoint holds exactly the exported critics), not from fresh ones."""
    from safetensors.torch import load_file

    gan = ("--fm-weight", "0", "--aux-weight", "0", "--adv-weight", "1")
    model = tmp_path / "model"
    _run(wav_dir, tmp_path / "first", *gan, "--max-steps", "2", "--export-model-dir", str(model))
    exported = load_file(str(model / "discriminator.safetensors"))
    trained = load_file(str(tmp_path / "first" / "checkpoints" / "step-2" / "discriminator.safetensors"))
    assert all(torch.equal(v, trained[k]) for k, v in exported.items())
    _run(wav_dir, tmp_path / "second", *gan, "--init-from", str(model), "--lr", "0", "--lr-disc", "0")
    after = load_file(str(tmp_path / "second" / "checkpoints" / "step-4" / "discriminator.safetensors"))
    assert exported.keys() == after.keys() and all(torch.equal(v, after[k]) for k, v in exported.items())
