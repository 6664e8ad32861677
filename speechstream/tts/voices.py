"""The speaker table's names and voice specs: one voice (``af_heart``) or a blend (``af_heart:0.6,bm_george:0.4``).

A blend is the weighted sum of the speakers' embeddings, its weights scaled to sum to 1; the model takes it
as a weight vector over its speaker table (shape (S,)), so any blend runs through the same graph.
The default table is Kokoro's 28 English voices (the teacher's): ``a*`` American, ``b*`` British,
``*f_`` female, ``*m_`` male.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

KOKORO_VOICES = (
    "af_alloy", "af_aoede", "af_bella", "af_heart", "af_jessica", "af_kore", "af_nicole", "af_nova", "af_river",
    "af_sarah", "af_sky",
    "am_adam", "am_echo", "am_eric", "am_fenrir", "am_liam", "am_michael", "am_onyx", "am_puck", "am_santa",
    "bf_alice", "bf_emma", "bf_isabella", "bf_lily",
    "bm_daniel", "bm_fable", "bm_george", "bm_lewis",
)
DEFAULT_VOICE = "af_heart"


@dataclass(frozen=True)
class VoiceSpec:
    names: tuple[str, ...]
    weights: tuple[float, ...]  # sum to 1

    @classmethod
    def parse(cls, spec: str, speakers: Sequence[str] = KOKORO_VOICES) -> VoiceSpec:
        """"af_heart" or "af_heart:0.6,bm_george:0.4" -> VoiceSpec; ValueError naming the problem."""
        names, weights = [], []
        for part in spec.split(","):
            name, _, w = part.strip().partition(":")
            if name not in speakers:
                raise ValueError(f"unknown voice {name!r}; voices: {', '.join(speakers)}")
            try:
                weight = float(w) if w else 1.0
            except ValueError:
                raise ValueError(f"bad weight {w!r} for voice {name!r}") from None
            if not weight > 0 or not np.isfinite(weight):
                raise ValueError(f"voice weights must be positive, got {w!r} for {name!r}")
            names.append(name)
            weights.append(weight)
        total = sum(weights)
        return cls(tuple(names), tuple(w / total for w in weights))

    @property
    def british(self) -> bool:
        """UK readings when the heaviest voice is a ``b*`` one."""
        return self.names[int(np.argmax(self.weights))].startswith("b")

    def vector(self, speakers: Sequence[str] = KOKORO_VOICES) -> np.ndarray:
        """(S,) float32 weights over the speaker table."""
        out = np.zeros(len(speakers), np.float32)
        for name, w in zip(self.names, self.weights):
            out[list(speakers).index(name)] += w
        return out
