"""Test audio generation and the kaldi-native-fbank reference, shared by the audio tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from speechstream.audio.fbank import FbankConfig

SPEECH_TEXT = "The quick brown fox jumps over the lazy dog. Streaming features must equal offline ones."


def espeak_speech(tmp_dir: Path, sample_rate: int = 16000, text: str = SPEECH_TEXT) -> np.ndarray | None:
    """A few seconds of synthetic speech in [-1, 1] via espeak-ng (resampled with soxr, independent of
    our resample module); None if espeak-ng is not installed."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        return None
    wav = Path(tmp_dir) / "espeak.wav"
    subprocess.run([exe, "-w", str(wav), text], check=True, capture_output=True, timeout=30)
    x, rate = sf.read(wav, dtype="float32")
    if x.ndim == 2:
        x = x.mean(axis=1)
    return soxr.resample(x, rate, sample_rate).astype(np.float32)


def noise_and_tones(num_samples: int, sample_rate: int = 16000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(num_samples) / sample_rate
    x = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 3100 * t) + 0.05 * rng.standard_normal(num_samples)
    return x.astype(np.float32)


def knf_fbank(samples: np.ndarray, config: FbankConfig = FbankConfig()) -> np.ndarray:
    """Independent reference: kaldi-native-fbank with the option set sherpa-onnx uses for NeMo models."""
    import kaldi_native_fbank as knf

    assert config.frame_length * 1000 % config.sample_rate == 0 and config.n_fft == 512
    o = knf.FbankOptions()
    o.frame_opts.samp_freq = config.sample_rate
    o.frame_opts.frame_length_ms = config.frame_length * 1000 / config.sample_rate
    o.frame_opts.frame_shift_ms = config.frame_shift * 1000 / config.sample_rate
    o.frame_opts.dither = 0.0
    o.frame_opts.snip_edges = False
    o.frame_opts.preemph_coeff = config.preemphasis
    o.frame_opts.remove_dc_offset = config.remove_dc_offset
    o.frame_opts.window_type = config.window
    o.mel_opts.num_bins = config.num_mel_bins
    o.mel_opts.low_freq = config.low_freq
    o.mel_opts.high_freq = config.high_freq
    o.mel_opts.is_librosa = True
    o.mel_opts.norm = "slaney"
    o.mel_opts.use_slaney_mel_scale = True
    o.use_power = True
    o.use_log_fbank = True
    o.eps = config.log_floor
    f = knf.OnlineFbank(o)
    f.accept_waveform(config.sample_rate, np.asarray(samples, np.float32).tolist())
    f.input_finished()
    n = f.num_frames_ready
    if n == 0:
        return np.zeros((0, config.num_mel_bins), np.float32)
    return np.stack([np.asarray(f.get_frame(i), np.float32) for i in range(n)])


def assert_log_mel_close(ours: np.ndarray, ref: np.ndarray) -> None:
    """Compare log-mel features computed in float64 with a float32 computation (knf: its own FFT and
    float32 mel weights; TorchFbank). float32 error
    in a band's power is relative to the frame's loudest band, so in log terms it grows as
    exp((frame_max - value) / 2): measured <= 1e-5 * that, e.g. 2e-4 in a band 5.5 nats down beside a
    pure tone. Bands within ~5 nats of the peak must agree to 1e-4, and the mean error to 1e-5; a wrong
    window, mel bank, pre-emphasis or framing errs by 1e-2 or more."""
    assert ours.shape == ref.shape
    if ours.size == 0:
        return
    depth = ours.max(axis=1, keepdims=True) - ours
    d = np.abs(ours - ref)
    bound = 1e-4 + 2e-5 * np.exp(depth / 2)
    assert np.all(d <= bound), f"max excess {np.max(d - bound)} at {np.unravel_index(np.argmax(d - bound), d.shape)}"
    assert d.mean() <= 1e-5, d.mean()


def run_stream(stream, samples: np.ndarray, sizes: list[int]) -> np.ndarray:
    """Feed `samples` in chunks of the given sizes (cycled), then flush; concatenate all outputs."""
    outs, i, k = [], 0, 0
    while i < len(samples):
        n = max(1, sizes[k % len(sizes)])
        outs.append(stream.accept(samples[i : i + n]))
        i, k = i + n, k + 1
    outs.append(stream.flush())
    return np.concatenate(outs)
