"""Audio file reading/writing via soundfile, and validation of in-memory sample arrays."""

from __future__ import annotations

import os
import struct

import numpy as np
import soundfile as sf

from speechstream.errors import AudioError


def check_samples(samples: np.ndarray, name: str = "audio") -> np.ndarray:
    """(N,) or (N, C) float/int samples -> (N,) float32 mono in [-1, 1] (ints scaled by their range)."""
    x = np.asarray(samples)
    if x.ndim not in (1, 2):
        raise AudioError(f"{name}: expected shape (N,) or (N, channels), got {x.shape}")
    if np.issubdtype(x.dtype, np.integer):
        info = np.iinfo(x.dtype)
        half = (int(info.max) + 1) / 2 if info.min == 0 else int(info.max) + 1
        offset = half if info.min == 0 else 0.0  # unsigned PCM (8-bit WAV) is centred on its midpoint
        x = (x.astype(np.float64) - offset) / half
    elif not np.issubdtype(x.dtype, np.floating):
        raise AudioError(f"{name}: expected float or int samples, got dtype {x.dtype}")
    if x.size == 0:
        raise AudioError(f"{name}: contains no samples")
    if x.ndim == 2:
        x = x.mean(axis=1)
    if not np.all(np.isfinite(x)):
        raise AudioError(f"{name}: contains NaN or infinite samples")
    return np.ascontiguousarray(x, dtype=np.float32)


def read_audio(path: str | os.PathLike, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Read a file as (N,) float32 mono in [-1, 1]; resampled to `sample_rate` if given.

    Returns (samples, rate of the returned samples).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise AudioError(f"{path}: no such audio file")
    _check_wav_length(path)
    try:
        with sf.SoundFile(path) as f:
            expected = f.frames
            rate = f.samplerate
            data = f.read(dtype="float32", always_2d=True)
    except sf.LibsndfileError as e:  # unknown format, corrupt header
        raise AudioError(f"{path}: cannot read audio ({e.error_string})") from None
    except (RuntimeError, ValueError) as e:
        raise AudioError(f"{path}: cannot read audio ({e})") from None
    if len(data) < expected:
        raise AudioError(f"{path}: truncated: header promises {expected} frames, only {len(data)} present")
    x = check_samples(data, name=path)
    if sample_rate is not None and sample_rate != rate:
        from speechstream.audio.resample import resample

        x = resample(x, rate, sample_rate)
        rate = sample_rate
    return x, rate


def write_audio(path: str | os.PathLike, samples: np.ndarray, sample_rate: int, subtype: str = "PCM_16") -> None:
    """Write (N,) or (N, C) samples in [-1, 1]; the format follows the extension (WAV by default)."""
    x = np.asarray(samples)
    if x.size == 0:
        raise AudioError(f"{os.fspath(path)}: refusing to write an empty audio file")
    if np.issubdtype(x.dtype, np.floating) and not np.all(np.isfinite(x)):
        raise AudioError(f"{os.fspath(path)}: samples contain NaN or infinite values")
    sf.write(os.fspath(path), x, sample_rate, subtype=subtype)


def _check_wav_length(path: str) -> None:
    """libsndfile silently shortens a WAV whose data chunk runs past the end of the file (a recording
    cut off mid-write), so compare the declared data size with the bytes actually present."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            chunk_id, chunk_size = struct.unpack("<4sI", f.read(8))
            if chunk_id == b"data":
                # 0 and 0xFFFFFFFF mark a streamed WAV whose size was never filled in; nothing to check.
                if chunk_size not in (0, 0xFFFFFFFF) and pos + 8 + chunk_size > size:
                    raise AudioError(
                        f"{path}: truncated WAV: data chunk declares {chunk_size} bytes, "
                        f"only {size - pos - 8} present"
                    )
                return
            pos += 8 + chunk_size + (chunk_size & 1)
