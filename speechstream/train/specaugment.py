"""SpecAugment (frequency and time masks) on a padded batch of stored log-mel features.

Shapes: B batch, T frames, F feature bins. Masked bins get each utterance's mean log-mel value, not 0:
0 is a loud value on a log-mel scale (silence is about -16), so zero masks would look like a burst.
Randomness comes from an explicit ``torch.Generator`` so a resumed run masks exactly as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class SpecAugmentConfig:
    num_freq_masks: int = 2
    max_freq_width: int = 27  # of 80 bins (the LibriSpeech "LD" policy)
    time_masks_per_second: float = 0.5  # ~10 masks on a 20 s utterance (capped by max_time_masks)
    max_time_masks: int = 10
    max_time_width: int = 40  # frames (0.4 s) ...
    max_time_ratio: float = 0.05  # ... and at most this fraction of the utterance per mask

    @property
    def enabled(self) -> bool:
        return self.num_freq_masks > 0 or self.max_time_masks > 0


def spec_augment(feats: Tensor, lengths: Tensor, config: SpecAugmentConfig, generator: torch.Generator,
                 frame_shift_s: float = 0.01) -> Tensor:
    """feats (B, T, F), lengths (B,) -> masked copy (B, T, F). Frames past a length are left alone."""
    B, T, F = feats.shape
    out = feats.clone()
    lens = lengths.to("cpu")
    for b in range(B):
        n = int(lens[b])
        if n == 0:
            continue
        fill = feats[b, :n].mean()
        for _ in range(config.num_freq_masks):
            w = int(torch.randint(0, config.max_freq_width + 1, (1,), generator=generator))
            f0 = int(torch.randint(0, max(F - w, 0) + 1, (1,), generator=generator))
            out[b, :n, f0:f0 + w] = fill
        num_t = min(config.max_time_masks, int(n * frame_shift_s * config.time_masks_per_second))
        max_w = min(config.max_time_width, int(n * config.max_time_ratio))
        for _ in range(num_t if max_w > 0 else 0):
            w = int(torch.randint(0, max_w + 1, (1,), generator=generator))
            t0 = int(torch.randint(0, n - w + 1, (1,), generator=generator))
            out[b, t0:t0 + w, :] = fill
    return out
