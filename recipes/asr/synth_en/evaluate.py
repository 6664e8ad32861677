#!/usr/bin/env python3
"""Score a model directory through the ONNX streaming runtime (speechstream.Recognizer, not torch).

For every look-ahead and decoding method: WER and CER (jiwer) on a test manifest, the real-time factor on one
thread, and how often the streaming transcript equals the offline one (the torch model's `forward` over the
whole utterance, greedy CTC, same look-ahead). Optionally the int8 graphs and the pocketsphinx baseline on the
same utterances. Writes RESULTS.md (a table), results.json and a WER-vs-latency plot.

    python recipes/asr/synth_en/evaluate.py --model models/asr_en \
        --cuts /work/data/synth_en/cuts_test.jsonl.gz /work/data/synth_en/cuts_test_aug.jsonl.gz \
        --out recipes/asr/synth_en --pocketsphinx --int8
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from speechstream.asr.recognizer import DECODING_METHODS, Recognizer
from speechstream.data.text import normalize


def get_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--cuts", type=Path, nargs="+", required=True, help="lhotse cut manifests (one table row block each)")
    p.add_argument("--decodings", default=",".join(DECODING_METHODS))
    p.add_argument("--max-utts", type=int, default=0, help="score an evenly spaced subset (0: all)")
    p.add_argument("--batch", type=int, default=16, help="streams decoded together")
    p.add_argument("--int8", action="store_true", help="also score the *.int8.onnx graphs (greedy methods)")
    p.add_argument("--pocketsphinx", action="store_true", help="also score pocketsphinx's English model")
    p.add_argument("--no-offline", action="store_true", help="skip the streaming-vs-offline comparison (needs torch)")
    p.add_argument("--out", type=Path, required=True, help="directory for RESULTS.md, results.json, wer_latency.png")
    return p.parse_args(argv)


def voice_of(cut) -> str:  # noqa: ANN001
    """The real voice a cut was made from ("flite awb", "espeak espeak:m7"), or its speaker for other corpora."""
    sup = cut.supervisions[0] if cut.supervisions else None
    custom = (sup.custom or {}) if sup is not None else {}
    if "engine" in custom and "person" in custom:
        return f"{custom['engine']} {custom['person']}"
    return (sup.speaker if sup is not None else None) or "-"


def load_cuts(path: Path, max_utts: int) -> list[tuple[str, np.ndarray, str, str]]:
    """(id, 16 kHz samples, normalised reference, voice) per cut."""
    from lhotse import CutSet

    cuts = list(CutSet.from_file(path))
    if max_utts and len(cuts) > max_utts:
        cuts = [cuts[i] for i in np.linspace(0, len(cuts) - 1, max_utts).astype(int)]
    out = []
    for c in cuts:
        audio = c.resample(16000).load_audio()[0].astype(np.float32)
        out.append((c.id, audio, normalize(" ".join(s.text for s in c.supervisions)), voice_of(c)))
    return out


def decode_all(rec: Recognizer, audios: list[np.ndarray], lookahead_ms: float, batch: int,
               chunk: int = 1600) -> tuple[list[str], float]:
    """Streams every utterance in 100 ms chunks, `batch` at a time; returns the texts and the wall time."""
    texts: list[str] = []
    t0 = time.perf_counter()
    for b in range(0, len(audios), batch):
        group = audios[b:b + batch]
        streams = [rec.create_stream(lookahead_ms) for _ in group]
        finals: list[list[str]] = [[] for _ in group]
        for pos in range(0, max(len(x) for x in group) + chunk, chunk):
            for s, x in zip(streams, group):
                if pos < len(x):
                    s.accept_waveform(16000, x[pos:pos + chunk])
                elif not s.input_done:
                    s.input_finished()
            while any(rec.is_ready(s) for s in streams):
                ready = [s for s in streams if rec.is_ready(s)]
                rec.decode_streams(ready)
                for i, s in enumerate(streams):
                    r = rec.get_result(s)
                    if s in ready and r.is_final and r.text:
                        finals[i].append(r.text)
        texts += [" ".join(f) for f in finals]
    return texts, time.perf_counter() - t0


def offline_texts(model_dir: Path, audios: list[np.ndarray], att_context: int) -> list[str]:
    """The torch model over each whole utterance (forward with the same chunk mask), greedy CTC."""
    import torch

    from speechstream.asr.ctc_decoding import CtcGreedyDecoder
    from speechstream.asr.tokenizer import Tokenizer
    from speechstream.asr.torch.checkpoint import load_model_dir
    from speechstream.audio.fbank import Fbank

    model, features = load_model_dir(model_dir)
    fbank, tok = Fbank(features), Tokenizer.from_dir(str(model_dir))
    decoder = CtcGreedyDecoder(model.config.blank_id)
    out = []
    with torch.no_grad():
        for x in audios:
            f = torch.from_numpy(fbank(x))[None]
            enc, lens = model(f, torch.tensor([f.size(1)]), att_context)
            lp = model.ctc(enc[0, : int(lens[0])]).numpy()
            out.append(tok.decode(decoder.step(lp, decoder.init_state()).tokens))
    return out


def pocketsphinx_texts(audios: list[np.ndarray]) -> tuple[list[str], float]:
    from pocketsphinx import Decoder

    decoder = Decoder(loglevel="FATAL")
    out, t0 = [], time.perf_counter()
    for x in audios:
        pcm = (np.clip(x, -1, 1) * 32767).astype(np.int16).tobytes()
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        hyp = decoder.hyp()
        out.append(normalize(hyp.hypstr) if hyp else "")
    return out, time.perf_counter() - t0


def score(refs: list[str], hyps: list[str]) -> dict[str, float]:
    import jiwer

    pairs = [(r, h) for r, h in zip(refs, hyps) if r]
    refs_, hyps_ = [r for r, _ in pairs], [h for _, h in pairs]
    return {"wer": 100 * jiwer.wer(refs_, hyps_), "cer": 100 * jiwer.cer(refs_, hyps_)}


def by_voice(refs: list[str], hyps: list[str], voices: list[str]) -> dict[str, dict[str, float]]:
    """score() per voice, with its utterance count."""
    out = {}
    for v in sorted(set(voices)):
        idx = [i for i, x in enumerate(voices) if x == v]
        out[v] = {"utts": len(idx), **score([refs[i] for i in idx], [hyps[i] for i in idx])}
    return out


def main(argv: list[str] | None = None) -> int:
    args = get_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    methods = [m for m in args.decodings.split(",") if m]
    rows: list[dict] = []
    for cuts_path in args.cuts:
        split = cuts_path.name.replace("cuts_", "").replace(".jsonl.gz", "")
        data = load_cuts(cuts_path, args.max_utts)
        ids, audios, refs, voices = zip(*data)
        hours = sum(len(x) for x in audios) / 16000 / 3600
        print(f"{split}: {len(data)} utterances, {hours:.2f} h", flush=True)
        variants = [(m, False) for m in methods] + ([(m, True) for m in methods if "greedy" in m] if args.int8 else [])
        for method, int8 in variants:
            rec = Recognizer.from_dir(args.model, decoding=method, num_threads=1, int8=int8)
            for ctx, lookahead in enumerate(rec.lookaheads_ms):
                hyps, wall = decode_all(rec, list(audios), lookahead, args.batch)
                row = {"split": split, "method": method + (" int8" if int8 else ""), "lookahead_ms": lookahead,
                       "latency_ms": rec.encoder.contract.latency_ms[ctx], "utts": len(data),
                       **score(list(refs), hyps), "rtf": wall / (hours * 3600)}
                if method == "ctc-greedy" and not int8:
                    row["by_voice"] = by_voice(list(refs), hyps, list(voices))
                if method == "ctc-greedy" and not int8 and not args.no_offline:
                    offline = offline_texts(args.model, list(audios), ctx)
                    row["offline_agreement"] = float(np.mean([" ".join(h.split()) == o for h, o in zip(hyps, offline)]))
                rows.append(row)
                print(json.dumps(row), flush=True)
        if args.pocketsphinx:
            hyps, wall = pocketsphinx_texts(list(audios))
            rows.append({"split": split, "method": "pocketsphinx", "lookahead_ms": None, "latency_ms": None,
                         "utts": len(data), **score(list(refs), hyps), "rtf": wall / (hours * 3600)})
            print(json.dumps(rows[-1]), flush=True)
    (args.out / "results.json").write_text(json.dumps(rows, indent=1) + "\n")
    write_table(rows, args.out / "RESULTS.md", args.model)
    plot(rows, args.out / "wer_latency.png")
    return 0


def write_table(rows: list[dict], path: Path, model: Path) -> None:
    lines = [f"# Results of `{model}`", "",
             "Scored through the ONNX streaming runtime (`speechstream.Recognizer`, 1 thread, 100 ms audio chunks,",
             "16 streams per batch, sherpa-onnx endpoint rules). `offline` is the share of utterances whose",
             "streaming transcript equals the torch model's offline one. Produced by `evaluate.py`.", "",
             "| split | method | look-ahead ms | latency ms | utts | WER % | CER % | RTF | offline |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        la = "" if r["lookahead_ms"] is None else f"{r['lookahead_ms']:g}"
        lat = "" if r["latency_ms"] is None else f"{r['latency_ms']:g}"
        off = f"{100 * r['offline_agreement']:.1f} %" if "offline_agreement" in r else ""
        lines.append(f"| {r['split']} | {r['method']} | {la} | {lat} | {r['utts']} | {r['wer']:.2f} | "
                     f"{r['cer']:.2f} | {r['rtf']:.4f} | {off} |")
    lines += ["", "Per voice (ctc-greedy, fp32): WER % (utterances). The held-out voices are the ones the "
              "split was made of; see the recipe's README.", "",
              "| split | look-ahead ms | voice | utts | WER % | CER % |", "|---|---|---|---|---|---|"]
    for r in rows:
        for voice, v in r.get("by_voice", {}).items():
            lines.append(f"| {r['split']} | {r['lookahead_ms']:g} | {voice} | {v['utts']} | {v['wer']:.2f} | "
                         f"{v['cer']:.2f} |")
    path.write_text("\n".join(lines) + "\n")


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (split, method) in sorted({(r["split"], r["method"]) for r in rows if r["latency_ms"] is not None}):
        pts = sorted((r["latency_ms"], r["wer"]) for r in rows if (r["split"], r["method"]) == (split, method))
        ax.plot(*zip(*pts), marker="o", label=f"{split} {method}")
    ax.set_xlabel("algorithmic latency (ms)")
    ax.set_ylabel("WER (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    sys.exit(main())
