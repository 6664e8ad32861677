"""Smoke test of the ASR training recipe on 6 espeak-ng utterances: features stored with lhotse, a tiny
model overfits a batch, and a run stopped half-way and resumed ends with exactly the same weights and
optimizer state as one run straight through (the data order, VTLP, SpecAugment, attention contexts and
dropout are all replayed)."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
lhotse = pytest.importorskip("lhotse")
pytest.importorskip("torchaudio")
pytest.importorskip("sentencepiece")

ROOT = Path(__file__).resolve().parents[1]
TEXTS = ["the cat sat on the mat", "a dog ran in the park", "she sells sea shells",
         "green trees grow tall", "we sing a happy song", "the sun is hot today"]
# The runtime's numpy Fbank when it is there, else kaldi-native-fbank with the options it equals.
BACKEND = "speechstream" if importlib.util.find_spec("speechstream.audio.fbank") else "kaldi-native-fbank"
pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")


def _recipe(name: str):
    spec = importlib.util.spec_from_file_location(f"synth_en_{name}", ROOT / "recipes/asr/synth_en" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """A 6-utterance lhotse corpus (train = dev) with features stored by compute_features.py."""
    from lhotse import CutSet, Recording, RecordingSet, SupervisionSegment, SupervisionSet

    root = tmp_path_factory.mktemp("corpus")
    recs, sups = [], []
    for i, text in enumerate(TEXTS):
        wav = root / f"u{i}.wav"
        subprocess.run(["espeak-ng", "-v", "en", "-s", "200", "-w", str(wav), text], check=True)
        rec = Recording.from_file(wav, recording_id=f"u{i}")
        recs.append(rec)
        sups.append(SupervisionSegment(f"u{i}", f"u{i}", 0.0, rec.duration, text=text.upper(), speaker="s"))
    cuts = CutSet.from_manifests(RecordingSet.from_recordings(recs), SupervisionSet.from_segments(sups))
    for split in ("train", "dev"):
        cuts.to_file(root / f"cuts_{split}.jsonl.gz")
    fbank = root / "fbank"
    _recipe("compute_features").main(["--corpus", str(root), "--out", str(fbank), "--splits", "train,dev",
                                      "--speed-perturb", "1.1", "--jobs", "1", "--shard-size", "4",
                                      "--fbank-backend", BACKEND])
    return fbank


def _setup(fbank: Path, exp: Path, max_steps: int, spec_augment: bool = True, lr: float = 3e-3,
           ctc_weight: float = 0.3, subsampling_factor: int = 8):
    from lhotse import CutSet

    from speechstream.asr.config import ASRModelConfig, ConformerConfig
    from speechstream.asr.tokenizer import build_char_vocab
    from speechstream.asr.torch.model import ASRModel
    from speechstream.train.data import SamplerConfig
    from speechstream.train.loop import LRSchedule, TrainConfig, Trainer
    from speechstream.train.specaugment import SpecAugmentConfig
    from speechstream.train.vtlp import VtlpConfig

    cuts = CutSet.from_file(fbank / "cuts_train.jsonl.gz") + CutSet.from_file(
        fbank / "cuts_train_sp1.1.jsonl.gz")
    tok = build_char_vocab(TEXTS, str(exp / "tokenizer"))
    torch.manual_seed(0)
    enc = ConformerConfig.tiny(dropout=0.1, att_contexts=((8, 0), (8, 1), (8, 3)),
                               subsampling_factor=subsampling_factor)
    model = ASRModel(ASRModelConfig.tiny(encoder=enc, vocab_size=tok.vocab_size, ctc_weight=ctc_weight))
    no_masks = SpecAugmentConfig(num_freq_masks=0, max_time_masks=0)
    cfg = TrainConfig(num_epochs=100, schedule=LRSchedule(peak_lr=lr, warmup_steps=2),
                      sampler=SamplerConfig(max_duration=4.5, num_buckets=2),
                      spec_augment=SpecAugmentConfig() if spec_augment else no_masks,
                      vtlp=VtlpConfig(max_warp=0.1 if spec_augment else 0.0),
                      dev_every_steps=0, max_steps=max_steps, progress=False)
    return Trainer(model, tok, exp, cfg), cuts.to_eager()


def test_features_stored(corpus: Path) -> None:
    from lhotse import CutSet

    cuts = CutSet.from_file(corpus / "cuts_train.jsonl.gz")
    sp = CutSet.from_file(corpus / "cuts_train_sp1.1.jsonl.gz")
    assert len(cuts) == len(sp) == len(TEXTS)
    c, s = cuts[0], sp[0]
    f = c.load_features()
    assert f.shape == (c.num_frames, 80) and c.features.type == "speechstream-fbank"
    assert s.id.endswith("_sp1.1") and abs(s.duration - c.duration / 1.1) < 0.01
    # idempotent: a second run finds everything done and changes nothing
    before = (corpus / "cuts_train.jsonl.gz").stat().st_mtime_ns
    _recipe("compute_features").main(["--corpus", str(corpus.parent), "--out", str(corpus), "--splits", "train",
                                      "--speed-perturb", "1.1", "--jobs", "1", "--fbank-backend", BACKEND])
    assert (corpus / "cuts_train.jsonl.gz").stat().st_mtime_ns == before


def test_overfits_one_batch(corpus: Path, tmp_path: Path) -> None:
    from lhotse import CutSet

    from speechstream.train.data import AsrDataset

    trainer, cuts = _setup(corpus, tmp_path, 0, spec_augment=False, lr=1e-2)
    batch = AsrDataset(trainer.tokenizer)[CutSet.from_cuts(list(cuts)[:2])]
    losses = [trainer.train_step(batch)["loss"] for _ in range(80)]
    assert losses[-1] < 0.5 * losses[0], losses


def test_encoder_learns_the_words_through_ctc(corpus: Path, tmp_path: Path) -> None:
    """CTC alone (RNN-T's predictor could lower the total loss by memorising the text without listening):
    after training on two utterances, greedy CTC on the encoder reads their words back. 4x subsampling: at 8x
    these short, fast utterances have fewer encoder frames than characters, which CTC cannot align."""
    from lhotse import CutSet

    from speechstream.asr.ctc_decoding import CtcGreedyDecoder
    from speechstream.train.data import AsrDataset

    trainer, cuts = _setup(corpus, tmp_path, 0, spec_augment=False, lr=3e-3, ctc_weight=1.0,
                           subsampling_factor=4)
    batch = AsrDataset(trainer.tokenizer)[CutSet.from_cuts(list(cuts)[:2])]
    for _ in range(300):
        trainer.train_step(batch)
    model = trainer.model.eval()
    decoder = CtcGreedyDecoder(model.blank_id)
    with torch.no_grad():
        enc, lens = model(batch.feats, batch.feat_lens, 1)
        log_probs = model.ctc(enc)
    for i, text in enumerate(batch.texts):
        tokens = decoder.step(log_probs[i, : int(lens[i])].numpy(), decoder.init_state()).tokens
        assert trainer.tokenizer.decode(tokens) == text


def test_resume_is_exact(corpus: Path, tmp_path: Path) -> None:
    straight, cuts = _setup(corpus, tmp_path / "a", 8)
    straight.fit(cuts)
    first, _ = _setup(corpus, tmp_path / "b", 4)
    first.fit(cuts)  # stops with a checkpoint after 4 updates, like a killed run's last save
    resumed, _ = _setup(corpus, tmp_path / "b", 8)  # a fresh process: new model, state from disk
    assert resumed.state["step"] == 4 and resumed.resumed_from is not None
    resumed.fit(cuts)
    keys = ("step", "epoch", "batches_done", "audio_seconds")
    assert [straight.state[k] for k in keys] == [resumed.state[k] for k in keys]
    assert straight.state["epoch"] >= 1  # the 8 updates crossed an epoch end
    for (k, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), k
    sa, sb = straight.optimizer.state_dict(), resumed.optimizer.state_dict()
    assert sa["param_groups"] == sb["param_groups"]
    for i in sa["state"]:
        for k in sa["state"][i]:
            assert torch.equal(sa["state"][i][k], sb["state"][i][k]), (i, k)
    rows = (tmp_path / "b" / "train.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 8  # the header and each step once


def test_cpu_budget_stops_with_a_checkpoint(corpus: Path, tmp_path: Path) -> None:
    """--max-cpu-minutes: the run ends (with a checkpoint) at the first update past the budget; the CPU time
    spent is kept in the checkpoint, so a resume with the same budget has nothing left to do but one update."""
    import dataclasses

    trainer, cuts = _setup(corpus, tmp_path, 0)
    trainer.config = dataclasses.replace(trainer.config, max_cpu_minutes=1e-6)
    trainer.fit(cuts)
    assert trainer.state["step"] == 1 and trainer.state["cpu_seconds"] > 0
    again, _ = _setup(corpus, tmp_path, 0)
    assert again.resumed_from is not None and again.state["cpu_seconds"] == trainer.state["cpu_seconds"]


def test_recipe_cli_and_export(corpus: Path, tmp_path: Path) -> None:
    train = _recipe("train")
    args = ["--exp", str(tmp_path / "exp"), "--fbank-dir", str(corpus), "--vocab-size", "40", "--d-model", "32",
            "--num-layers", "2", "--num-heads", "2", "--subsampling-channels", "16", "--conv-kernel", "5",
            "--att-contexts", "8,0;8,3", "--d-pred", "16", "--d-join", "24", "--max-duration", "6",
            "--num-buckets", "2", "--num-epochs", "1", "--dev-every", "2", "--no-progress"]
    assert train.main(args) == 0
    exp = tmp_path / "exp"
    assert (exp / "tokenizer" / "bpe.model").is_file() and (exp / "checkpoints" / "epoch-1").is_dir()
    assert "wer" in (exp / "dev.csv").read_text().splitlines()[0]
    if importlib.util.find_spec("speechstream.asr.torch.checkpoint") is not None:
        assert (exp / "model" / "tokens.txt").is_file()
    _recipe("plot").main(["--exp", str(exp)])
    assert (exp / "curves.png").is_file()
    _check_evaluate(exp / "model", corpus.parent, tmp_path / "eval")
    _check_ship(exp, tmp_path / "eval", tmp_path)
    _check_init_from(train, args, exp / "model", tmp_path / "finetune")


def _check_ship(exp: Path, eval_dir: Path, tmp: Path) -> None:
    """ship.py: the full set (fp32 graphs here: no int8 was scored) or the weights alone, each with a card
    that counts the run's updates."""
    updates = len((exp / "train.csv").read_text().splitlines()) - 1
    full = {"ctc.onnx", "encoder.onnx", "predictor.onnx", "joiner.onnx"}
    for extra, graphs in (([], full), (["--weights-only"], set())):
        out = tmp / f"shipped{len(extra)}"
        assert _recipe("ship").main(["--model", str(exp / "model"), "--eval", str(eval_dir), "--exp", str(exp),
                                     "--corpus", str(tmp), "--out", str(out), *extra]) == 0
        assert {f.name for f in out.glob("*.onnx")} == graphs
        assert {"config.json", "model.safetensors", "tokens.txt", "MODEL_CARD.md"} <= {f.name for f in out.iterdir()}
        assert f"{updates} updates" in (out / "MODEL_CARD.md").read_text()


def _check_init_from(train, args: list[str], model: Path, exp: Path) -> None:
    """--init-from starts a fresh run from a model dir: its tokenizer, config and weights (at learning rate 0
    the updates change nothing, so the exported model must equal the one it started from)."""
    from safetensors.numpy import load_file

    args = args[:args.index("--exp")] + ["--exp", str(exp)] + args[args.index("--exp") + 2:]
    args += ["--init-from", str(model), "--peak-lr", "0", "--d-model", "48"]
    assert train.main(args) == 0
    assert (exp / "tokenizer" / "tokens.txt").read_text() == (model / "tokens.txt").read_text()
    lineage = json.loads((exp / "model" / "training.json").read_text())["init_from"]
    assert lineage["model_dir"] == str(model)
    assert lineage["step"] == json.loads((model / "training.json").read_text())["step"]
    before, after = load_file(model / "model.safetensors"), load_file(exp / "model" / "model.safetensors")
    assert before.keys() == after.keys()
    for name, value in before.items():
        np.testing.assert_array_equal(after[name], value, err_msg=name)


def _check_evaluate(model: Path, raw: Path, out: Path) -> None:
    """evaluate.py through the ONNX runtime on the recipe's own model: rows per look-ahead, the per-voice
    block (one speaker here, so it must repeat the split's score) and the table."""
    from speechstream.asr.torch.export import export_model_dir

    if not (model / "encoder.onnx").is_file():
        export_model_dir(model)
    _recipe("evaluate").main(["--model", str(model), "--cuts", str(raw / "cuts_dev.jsonl.gz"),
                              "--decodings", "ctc-greedy", "--no-offline", "--out", str(out)])
    rows = json.loads((out / "results.json").read_text())
    assert [r["lookahead_ms"] for r in rows] == sorted(r["lookahead_ms"] for r in rows) and len(rows) == 2
    for r in rows:
        assert r["utts"] == len(TEXTS) and r["by_voice"].keys() == {"s"}
        assert r["by_voice"]["s"]["wer"] == pytest.approx(r["wer"]) and r["by_voice"]["s"]["utts"] == len(TEXTS)
    assert "| dev | " in (out / "RESULTS.md").read_text()
