#!/usr/bin/env python3
"""Draw an experiment's training curves (train.csv, dev.csv) into EXP/curves.png.

    python recipes/asr/synth_en/plot.py --exp /work/exp/asr_synth_en [--out curves.png] [--smooth 50]

Top: train loss (total, CTC, RNN-T; a running mean over --smooth steps) and dev losses; bottom: dev greedy
CTC WER per attention context (look-ahead).
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import defaultdict
from pathlib import Path


def read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def running_mean(xs: list[float], n: int) -> list[float]:
    out, acc = [], 0.0
    for i, x in enumerate(xs):
        acc += x
        if i >= n:
            acc -= xs[i - n]
        out.append(acc / min(i + 1, n))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp", type=Path, required=True)
    p.add_argument("--out", type=Path, help="default: EXP/curves.png")
    p.add_argument("--smooth", type=int, default=50, help="running mean window of train losses (steps)")
    args = p.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")  # headless
    import matplotlib.pyplot as plt

    train, dev = read_csv(args.exp / "train.csv"), read_csv(args.exp / "dev.csv")
    if not train:
        print(f"no {args.exp / 'train.csv'} yet", file=sys.stderr)
        return 1
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 8), sharex=True)
    steps = [int(r["step"]) for r in train]
    n = max(1, args.smooth)
    for key, style in (("loss", "-"), ("ctc", "--"), ("rnnt", ":")):
        ax1.plot(steps, running_mean([float(r[key]) for r in train], n), style, label=f"train {key}")
    by_ctx: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in dev:
        by_ctx[r["att_context"]].append(r)
    for ctx, rows in by_ctx.items():
        s = [int(r["step"]) for r in rows]
        ax1.plot(s, [float(r["loss"]) for r in rows], "o-", ms=3, label=f"dev loss ctx {ctx}")
        ax2.plot(s, [100 * float(r["wer"]) for r in rows], "o-", ms=3, label=f"ctx (left,right) {ctx}")
    ax1.set_ylabel("loss per utterance")  # batches differ in length (buckets): smooth before reading
    ax1.set_yscale("log")
    ax1.legend(fontsize=8)
    ax1.grid(alpha=0.3)
    ax2.set_ylabel("dev greedy CTC WER (%)")
    ax2.set_xlabel("update")
    if by_ctx:
        ax2.legend(fontsize=8)
    else:
        ax2.text(0.5, 0.5, "no dev evaluation yet", ha="center", transform=ax2.transAxes)
    ax2.grid(alpha=0.3)
    hours = sum(float(r["batch_audio_s"]) for r in train) / 3600
    rate = float(train[-1]["audio_h_per_h"])
    fig.suptitle(f"{args.exp.name}: {steps[-1]} updates, {hours:.1f} audio-h seen, {rate:.1f} audio-h/h")
    fig.tight_layout()
    out = args.out or args.exp / "curves.png"
    fig.savefig(out, dpi=100)
    plt.close(fig)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
