"""The vocoder's frame representation and its mel-derived prior (torch).

Shapes: B batch, T frames, F = n_fft // 2 + 1 bins, M mel bins, N samples.

A generated frame is x (..., 2F) = [Re c; Im c] with c = spec_scale * |X|^a * exp(i angle X) (power-law
compression, a = spec_compress), X the STFT frame of `speechstream.audio.stft.STFT(n_fft, hop)`. The
compression evens out the dynamic range so a Gaussian prior and an MSE velocity target suit all bins.

The prior envelope s(mel) (..., F) is a fixed linear map of exp(mel): each mel band's energy is spread
back over its FFT bins (band energy / band weight, interpolated), rescaled from the Fbank's 400-sample
window to the STFT window, de-emphasised (the Fbank pre-emphasises), then compressed like the frames.
It is the standard deviation of each real / imaginary part if the frame were a complex Gaussian with
that power spectrum: the cheap prior of the early-skip start and of the "mel" noise prior.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

from speechstream.audio import mel as mel_lib
from speechstream.audio.fbank import FbankConfig
from speechstream.audio.windows import hann
from speechstream.vocoder.config import VocoderConfig


def stft_frames(wave: Tensor, config: VocoderConfig) -> Tensor:
    """wave (B, N) -> (B, T, F) complex64, T = 1 + N // hop; equals the numpy STFT(n_fft, hop) row by row."""
    window = torch.hann_window(config.n_fft, periodic=True, dtype=torch.float32, device=wave.device)
    spec = torch.stft(wave.float(), config.n_fft, config.hop_length, window=window, center=True,
                      pad_mode="reflect", return_complex=True)
    return spec.transpose(1, 2)


def encode(frames: Tensor, config: VocoderConfig) -> Tensor:
    """STFT frames (..., F) complex -> x (..., 2F) real, compressed."""
    power = frames.real.square() + frames.imag.square()
    gain = config.spec_scale * (power + 1e-12) ** ((config.spec_compress - 1) / 2)
    return torch.cat([frames.real * gain, frames.imag * gain], dim=-1)


def decode(x: Tensor, config: VocoderConfig) -> Tensor:
    """x (..., 2F) -> STFT frames (..., 2, F) real [real part; imaginary part], decompressed (traceable)."""
    re, im = (x / config.spec_scale).chunk(2, dim=-1)
    exponent = (1.0 / config.spec_compress - 1.0) / 2  # >= 0 since spec_compress <= 1
    gain = (re.square() + im.square()) ** exponent
    return torch.stack([re * gain, im * gain], dim=-2)


def prior_basis(config: VocoderConfig, fbank: FbankConfig | None = None) -> np.ndarray:
    """(M, F) float32: band power spectrum p = exp(mel) @ basis, on the STFT's bins (numpy)."""
    fb = fbank or FbankConfig()
    m_fbank = mel_lib.mel_filterbank(fb.sample_rate, fb.n_fft, fb.num_mel_bins, fb.low_freq,
                                     fb.nyquist_high_freq, fb.mel_scale, fb.mel_norm)  # (F_fbank, M)
    m_stft = mel_lib.mel_filterbank(config.sample_rate, config.n_fft, fb.num_mel_bins, fb.low_freq,
                                    fb.nyquist_high_freq, fb.mel_scale, fb.mel_norm)  # (F, M)
    band_weight = m_fbank.sum(axis=0)  # (M,): a flat power spectrum p gives band energy p * band_weight
    rows = m_stft.sum(axis=1)
    # Bins no triangle covers (0 Hz and Nyquist) borrow the nearest covered bin's weights.
    covered = np.flatnonzero(rows > 0)
    nearest = covered[np.abs(np.arange(rows.shape[0])[:, None] - covered[None, :]).argmin(axis=1)]
    interp = m_stft[nearest] / rows[nearest][:, None]  # (F, M), rows sum to 1
    win_ratio = np.sum(hann(config.n_fft) ** 2) / np.sum(mel_lib.analysis_window(fb.window, fb.frame_length) ** 2)
    omega = np.linspace(0.0, np.pi, config.n_freqs)
    omega = np.maximum(omega, 2 * np.pi * 50.0 / config.sample_rate)  # do not undo pre-emphasis below 50 Hz
    emphasis = 1.0 + fb.preemphasis ** 2 - 2.0 * fb.preemphasis * np.cos(omega)  # |1 - a e^{-iw}|^2
    basis = interp.T / band_weight[:, None] * win_ratio / emphasis[None, :]
    return basis.astype(np.float32)


class MelPrior(nn.Module):
    """forward(mel (..., M)) -> s (..., F): per-part std of the compressed frame under the mel's envelope."""

    def __init__(self, config: VocoderConfig) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("basis", torch.from_numpy(prior_basis(config)), persistent=False)
        a = config.spec_compress
        # E|c|^2 = scale^2 Gamma(1 + a) p^a for complex Gaussian X of power p; half of it per part.
        self.gain = config.spec_scale * math.sqrt(math.gamma(1 + a) / 2)

    def forward(self, mel: Tensor) -> Tensor:
        power = torch.exp(mel) @ self.basis
        s = self.gain * power.clamp_min(1e-20) ** (self.config.spec_compress / 2)
        return s.clamp_min(self.config.prior_floor)
