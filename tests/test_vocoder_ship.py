"""recipes/vocoder/ship.py: the shipped directory holds the runtime files, and its model card states what the
inputs say (the selected training cuts, the training log's time, the weights' size, the evaluation table)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("torch")
pytest.importorskip("lhotse")

from tests.vocoder_helpers import make_generator  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TABLE = "| system | NFE | MR-STFT |\n|---|---|---|\n| midpoint | 2 | 0.5 |"


def _ship():
    spec = importlib.util.spec_from_file_location("vocoder_ship", ROOT / "recipes/vocoder/ship.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _manifest(tmp: Path) -> Path:
    """Five 1 s cuts of two persons; cut 2 is an augmented copy."""
    from lhotse import CutSet, Recording, SupervisionSegment
    from lhotse.cut import MonoCut

    cuts = []
    for i in range(5):
        wav = tmp / f"u{i}.wav"
        sf.write(wav, np.zeros(16000, np.float32), 16000)
        rec = Recording.from_file(wav, recording_id=f"r{i}")
        custom = {"person": f"p{i % 2}", "engine": "flite", "aug": {"clean": i != 2}}
        sup = SupervisionSegment(f"s{i}", f"r{i}", 0, 1.0, custom=custom)
        cuts.append(MonoCut(f"c{i}", 0, 1.0, 0, recording=rec, supervisions=[sup]))
    path = tmp / "cuts.jsonl.gz"
    CutSet.from_cuts(cuts).to_file(path)
    return path


def test_ship_writes_the_files_and_a_card_from_the_measurements(tmp_path: Path) -> None:
    from speechstream.vocoder.torch.checkpoint import save_vocoder_dir

    generator = make_generator()
    model = save_vocoder_dir(generator, tmp_path / "model", extra={"step": 1234})
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "RESULTS.md").write_text("# Vocoder evaluation\n\n" + TABLE + "\n")
    (tmp_path / "exp").mkdir()
    # two runs: 0.5 h, then a resumed one of 0.25 h (its clock starts again)
    log = ["step 50 loss 0.5 grad 0.1 (900 s)", "step 100 loss 0.4 grad 0.1 (1800 s)", "resuming",
           "step 150 loss 0.3 grad 0.1 (450 s)", "step 200 loss 0.3 grad 0.1 (900 s)"]
    (tmp_path / "exp" / "train.log").write_text("\n".join(log) + "\n")
    out = tmp_path / "shipped"
    args = ["--model", str(model), "--eval", str(tmp_path / "eval"), "--exp", str(tmp_path / "exp"),
            "--train-manifest", str(_manifest(tmp_path)), "--max-utts", "3", "--out", str(out)]
    assert _ship().main(args) == 0

    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["config.json", "model.safetensors", "generator.onnx", "RESULTS.md", "MODEL_CARD.md"])
    assert (out / "generator.onnx").read_bytes() == (model / "generator.onnx").read_bytes()
    card = (out / "MODEL_CARD.md").read_text()
    n_params = sum(p.numel() for p in generator.parameters())
    assert f"{n_params / 1e6:.2f} M parameters" in card
    assert "1234 updates, 0.8 wall hours" in card  # 0.5 h + 0.25 h
    # 4 clean cuts, 3 evenly spaced: c0, c3, c4 -> persons p0 and p1, 3 s
    assert "3 utterances (0.0 h, clean speech only)" in card and "voices: p0, p1." in card
    assert TABLE in card
    assert f"algorithmic latency {generator.config.latency_ms:g} ms" in card


def test_ship_names_what_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--model", str(tmp_path / "nope"), "--eval", str(tmp_path), "--exp", str(tmp_path),
            "--train-manifest", str(tmp_path / "cuts.jsonl.gz"), "--out", str(tmp_path / "out")]
    assert _ship().main(args) == 1
    err = capsys.readouterr().err
    assert "generator.onnx" in err and "RESULTS.md" in err and "train.log" in err
    assert not (tmp_path / "out").exists()
