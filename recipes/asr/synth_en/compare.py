#!/usr/bin/env python3
"""Compare training recipes at a fixed compute budget: the same CPU minutes each, from the same weights.

Every variant continues `--init-from` (a save_model_dir, e.g. models/asr_en_wip) for `--cpu-minutes` of
process CPU time on one thread (train.py --max-cpu-minutes: the updates and their data loading; dev scoring
is not counted), then its newest checkpoint is exported and scored through the ONNX runtime
(evaluate.py, greedy CTC) on the held-out dev voices: Kokoro `af_sarah` + `bm_daniel` and the Debian dev
persons (festival ked + espeak variants). Learning curves are in EXP/VARIANT/dev.csv.

    # two variants at once, one core each (CPU time is what is budgeted, so they do not bias each other)
    python recipes/asr/synth_en/compare.py --out /work/exp/cmp --variants base,specaug
    python recipes/asr/synth_en/compare.py --out /work/exp/cmp --variants small_batch,kokoro_heavy
    python recipes/asr/synth_en/compare.py --out /work/exp/cmp --table    # -> OUT/compare.md, compare.json

A finished variant (its eval/results.json exists) is skipped; an interrupted one resumes.
"""
from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

HERE = Path(__file__).resolve().parent
DATA = Path("/work/data")
DEBIAN_TRAIN = DATA / "synth_en_fbank/cuts_train.jsonl.gz"
KOKORO_TRAIN = [DATA / f"kokoro_fbank/cuts_train{s}.jsonl.gz" for s in ("", "_sp0.9", "_sp1.1")]
DEV_AUDIO = {"kokoro_dev": DATA / "kokoro_heldout/cuts_dev.jsonl.gz", "debian_dev": DATA / "synth_en/cuts_dev.jsonl.gz"}


@dataclass
class Variant:
    about: str
    args: list[str] = field(default_factory=list)
    s_per_update: float = 1.8  # CPU seconds per update, measured: sets the cosine's length to fit the budget
    spec_augment: bool = False
    kokoro_heavy: bool = False  # every other Debian cut: Kokoro 32 % -> 48 % of the training audio


VARIANTS = {
    "start": Variant("the starting weights (--init-from), not trained: the reference every variant must beat"),
    "base": Variant("the running recipe: 120 s batches, peak lr 1.5e-3, no SpecAugment, VTLP 0.1, Kokoro 32 %"),
    "specaug": Variant("base + SpecAugment (2 freq masks, time masks): regularise towards unseen voices",
                       spec_augment=True, s_per_update=1.85),
    "small_batch": Variant("60 s batches at peak lr 2e-3: twice the updates per CPU-hour",
                           ["--max-duration", "60", "--peak-lr", "2e-3"], s_per_update=0.95),
    "kokoro_heavy": Variant("half the Debian cuts: Kokoro 48 % of an epoch, natural voices seen more often",
                            kokoro_heavy=True),
}


def half_debian(out: Path) -> Path:
    """Every other cut of the Debian train manifest (deterministic), written once."""
    path = out / "debian_half.jsonl.gz"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        with gzip.open(DEBIAN_TRAIN, "rt") as f, gzip.open(tmp, "wt") as g:
            for i, line in enumerate(f):
                if i % 2 == 0:
                    g.write(line)
        tmp.rename(path)
    return path


def run_variant(name: str, args: argparse.Namespace) -> None:
    v, exp = VARIANTS[name], args.out / name
    if (exp / "eval/results.json").exists():
        print(f"{name}: done already", flush=True)
        return
    exp.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    with open(exp / "train.log", "a") as log:
        if name == "start":
            shutil.copytree(args.init_from, exp / "model", dirs_exist_ok=True)
        else:
            train_variant(v, exp, args, log, env)
        score(exp, args, log, env)


