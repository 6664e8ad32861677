"""Augmentation for synthetic speech: reverberation and telephone band (sox), coloured noise at a drawn SNR,
random gain and occasional clipping (numpy).

An augmentation is drawn once as a plain dict (:func:`draw`), so a corpus plan stores it and re-running a
plan reproduces the same audio; :func:`sox_effects` and :func:`apply` carry it out.
"""

from __future__ import annotations

import subprocess

import numpy as np

NOISE_TYPES = ("white", "pink", "brown")


def draw(rng: np.random.Generator, noise_types: tuple[str, ...] = ("white", "pink"),
         p_clean: float = 0.3) -> dict:
    """One augmentation recipe. Clean ones only get a mild random level (peak -6..-1 dBFS)."""
    if rng.random() < p_clean:
        return {"clean": True, "peak_db": round(float(rng.uniform(-6, -1)), 2)}
    aug: dict = {"clean": False}
    while len(aug) == 1:
        if rng.random() < 0.5:
            aug["reverb"] = [round(float(v), 1) for v in (
                rng.uniform(10, 70),  # reverberance %
                rng.uniform(10, 90),  # HF damping %
                rng.uniform(20, 100),  # room scale %
                rng.uniform(0, 30),  # pre-delay ms
            )]
        if rng.random() < 0.2:
            aug["telephone"] = True
        if noise_types and rng.random() < 0.6:
            aug["noise"] = str(noise_types[rng.integers(len(noise_types))])
            aug["snr_db"] = round(float(rng.uniform(5, 35)), 1)
    aug["peak_db"] = round(float(rng.uniform(-25, -1)), 2)
    if rng.random() < 0.05:
        aug["clip_db"] = round(float(rng.uniform(2, 10)), 1)  # overdrive above full scale, then clip
    aug["seed"] = int(rng.integers(2**31))
    return aug


def sox_effects(aug: dict) -> list[str]:
    fx: list[str] = []
    if "reverb" in aug:
        fx += ["reverb", *(str(v) for v in aug["reverb"])]
    if aug.get("telephone"):
        fx += ["sinc", "300-3400"]
    return fx


def run_sox(x: np.ndarray, sr: int, effects: list[str]) -> np.ndarray:
    """Pipe float32 mono samples through sox effects (output at the same rate, mono)."""
    if not effects:
        return x
    raw = ["-t", "raw", "-e", "floating-point", "-b", "32", "-c", "1", "-r", str(sr)]
    p = subprocess.run(["sox", "-q", *raw, "-", *raw, "-", *effects, "channels", "1"],
                       input=x.astype(np.float32).tobytes(), capture_output=True, check=True, timeout=120)
    return np.frombuffer(p.stdout, dtype=np.float32).copy()


def colored_noise(kind: str, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS noise with a 1/f^a power spectrum: white a=0, pink a=1, brown a=2 (flat below 20 Hz)."""
    a = {"white": 0.0, "pink": 1.0, "brown": 2.0}[kind]
    spec = rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1)
    f = np.fft.rfftfreq(n, 1.0 / sr)
    spec *= np.maximum(f, 20.0) ** (-a / 2.0)
    y = np.fft.irfft(spec, n)
    return (y / (np.sqrt(np.mean(y**2)) + 1e-12)).astype(np.float32)


def active_power(x: np.ndarray, sr: int) -> float:
    """Mean power of the 20 ms frames within 30 dB of the loudest (speech, not the silences)."""
    hop = sr // 50
    n = len(x) // hop
    if n == 0:
        return float(np.mean(x**2) + 1e-12)
    p = np.mean(x[: n * hop].reshape(n, hop) ** 2, axis=1)
    return float(np.mean(p[p > p.max() * 1e-3]) + 1e-12)


def apply(x: np.ndarray, sr: int, aug: dict) -> np.ndarray:
    """The recipe on float samples: sox effects, noise, level, clipping. Returns float32 in [-1, 1]."""
    if not aug.get("clean"):
        x = run_sox(x, sr, sox_effects(aug))
        if "noise" in aug:
            rng = np.random.default_rng(aug.get("seed", 0))
            noise = colored_noise(aug["noise"], len(x), sr, rng)
            x = x + noise * np.sqrt(active_power(x, sr) / 10 ** (aug["snr_db"] / 10))
    x = x * (10 ** (aug["peak_db"] / 20) / (np.max(np.abs(x)) + 1e-9))
    if "clip_db" in aug:
        x = np.clip(x * 10 ** ((aug["clip_db"] - aug["peak_db"]) / 20), -1.0, 1.0)
    return np.clip(x, -1.0, 1.0).astype(np.float32)


def finish(y: np.ndarray, native_sr: int, sr: int, peak_db: float | None) -> np.ndarray:
    """An engine's output (T,) at `sr`, its peak at `peak_db` dBFS when given (the neural engines' last step)."""
    import soxr

    if sr != native_sr:
        y = soxr.resample(y, native_sr, sr).astype(np.float32)
    if peak_db is not None:
        y = y * np.float32(10 ** (peak_db / 20) / max(float(np.max(np.abs(y))), 1e-6))
    return y

