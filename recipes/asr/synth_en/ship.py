#!/usr/bin/env python3
"""Turn a scored model directory into the shipped one: the files users need, and a model card made from
the measurements (never typed in).

    # 1. a model dir from the checkpoints, with every graph (fp32 and int8)
    python recipes/asr/synth_en/train.py --exp EXP --export-model-dir EXP/model --average 3
    speechstream export EXP/model --int8
    # 2. score it (RESULTS.md + results.json); --int8 scores the quantized graphs too
    python recipes/asr/synth_en/evaluate.py --model EXP/model --int8 --pocketsphinx --out EXP/eval \
        --cuts /work/data/synth_en_fbank/cuts_test.jsonl.gz /work/data/synth_en_fbank/cuts_test_aug.jsonl.gz
    # 3. ship (--weights-only: the weights to continue from, models/asr_en_wip, scored but without graphs)
    python recipes/asr/synth_en/ship.py --model EXP/model --eval EXP/eval --exp EXP --out models/asr_en

The runtime graphs ship as int8 when, for every split and look-ahead, int8 greedy decoding costs at most
--int8-tolerance WER points against fp32 (each ONNX file carries its own weights: shipping one precision
keeps the directory small); otherwise as fp32. ctc.onnx (sherpa-onnx's contract) is always fp32.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
from pathlib import Path

ALWAYS = ("config.json", "model.safetensors", "tokens.txt", "bpe.model", "ctc.onnx", "training.json")
GRAPHS = ("encoder", "predictor", "joiner")
MAX_MB = 60.0


def get_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, required=True, help="model dir with fp32 and int8 graphs")
    p.add_argument("--eval", type=Path, required=True, help="evaluate.py's --out (results.json, RESULTS.md)")
    p.add_argument("--exp", type=Path, required=True, help="the training experiment (train.csv, for the card)")
    p.add_argument("--corpus", type=Path, nargs="+", default=[Path("/work/data/synth_en")],
                   help="the corpora trained and scored on (their summary.json), listed in the card")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--int8-tolerance", type=float, default=0.3, help="WER points int8 may cost")
    p.add_argument("--history", type=Path, help="markdown on how the run went (phases, commands), for the card")
    p.add_argument("--weights-only", action="store_true",
                   help="a run's newest weights to continue from (--init-from): no ONNX graphs, scored anyway")
    return p.parse_args(argv)


def int8_holds(rows: list[dict], tolerance: float) -> tuple[bool, float | None]:
    """Whether every int8 row is within `tolerance` WER points of its fp32 row; the worst difference."""
    fp32 = {(r["split"], r["method"], r["lookahead_ms"]): r["wer"] for r in rows}
    diffs = [r["wer"] - fp32[(r["split"], r["method"][:-len(" int8")], r["lookahead_ms"])]
             for r in rows if r["method"].endswith(" int8")]
    if not diffs:
        return False, None
    return max(diffs) <= tolerance, max(diffs)


def training_summary(exp: Path) -> dict[str, float]:
    """Steps (and those with the RNN-T loss), audio hours seen and wall hours of training, from train.csv
    (one row per update)."""
    with (exp / "train.csv").open() as f:
        rows = list(csv.DictReader(f))
    wall_s = sum(float(r["step_s"]) for r in rows)
    return {"steps": int(rows[-1]["step"]), "rnnt_steps": sum(float(r["rnnt"]) != 0 for r in rows),
            "audio_hours": sum(float(r["batch_audio_s"]) for r in rows) / 3600, "wall_hours": wall_s / 3600}


def graphs_line(precision: str | None, int8_diff: float | None) -> str:
    if precision is None:
        return "Weights only, no ONNX graphs: `speechstream export DIR --int8` writes them."
    int8 = "not scored" if int8_diff is None else f"worst int8 - fp32 difference {int8_diff:+.2f} WER points"
    return (f"Runtime graphs shipped as **{precision}** ({int8}); `ctc.onnx` is fp32 (sherpa-onnx's NeMo CTC "
            "contract).")


def lineage(training: dict) -> str:
    """The runs a model was fine-tuned from (training.json's nested `init_from`), newest first."""
    lines, prior = [], training.get("init_from")
    while prior:
        lines.append(f"- started from `{prior['model_dir']}`: {prior.get('step', '?')} updates, "
                     f"{prior.get('audio_hours_seen', 0):.0f} audio hours seen")
        prior = prior.get("init_from")
    return "\n".join(lines) + "\n" if lines else ""


def corpus_line(name: str, summary: dict) -> str:
    """One corpus's splits (hours, speakers, persons, hours by engine) from its summary.json: the recipe's
    per-split form, or a one-split corpus's flat form (the shared Kokoro corpus)."""
    splits = summary.get("splits") or {"train": summary}
    parts = []
    for split, s in splits.items():
        who = f"{s['speakers']} speakers" + (f" / {s['persons']} persons" if "persons" in s else "")
        engines = ", ".join(f"{e} {h:.1f} h" for e, h in s.get("hours_by_engine", {}).items())
        parts.append(f"{split} {s['hours']:.1f} h / {who}" + (f" ({engines})" if engines else ""))
    return f"- `{name}`: " + "; ".join(parts)


def model_card(config: dict, results_md: str, train: dict[str, float], corpora: dict[str, dict],
               precision: str | None, int8_diff: float | None, history: str = "", name: str = "asr_en") -> str:
    enc = config["model"]["encoder"]
    data = "\n".join(corpus_line(n, c) for n, c in corpora.items())
    return f"""# {name}: streaming English ASR (cache-aware Conformer, CTC + RNN-T)

Trained by `recipes/asr/synth_en` on synthetic speech only; this card is written by `ship.py` from the
measurements.

## Model
- Conformer encoder: {enc['num_layers']} layers, d_model {enc['d_model']}, {enc['num_heads']} heads, ff x{enc['ff_mult']},
  conv kernel {enc['conv_kernel']}, {enc['subsampling_factor']}x subsampling; look-aheads (left, right) in encoder frames:
  {enc['att_contexts']} (default index {enc['default_att_context']}); vocabulary {config['model']['vocab_size']} (BPE + blank).
- {graphs_line(precision, int8_diff)}

## Data
Synthetic speech: Debian main voices (espeak-ng, flite, festival; augmented with reverberation, telephone band,
noise and gain) and, where listed, Kokoro-82M voices and blends of them (clean), reading WordNet examples,
fortunes and the World English Bible. Dev and test voices (persons) and sentences are held out of training.
{data}

## Training
{train['steps']} updates ({train['rnnt_steps']} of them with the RNN-T loss, the rest CTC alone),
{train['audio_hours']:.0f} audio hours seen, {train['wall_hours']:.1f} wall hours on 2 CPU cores.
{history}
## Results
{results_md.split(chr(10), 1)[1].strip()}

## Known limits
- Synthetic voices only: expect higher error rates on human speech, accents and spontaneous speaking styles.
- Text is lower case letters and apostrophes; no punctuation, digits or casing.
"""


def main(argv: list[str] | None = None) -> int:
    args = get_args(argv)
    rows = json.loads((args.eval / "results.json").read_text())
    holds, diff = int8_holds(rows, args.int8_tolerance)
    if args.weights_only:
        names, precision = [n for n in ALWAYS if n != "ctc.onnx" and (args.model / n).is_file()], None
    else:
        precision = "int8" if holds else "fp32"
        suffix = ".int8.onnx" if holds else ".onnx"
        names = [n for n in ALWAYS if (args.model / n).is_file()] + [g + suffix for g in GRAPHS]
    missing = [n for n in names if not (args.model / n).is_file()]
    if missing:
        print(f"{args.model} lacks {missing} (run `speechstream export {args.model} --int8`)", file=sys.stderr)
        return 1
    size_mb = sum((args.model / n).stat().st_size for n in names) / 2**20
    if size_mb > MAX_MB:
        print(f"the shipped files would take {size_mb:.1f} MB (limit {MAX_MB:g})", file=sys.stderr)
        return 1
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    for n in names:
        shutil.copyfile(args.model / n, args.out / n)
    corpora = {c.name: json.loads((c / "summary.json").read_text()) for c in args.corpus
               if (c / "summary.json").is_file()}
    config = json.loads((args.model / "config.json").read_text())
    results_md = (args.eval / "RESULTS.md").read_text()
    history = "\n" + args.history.read_text().strip() + "\n" if args.history else ""
    training_json = args.model / "training.json"
    if training_json.is_file():
        history = lineage(json.loads(training_json.read_text())) + history
    card = model_card(config, results_md, training_summary(args.exp), corpora, precision, diff, history, args.out.name)
    (args.out / "MODEL_CARD.md").write_text(card)
    shutil.copyfile(args.eval / "RESULTS.md", args.out / "RESULTS.md")
    print(f"wrote {args.out}: {len(names) + 2} files, {size_mb:.1f} MB, runtime graphs {precision or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
