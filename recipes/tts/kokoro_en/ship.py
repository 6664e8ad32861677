#!/usr/bin/env python3
"""Turn an exported TTS model directory into a shipped one: the files users (or the next training run) need,
and a model card made from the measurements (train.csv, dev.csv, the features' prepare.json, and
evaluate.py's results.json when given), never typed in.

    python recipes/tts/kokoro_en/train.py --exp EXP --export-model-dir EXP/model
    python recipes/tts/kokoro_en/evaluate.py --model EXP/model --features F --out EXP/eval
    python recipes/tts/kokoro_en/ship.py --model EXP/model --exp EXP --features F --eval EXP/eval --out models/tts_en
    # a work in progress: weights and config only (continue with train.py --init-from models/tts_en_wip)
    python recipes/tts/kokoro_en/ship.py --model EXP/model --exp EXP --features F --weights-only --out models/tts_en_wip
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
RUNTIME = ("config.json", "model.safetensors", "encoder.onnx", "decoder.onnx")
WEIGHTS = ("config.json", "model.safetensors")
DATA_LICENCES = ("teacher audio: Kokoro-82M v1.0 int8 (Apache-2.0) with its English voice packs (npm kokoro-js 1.2.1, "
                 "Apache-2.0); phonemes: hibari-tts (Apache-2.0); text: WordNet example sentences and fortunes "
                 "(Debian wordnet-base, fortunes), cleaned by speechstream.data.text; the corpus is "
                 "../shared/corpora/kokoro_en_v1 (its make.py records how it was made)")


def get_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, required=True, help="train.py --export-model-dir output")
    p.add_argument("--exp", type=Path, required=True, help="the training experiment (train.csv, dev.csv)")
    p.add_argument("--features", type=Path, required=True, help="prepare.py's output the run trained on")
    p.add_argument("--eval", type=Path, help="evaluate.py's --out (results.json)")
    p.add_argument("--weights-only", action="store_true", help="ship config.json + model.safetensors only")
    p.add_argument("--out", type=Path, required=True)
    return p.parse_args(argv)


def read_csv(path: Path) -> list[dict[str, float]]:
    if not path.is_file():
        return []
    with open(path, encoding="utf-8") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def curve(train: list[dict[str, float]], dev: list[dict[str, float]]) -> list[str]:
    """Train losses (mean of the 10 updates up to each step) at a few early steps, every dev step and the last
    step, beside the dev losses there."""
    if not train:
        return []
    last = int(train[-1]["step"])
    steps = sorted({s for s in (10, 50, 100) if s < last} | {int(d["step"]) for d in dev} | {last})
    by_dev = {int(d["step"]): d for d in dev}
    keys = ("loss", "duration", "flow", "prior", "align")
    lines = ["| step | train loss | duration | flow | prior | align | dev loss | duration | flow | prior | align |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in steps:
        window = [r for r in train if s - 10 < r["step"] <= s]
        if not window:
            continue
        mean = [sum(r[k] for r in window) / len(window) for k in keys]
        d = by_dev.get(s)
        dev_cols = " | ".join(f"{d[k]:.3f}" if d else "-" for k in keys)
        lines.append(f"| {s} | " + " | ".join(f"{m:.3f}" for m in mean) + f" | {dev_cols} |")
    return lines


def card(args: argparse.Namespace, files: list[str]) -> str:
    cfg = json.loads((args.model / "config.json").read_text(encoding="utf-8"))
    model = cfg["model"]
    prep = json.loads((args.features / "prepare.json").read_text(encoding="utf-8"))
    train, dev = read_csv(args.exp / "train.csv"), read_csv(args.exp / "dev.csv")
    size_mb = sum((args.out / f).stat().st_size for f in files) / 1e6
    from safetensors import safe_open

    with safe_open(str(args.model / "model.safetensors"), framework="numpy") as st:
        n_params = sum(_numel(st.get_slice(k).get_shape()) for k in st.keys())
    step_s = sum(r["step_s"] for r in train) / max(1, len(train))
    audio_s = sum(r["audio_s"] for r in train)
    wall_s = sum(r["step_s"] for r in train)
    solver = model["solver"]
    lines = [f"# {args.out.name}", ""]
    if args.weights_only:
        lines += ["**Work in progress**: the weights and config of an unfinished training run, to continue with "
                  "`recipes/tts/kokoro_en/train.py --init-from` (a new optimizer and schedule). It has no ONNX "
                  "graphs; `speechstream.tts.torch.checkpoint.save_tts_dir(load_acoustic(THIS_DIR), OUT_DIR)` "
                  "writes a directory that `Synthesizer.from_dir` loads.", ""]
    lines += [
        "Streaming text-to-speech acoustic model (`speechstream.tts`): Kokoro's phoneme ids + a voice weight vector "
        "over 28 Kokoro voices -> the toolkit's 80-dim Fbank frames, spoken by a vocoder (default `models/vocoder_en`).",
        "",
        f"- {n_params / 1e6:.2f} M parameters; {size_mb:.1f} MB shipped ({', '.join(files)})",
        f"- encoder {model['encoder_layers']} causal ConvNeXt blocks x {model['d_model']}, look-ahead "
        f"{model['lookahead_phonemes']} phonemes; duration predictor {model['duration_layers']} blocks; decoder "
        f"{model['cond_layers']} condition + {model['decoder_layers']} velocity blocks x {model['d_decoder']}, "
        f"chunk {model['chunk_frames']} frames + {model['lookahead_frames']} look-ahead "
        f"({10 * (model['chunk_frames'] + model['lookahead_frames'])} ms); sampler {solver['name']} NFE {solver['nfe']}",
        f"- trained by `recipes/tts/kokoro_en/train.py` (stage flow: MAS durations, duration MSE, flow matching, "
        f"prior, alignment likelihood) to step {cfg.get('step')} ({cfg.get('checkpoint')}): "
        f"{cfg.get('audio_hours_seen')} audio hours seen in {cfg.get('train_hours')} h of updates "
        f"({step_s:.2f} s per update, {audio_s / max(wall_s, 1e-9):.1f} audio hours per hour, one CPU thread)",
        f"- data: {prep['splits']['train']['utterances']} training utterances of {len(prep['corpus_speakers'])} "
        f"corpus speakers ({len(prep['voices_with_data'])} Kokoro voices alone and in two-voice blends); "
        f"{prep['splits']['dev']['utterances']} held-out sentences (dev, {prep['dev_percent']} % by sentence hash)",
        f"- voices without training data: {', '.join(cfg.get('untrained_voices', [])) or 'none'} (their table rows "
        "are the mean of their group's trained rows: a plausible voice of that accent and sex, not the named one)",
        f"- licences of the data: {DATA_LICENCES}",
        "", "## Loss curves", "",
        *curve(train, dev), "",
    ]
    if args.eval is not None and (args.eval / "results.json").is_file():
        r = json.loads((args.eval / "results.json").read_text(encoding="utf-8"))
        lines += ["## Evaluation (recipes/tts/kokoro_en/evaluate.py)", "",
                  f"{r['utterances']} held-out sentences ({r['words']} words) in their corpus speakers' voices; "
                  f"judge {r['judge']}.", "",
                  "| system | WER | DNSMOS OVRL |", "|---|---|---|"]
        for s in ("teacher", "resynthesis", "model"):
            ovrl = r.get("dnsmos", {}).get(s, {}).get("ovrl")
            lines.append(f"| {s} | {100 * r['wer'][s]:.1f} % | {ovrl if ovrl is not None else '-'} |")
        if "identity" in r:
            i = r["identity"]
            lines += ["", f"Voice identity (resemblyzer): {i['identified']}/{i['voices']} trained voices closest to "
                      f"their own teacher centroid."]
        lines.append("")
    return "\n".join(lines)


def _numel(shape: list[int]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def main(argv: list[str] | None = None) -> int:
    args = get_args(argv)
    files = list(WEIGHTS if args.weights_only else RUNTIME)
    missing = [f for f in files if not (args.model / f).is_file()]
    if missing:
        raise SystemExit(f"{args.model} lacks {', '.join(missing)}")
    args.out.mkdir(parents=True, exist_ok=True)
    for name in (*RUNTIME, "RESULTS.md", "MODEL_CARD.md"):  # no stale graphs or results beside new weights
        (args.out / name).unlink(missing_ok=True)
    for f in files:
        shutil.copyfile(args.model / f, args.out / f)
    if args.eval is not None and (args.eval / "RESULTS.md").is_file():
        shutil.copyfile(args.eval / "RESULTS.md", args.out / "RESULTS.md")
    (args.out / "MODEL_CARD.md").write_text(card(args, files), encoding="utf-8")
    print(f"wrote {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
