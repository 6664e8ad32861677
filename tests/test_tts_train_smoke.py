"""Smoke test of recipes/tts/kokoro_en (prepare.py, train.py) on a toy corpus made here with espeak-ng, shaped
like ../shared/corpora/kokoro_en_v1 (which CI lacks): features are cached once and re-runs keep them; sentences
split into train and dev; a tiny model trains a few steps; a run stopped half-way and resumed ends with exactly
the weights and optimizer state of a run straight through; the export loads in Synthesizer.from_dir and
speaks; --weights-only and --init-from round-trip."""

from __future__ import annotations

import gzip
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "tts" / "kokoro_en"
pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")

ROWS = [  # id, speaker, voices, weights, speed, text
    ("k000-1", "k000", ["af_heart"], [1.0], 1.0, "the cat sat on the mat"),
    ("k000-2", "k000", ["af_heart"], [1.0], 1.0, "a dog ran in the park"),
    ("k001-1", "k001", ["bm_george", "bm_lewis"], [0.5, 0.5], 1.1, "green trees grow tall"),
    ("k001-2", "k001", ["bm_george", "bm_lewis"], [0.5, 0.5], 1.1, "she sells sea shells"),
    ("k002-1", "k002", ["am_adam"], [1.0], 0.9, "time for rest by the pool"),
    ("k002-2", "k002", ["am_adam"], [1.0], 0.9, "we walked home in the rain"),
]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"tts_{name}", RECIPE / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def features(tmp_path_factory: pytest.TempPathFactory) -> Path:
    corpus = tmp_path_factory.mktemp("corpus")
    with gzip.open(corpus / "utterances.jsonl.gz", "wt", encoding="utf-8") as f:
        for uid, speaker, voices, weights, speed, text in ROWS:
            audio = f"audio/{speaker}/{uid}.wav"
            (corpus / audio).parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(["espeak-ng", "-s", str(int(170 * speed)), "-w", str(corpus / audio), text], check=True)
            f.write(json.dumps({"id": uid, "speaker": speaker, "voices": voices, "weights": weights, "speed": speed,
                                "text": text, "audio": audio}) + "\n")
    out = tmp_path_factory.mktemp("features")
    prepare = _load("prepare")
    args = ["--corpus", str(corpus), "--out", str(out), "--dev-percent", "40", "--shard-size", "2"]
    assert prepare.main(args) == 0
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.safetensors")}
    assert prepare.main(args) == 0  # resumable: finished shards are kept, not recomputed
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.safetensors")} == stamps
    return out


def test_prepare_splits_sentences(features: Path) -> None:
    train = _load("train")
    summary = json.loads((features / "prepare.json").read_text())
    tr, dev = train.load_split(features, "train"), train.load_split(features, "dev")
    assert len(tr) + len(dev) == len(ROWS) and len(tr) and len(dev)
    assert summary["splits"]["dev"]["utterances"] == len(dev)
    assert not {r["text"] for r in tr.rows} & {r["text"] for r in dev.rows}
    assert all(m.shape[1] == 80 and len(m) > 50 for m in tr.mel) and tr.voice.shape[1] == 28
    blend = next(i for i, r in enumerate(tr.rows + dev.rows) if r["speaker"] == "k001")
    voice = np.concatenate([tr.voice, dev.voice])[blend]
    assert voice.sum() == pytest.approx(1.0) and (voice > 0).sum() == 2


def _train(features: Path, exp: Path, *extra: str) -> None:
    args = ["--exp", str(exp), "--features", str(features), "--tiny", "--batch-size", "2", "--max-steps", "4",
            "--warmup-steps", "2", "--log-every", "100", "--dev-every", "2", "--num-threads", "1", *extra]
    assert _load("train").main(args) == 0


def _final(exp: Path) -> dict:
    from safetensors.torch import load_file

    ckpt = exp / "checkpoints" / "step-4"
    return {**load_file(str(ckpt / "model.safetensors")),
            **{f"opt.{k}": v for k, v in load_file(str(ckpt / "optimizer.safetensors")).items()}}


def test_resume_export_and_speak(features: Path, tmp_path: Path) -> None:
    from speechstream.tts import Synthesizer
    from speechstream.tts.torch.checkpoint import load_acoustic
    from speechstream.vocoder.torch.checkpoint import save_vocoder_dir
    from vocoder_helpers import make_generator

    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    _train(features, straight)
    _train(features, resumed, "--stop-after", "2")
    assert (resumed / "checkpoints" / "latest").read_text().strip() == "step-2"
    with open(resumed / "train.csv", "a") as f:  # a row an interrupted run logged after its last checkpoint
        f.write("3,9,9,9,9,9,9,9,2,1.0,1.0\n")
    _train(features, resumed)
    a, b = _final(straight), _final(resumed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    rows = (straight / "train.csv").read_text().splitlines()
    again = (resumed / "train.csv").read_text().splitlines()
    assert [r.rsplit(",", 1)[0] for r in again] == [r.rsplit(",", 1)[0] for r in rows]  # all but the seconds
    assert rows[0].startswith("step,loss") and len(rows) == 5 and all(float(r.split(",")[1]) > 0 for r in rows[1:])
    assert len((straight / "dev.csv").read_text().splitlines()) == 3  # header, steps 2 and 4

    model_dir = tmp_path / "model"
    assert _load("train").main(["--exp", str(straight), "--export-model-dir", str(model_dir)]) == 0
    config = json.loads((model_dir / "config.json").read_text())
    assert config["step"] == 4 and "af_sarah" in config["untrained_voices"] and "af_heart" not in config["untrained_voices"]
    vocoder = save_vocoder_dir(make_generator(), tmp_path / "vocoder")
    synth = Synthesizer.from_dir(model_dir, vocoder=vocoder)
    audio = synth.synthesize("Hello there.", voice="af_heart:0.6,bm_george:0.4")
    assert audio.dtype == np.float32 and len(audio) > 0 and np.isfinite(audio).all()
    weights = load_acoustic(model_dir).state_dict()
    table = weights["speaker_table"]
    names = list(synth.voices)
    trained_af = [names.index(n) for n in names if n.startswith("af") and n not in config["untrained_voices"]]
    assert torch.allclose(table[names.index("af_sarah")], table[trained_af].mean(0))  # group mean, not noise

    wip = tmp_path / "wip"
    assert _load("train").main(["--exp", str(straight), "--export-model-dir", str(wip), "--weights-only"]) == 0
    assert sorted(p.name for p in wip.iterdir()) == ["MODEL_CARD.md", "config.json", "model.safetensors"]
    more = tmp_path / "more"
    _train(features, more, "--init-from", str(wip), "--max-steps", "1")
    assert json.loads((more / "config.json").read_text()) == config["model"]
