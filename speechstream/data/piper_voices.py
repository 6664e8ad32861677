"""Piper joe speakers for the corpus engine: a few fixed draws of one recorded person (US male) at different
rates, some with a formant shift (sox, as for the Debian voices), train only: one person cannot be both
trained on and held out. :func:`synthesize` is what :func:`speechstream.data.voices.synthesize` calls."""

from __future__ import annotations

import os
import warnings
import zlib

import numpy as np
import soundfile as sf

from speechstream.data.voices import Speaker

PERSON = "piper:joe"
SPEAKERS = 6
SR = 16000


def draw_speakers(seed: int = 0, n: int = SPEAKERS) -> list[Speaker]:
    """Fixed train draws: rate 0.88-1.12, a formant shift 0.94-1.06 for half of them."""
    rng = np.random.default_rng([seed, 7919, 60])
    out = []
    for i in range(n):
        rate = round(float(rng.uniform(0.88, 1.12)), 3)
        formant = round(float(rng.uniform(0.94, 1.06)), 3) if i % 2 else 1.0
        out.append(Speaker(f"p{i:03d}-joe", "train", "piper", "en_US-joe-medium", PERSON, rate, 0.0, formant))
    return out


def utterance_seed(spk: Speaker, text: str, jitter: float) -> int:
    """The VITS noise seed of one utterance: a stable function of speaker, text and jitter."""
    return zlib.crc32(f"{spk.id}|{jitter:.4f}|{text}".encode())


_ENGINE: dict[str, object] = {}


def engine():
    """The process's Piper engine (one onnxruntime thread), made on first use."""
    if "piper" not in _ENGINE:
        from speechstream.data.piper import Piper

        _ENGINE["piper"] = Piper(threads=int(os.environ.get("SPEECHSTREAM_PIPER_THREADS", "1")))
    return _ENGINE["piper"]


def synthesize(spk: Speaker, jobs: list[tuple[str, float, str]]) -> None:
    """Write each (text, jitter, wav) as a 16 kHz float WAV (peak -1 dBFS); failures leave no file."""
    eng = engine()
    for text, jitter, wav in jobs:
        try:
            y = eng.synthesize(text, speed=spk.rate * jitter, seed=utterance_seed(spk, text, jitter), sr=SR)
            sf.write(wav, y, SR, subtype="FLOAT")
        except Exception as e:
            warnings.warn(f"{spk.id}: piper failed on {text!r}: {type(e).__name__}: {e}")
