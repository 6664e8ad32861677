"""`speechstream features`: stream a file through resampling and log-mel features, save the frames."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

PLOT_TYPES = (".png", ".pdf", ".svg", ".jpg")
HELP = "stream an audio file through resampling and log-mel features; save the (T, 80) frames"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="audio file (wav, flac, ogg, ...)")
    parser.add_argument("--out", type=Path, required=True, help="where to save the frames (.npy, float32 (T, 80))")
    parser.add_argument("--plot", type=Path, help="also draw the frames as a spectrogram picture (.png)")
    parser.add_argument("--chunk-ms", type=float, default=10.0, help="size of the chunks read from the file (default 10)")
    parser.add_argument("--realtime", action="store_true", help="read the file at real-time pace, as from a microphone")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from speechstream.audio import FbankConfig
    from speechstream.cli.outputs import check_output
    from speechstream.errors import SpeechstreamError
    from speechstream.pipeline import Features, FileSource, Resample, pipe

    if args.chunk_ms <= 0:
        raise SpeechstreamError(f"--chunk-ms must be positive, got {args.chunk_ms:g}")
    check_output(args.out, "--out", (".npy",))  # np.save would add .npy to any other name
    if args.plot is not None:
        check_output(args.plot, "--plot", PLOT_TYPES)
    config = FbankConfig()
    source = FileSource(args.file, chunk_ms=args.chunk_ms, realtime=args.realtime)
    blocks = list(pipe(source, Resample(config.sample_rate), Features(config)))
    frames = np.concatenate(blocks, axis=0) if blocks else np.zeros((0, config.num_mel_bins), np.float32)
    frames = frames.astype(np.float32, copy=False)
    try:
        np.save(args.out, frames)
    except OSError as e:
        raise SpeechstreamError(f"cannot write {args.out}: {e.strerror or e}") from None
    if args.plot:
        plot_frames(frames, config.sample_rate / config.frame_shift, args.plot)
    duration = source.samples_read / source.sample_rate
    print(
        f"{args.file}: {duration:.2f} s at {source.sample_rate:g} Hz -> {len(frames)} frames x {frames.shape[1]} "
        f"({config.sample_rate} Hz, {1000 * config.frame_shift / config.sample_rate:g} ms shift), saved to {args.out}" + (f", plot {args.plot}" if args.plot else "")
    )
    return 0


def plot_frames(frames: np.ndarray, frame_rate: float, path: Path) -> None:
    """Saves a (T, n_mels) log-mel matrix as a time/mel-bin picture."""
    from speechstream.errors import SpeechstreamError

    try:
        import matplotlib

        matplotlib.use("Agg")  # files only; never needs a display
        import matplotlib.pyplot as plt
    except ImportError:
        raise SpeechstreamError("--plot needs matplotlib (pip install matplotlib)") from None
    fig, ax = plt.subplots(figsize=(max(4.0, min(16.0, len(frames) / 50)), 3.5))
    image = ax.imshow(
        frames.T, origin="lower", aspect="auto", interpolation="nearest", cmap="magma",
        extent=(0, len(frames) / frame_rate, 0, frames.shape[1]),
    )
    ax.set_xlabel("time (s)")
    ax.set_ylabel("mel bin")
    fig.colorbar(image, ax=ax, label="log power")
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=100)
    except OSError as e:
        raise SpeechstreamError(f"cannot write {path}: {e.strerror or e}") from None
    finally:
        plt.close(fig)
