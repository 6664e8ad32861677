#!/usr/bin/env python3
"""Synthesise a multi-speaker English ASR corpus from Debian main voices (espeak-ng, flite, festival) and,
optionally, natural neural voices: Kokoro-82M and Piper joe (``--engines ...,kokoro,piper``).

Resumable and parallel: the plan (speakers, sentences, jitter, augmentation) is a pure function of the
arguments and the cached sentence list, every utterance is one FLAC written atomically, work whose file
exists is skipped, and the lhotse manifests are rebuilt from the files that exist. See README.md.

    python recipes/asr/synth_en/prepare.py --out /work/data/synth_en --hours 30 --workers 2
"""

from __future__ import annotations

import argparse
import collections
import gzip
import hashlib
import json
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
import soundfile as sf

from speechstream.data import augment, kokoro_voices, piper_voices, text as textmod, voices

SR = 16000
SPLITS = ("train", "dev", "test")
TEST_SENT_PERMILLE = 40  # sentence hash buckets held out for test ...
DEV_SENT_PERMILLE = 30  # ... and for dev


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="/work/data/synth_en", help="output directory")
    p.add_argument("--hours", type=float, default=30.0, help="total hours of train+dev+test (planned)")
    p.add_argument("--dev-hours", type=float, default=None, help="default: hours/30")
    p.add_argument("--test-hours", type=float, default=None, help="default: hours/20")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--engines", default="espeak,flite,festival",
                   help="comma list of espeak,flite,festival,kokoro,piper; missing ones are skipped with a "
                        "warning")
    p.add_argument("--kokoro-share", type=float, default=0.25,
                   help="share of every split's hours spoken by Kokoro speakers when kokoro is used (shares of "
                        "families without speakers in a split go to the others)")
    p.add_argument("--piper-share", type=float, default=0.05,
                   help="share of train hours spoken by Piper joe (one person: train only) when piper is used")
    p.add_argument("--kokoro-voices", default=None,
                   help="dir of Kokoro voice packs (default: $SPEECHSTREAM_KOKORO_VOICES or "
                        "~/.cache/speechstream/kokoro-js/voices)")
    p.add_argument("--text-sources", default="auto",
                   help="comma list of wordnet,fortunes,bible; 'auto' = those installed; 'none'")
    p.add_argument("--text-file", action="append", default=[], help="extra sentences, one a line")
    p.add_argument("--p-clean", type=float, default=0.3, help="fraction of train left unaugmented")
    p.add_argument("--no-test-aug", action="store_true", help="skip the augmented copy of test")
    p.add_argument("--chunk-size", type=int, default=25, help="utterances of one speaker per work item")
    p.add_argument("--manifests-only", action="store_true", help="only rebuild manifests and summary")
    p.add_argument("--manifest-every", type=float, default=20.0,
                   help="minutes between manifest rebuilds during a long run (a partial corpus is usable)")
    return p.parse_args(argv)


# ---------------------------------------------------------------- text


def load_sentences(args: argparse.Namespace) -> list[dict]:
    """Sentences cached under OUT/text so a resumed run plans exactly the same corpus."""
    if args.text_sources == "auto":
        sources = textmod.available_sources()
    elif args.text_sources == "none":
        sources = []
    else:
        sources = [s for s in args.text_sources.split(",") if s]
    files = [os.path.abspath(f) for f in args.text_file]
    key = hashlib.sha1(json.dumps([sources, files]).encode()).hexdigest()[:10]
    path = os.path.join(args.out, "text", f"sentences-{key}.jsonl.gz")
    if os.path.exists(path):
        with gzip.open(path, "rt") as f:
            return [json.loads(line) for line in f]
    sents = textmod.collect_sentences(sources, files)
    if not sents:
        sys.exit("no sentences: install wordnet-base/fortunes/sword-text-web or pass --text-file")
    _atomic_write_jsonl(path, sents)
    counts = collections.Counter(s["source"] for s in sents)
    print(f"sentences: {len(sents)} {dict(counts)} -> {path}", flush=True)
    return sents


def _atomic_write_jsonl(path: str, rows: list[dict]) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with gzip.open(tmp, "wt") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    os.replace(tmp, path)


