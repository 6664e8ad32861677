#!/usr/bin/env python3
"""Compute log-mel features once and store them with lhotse, for the original cuts and speed-perturbed
copies of train (0.9x, 1.1x). Resumable and idempotent: work is done in shards, each committed by an
atomic rename of its manifest; re-running skips committed shards and finished manifests.

    nice -n 10 .venv/bin/python recipes/asr/synth_en/compute_features.py \
        --corpus /work/data/synth_en --out /work/data/synth_en_fbank --jobs 2

Output (OUT): cuts_{split}.jsonl.gz for each split plus cuts_train_sp0.9/1.1.jsonl.gz, features under
storage/<name>/ (lhotse ``numpy_files``, float16; ``cut.load_features()`` reads them with stock lhotse).
Any lhotse corpus works (e.g. LibriSpeech from ``lhotse prepare librispeech``): point --corpus at a dir of
``cuts_<split>.jsonl.gz`` (or pass --manifest-pattern) — audio at other rates is resampled to 16 kHz, and
recording paths relative to --corpus are resolved against it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def get_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", type=Path, default=Path("/work/data/synth_en"), help="dir with the cut manifests")
    p.add_argument("--manifest-pattern", default="cuts_{split}.jsonl.gz", help="manifest name inside --corpus")
    p.add_argument("--out", type=Path, default=Path("/work/data/synth_en_fbank"))
    p.add_argument("--splits", default="train,dev,test,test_aug", help="missing ones are skipped with a note")
    p.add_argument("--speed-perturb", default="0.9,1.1", help="factors for train copies ('' for none)")
    p.add_argument("--train-split", default="train", help="the split that gets speed-perturbed copies")
    p.add_argument("--fbank-backend", choices=["speechstream", "kaldi-native-fbank"], default="speechstream",
                   help="speechstream.audio.Fbank, or kaldi-native-fbank with the options it equals")
    p.add_argument("--jobs", type=int, default=2, help="worker processes")
    p.add_argument("--shard-size", type=int, default=1000, help="cuts committed together")
    return p.parse_args(argv)


def resolve_audio_paths(cuts, root: Path):
    """Recording paths relative to the manifest (e.g. the shared Kokoro corpus) resolved against ROOT."""
    first = next(iter(cuts)).recording.sources[0].source
    return cuts if Path(first).is_absolute() else cuts.with_recording_path_prefix(str(root.resolve()))


def shard_manifest_name(i: int) -> str:
    return f"{i:05d}.jsonl.gz"


def process(name: str, cuts, out: Path, jobs: int, shard_size: int, backend: str) -> None:
    from lhotse import CutSet
    from tqdm import tqdm

    from speechstream.train.data import FbankExtractorConfig, Float16NumpyFilesWriter, SpeechstreamFbank

    final = out / f"cuts_{name}.jsonl.gz"
    if final.is_file():
        print(f"{name}: done already ({final})", flush=True)
        return
    extractor = SpeechstreamFbank(FbankExtractorConfig(backend=backend))
    sr = extractor.config.sample_rate
    cuts = cuts.sort_by_recording_id()  # a fixed order: shard i is the same cuts on every run
    cuts = CutSet.from_cuts(c.resample(sr) if c.sampling_rate != sr else c for c in cuts)
    parts_dir = out / "parts" / name
    parts_dir.mkdir(parents=True, exist_ok=True)
    storage = out / "storage" / name
    items = list(cuts)
    shards = [CutSet.from_cuts(items[i:i + shard_size]) for i in range(0, len(items), shard_size)]
    hours = sum(c.duration for c in cuts) / 3600
    bar = tqdm(total=hours, desc=name, dynamic_ncols=True, mininterval=10,
               bar_format="{l_bar}{bar}| {n:.2f}/{total:.2f} h [{elapsed}<{remaining}{postfix}]")
    t0, done_h = time.monotonic(), 0.0
    for i, shard in enumerate(shards):
        part = parts_dir / shard_manifest_name(i)
        h = sum(c.duration for c in shard) / 3600
        if not part.is_file():
            with_feats = shard.compute_and_store_features(extractor, storage_path=storage, num_jobs=jobs,
                                                          storage_type=Float16NumpyFilesWriter,
                                                          progress_bar=False)
            tmp = part.with_name("tmp-" + part.name)  # keeps the .jsonl.gz suffix lhotse keys on
            with_feats.to_file(tmp)
            os.replace(tmp, part)
            done_h += h
        bar.update(h)
        rate = done_h / max(time.monotonic() - t0, 1e-9) * 3600
        bar.set_postfix(x_real_time=f"{rate:.0f}", refresh=False)
    bar.close()
    combined = CutSet.from_cuts(c for i in range(len(shards))
                                for c in CutSet.from_file(parts_dir / shard_manifest_name(i)))
    tmp = final.with_name("tmp-" + final.name)
    combined.to_file(tmp)
    os.replace(tmp, final)
    print(f"{name}: {len(combined)} cuts, {hours:.2f} h -> {final}", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = get_args(argv)
    import torch
    from lhotse import CutSet

    from speechstream.train.data import FbankExtractorConfig

    torch.set_num_threads(1)  # the parallelism is --jobs processes (lhotse warns that both can hang)

    args.out.mkdir(parents=True, exist_ok=True)
    # One front end per feature dir: a resumed run must not mix backends.
    stamp = args.out / "fbank.json"
    want = json.dumps(FbankExtractorConfig(backend=args.fbank_backend).to_dict(), sort_keys=True)
    if stamp.is_file() and stamp.read_text().strip() != want:
        print(f"{args.out} holds features of {stamp.read_text().strip()}, not {want}", file=sys.stderr)
        return 1
    stamp.write_text(want + "\n")
    factors = [float(f) for f in args.speed_perturb.split(",") if f.strip()]
    for split in [s for s in args.splits.split(",") if s]:
        src = args.corpus / args.manifest_pattern.format(split=split)
        if not src.is_file():
            print(f"{split}: no {src}, skipped", file=sys.stderr)
            continue
        cuts = resolve_audio_paths(CutSet.from_file(src).to_eager(), args.corpus)
        process(split, cuts, args.out, args.jobs, args.shard_size, args.fbank_backend)
        if split == args.train_split:
            for f in factors:
                # lhotse renames the copies <id>_sp<f> and resamples the audio on load
                process(f"{split}_sp{f:g}", cuts.perturb_speed(f), args.out, args.jobs, args.shard_size,
                        args.fbank_backend)
    return 0


if __name__ == "__main__":
    sys.exit(main())
