"""Streaming analysis-resynthesis: waveform -> streaming Fbank -> Vocoder.step chunk by chunk -> waveform.

Shapes: N samples, T mel frames, c chunk frames, M mel bins.

The features are the toolkit's Fbank (the one feature space: what the recipe trains the vocoder on, through
TorchFbank, and what ASR reads). Fbank frame j is centred on sample j * hop + hop / 2 and the vocoder's STFT
frame j on sample j * hop, the frame the recipe pairs it with, so output sample n stands for input sample n.
T = (N + hop // 2) // hop frames give T * hop samples; the result is cut or zero-padded to N.
numpy only (no torch).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from speechstream.audio.fbank import Fbank, FbankConfig
from speechstream.errors import ModelError

from .config import VocoderConfig
from .vocoder import Vocoder


def feature_config(config: VocoderConfig) -> FbankConfig:
    """The Fbank the vocoder inverts; a ModelError if the vocoder's geometry does not match it."""
    fb = FbankConfig()
    if (config.sample_rate, config.n_mels, config.hop_length) != (fb.sample_rate, fb.num_mel_bins, fb.frame_shift):
        raise ModelError(f"this vocoder ({config.sample_rate} Hz, {config.n_mels} mels, hop {config.hop_length}) "
                         f"does not match the toolkit's Fbank ({fb.sample_rate} Hz, {fb.num_mel_bins} mels, "
                         f"shift {fb.frame_shift})")
    return fb


def streaming_config(config: VocoderConfig, chunk_frames: int | None) -> VocoderConfig:
    """The config with another streaming chunk (its latency follows); ValueError for an invalid chunk."""
    return config if chunk_frames is None else dataclasses.replace(config, chunk_frames=chunk_frames)


def fit_length(samples: np.ndarray, num_samples: int) -> np.ndarray:
    """(n,) -> (num_samples,): cut, or padded with zeros."""
    if len(samples) >= num_samples:
        return samples[:num_samples]
    return np.concatenate([samples, np.zeros(num_samples - len(samples), samples.dtype)])


def resynthesize(vocoder: Vocoder, samples: np.ndarray, chunk_frames: int | None = None,
                 seed: int = 0) -> np.ndarray:
    """(N,) float32 samples at the vocoder's rate -> (N,) float32, streamed: the audio arrives one chunk of
    samples at a time, like a microphone, and every complete chunk of mel frames is vocoded at once."""
    c = streaming_config(vocoder.config, chunk_frames).chunk_frames
    fbank = Fbank(feature_config(vocoder.config)).stream()
    piece = c * vocoder.config.hop_length
    state = vocoder.init_state(1, seed)
    pending = np.zeros((0, vocoder.config.n_mels), np.float32)  # (t, M) frames not yet vocoded
    out: list[np.ndarray] = []
    for start in range(0, len(samples), piece):
        pending = np.concatenate([pending, fbank.accept(samples[start:start + piece])])
        while len(pending) >= c:
            y, state = vocoder.step(pending[None, :c], state)
            out.append(y[0])
            pending = pending[c:]
    pending = np.concatenate([pending, fbank.flush()])
    for start in range(0, len(pending), c):  # the right-edge frames; the last chunk may be short
        y, state = vocoder.step(pending[None, start:start + c], state)
        out.append(y[0])
    out.append(vocoder.flush(state)[0])
    return fit_length(np.concatenate(out).astype(np.float32), len(samples))


def resynthesize_offline(vocoder: Vocoder, samples: np.ndarray, seed: int = 0) -> np.ndarray:
    """(N,) -> (N,): the same with the offline Fbank and Vocoder.forward (the reference the stream equals)."""
    mel = Fbank(feature_config(vocoder.config))(samples)
    return fit_length(vocoder.forward(mel[None], seed)[0], len(samples))