def sentence_split(norm: str, seed: int) -> str:
    b = int(hashlib.sha1(f"{seed}:{norm}".encode()).hexdigest()[:8], 16) % 1000
    return "test" if b < TEST_SENT_PERMILLE else "dev" if b < TEST_SENT_PERMILLE + DEV_SENT_PERMILLE else "train"


def balanced_order(sents: list[dict], rng: np.random.Generator) -> list[dict]:
    """Shuffle within each source, then interleave round-robin so the sources share the corpus equally."""
    by_src: dict[str, list[dict]] = collections.defaultdict(list)
    for s in sents:
        by_src[s["source"]].append(s)
    keyed = []
    for src in sorted(by_src):
        lst = by_src[src]
        for rank, i in enumerate(rng.permutation(len(lst))):
            keyed.append((rank + rng.random(), lst[i]))
    keyed.sort(key=lambda t: t[0])
    return [s for _, s in keyed]


# ---------------------------------------------------------------- plan


def estimate_seconds(norm: str, rate: float) -> float:
    return len(norm.split()) / (3.3 * rate) + 0.3


def make_plan(args: argparse.Namespace, sents: list[dict], speakers: list[voices.Speaker]) -> list[dict]:
    """Debian-voice, Kokoro and Piper speakers are planned as families with their own random streams, each
    taking its share of every split's hours (:func:`family_shares`); without neural voices the plan is what
    it always was, and with them the Debian part is a prefix of it (its files are reused)."""
    targets = {"dev": args.dev_hours if args.dev_hours is not None else args.hours / 30,
               "test": args.test_hours if args.test_hours is not None else args.hours / 20}
    targets["train"] = max(args.hours - targets["dev"] - targets["test"], 0.0)
    pools: dict[str, list[dict]] = {s: [] for s in SPLITS}
    for s in sents:
        pools[sentence_split(s["norm"], args.seed)].append(s)
    # Tiny text files can leave a held-out pool empty: lend it train sentences (never shared).
    for split in ("test", "dev"):
        while len(pools[split]) < 2 and len(pools["train"]) > 2:
            pools[split].append(pools["train"].pop())
    plan: list[dict] = []
    for family, salt in FAMILIES.items():
        members = [s for s in speakers if family_of(s) == family]
        shares = {split: family_shares(args, speakers, split).get(family, 0.0) for split in SPLITS}
        if members:  # the Debian family keeps its old random streams: without neural voices, the old plan
            plan += _plan_family(args, pools, members, {k: v * shares[k] for k, v in targets.items()}, salt)
    return plan


FAMILIES = {"debian": (), "kokoro": (1,), "piper": (2,)}  # speaker family -> random-stream salt


def family_of(spk: voices.Speaker) -> str:
    return spk.engine if spk.engine in voices.NEURAL_ENGINES else "debian"


def family_shares(args: argparse.Namespace, speakers: list[voices.Speaker], split: str) -> dict[str, float]:
    """Each family's share of a split's hours: kokoro and piper as asked, Debian voices the rest; families
    without speakers in the split drop out and the others are scaled up to fill it."""
    want = {"kokoro": args.kokoro_share, "piper": args.piper_share}
    want["debian"] = max(1.0 - sum(want.values()), 0.0)
    present = {family_of(s) for s in speakers if s.split == split}
    w = {f: min(max(v, 0.0), 1.0) for f, v in want.items() if f in present}
    total = sum(w.values())
    return {f: v / total for f, v in w.items()} if total > 0 else {}


