#!/usr/bin/env python3
"""Corpus -> training features for the TTS acoustic model, cached once. Resumable: re-run the same command
and finished shards are kept.

    python recipes/tts/kokoro_en/prepare.py --corpus ../shared/corpora/kokoro_en_v1 --out /work/exp/tts_features

The corpus is a folder shaped like kokoro_en_v1 (utterances.jsonl.gz + audio/; speechstream.tts.torch.corpus
reads it). Per utterance: the runtime front end's phoneme ids (UK readings for b* voices), the audio's
80-dim Fbank frames (the features the vocoder inverts), the speaker's voice as a weight vector over the
speaker table (Kokoro's 28 voices; a corpus blend is a native input), and the speed the teacher spoke at.

Split: sentences, not speakers, are held out. An utterance goes to dev when the hash of its normalised text
falls in the first --dev-percent of 100 buckets (every sentence of the corpus is spoken once, by one
speaker). The corpus never uses the held-out voices (af_sarah, am_eric, bf_isabella, bm_daniel): their
rows of the speaker table get no training data (see README.md for how the recipe treats them).

Output (no pickles): OUT/{train,dev}-NNN.safetensors, each --shard-size utterances:
  mel (sum T, M) float16, mel_offsets (n + 1,) int64, ids (sum N,) int64, id_offsets (n + 1,) int64,
  voice (n, S) float32, speed (n,) float32; metadata "utterances" = JSON [{id, speaker, text, voices, weights}]
  and "speakers" = JSON speaker table.
OUT/prepare.json records the options and the counts. A shard is written to a temporary name and renamed, so
an interrupted run leaves only whole shards.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def get_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpora" / "kokoro_en_v1",
                   help="a corpus folder with utterances.jsonl.gz and audio/")
    p.add_argument("--out", type=Path, required=True, help="feature folder (created; finished shards are kept)")
    p.add_argument("--dev-percent", type=float, default=2.0, help="share of sentences held out for dev")
    p.add_argument("--shard-size", type=int, default=250)
    p.add_argument("--max-utts", type=int, default=0, help="at most this many utterances (0: all); for tests")
    p.add_argument("--num-threads", type=int, default=1)
    return p.parse_args(argv)


def is_dev(text: str, percent: float) -> bool:
    """A stable per-sentence draw: the same sentence lands in the same split on every machine."""
    bucket = int.from_bytes(hashlib.sha1(text.strip().lower().encode("utf-8")).digest()[:4], "big") % 10000
    return bucket < percent * 100


def write_shard(path: Path, examples: list, utts: list, speakers: tuple[str, ...]) -> None:
    from safetensors.numpy import save_file

    mel = np.concatenate([e.mel for e in examples]).astype(np.float16)
    ids = np.concatenate([e.ids for e in examples]).astype(np.int64)
    tensors = {
        "mel": mel, "ids": ids,
        "mel_offsets": np.cumsum([0] + [len(e.mel) for e in examples]).astype(np.int64),
        "id_offsets": np.cumsum([0] + [len(e.ids) for e in examples]).astype(np.int64),
        "voice": np.stack([e.voice for e in examples]).astype(np.float32),
        "speed": np.asarray([e.speed for e in examples], np.float32),
    }
    rows = [{"id": u.id, "speaker": u.speaker, "text": u.text, "voices": list(u.voice.names),
             "weights": list(u.voice.weights)} for u in utts]
    meta = {"utterances": json.dumps(rows), "speakers": json.dumps(list(speakers))}
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    args = get_args(argv)
    import torch

    from speechstream.tts.config import AcousticConfig
    from speechstream.tts.torch.corpus import ExampleReader, read_utterances

    torch.set_num_threads(args.num_threads)
    speakers = AcousticConfig().speakers
    utts = list(read_utterances(args.corpus, speakers))
    if args.max_utts:
        utts = utts[: args.max_utts]
    splits = {"train": [u for u in utts if not is_dev(u.text, args.dev_percent)],
              "dev": [u for u in utts if is_dev(u.text, args.dev_percent)]}
    args.out.mkdir(parents=True, exist_ok=True)
    reader = ExampleReader(speakers)
    t0, done = time.time(), 0
    counts: dict[str, dict[str, float]] = {}
    for split, rows in splits.items():
        shards = [rows[i:i + args.shard_size] for i in range(0, len(rows), args.shard_size)]
        for k, shard in enumerate(shards):
            path = args.out / f"{split}-{k:03d}.safetensors"
            if not path.is_file():
                write_shard(path, [reader(u) for u in shard], shard, speakers)
                done += len(shard)
                print(f"{path.name}: {len(shard)} utterances ({time.time() - t0:.0f} s)", flush=True)
        counts[split] = {"utterances": len(rows), "shards": len(shards)}
    summary = {"corpus": str(args.corpus), "dev_percent": args.dev_percent, "shard_size": args.shard_size,
               "speakers": list(speakers), "splits": counts,
               "corpus_speakers": sorted({u.speaker for u in utts}),
               "voices_with_data": sorted({n for u in utts for n in u.voice.names})}
    (args.out / "prepare.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    print(f"{args.out}: train {counts['train']['utterances']}, dev {counts['dev']['utterances']} utterances "
          f"({done} computed now, {time.time() - t0:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
