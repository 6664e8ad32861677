#!/usr/bin/env python3
"""Ship a trained VC model directory as models/vc_en: its files, a size check, and a model card written from
the measurements.

    python recipes/vc/kokoro_en/ship.py --model EXP/model --exp EXP --eval EXP/eval --out models/vc_en

Copies config.json, model.safetensors, the three graphs and voices.json (no vocoder: the runtime speaks with
models/vocoder_en unless the directory has a vocoder/), refuses more than --max-mb, checks that
Converter.from_dir loads the copy and converts a second of audio, and writes MODEL_CARD.md: what the model is,
its latency (computed with the default vocoder), size, training (from EXP's train.csv / dev.csv), and the
evaluation (evaluate.py's results.json: target / source similarity, WER and DNSMOS beside no conversion and the
DSP baseline).
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

FILES = ("config.json", "model.safetensors", "content.onnx", "decoder.onnx", "speaker.onnx", "voices.json")


def get_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, required=True, help="train.py --export-model-dir's output")
    p.add_argument("--exp", type=Path, help="the experiment dir (train.csv, dev.csv) for the card")
    p.add_argument("--eval", type=Path, help="evaluate.py's output folder (results.json) for the card")
    p.add_argument("--out", type=Path, default=ROOT / "models" / "vc_en")
    p.add_argument("--max-mb", type=float, default=40.0)
    return p.parse_args(argv)


def last_row(path: Path) -> dict[str, str] | None:
    if not path.is_file():
        return None
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    return rows[-1] if rows else None


def card(out: Path, args: argparse.Namespace) -> str:
    from speechstream.vc.converter import Converter

    vc = Converter.from_dir(out)
    c = vc.config
    cfg = json.loads((out / "config.json").read_text(encoding="utf-8"))
    size = sum((out / f).stat().st_size for f in FILES if (out / f).is_file()) / 1e6
    lines = [f"# {out.name}: streaming voice conversion", "",
             "Source speech + a target voice (a reference recording of >= 1 s, or a built-in voice) -> the same "
             "words in the target's voice, streamed: `speechstream convert IN.wav --ref TARGET.wav --out OUT.wav`, "
             "`speechstream convert --mic --voice NAME`, `speechstream.vc.Converter`. Trained by "
             "recipes/vc/kokoro_en on the Kokoro natural-voice corpus (4.3 h, 100 speakers).", "",
             "## Model", "",
             f"- content encoder: causal ConvNeXt ({c.encoder_layers} x {c.d_encoder}), a {c.d_content}-dim bottleneck "
             f"trained by CTC on phonemes from perturbed sources (VTLP, gain, rate), {c.content_lookahead} frames "
             "of look-ahead",
             f"- target encoder: {c.speaker_layers} ConvNeXt blocks + attentive statistics pooling -> {c.d_speaker} "
             "dims, once per target",
             f"- decoder: the TTS chunk-causal flow-matching decoder on content frames ({c.decoder_layers} x "
             f"{c.d_decoder}), {c.solver.name} NFE {c.solver.nfe}, chunk {c.chunk_frames} frames, "
             f"{c.decoder_lookahead} frames of look-ahead; then the vocoder ({vc.vocoder.config.chunk_frames}-frame "
             f"chunks, {vc.vocoder.config.lookahead_frames} frames of look-ahead)",
             f"- latency {vc.latency_ms:g} ms (computed: {json.dumps(c.latency(vc.vocoder.config))})",
             f"- {size:.1f} MB (weights + graphs), step {cfg.get('step', '?')}, "
             f"{cfg.get('audio_hours_seen', '?')} audio hours seen",
             f"- built-in voices: {', '.join(sorted(vc.voices)) or 'none'}", ""]
    if args.exp is not None:
        train, dev = last_row(args.exp / "train.csv"), last_row(args.exp / "dev.csv")
        lines += ["## Training", ""]
        if train:
            lines.append(f"- last update {train['step']}: loss {train['loss']} (ctc {train['ctc']}, flow "
                         f"{train['flow']}, prior {train['prior']})")
        if dev:
            lines.append(f"- dev at {dev['step']}: loss {dev['loss']}, greedy-CTC phoneme error rate "
                         f"{100 * float(dev['per']):.1f} %")
        lines.append("")
    results = args.eval / "results.json" if args.eval is not None else None
    if results is not None and results.is_file():
        r = json.loads(results.read_text(encoding="utf-8"))
        lines += ["## Evaluation (recipes/vc/kokoro_en/evaluate.py)", "",
                  f"{r['pairs']} pairs of held-out voices ({', '.join(r['voices'])}), zero-shot from a reference.", "",
                  "| system | cos to target | cos to source | closer to target | WER | DNSMOS OVRL |",
                  "|---|---|---|---|---|---|"]
        for n, s in r["systems"].items():
            lines.append(f"| {n} | {s['cos_target']:.3f} | {s['cos_source']:.3f} | "
                         f"{100 * s['closer_to_target']:.0f} % | {100 * s['wer']:.1f} % | {s['dnsmos_ovrl']:.2f} |")
        lines += ["", f"RTF {r['model_rtf']:.3f} streaming on {r['num_threads']} thread (vocoder included).", ""]
    else:
        lines += ["## Evaluation", "", "Not measured yet: run recipes/vc/kokoro_en/evaluate.py.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = get_args(argv)
    from speechstream.vc.converter import Converter

    missing = [f for f in FILES[:5] if not (args.model / f).is_file()]
    if missing:
        raise SystemExit(f"{args.model} lacks {', '.join(missing)}: export it with train.py --export-model-dir")
    size = sum((args.model / f).stat().st_size for f in FILES if (args.model / f).is_file()) / 1e6
    if size > args.max_mb:
        raise SystemExit(f"{args.model} is {size:.1f} MB, over --max-mb {args.max_mb:g}")
    args.out.mkdir(parents=True, exist_ok=True)
    for f in FILES:
        if (args.model / f).is_file():
            shutil.copy2(args.model / f, args.out / f)
    vc = Converter.from_dir(args.out)
    if vc.voices:
        x = 0.1 * np.random.default_rng(0).standard_normal(16000).astype(np.float32)
        assert vc.convert(x, 16000, target=sorted(vc.voices)[0]).shape == (16000,)
    (args.out / "MODEL_CARD.md").write_text(card(args.out, args), encoding="utf-8")
    print(f"shipped {args.out} ({size:.1f} MB)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
