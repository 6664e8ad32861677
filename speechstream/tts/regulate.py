"""Length regulation in numpy (the runtime's; speechstream.tts.torch.regulate is the batched torch twin):
log durations -> whole frames per phoneme -> one condition row per frame.

Shapes: N phonemes, D encoding dim, T frames.

Each phoneme's rows depend on that phoneme alone, so regulating phonemes one at a time as they stream in
gives exactly the rows of regulating them all at once.
"""

from __future__ import annotations

import numpy as np


def durations(log_durations: np.ndarray, speed: float = 1.0, max_duration: int = 50) -> np.ndarray:
    """(N,) predicted log(1 + frames) -> (N,) int64 frames at `speed` (2.0 = twice as fast), each in
    [0, max_duration / speed]."""
    if not speed > 0:
        raise ValueError(f"speed must be positive, got {speed}")
    frames = np.expm1(np.asarray(log_durations, np.float32)) / np.float32(speed)
    return np.clip(np.round(frames), 0, round(max_duration / speed)).astype(np.int64)


def frame_conditions(encodings: np.ndarray, durations: np.ndarray) -> np.ndarray:
    """encodings (N, D), durations (N,) -> (T, D + 1) float32, T = sum(durations): the phoneme's encoding and
    the frame's progress (k + 0.5) / n through its n frames."""
    d = np.asarray(durations, np.int64)
    rows = np.repeat(np.asarray(encodings, np.float32), d, axis=0)
    progress = [(np.arange(n, dtype=np.float32) + np.float32(0.5)) / np.float32(n) for n in d if n > 0]
    column = np.concatenate(progress) if progress else np.zeros(0, np.float32)
    return np.concatenate([rows, column[:, None]], axis=1)
