"""Kokoro speakers for the corpus engine: fixed seeded draws over Kokoro's 28 English voices, and the engine
call that :func:`speechstream.data.voices.synthesize` dispatches to.

A Kokoro speaker is a :class:`~speechstream.data.voices.Speaker` with ``engine="kokoro"``, ``voice`` a
:class:`~speechstream.data.kokoro.Voice` spec (one pack, or a blend of two packs of one accent group) and
``rate`` its Kokoro ``speed``; pitch and formant stay neutral (Kokoro's voices differ enough, and sox
pitch shifting hurts recognisers: see voices.py). Four voices are held out, never used in train, never
blended into a train speaker: dev gets ``af_sarah`` + ``bm_daniel``, test ``am_eric`` + ``bf_isabella``
(one US and one UK voice, one female and one male, per split).
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import soundfile as sf

from speechstream.data.kokoro import Voice
from speechstream.data.voices import Speaker
from speechstream.tts.voices import KOKORO_VOICES

# The English voices of kokoro-js 1.2.1 (fixed, so draws do not depend on what is installed): the TTS
# speaker table's names.
ENGLISH_VOICES = KOKORO_VOICES
HELD_OUT = {"dev": ("af_sarah", "bm_daniel"), "test": ("am_eric", "bf_isabella")}
HELD_OUT_VOICES = frozenset(v for vs in HELD_OUT.values() for v in vs)
TRAIN_VOICES = tuple(v for v in ENGLISH_VOICES if v not in HELD_OUT_VOICES)
SPEAKERS_PER_SPLIT = {"train": 100, "dev": 4, "test": 4}
P_US_BLEND = 0.7  # share of train blends drawn from the US voices (20 US against 8 UK voices)
SR = 16000


def _person(names: list[str]) -> str:
    return "kokoro:" + "+".join(sorted(names))


def check_train_voices(names: list[str] | tuple[str, ...]) -> None:
    """Refuse any held-out voice in a training speaker (alone or inside a blend)."""
    bad = sorted(set(names) & HELD_OUT_VOICES)
    if bad:
        raise ValueError(f"held-out Kokoro voices {bad} may not be used in training speakers")


def draw_speakers(seed: int = 0, per_split: dict[str, int] | None = None,
                  train_voices: tuple[str, ...] = TRAIN_VOICES) -> list[Speaker]:
    """Fixed draws. Train: every train voice alone, then blends of two voices of one accent group
    (weights 0.25-0.75) up to the split's count, speed 0.88-1.12. Dev/test: the split's held-out voices,
    alone, in turn, each at drawn speeds 0.9-1.1."""
    per_split = {**SPEAKERS_PER_SPLIT, **(per_split or {})}
    check_train_voices(train_voices)
    us = [v for v in train_voices if v.startswith("a")]
    uk = [v for v in train_voices if v.startswith("b")]
    out: list[Speaker] = []
    rng = np.random.default_rng([seed, 7919, 50])
    for i in range(per_split["train"]):
        if i < len(train_voices):
            names, weights = [train_voices[i]], [1.0]
        else:
            pool = us if rng.random() < P_US_BLEND else uk
            a, b = rng.choice(len(pool), 2, replace=False)
            w = round(float(rng.uniform(0.25, 0.75)), 3)
            names, weights = [pool[a], pool[b]], [w, round(1.0 - w, 3)]
        check_train_voices(names)
        spec = Voice(tuple(names), tuple(weights)).spec()
        speed = round(float(rng.uniform(0.88, 1.12)), 3)
        out.append(Speaker(f"k{len(out):03d}-{'-'.join(names)}", "train", "kokoro", spec, _person(names),
                           speed, 0.0, 1.0))
    for split_no, split in enumerate(("dev", "test"), 1):
        rng = np.random.default_rng([seed, 7919, 50, split_no])
        held = HELD_OUT[split]
        for i in range(per_split[split]):
            name = held[i % len(held)]
            speed = round(float(rng.uniform(0.9, 1.1)), 3)
            out.append(Speaker(f"k{len(out):03d}-{name}", split, "kokoro", name, _person([name]), speed, 0.0, 1.0))
    return out


_ENGINE: dict[str, object] = {}


def engine():
    """The process's Kokoro engine (one onnxruntime thread), made on first use: each corpus worker
    process loads its own session."""
    if "kokoro" not in _ENGINE:
        from speechstream.data.kokoro import Kokoro

        _ENGINE["kokoro"] = Kokoro(threads=int(os.environ.get("SPEECHSTREAM_KOKORO_THREADS", "1")))
    return _ENGINE["kokoro"]


def synthesize(spk: Speaker, jobs: list[tuple[str, float, str]]) -> None:
    """Write each (text, jitter, wav) as a 16 kHz float WAV (peak -1 dBFS); failures leave no file."""
    eng = engine()
    for text, jitter, wav in jobs:
        try:
            y = eng.synthesize(text, spk.voice, speed=spk.rate * jitter, sr=SR)
            sf.write(wav, y, SR, subtype="FLOAT")
        except Exception as e:  # one sentence must not stop the chunk (e.g. too many phonemes)
            warnings.warn(f"{spk.id}: kokoro failed on {text!r}: {type(e).__name__}: {e}")
