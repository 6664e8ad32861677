"""Smoke test of recipes/vc/kokoro_en/train.py on toy features in the TTS recipe's shard format (made here: CI
has no corpus): a tiny model trains a few steps; a run stopped half-way and resumed ends with exactly the weights
and optimizer state of a run straight through; the export (with built-in voices) loads in Converter.from_dir and
converts; --weights-only and --init-from round-trip; prepare.py checks the features and the held-out voices."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "vc" / "kokoro_en"
SPEAKERS = {"k000": (["af_heart"], [1.0]), "k001": (["bm_george", "bm_lewis"], [0.5, 0.5]), "k002": (["am_adam"], [1.0])}


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def features(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from speechstream.tts.config import AcousticConfig
    from speechstream.tts.voices import VoiceSpec

    prepare = _load(ROOT / "recipes" / "tts" / "kokoro_en" / "prepare.py", "tts_prepare_for_vc")
    speakers = AcousticConfig().speakers
    out = tmp_path_factory.mktemp("features")
    rng = np.random.default_rng(0)
    for split, per_speaker in (("train", 3), ("dev", 1)):
        examples, utts = [], []
        for s, (names, weights) in SPEAKERS.items():
            for k in range(per_speaker):
                spec = VoiceSpec.parse(",".join(f"{n}:{w}" for n, w in zip(names, weights)), speakers)
                frames = int(rng.integers(60, 140))
                mel = (-10 + 3 * rng.standard_normal((frames, 80))).astype(np.float32)
                ids = rng.integers(1, 178, int(rng.integers(5, 15)))
                examples.append(SimpleNamespace(mel=mel, ids=ids, voice=spec.vector(speakers), speed=1.0))
                utts.append(SimpleNamespace(id=f"{s}-{split}{k}", speaker=s, text="toy", voice=spec))
        prepare.write_shard(out / f"{split}-000.safetensors", examples, utts, speakers)
    return out


def train(args: list[str]) -> int:
    return _load(RECIPE / "train.py", "vc_train").main(args)


COMMON = ["--tiny", "--batch-size", "3", "--max-frames", "600", "--max-ref-frames", "50", "--dev-every", "2",
          "--log-every", "1", "--warmup-steps", "2", "--target-warp", "0.1", "--content-grad", "0.5"]


def test_train_resume_export(features: Path, tmp_path: Path) -> None:
    from speechstream.train.checkpoint import latest_checkpoint
    from speechstream.vc.converter import Converter
    from vc_helpers import make_vocoder_dir

    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert train(["--exp", str(straight), "--features", str(features), "--max-steps", "4", *COMMON]) == 0
    assert train(["--exp", str(resumed), "--features", str(features), "--max-steps", "4", "--stop-after", "2",
                  *COMMON]) == 0
    assert train(["--exp", str(resumed), "--features", str(features), "--max-steps", "4", *COMMON]) == 0
    a, b = latest_checkpoint(straight / "checkpoints"), latest_checkpoint(resumed / "checkpoints")
    assert a.name == b.name == "step-4"
    from safetensors.torch import load_file

    for name in ("model.safetensors", "optimizer.safetensors"):
        x, y = load_file(str(a / name)), load_file(str(b / name))
        assert x.keys() == y.keys()
        for k in x:
            assert torch.equal(x[k], y[k]), (name, k)
    lines = (resumed / "train.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in lines[1:]] == ["1", "2", "3", "4"]
    assert (straight / "train.csv").read_text() .splitlines()[1:] != []
    dev = (straight / "dev.csv").read_text().splitlines()
    assert dev[0].endswith(",per") and len(dev) == 3

    model = tmp_path / "model"
    train_mod = _load(RECIPE / "train.py", "vc_train")
    train_mod.export_model_dir(straight, model, features)
    vc = Converter.from_dir(model, vocoder=make_vocoder_dir(tmp_path / "voc"))
    assert sorted(vc.voices) == ["af_heart", "am_adam"]  # the single-voice speakers
    x = np.random.default_rng(1).standard_normal(4000).astype(np.float32) * 0.1
    assert vc.convert(x, 16000, target="am_adam").shape == (4000,)

    shipped = tmp_path / "shipped"
    assert _load(RECIPE / "ship.py", "vc_ship").main(["--model", str(model), "--exp", str(straight),
                                                      "--out", str(shipped)]) == 0
    text = (shipped / "MODEL_CARD.md").read_text()
    assert "latency" in text and "greedy-CTC phoneme error rate" in text and "Not measured yet" in text
    assert not (shipped / "vocoder").exists()  # the default vocoder speaks

    wip = tmp_path / "wip"
    assert train(["--exp", str(straight), "--export-model-dir", str(wip), "--weights-only"]) == 0
    assert not (wip / "decoder.onnx").exists() and (wip / "model.safetensors").is_file()
    assert train(["--exp", str(tmp_path / "again"), "--features", str(features), "--init-from", str(wip),
                  "--max-steps", "1", *COMMON]) == 0


def test_prepare_checks_features(features: Path, tmp_path: Path) -> None:
    import json

    prepare = _load(RECIPE / "prepare.py", "vc_prepare")
    assert prepare.main(["--features", str(features), "--out", str(tmp_path / "vc")]) == 0
    summary = json.loads((tmp_path / "vc" / "prepare.json").read_text())
    assert summary["train"]["speakers"] == 3 and summary["heldout_voices_in_features"] == []
    assert summary["train"]["single_voice_speakers"] == {"af_heart": 1, "am_adam": 1}
