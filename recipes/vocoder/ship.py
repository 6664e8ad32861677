#!/usr/bin/env python3
"""Turn an exported, scored vocoder model directory into the shipped one: the files users need, and a
model card made from the measurements (never typed in).

    python recipes/vocoder/train.py --exp EXP --export-model-dir EXP/model
    python recipes/vocoder/evaluate.py --model EXP/model --cuts /work/data/synth_en/cuts_test.jsonl.gz \
        --out EXP/eval
    python recipes/vocoder/ship.py --model EXP/model --eval EXP/eval --exp EXP \
        --train-manifest /work/data/synth_en/cuts_train.jsonl.gz --max-utts 3000 --out models/vocoder_en

--train-manifest, --max-utts and --all-conditions are the ones training ran with: the card describes the
utterances that selection gives (train.select_cuts). Training time comes from EXP/train.log.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parents[1])]

from train import select_cuts  # noqa: E402

FILES = ("config.json", "model.safetensors", "generator.onnx")
MAX_MB = 20.0
ELAPSED = re.compile(r"^step \d+ .*\((\d+(?:\.\d+)?) s\)$")


def get_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, required=True, help="train.py --export-model-dir output")
    p.add_argument("--eval", type=Path, required=True, help="evaluate.py's --out (RESULTS.md)")
    p.add_argument("--exp", type=Path, required=True, help="the training experiment (train.log)")
    p.add_argument("--train-manifest", type=Path, required=True, help="the manifest training read")
    p.add_argument("--max-utts", type=int, default=0, help="as given to train.py")
    p.add_argument("--all-conditions", action="store_true", help="as given to train.py")
    p.add_argument("--out", type=Path, required=True)
    return p.parse_args(argv)


def training_hours(log: Path) -> float:
    """Wall hours of training: train.log's elapsed seconds restart with every resumed run, so the sum of
    each run's last value."""
    total, last = 0.0, 0.0
    for line in log.read_text().splitlines():
        m = ELAPSED.match(line.strip())
        if m:
            seconds = float(m.group(1))
            if seconds < last:  # a new run
                total += last
            last = seconds
    return (total + last) / 3600


def data_summary(cuts: list) -> dict[str, object]:
    """Utterances, hours, and the people and engines behind them (synth_en's `person` / `engine` fields)."""
    customs = [(c.supervisions[0].custom or {}) if c.supervisions else {} for c in cuts]
    return {"utterances": len(cuts), "hours": sum(c.duration for c in cuts) / 3600,
            "persons": sorted({str(k["person"]) for k in customs if "person" in k}),
            "engines": sorted({str(k["engine"]) for k in customs if "engine" in k})}


def num_parameters(weights: Path) -> int:
    from safetensors.numpy import load_file

    return sum(t.size for t in load_file(str(weights)).values())


def model_card(model: Path, results_md: str, data: dict, hours: float, args: argparse.Namespace) -> str:
    import json

    from speechstream.vocoder.model_dir import read_config

    c = read_config(model)
    step = json.loads((model / "config.json").read_text()).get("step", "?")
    kind = "mean flow (1-2 step jumps)" if c.mean_flow else "conditional flow matching"
    persons = ", ".join(data["persons"]) or "not recorded in the manifest"
    conditions = "every condition (clean and augmented)" if args.all_conditions else "clean speech only"
    return f"""# vocoder_en: streaming 16 kHz vocoder (chunked {kind})

Trained by `recipes/vocoder` on synthetic speech; this card is written by `ship.py` from the measurements.

## Model
- In: the toolkit's 80-bin Fbank log-mel frames (what ASR reads). Out: 16 kHz audio from the streaming ISTFT
  (n_fft {c.n_fft}, hop {c.hop_length}).
- {num_parameters(model / "model.safetensors") / 1e6:.2f} M parameters: d_model {c.d_model}, {c.num_layers} velocity blocks, {c.cond_layers} conditioning blocks, prior `{c.prior}`.
- Streaming: chunks of {c.chunk_frames} frames with a look-ahead of {c.lookahead_frames}: algorithmic latency {c.latency_ms:g} ms.
- Default sampler {c.solver.name}, NFE {c.solver.nfe} (`generator.onnx`); `speechstream bench vocoder` exports the
  others from `model.safetensors`.

## Data
{data['utterances']} utterances ({data['hours']:.1f} h, {conditions}) of `{args.train_manifest.name}`, evenly spaced;
engines: {", ".join(data["engines"]) or "?"}; voices: {persons}.

## Training
{step} updates, {hours:.1f} wall hours on one CPU thread.

## Results
{results_md.split(chr(10), 1)[1].strip()}

## Known limits
- Synthetic voices only: expect artefacts on human voices, music and noise it never heard.
- 16 kHz only; the input must be this toolkit's Fbank (80 slaney mel bins, 10 ms hop).
"""


def main(argv: list[str] | None = None) -> int:
    args = get_args(argv)
    missing = [str(p) for p in [*(args.model / f for f in FILES), args.eval / "RESULTS.md", args.exp / "train.log",
                                args.train_manifest] if not p.is_file()]
    if missing:
        print(f"ship.py: missing {', '.join(missing)}", file=sys.stderr)
        return 1
    size_mb = sum((args.model / f).stat().st_size for f in FILES) / 2**20
    if size_mb > MAX_MB:
        print(f"ship.py: the shipped files would take {size_mb:.1f} MB (limit {MAX_MB:g})", file=sys.stderr)
        return 1
    data = data_summary(select_cuts(args.train_manifest, args.max_utts, args.all_conditions))
    results_md = (args.eval / "RESULTS.md").read_text()
    card = model_card(args.model, results_md, data, training_hours(args.exp / "train.log"), args)
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    for f in FILES:
        shutil.copyfile(args.model / f, args.out / f)
    shutil.copyfile(args.eval / "RESULTS.md", args.out / "RESULTS.md")
    (args.out / "MODEL_CARD.md").write_text(card)
    print(f"wrote {args.out}: {len(FILES) + 2} files, {size_mb:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
