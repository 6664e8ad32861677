"""Benchmark helpers: interleaved repeated timing, process memory, test audio, plain-text tables.

The machines we measure on are shared and noisy, so a comparison times its cases round-robin (A, B, A, B
...) and reports the median of the per-repeat ratios: a burst of load hits both sides of one pair. Both
clocks are kept: process CPU time (the benchmarks' headline: other processes on the machine barely move
it, while they can double the wall time) and wall-clock time.
"""

from __future__ import annotations

import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SPEECH_TEXT = ("Streaming speech recognition turns live audio into text while the speaker is still talking. "
               "Every chunk is decoded as soon as it arrives.")


CLOCKS = ("cpu", "wall")  # process CPU time (what the work costs) and wall-clock time (what a user waits)


@dataclass(frozen=True)
class Timings:
    """Seconds per repeat of every case on both clocks, in the order they were run (round-robin)."""

    cpu: dict[str, list[float]]
    wall: dict[str, list[float]]

    def _clock(self, clock: str) -> dict[str, list[float]]:
        if clock not in CLOCKS:
            raise ValueError(f"clock must be one of {CLOCKS}, got {clock!r}")
        return self.cpu if clock == "cpu" else self.wall

    def median(self, case: str, clock: str = "cpu") -> float:
        return statistics.median(self._clock(clock)[case])

    def ratio(self, numerator: str, denominator: str, clock: str = "cpu") -> float:
        """Median over repeats of numerator / denominator, each pair timed back to back."""
        t = self._clock(clock)
        return statistics.median(a / b for a, b in zip(t[numerator], t[denominator]))

    def to_dict(self) -> dict[str, dict[str, list[float]]]:
        return {"cpu_s": self.cpu, "wall_s": self.wall}


def time_round_robin(cases: Mapping[str, Callable[[], object]], repeats: int, warmup: bool = True) -> Timings:
    """Runs every case once to warm up (sessions allocate on their first run), then `repeats` rounds."""
    if warmup:
        for fn in cases.values():
            fn()
    cpu: dict[str, list[float]] = {name: [] for name in cases}
    wall: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            cpu[name].append(time.process_time() - c0)
            wall[name].append(time.perf_counter() - w0)
    return Timings(cpu, wall)


def rss_mb() -> float:
    """Resident memory of this process now (Linux /proc/self/statm), else the peak from getrusage."""
    try:
        with open("/proc/self/statm") as f:
            resident_pages = int(f.read().split()[1])
        return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return peak_rss_mb()


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux


def speech_clip(work_dir: Path, sample_rate: int = 16000, text: str = SPEECH_TEXT) -> tuple[np.ndarray, str]:
    """(N,) float32 speech from espeak-ng at `sample_rate`, and what it is; tones and noise without espeak-ng."""
    exe = shutil.which("espeak-ng")
    if exe is not None:
        import soundfile as sf

        from speechstream.audio.resample import resample

        wav = Path(work_dir) / "speech.wav"
        try:
            subprocess.run([exe, "-w", str(wav), text], check=True, capture_output=True, timeout=60)
            x, rate = sf.read(wav, dtype="float32", always_2d=True)
            clip = resample(x.mean(axis=1), rate, sample_rate)
            return clip, f"a {len(clip) / sample_rate:.2f} s espeak-ng clip, repeated"
        except (OSError, subprocess.SubprocessError, RuntimeError):
            pass
    return tones_and_noise(5 * sample_rate, sample_rate), "a 5 s clip of tones and noise (espeak-ng unavailable), repeated"


def tones_and_noise(num_samples: int, sample_rate: int = 16000, seed: int = 0) -> np.ndarray:
    """Tones whose pitch and level change every 50 ms, plus noise: varied frames, like speech."""
    rng = np.random.default_rng(seed)
    hop = sample_rate // 20
    steps = num_samples // hop + 1
    hz = np.repeat(rng.uniform(100, 4000, steps), hop)[:num_samples]
    level = np.repeat(rng.uniform(0.0, 0.5, steps), hop)[:num_samples]
    t = np.arange(num_samples) / sample_rate
    x = level * np.sin(2 * np.pi * hz * t) + 0.1 * level[::-1] * rng.standard_normal(num_samples)
    return x.astype(np.float32)


def repeat_to(clip: np.ndarray, num_samples: int) -> np.ndarray:
    """The clip repeated (and cut) to exactly num_samples."""
    return np.resize(clip, num_samples).astype(np.float32, copy=False)


def looped_audio(clip: np.ndarray, piece: int, num_pieces: int, noise: float = 0.003,
                 seed: int = 0) -> Iterator[np.ndarray]:
    """num_pieces pieces of `piece` samples: the clip looped, with fresh low-level noise in every piece, made
    as they are pulled (an hour is never in memory)."""
    rng = np.random.default_rng(seed)
    pos = 0
    for _ in range(num_pieces):
        idx = (pos + np.arange(piece)) % len(clip)
        pos = (pos + piece) % len(clip)
        yield (clip[idx] + noise * rng.standard_normal(piece)).astype(np.float32)


def all_finite(value: Any) -> bool:
    """Whether a number, or every number in nested dicts / lists, is finite."""
    if isinstance(value, Mapping):
        return all(all_finite(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(all_finite(v) for v in value)
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def format_table(header: list[str], rows: list[list[str]], right: set[int] = frozenset()) -> str:
    """Columns two spaces apart, left-aligned except those in `right` (indices)."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for r in [header, *rows]:
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))]
        lines.append("  ".join(cells).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# ---- which graphs a model directory ships ----
RUNTIME_GRAPHS = ("encoder", "predictor", "joiner")  # what speechstream.Recognizer loads


def ships_int8_only(model_dir: Path) -> bool:
    """Whether a model directory ships int8 runtime graphs and no fp32 ones (what its users then run)."""
    return all((model_dir / f"{g}.int8.onnx").is_file() and not (model_dir / f"{g}.onnx").is_file()
               for g in RUNTIME_GRAPHS)


def quantized_copy(src_dir: Path, name: str, out_dir: Path) -> Path:
    """out_dir with tokens.txt and name.int8.onnx, quantized from src_dir/name.onnx as `export --int8` does."""
    from speechstream.asr.torch.export import quantize

    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src_dir / "tokens.txt", out_dir / "tokens.txt")
    shutil.copyfile(src_dir / f"{name}.onnx", out_dir / f"{name}.onnx")
    quantize(out_dir / f"{name}.onnx")
    return out_dir

