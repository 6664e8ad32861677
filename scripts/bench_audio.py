"""Streaming vs offline cost of the audio front end (STFT, ISTFT, Fbank), in ms of CPU per second of audio.

Streams are fed 10 ms chunks (160 samples at 16 kHz); the ISTFT gets its frames in groups covering ~10 ms.
Each measurement is repeated and the median kept.

    python scripts/bench_audio.py [--seconds 60] [--repeats 5] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Callable

import numpy as np

from speechstream.audio.stft import STFT

SAMPLE_RATE = 16000


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run_stream(stream, pieces: list[np.ndarray]) -> list[np.ndarray]:
    out = [stream.accept(p) for p in pieces]
    out.append(stream.flush())
    return out


def chunks(a: np.ndarray, size: int) -> list[np.ndarray]:
    return [a[i : i + size] for i in range(0, a.shape[0], size)]


def bench(args: argparse.Namespace) -> tuple[list[dict], list[str]]:
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal(int(args.seconds * SAMPLE_RATE))).astype(np.float32)
    audio_s = x.shape[0] / SAMPLE_RATE
    chunk = int(round(args.chunk_ms * SAMPLE_RATE / 1000))
    stft = STFT(args.n_fft, args.hop, args.win_length)
    frames = stft(x)
    frame_group = max(1, round(chunk / args.hop))
    sample_chunks = chunks(x, chunk)

    cases: list[tuple[str, Callable[[], object], Callable[[], object]]] = [
        ("stft", lambda: stft(x), lambda: run_stream(stft.stream(), sample_chunks)),
        (
            "istft",
            lambda: stft.inverse(frames),
            lambda: run_stream(stft.inverse_stream(), chunks(frames, frame_group)),
        ),
    ]
    notes = [
        f"{audio_s:.0f} s of audio, chunks of {chunk} samples ({args.chunk_ms} ms); ISTFT fed {frame_group} "
        f"frame(s) per call; STFT n_fft={args.n_fft} hop={args.hop} win_length={args.win_length}; "
        f"median of {args.repeats}"
    ]
    try:
        from speechstream.audio import Fbank, FbankConfig
    except (ImportError, AttributeError) as e:
        notes.append(f"fbank skipped: speechstream.audio.Fbank is not available ({e})")
    else:
        fbank = Fbank(FbankConfig())
        cases.append(("fbank", lambda: fbank(x), lambda: run_stream(fbank.stream(), sample_chunks)))

    rows = []
    for name, offline, streaming in cases:
        offline()  # warm up (plans, caches)
        t_off = median_seconds(offline, args.repeats)
        t_str = median_seconds(streaming, args.repeats)
        rows.append(
            {
                "op": name,
                "offline_ms_per_audio_s": 1000 * t_off / audio_s,
                "streaming_ms_per_audio_s": 1000 * t_str / audio_s,
                "ratio": t_str / t_off,
            }
        )
    return rows, notes


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=60.0, help="length of the test signal")
    p.add_argument("--repeats", type=int, default=5, help="timings per measurement; the median is kept")
    p.add_argument("--chunk-ms", type=float, default=10.0, help="streaming chunk length")
    p.add_argument("--n-fft", type=int, default=512)
    p.add_argument("--hop", type=int, default=160)
    p.add_argument("--win-length", type=int, default=400)
    p.add_argument("--json", metavar="OUT", help="also write the results as JSON to OUT")
    args = p.parse_args(argv)
    rows, notes = bench(args)
    print(f"{'op':<8}{'offline ms/audio-s':>20}{'streaming ms/audio-s':>22}{'ratio':>8}")
    for r in rows:
        off, stream = r["offline_ms_per_audio_s"], r["streaming_ms_per_audio_s"]
        print(f"{r['op']:<8}{off:>20.3f}{stream:>22.3f}{r['ratio']:>8.2f}")
    for n in notes:
        print(f"# {n}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"results": rows, "notes": notes, "args": vars(args)}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