def _plan_family(args: argparse.Namespace, pools: dict[str, list[dict]], speakers: list[voices.Speaker],
                 targets: dict[str, float], salt: tuple[int, ...]) -> list[dict]:
    plan: list[dict] = []
    for split_no, split in enumerate(SPLITS):
        if targets[split] <= 0:  # a family without speakers here, or --hours = dev + test hours
            continue
        rng = np.random.default_rng([args.seed, 104729, split_no, *salt])
        spk = [s for s in speakers if s.split == split]
        order = balanced_order(pools[split], rng)
        if not spk or not order:
            warnings.warn(f"split {split}: no speakers or no sentences; it stays empty")
            continue
        total, k = 0.0, 0
        while total < targets[split] * 3600 or k == 0:
            if k >= len(order):
                if split != "train":
                    warnings.warn(f"split {split}: ran out of held-out sentences at {total / 3600:.2f} h")
                    break
            sent = order[k % len(order)]
            sp = spk[rng.integers(len(spk))]
            jitter = round(float(rng.uniform(0.93, 1.07)), 4)
            item = {"id": f"{split}-{sp.id}-{k:06d}", "split": split, "speaker": sp.id, "text": sent["text"],
                    "norm": sent["norm"], "source": sent["source"], "jitter": jitter}
            if split == "train":
                item["aug"] = augment.draw(rng, ("white", "pink"), args.p_clean)
            else:
                item["aug"] = {"clean": True, "peak_db": round(float(rng.uniform(-6, -1)), 2)}
                if split == "test" and not args.no_test_aug:
                    # brown noise is held out: train only sees white and pink.
                    item["aug_test"] = augment.draw(rng, ("brown",), p_clean=0.0)
            plan.append(item)
            total += estimate_seconds(sent["norm"], sp.rate * jitter)
            k += 1
    return plan


def audio_path(out: str, split: str, item: dict) -> str:
    return os.path.join(out, "audio", split, item["speaker"], item["id"] + ".flac")


def outputs(out: str, item: dict) -> list[tuple[str, str]]:
    """(split, path) of every file an item produces."""
    res = [(item["split"], audio_path(out, item["split"], item))]
    if "aug_test" in item:
        res.append(("test_aug", audio_path(out, "test_aug", item)))
    return res


def make_chunks(plan: list[dict], size: int, seed: int) -> list[list[dict]]:
    groups: dict[tuple[str, str], list[dict]] = collections.defaultdict(list)
    for it in plan:
        groups[(it["split"], it["speaker"])].append(it)
    chunks: dict[str, list[list[dict]]] = {s: [] for s in SPLITS}
    for (split, _), items in groups.items():
        for i in range(0, len(items), size):
            chunks[split].append(items[i:i + size])
    train = chunks["train"]
    order = np.random.default_rng([seed, 31]).permutation(len(train))
    # Held-out splits first (small), then train in random order so a partial run is a fair sample.
    return chunks["dev"] + chunks["test"] + [train[i] for i in order]


# ---------------------------------------------------------------- work

_G: dict = {}


def _init_worker(out: str, speakers: dict[str, voices.Speaker]) -> None:
    _G["out"], _G["speakers"] = out, speakers
    warnings.simplefilter("always")


def _write_flac(path: str, x: np.ndarray) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path[:-5] + ".tmp.flac"
    sf.write(tmp, x, SR, format="FLAC", subtype="PCM_16")
    os.replace(tmp, path)


def _engine_to_16k(wav: str, spk: voices.Speaker) -> np.ndarray:
    raw = ["-t", "raw", "-e", "floating-point", "-b", "32", "-c", "1", "-r", str(SR)]
    p = subprocess.run(["sox", "-q", wav, *raw, "-", "remix", "-", *voices.sox_voice_effects(spk)],
                       capture_output=True, check=True, timeout=120)
    return np.frombuffer(p.stdout, dtype=np.float32).copy()


