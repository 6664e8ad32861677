#!/usr/bin/env python3
"""Training data and the held-out evaluation set for voice conversion. Resumable: re-run the same command.

    python recipes/vc/kokoro_en/prepare.py --features /work/exp/tts_features --out /work/exp/vc_data \
        --heldout-utts 10

Training reads the TTS recipe's features as they are (recipes/tts/kokoro_en/prepare.py: Fbank frames, phoneme
ids and the speaker of every utterance, sentences split into train and dev); nothing is recomputed. When
--features has no shards and --corpus is given, the TTS prepare.py makes them first. This script checks them
and writes OUT/prepare.json: per split the utterances, hours, corpus speakers (a target and its references are
utterances of one speaker), the single-voice speakers (the built-in voices' sources), and that the held-out
voices occur nowhere.

Held-out evaluation set (--heldout-utts N > 0; needs Kokoro, speechstream.data.kokoro): the four voices the
corpus never uses (af_sarah, am_eric, bf_isabella, bm_daniel) each speak N dev sentences (the sources) and one
more sentence (their reference), written as 16 kHz wavs to OUT/heldout/ with OUT/heldout/heldout.json listing
{id, voice, text, audio, role}. Every source is then converted to every other held-out voice in evaluate.py:
neither the source's nor the target's voice was ever trained on.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

HELDOUT_VOICES = ("af_sarah", "am_eric", "bf_isabella", "bm_daniel")
REFERENCE_TEXT = ("The old lighthouse keeper walked along the shore every morning, counting the boats that had "
                  "come back safely from the sea.")


def get_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--features", type=Path, required=True, help="the TTS recipe's feature folder")
    p.add_argument("--corpus", type=Path, help="a corpus folder to prepare the features from when they are missing")
    p.add_argument("--out", type=Path, required=True, help="where prepare.json and heldout/ go")
    p.add_argument("--heldout-utts", type=int, default=0, help="dev sentences per held-out voice (0: none)")
    p.add_argument("--num-threads", type=int, default=1)
    return p.parse_args(argv)


def tts_recipe():
    """The TTS recipe's train.py (its feature loader), through this recipe's train.py."""
    import importlib.util

    name = "vc_kokoro_en_train"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parent / "train.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name].tts_recipe()


def summarise(features: Path) -> dict:
    out: dict = {"features": str(features)}
    seen: set[str] = set()
    for split in ("train", "dev"):
        data = tts_recipe().load_split(features, split)
        speakers: dict[str, int] = {}
        single: dict[str, set[str]] = {}
        for r in data.rows:
            speakers[r["speaker"]] = speakers.get(r["speaker"], 0) + 1
            seen.update(r["voices"])
            if len(r["voices"]) == 1:
                single.setdefault(r["voices"][0], set()).add(r["speaker"])
        out[split] = {"utterances": len(data), "hours": round(data.seconds / 3600, 3), "speakers": len(speakers),
                      "min_utterances_per_speaker": min(speakers.values()),
                      "single_voice_speakers": {v: len(s) for v, s in sorted(single.items())}}
    out["heldout_voices_in_features"] = sorted(seen & set(HELDOUT_VOICES))
    return out


def heldout_set(features: Path, out: Path, per_voice: int, threads: int) -> list[dict]:
    """Kokoro speaks dev sentences in the held-out voices (skipping files already written)."""
    import soundfile as sf

    from speechstream.data.kokoro import Kokoro

    dev = tts_recipe().load_split(features, "dev")
    texts = [r["text"] for r in dev.rows]
    folder = out / "heldout"
    folder.mkdir(parents=True, exist_ok=True)
    engine = None
    rows = []
    for v, voice in enumerate(HELDOUT_VOICES):
        # each voice speaks other sentences, so a target never hears its source's words in its reference
        chosen = [texts[(v * per_voice + k) % len(texts)] for k in range(per_voice)]
        items = [(f"{voice}-ref", REFERENCE_TEXT, "reference")] + [
            (f"{voice}-{k:03d}", t, "source") for k, t in enumerate(chosen)]
        for uid, text, role in items:
            path = folder / f"{uid}.wav"
            if not path.is_file():
                if engine is None:
                    engine = Kokoro(threads=threads)
                samples = engine.synthesize(text, voice, sr=16000)
                tmp = path.with_suffix(".tmp.wav")
                sf.write(tmp, np.asarray(samples, np.float32), 16000)
                tmp.replace(path)
            rows.append({"id": uid, "voice": voice, "text": text, "audio": path.name, "role": role})
    (folder / "heldout.json").write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    return rows


def main(argv: list[str] | None = None) -> int:
    args = get_args(argv)
    t0 = time.time()
    if not list(args.features.glob("train-*.safetensors")):
        if args.corpus is None:
            raise SystemExit(f"no features in {args.features}: give --corpus to prepare them")
        import importlib.util

        spec = importlib.util.spec_from_file_location("tts_prepare", ROOT / "recipes/tts/kokoro_en/prepare.py")
        tts_prepare = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(tts_prepare)
        tts_prepare.main(["--corpus", str(args.corpus), "--out", str(args.features),
                          "--num-threads", str(args.num_threads)])
    summary = summarise(args.features)
    if summary["heldout_voices_in_features"]:
        raise SystemExit(f"held-out voices in the training features: {summary['heldout_voices_in_features']}")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.heldout_utts > 0:
        rows = heldout_set(args.features, args.out, args.heldout_utts, args.num_threads)
        summary["heldout"] = {"voices": list(HELDOUT_VOICES), "utterances": len(rows)}
    (args.out / "prepare.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in summary.items() if k != "features"}), f"({time.time() - t0:.0f} s)",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
