"""Causal depth-wise striding subsampling (NeMo's "dw_striding", made causal), offline and streaming.

Shapes: B batch, T feature frames, F feature bins, C channels, D model dim, f = subsampling factor.

Stages: conv2d(1->C, k=3, s=2) + ReLU, then per further stage depthwise conv2d(C, k=3, s=2) + pointwise
1x1 + ReLU, then Linear(C * F' -> D). Frequency is padded symmetrically. Time is padded on the left only,
by k - s = 1 frame per stage, so output t reads input frames [f*t - lookback, f*t + f - 1]: it uses its
own f frames and nothing later. (Padding k - 1 instead would make output t end at frame f*t and leave
the last f - 1 frames of every chunk unused until the next chunk: up to a whole chunk of extra delay.)
Inputs are cut into groups of f frames, so ``forward`` pads T up to a multiple of f with ``pad_value``
and overwrites frames past each length with it; a stream's padded last chunk is treated alike.

Streaming keeps the last P feature frames (P = pre-encode cache, a multiple of f >= lookback). Both
``forward`` and ``step`` run the subsampler over [P left frames; new frames] and drop the first P/f
outputs; ``forward`` uses P frames of ``pad_value`` as the left frames, which is exactly the initial
state, so step == forward for any chunking into multiples of f.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

KERNEL = 3
STRIDE = 2


LEFT_PAD = KERNEL - STRIDE  # per stage: output t of a stage reads [s*t - LEFT_PAD, s*t + s - 1]


def lookback_frames(factor: int) -> int:
    """Input frames before an output's own group of f frames that it still reads (7 for 8x, 3 for 4x)."""
    stages = int(round(math.log2(factor)))
    return LEFT_PAD * sum(STRIDE ** i for i in range(stages))


def pre_encode_cache_frames(factor: int) -> int:
    """P: the smallest multiple of the factor >= the look-back (7 -> 8 for 8x, 3 -> 4 for 4x)."""
    return -(-lookback_frames(factor) // factor) * factor


class CausalConvSubsampling(nn.Module):
    def __init__(self, feat_dim: int, channels: int, d_model: int, factor: int = 8,
                 pad_value: float = 0.0) -> None:
        super().__init__()
        stages = int(round(math.log2(factor)))
        if 2 ** stages != factor or stages < 1:
            raise ValueError(f"subsampling factor must be a power of 2, got {factor}")
        self.factor = factor
        self.pad_value = pad_value
        self.cache_frames = pre_encode_cache_frames(factor)
        layers: list[nn.Module] = [nn.Conv2d(1, channels, KERNEL, STRIDE), nn.ReLU()]
        for _ in range(stages - 1):
            layers += [nn.Conv2d(channels, channels, KERNEL, STRIDE, groups=channels),
                       nn.Conv2d(channels, channels, 1), nn.ReLU()]
        self.convs = nn.ModuleList(layers)
        out_freq = feat_dim
        for _ in range(stages):
            out_freq = (out_freq - 1) // STRIDE + 1  # symmetric pad 1, k=3, s=2
        self.out = nn.Linear(channels * out_freq, d_model)
        # Global per-bin normalisation of log-mel input (set from training data by the recipe; identity by
        # default). Raw log-mel is ~-11 +- 4: without it the time-varying part drowns in a constant offset and
        # training sits on the all-blank plateau for thousands of steps. Per frame, so streaming is unchanged.
        self.register_buffer("feat_mean", torch.zeros(feat_dim))
        self.register_buffer("feat_inv_std", torch.ones(feat_dim))

    def set_normalization(self, mean: Tensor, std: Tensor) -> None:
        """mean, std (F,): statistics of training features."""
        self.feat_mean.copy_(mean)
        self.feat_inv_std.copy_(1.0 / std.clamp(min=1e-3))

    def _subsample(self, x: Tensor) -> Tensor:
        """(B, T, F), T a multiple of f -> (B, T/f, D), causal in time."""
        h = ((x - self.feat_mean) * self.feat_inv_std).unsqueeze(1)  # (B, 1, T, F)
        for layer in self.convs:
            if isinstance(layer, nn.Conv2d) and layer.kernel_size[0] > 1:
                # (F left, F right, T left, T right): causal in time, symmetric in frequency.
                h = nn.functional.pad(h, (1, 1, LEFT_PAD, 0))
            h = layer(h)
        b, c, t, fr = h.shape
        return self.out(h.transpose(1, 2).reshape(b, t, c * fr))

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """x (B, T, F), lengths (B,) -> (B, ceil(T/f), D), ceil(lengths/f)."""
        b, t, feat = x.shape
        right = -t % self.factor
        left = x.new_full((b, self.cache_frames, feat), self.pad_value)
        x = torch.cat([left, self.mask_padding(x, lengths), x.new_full((b, right, feat), self.pad_value)], 1)
        return self._subsample(x)[:, self.cache_frames // self.factor:], self.output_lengths(lengths)

    def mask_padding(self, x: Tensor, lengths: Tensor) -> Tensor:
        """x (B, T, F) with frames at or past lengths (B,) set to pad_value."""
        pad = torch.arange(x.size(1), device=x.device)[None, :] >= lengths[:, None]
        return x.masked_fill(pad[:, :, None], self.pad_value)

    def output_lengths(self, lengths: Tensor) -> Tensor:
        return torch.div(lengths + self.factor - 1, self.factor, rounding_mode="floor")

    def init_state(self, batch_size: int, feat_dim: int, device: torch.device | None = None) -> Tensor:
        """(B, P, F) of pad_value: stands for exactly the left padding ``forward`` uses."""
        return torch.full((batch_size, self.cache_frames, feat_dim), self.pad_value, device=device)

    def step(self, x: Tensor, cache: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """x (B, C, F) new frames (C a multiple of f), cache (B, P, F) -> (B, C/f, D), new cache.

        lengths (B,): valid new frames, for a stream's padded last chunk (frames past it become pad_value).
        """
        if lengths is not None:
            x = self.mask_padding(x, lengths)
        window = torch.cat([cache, x], dim=1)  # (B, P + C, F): the sherpa-onnx feature window
        y = self.step_window(window)
        return y, window[:, window.size(1) - self.cache_frames:]

    def step_window(self, window: Tensor) -> Tensor:
        """window (B, P + C, F) -> (B, C/f, D): the outputs of its last C frames."""
        return self._subsample(window)[:, self.cache_frames // self.factor:]