def process_chunk(chunk: list[dict]) -> dict:
    """Make the chunk's missing files. Returns counts and the seconds of audio written."""
    out, spk = _G["out"], _G["speakers"][chunk[0]["speaker"]]
    stats = {"done": 0, "skipped": 0, "failed": 0, "seconds": 0.0, "n": len(chunk)}
    todo = [it for it in chunk if not all(os.path.exists(p) for _, p in outputs(out, it))]
    stats["skipped"] = len(chunk) - len(todo)
    if not todo:
        return stats
    tmpdir = tempfile.mkdtemp(prefix="chunk-", dir=os.path.join(out, "tmp"))
    try:
        need_synth = [it for it in todo if not os.path.exists(audio_path(out, it["split"], it))]
        wavs = {it["id"]: os.path.join(tmpdir, f"{i}.wav") for i, it in enumerate(need_synth)}
        if need_synth:
            try:
                voices.synthesize(spk, [(it["text"], it["jitter"], wavs[it["id"]]) for it in need_synth],
                                  tmpdir)
            except Exception as e:  # e.g. a festival batch timing out: its items fail, the run goes on
                warnings.warn(f"{spk.id}: synthesis failed: {type(e).__name__}: {e}")
        for it in todo:
            try:
                clean_path = audio_path(out, it["split"], it)
                if it["id"] in wavs:
                    if not os.path.exists(wavs[it["id"]]) or os.path.getsize(wavs[it["id"]]) < 100:
                        raise RuntimeError("engine wrote no audio")
                    x = _engine_to_16k(wavs[it["id"]], spk)
                    if len(x) < SR // 10 or not np.any(x):
                        raise RuntimeError("empty audio")
                    y = augment.apply(x, SR, it["aug"])
                    _write_flac(clean_path, y)
                    stats["seconds"] += len(y) / SR
                else:
                    x, _ = sf.read(clean_path, dtype="float32")
                if "aug_test" in it:
                    y = augment.apply(x, SR, it["aug_test"])
                    _write_flac(audio_path(out, "test_aug", it), y)
                    stats["seconds"] += len(y) / SR
                stats["done"] += 1
            except Exception as e:  # one bad sentence must not stop the corpus; a rerun retries it
                stats["failed"] += 1
                warnings.warn(f"{it['id']}: {type(e).__name__}: {e} ({it['text']!r})")
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return stats


def run_work(args: argparse.Namespace, chunks: list[list[dict]], speakers: dict[str, voices.Speaker],
             plan: list[dict]) -> dict:
    from tqdm import tqdm

    os.makedirs(os.path.join(args.out, "tmp"), exist_ok=True)
    total = collections.Counter()
    t0 = last_manifest = time.time()
    n_items = sum(len(c) for c in chunks)
    bar = tqdm(total=n_items, unit="utt", smoothing=0.05, mininterval=1 if sys.stderr.isatty() else 60)
    init = (args.out, speakers)
    if args.workers <= 1:
        _init_worker(*init)
        results = map(process_chunk, chunks)
        pool = None
    else:
        pool = mp.get_context("fork").Pool(args.workers, initializer=_init_worker, initargs=init)
        results = pool.imap_unordered(process_chunk, chunks)
    try:
        for st in results:
            total.update(st)
            bar.update(st["n"])
            el = time.time() - t0
            bar.set_postfix(new_h=f"{total['seconds'] / 3600:.2f}", xRT=f"{total['seconds'] / max(el, 1e-6):.1f}",
                            failed=total["failed"], refresh=False)
            if time.time() - last_manifest > args.manifest_every * 60:
                build_manifests(args.out, plan, speakers)
                last_manifest = time.time()
    finally:
        bar.close()
        if pool is not None:
            pool.close()
            pool.join()
    el = time.time() - t0
    total["wall"] = el
    print(f"work: {total['done']} utterances made, {total['skipped']} already there, {total['failed']} failed; "
          f"{total['seconds'] / 3600:.3f} h of new audio in {el:.0f} s = {total['seconds'] / max(el, 1e-6):.1f}x "
          f"real time with {args.workers} workers", flush=True)
    return dict(total)


# ---------------------------------------------------------------- manifests


