"""Batched log-mel Fbank in torch for training; equals speechstream.audio.fbank.Fbank row by row."""

from __future__ import annotations

import math

import torch

from speechstream.audio import mel
from speechstream.audio.fbank import FbankConfig


class TorchFbank(torch.nn.Module):
    """forward(wave (B, N) float, lengths (B,) int) -> (feats (B, T, M) float32, frame_lengths (B,) int64).

    Each row is framed as if it were alone: its right-edge reflection uses its own length. T is the
    frame count of the longest row; frames past a row's frame_length hold the log floor.
    """

    def __init__(self, config: FbankConfig | None = None) -> None:
        super().__init__()
        self.config = config or FbankConfig()
        c = self.config
        window = mel.analysis_window(c.window, c.frame_length)
        matrix = mel.mel_filterbank(
            c.sample_rate, c.n_fft, c.num_mel_bins, c.low_freq, c.nyquist_high_freq, c.mel_scale, c.mel_norm
        )
        # Non-persistent: constants derived from the config, not weights to save.
        self.register_buffer("window", torch.tensor(window, dtype=torch.float32), persistent=False)
        self.register_buffer("mel_matrix", torch.tensor(matrix, dtype=torch.float32), persistent=False)

    def frame_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        return (lengths.long() + self.config.frame_shift // 2) // self.config.frame_shift

    def forward(self, wave: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.config
        lengths = lengths.to(wave.device).long()
        frame_lengths = self.frame_lengths(lengths)
        b = wave.shape[0]
        t = int(frame_lengths.max()) if b else 0
        starts = (torch.arange(t, device=wave.device) * c.frame_shift + c.frame_shift // 2 - c.frame_length // 2)
        index = starts[:, None] + torch.arange(c.frame_length, device=wave.device)  # (T, L)
        # Kaldi's reflection folded with each row's own period 2N (see mel.reflect); N >= 1 avoids mod 0.
        n = lengths.clamp(min=1)[:, None, None]  # (B, 1, 1)
        s = torch.remainder(index[None], 2 * n)
        s = torch.where(s >= n, 2 * n - 1 - s, s)  # (B, T, L)
        frames = torch.gather(wave.float(), 1, s.reshape(b, -1)).reshape(b, t, c.frame_length)
        if c.remove_dc_offset:
            frames = frames - frames.mean(dim=-1, keepdim=True)
        if c.preemphasis:
            frames = torch.cat(
                [frames[..., :1] * (1.0 - c.preemphasis), frames[..., 1:] - c.preemphasis * frames[..., :-1]], dim=-1
            )
        spec = torch.fft.rfft(frames * self.window, n=c.n_fft, dim=-1)
        power = spec.real.square() + spec.imag.square()  # (B, T, F)
        feats = torch.log(torch.clamp(power @ self.mel_matrix, min=c.log_floor))  # (B, T, M)
        valid = torch.arange(t, device=wave.device)[None, :] < frame_lengths[:, None]
        feats = torch.where(valid[..., None], feats, torch.full_like(feats, math.log(c.log_floor)))
        return feats, frame_lengths