def train_variant(v: Variant, exp: Path, args: argparse.Namespace, log: IO[str], env: dict[str, str]) -> None:
    py, train = sys.executable, str(HERE / "train.py")
    debian = half_debian(args.out) if v.kokoro_heavy else DEBIAN_TRAIN
    total = int(args.cpu_minutes * 60 / v.s_per_update)
    extra = [*v.args, *([] if v.spec_augment else ["--no-spec-augment"])]
    base = ["--peak-lr", "1.5e-3"] if "--peak-lr" not in extra else []
    cmd = [py, train, "--exp", str(exp), "--init-from", str(args.init_from), *base, "--warmup-steps",
           str(max(50, total // 10)), "--lr-schedule", "cosine", "--total-steps", str(total),
           "--max-cpu-minutes", str(args.cpu_minutes), "--dev-every", str(max(100, total // 4)), "--dev-utts",
           "200", "--ctc-weight", "1.0", "--vtlp", "0.1", "--num-threads", "1", "--no-progress",
           "--train-cuts", str(debian), *map(str, KOKORO_TRAIN), "--dev-cuts", str(DATA / "dev_mix.jsonl.gz"),
           *extra]
    subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT, env=env)
    subprocess.run([py, train, "--exp", str(exp), "--export-model-dir", str(exp / "model"), "--average", "1"],
                   check=True, stdout=log, stderr=subprocess.STDOUT, env=env)


def score(exp: Path, args: argparse.Namespace, log: IO[str], env: dict[str, str]) -> None:
    """ONNX graphs for EXP/model, then greedy-CTC WER per look-ahead on the dev voices -> EXP/eval."""
    py = sys.executable
    subprocess.run([str(Path(py).parent / "speechstream"), "export", str(exp / "model")], check=True,
                   stdout=log, stderr=subprocess.STDOUT, env=env)
    cuts = args.out / "dev_cuts"  # evaluate.py names a split after its manifest's file name
    cuts.mkdir(exist_ok=True)
    for split, src in DEV_AUDIO.items():
        link = cuts / f"cuts_{split}.jsonl.gz"
        if not link.exists():
            link.symlink_to(src)
    subprocess.run([py, str(HERE / "evaluate.py"), "--model", str(exp / "model"), "--cuts",
                    *(str(cuts / f"cuts_{s}.jsonl.gz") for s in DEV_AUDIO), "--decodings", "ctc-greedy",
                    "--max-utts", str(args.max_utts), "--no-offline", "--out", str(exp / "eval")],
                   check=True, stdout=log, stderr=subprocess.STDOUT, env=env)


def summarise(name: str, out: Path) -> dict | None:
    exp = out / name
    if not (exp / "eval/results.json").exists():
        return None
    rows, state = [], {}
    if (exp / "train.csv").exists():
        with open(exp / "train.csv") as f:
            rows = list(csv.DictReader(f))
        latest = exp / "checkpoints" / (exp / "checkpoints/latest").read_text().strip()
        state = json.loads((latest / "state.json").read_text())["train_state"]
    wer = {f"{r['split']} {int(r['lookahead_ms'])}": round(r["wer"], 1)
           for r in json.loads((exp / "eval/results.json").read_text())}
    audio_h = sum(float(r["batch_audio_s"]) for r in rows) / 3600
    return {"variant": name, "about": VARIANTS[name].about, "updates": len(rows), "audio_h": round(audio_h, 1),
            "cpu_min": round(state.get("cpu_seconds", 0) / 60, 1), "wer": wer}


def table(out: Path) -> None:
    res = [s for n in VARIANTS if (s := summarise(n, out))]
    (out / "compare.json").write_text(json.dumps(res, indent=1) + "\n")
    cols = sorted({k for r in res for k in r["wer"]}, key=lambda c: (c.split()[0], int(c.split()[1])))
    lines = ["| variant | updates | CPU min | audio h | " + " | ".join(f"WER {c} ms" for c in cols) + " |",
             "|---|---|---|---|" + "---|" * len(cols)]
    for r in res:
        lines.append(f"| {r['variant']}: {r['about']} | {r['updates']} | {r['cpu_min']} | {r['audio_h']} | "
                     + " | ".join(str(r["wer"].get(c, "")) for c in cols) + " |")
    (out / "compare.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    plot_curves(res, out / "curves.png")


def plot_curves(res: list[dict], path: Path) -> None:
    """Dev-mix greedy-CTC WER (480 ms) against CPU minutes spent, one line per trained variant."""
    import matplotlib

    matplotlib.use("Agg")  # headless
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for r in res:
        if not r["updates"]:
            continue
        with open(path.parent / r["variant"] / "dev.csv") as f:
            dev = [d for d in csv.DictReader(f) if d["att_context"] == "64,5"]
        per_update = r["cpu_min"] / r["updates"]
        ax.plot([int(d["step"]) * per_update for d in dev], [100 * float(d["wer"]) for d in dev], "o-",
                label=r["variant"])
    ax.set(xlabel="CPU minutes (one thread)", ylabel="dev-mix WER %, 480 ms", title="fixed-budget comparison")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--variants", default=",".join(VARIANTS), help=f"any of {', '.join(VARIANTS)}")
    p.add_argument("--init-from", type=Path, default=Path("models/asr_en_wip"))
    p.add_argument("--cpu-minutes", type=float, default=30.0)
    p.add_argument("--max-utts", type=int, default=150, help="dev utterances scored per split")
    p.add_argument("--table", action="store_true", help="only gather finished variants into a table")
    args = p.parse_args(argv)
    if not args.table:
        for name in args.variants.split(","):
            run_variant(name, args)
    table(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