def build_manifests(out: str, plan: list[dict], speakers: dict[str, voices.Speaker]) -> dict:
    """lhotse recordings/supervisions/cuts per split from the files that exist, plus summary.json/csv."""
    from lhotse import AudioSource, CutSet, Recording, RecordingSet, SupervisionSegment, SupervisionSet

    recs: dict[str, list] = collections.defaultdict(list)
    sups: dict[str, list] = collections.defaultdict(list)
    for it in plan:
        spk = speakers[it["speaker"]]
        for split, path in outputs(out, it):
            if not os.path.exists(path):
                continue
            n = sf.info(path).frames
            rid = it["id"] if split != "test_aug" else it["id"].replace("test-", "test_aug-", 1)
            recs[split].append(Recording(id=rid, sources=[AudioSource(type="file", channels=[0], source=path)],
                                         sampling_rate=SR, num_samples=n, duration=n / SR))
            aug = it["aug_test"] if split == "test_aug" else it["aug"]
            sups[split].append(SupervisionSegment(
                id=rid, recording_id=rid, start=0.0, duration=n / SR, channel=0, text=it["norm"],
                language="English", speaker=spk.id,
                custom={"person": spk.person, "engine": spk.engine, "voice": spk.voice, "orig_text": it["text"],
                        "text_source": it["source"], "aug": aug}))
    summary = {"splits": {}, "out": out}
    rows = []
    for split in (*SPLITS, "test_aug"):
        if not recs[split]:
            continue
        rs, ss = RecordingSet.from_recordings(recs[split]), SupervisionSet.from_segments(sups[split])
        cuts = CutSet.from_manifests(recordings=rs, supervisions=ss)
        for name, obj in (("recordings", rs), ("supervisions", ss), ("cuts", cuts)):
            path = os.path.join(out, f"{name}_{split}.jsonl.gz")
            obj.to_file(path + ".tmp.jsonl.gz")
            os.replace(path + ".tmp.jsonl.gz", path)
        spk_ids = {s.speaker for s in sups[split]}
        persons = sorted({speakers[s].person for s in spk_ids})
        secs = sum(r.duration for r in recs[split])
        by_engine = collections.Counter()
        for s in sups[split]:
            by_engine[s.custom["engine"]] += s.duration / 3600
        info = {"utterances": len(recs[split]), "hours": round(secs / 3600, 3), "speakers": len(spk_ids),
                "persons": len(persons), "person_list": persons,
                "hours_by_engine": {k: round(v, 3) for k, v in sorted(by_engine.items())},
                "planned_utterances": sum(1 for it in plan if it["split"] == (split if split != "test_aug" else "test")
                                          and (split != "test_aug" or "aug_test" in it))}
        summary["splits"][split] = info
        rows.append(f"{split},{info['utterances']},{info['planned_utterances']},{info['hours']},"
                    f"{info['speakers']},{info['persons']}")
    with open(os.path.join(out, "summary.json.tmp"), "w") as f:
        json.dump(summary, f, indent=1)
    os.replace(os.path.join(out, "summary.json.tmp"), os.path.join(out, "summary.json"))
    with open(os.path.join(out, "summary.csv.tmp"), "w") as f:
        f.write("split,utterances,planned_utterances,hours,speakers,persons\n" + "\n".join(rows) + "\n")
    os.replace(os.path.join(out, "summary.csv.tmp"), os.path.join(out, "summary.csv"))
    return summary


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    args.out = os.path.abspath(args.out)
    os.makedirs(args.out, exist_ok=True)
    if args.kokoro_voices:  # the worker processes find the packs through the environment
        os.environ["SPEECHSTREAM_KOKORO_VOICES"] = os.path.abspath(args.kokoro_voices)
    engines = voices.available_engines([e for e in args.engines.split(",") if e])
    all_speakers = (voices.draw_speakers(args.seed) + kokoro_voices.draw_speakers(args.seed)
                    + piper_voices.draw_speakers(args.seed))
    usable = [s for s in all_speakers if s.engine in engines
              and (s.engine != "festival" or voices.festival_voice_available(s.voice))]
    with open(os.path.join(args.out, "speakers.json"), "w") as f:
        json.dump([dict(s.to_dict(), used=s in usable) for s in all_speakers], f, indent=0)
    speakers = {s.id: s for s in usable}
    sents = load_sentences(args)
    plan = make_plan(args, sents, usable)
    _atomic_write_jsonl(os.path.join(args.out, "plan.jsonl.gz"), plan)
    by_split = collections.Counter(it["split"] for it in plan)
    print(f"engines: {engines}; speakers: {len(usable)} of {len(all_speakers)}; plan: {dict(by_split)} "
          f"utterances", flush=True)
    work = {}
    if not args.manifests_only:
        work = run_work(args, make_chunks(plan, args.chunk_size, args.seed), speakers, plan)
    summary = build_manifests(args.out, plan, speakers)
    summary["last_run"] = work
    for split, info in summary["splits"].items():
        print(f"{split:9s} {info['utterances']:6d} utts {info['hours']:7.3f} h {info['speakers']:4d} speakers "
              f"{info['persons']:3d} persons {info['hours_by_engine']}", flush=True)
    return summary


if __name__ == "__main__":
    main()
