"""How far a vocoded waveform is from the ground truth, and how good it sounds (recipes/vocoder/evaluate.py).

Shapes: N samples, T frames, F bins, M mel bins.

  mr_stft_distance  multi-resolution STFT distance (Parallel WaveGAN's auxiliary loss, as a number): per
                    resolution (n_fft, hop, win) the spectral convergence || |Y| - |X| ||_F / || |Y| ||_F plus
                    the mean |log |Y| - log |X||, magnitudes floored at sqrt(1e-7); averaged over RESOLUTIONS.
                    0 for identical signals; phase-blind, level-sensitive.
  mel_l1            mean |log-mel(y) - log-mel(x)| on the toolkit's Fbank: the frames the vocoder is given.
  DnsMos            DNSMOS P.835 (OVRL, SIG, BAK) and P.808 from the `speechmos` package's bundled ONNX models:
                    a reference-free quality estimate, 1 (bad) to 5 (excellent).

The distances are numpy only; DnsMos imports speechmos (librosa, onnxruntime) when it is built.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from speechstream.audio.fbank import Fbank
from speechstream.audio.stft import STFT

# (n_fft, hop, win): 32, 64 and 16 ms Hann windows at 16 kHz with 4x overlap, like Parallel WaveGAN's three.
RESOLUTIONS: tuple[tuple[int, int, int], ...] = ((512, 128, 512), (1024, 256, 1024), (256, 64, 256))
POWER_FLOOR = 1e-7


@dataclass(frozen=True)
class StftDistance:
    """mr_stft = mean over resolutions of (spectral_convergence + log_magnitude), and its two parts."""

    mr_stft: float
    spectral_convergence: float
    log_magnitude: float


def _magnitude(x: np.ndarray, stft: STFT) -> np.ndarray:
    """(N,) -> (T, F) float64 |STFT|, floored."""
    power = np.abs(stft(x.astype(np.float32))).astype(np.float64) ** 2
    return np.sqrt(np.maximum(power, POWER_FLOOR))


def _check_pair(reference: np.ndarray, estimate: np.ndarray) -> None:
    if reference.ndim != 1 or reference.shape != estimate.shape:
        raise ValueError(f"expected two (N,) signals of one length, got {reference.shape} and {estimate.shape}")


def mr_stft_distance(reference: np.ndarray, estimate: np.ndarray,
                     resolutions: tuple[tuple[int, int, int], ...] = RESOLUTIONS) -> StftDistance:
    """reference (N,), estimate (N,) -> StftDistance; N must exceed half the largest n_fft."""
    _check_pair(reference, estimate)
    sc, lm = [], []
    for n_fft, hop, win in resolutions:
        stft = STFT(n_fft, hop, win)
        y, x = _magnitude(reference, stft), _magnitude(estimate, stft)
        sc.append(np.linalg.norm(y - x) / np.linalg.norm(y))
        lm.append(np.mean(np.abs(np.log(y) - np.log(x))))
    sc_mean, lm_mean = float(np.mean(sc)), float(np.mean(lm))
    return StftDistance(sc_mean + lm_mean, sc_mean, lm_mean)


def mel_l1(reference: np.ndarray, estimate: np.ndarray, fbank: Fbank | None = None) -> float:
    """reference (N,), estimate (N,) -> mean absolute difference of their (T, M) log-mel frames."""
    _check_pair(reference, estimate)
    fbank = fbank or Fbank()
    return float(np.mean(np.abs(fbank(reference).astype(np.float64) - fbank(estimate))))


class DnsMos:
    """DNSMOS of 16 kHz audio on `num_threads` onnxruntime threads (speechmos alone would take every core).

    Clips shorter than the model's 9.01 s window are repeated to fill it (speechmos' rule); longer ones are
    scored per 1 s hop and averaged.
    """

    def __init__(self, num_threads: int = 1) -> None:
        import onnxruntime as ort
        from speechmos import dnsmos

        class _Model(dnsmos.DNSMOS):
            def __init__(self, primary: str, p808: str) -> None:  # the parent's, with our session options
                opts = ort.SessionOptions()
                opts.intra_op_num_threads, opts.inter_op_num_threads = num_threads, 1
                cpu = ["CPUExecutionProvider"]
                self.primary_model_path = primary
                self.onnx_sess = ort.InferenceSession(primary, opts, providers=cpu)
                self.p808_onnx_sess = ort.InferenceSession(p808, opts, providers=cpu)

        models = os.path.join(os.path.dirname(dnsmos.__file__), "dnsmos_models")
        self.sample_rate = dnsmos.SR
        self._model = _Model(os.path.join(models, "sig_bak_ovr.onnx"), os.path.join(models, "model_v8.onnx"))

    def __call__(self, samples: np.ndarray) -> dict[str, float]:
        """(N,) float in [-1, 1] at 16 kHz -> {"ovrl", "sig", "bak", "p808"}."""
        x = np.clip(np.asarray(samples, np.float32), -1.0, 1.0)
        r = self._model(x, self.sample_rate, False)
        return {k: float(r[f"{k}_mos"]) for k in ("ovrl", "sig", "bak", "p808")}
