"""`speechstream vocode`: streaming analysis-resynthesis of a file through the flow-matching vocoder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "resynthesize a file through the streaming vocoder (Fbank frames -> 16 kHz waveform), print RTF and latency"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, metavar="IN",
                        help="audio file (any rate: resampled to 16 kHz; stereo is mixed to mono)")
    parser.add_argument("--out", type=Path, required=True, metavar="OUT.wav",
                        help="where to write the 16 kHz result (.wav, .flac, .ogg or .mp3)")
    parser.add_argument("--model", type=Path, metavar="DIR",
                        help="vocoder model directory (default: models/vocoder_en or $SPEECHSTREAM_VOCODER_MODEL)")
    parser.add_argument("--chunk-frames", type=int, metavar="N",
                        help="mel frames (10 ms each) per streaming step (default: the model's chunk)")
    parser.add_argument("--num-threads", type=int, default=1, help="onnxruntime threads (default 1)")
    parser.add_argument("--provider", choices=("cpu", "cuda"), default="cpu",
                        help="onnxruntime execution provider: cpu (default) or cuda (needs onnxruntime-gpu)")


def run(args: argparse.Namespace) -> int:
    import time

    from speechstream.audio.io import read_audio, write_audio
    from speechstream.cli.outputs import audio_output
    from speechstream.errors import SpeechstreamError
    from speechstream.vocoder.model_dir import default_vocoder_model, load_vocoder
    from speechstream.vocoder.resynthesis import feature_config, resynthesize, streaming_config

    if args.num_threads < 1:
        raise SpeechstreamError(f"--num-threads must be >= 1, got {args.num_threads}")
    _, subtype = audio_output(args.out, "--out")
    vocoder = load_vocoder(args.model if args.model is not None else default_vocoder_model(),
                           num_threads=args.num_threads, provider=args.provider)
    rate = feature_config(vocoder.config).sample_rate
    shortest = max(1, vocoder.config.lookahead_frames)  # a model's chunk holds at least its look-ahead
    if args.chunk_frames is not None and args.chunk_frames < shortest:
        raise SpeechstreamError(f"--chunk-frames must be >= {shortest} (a chunk holds at least the model's "
                               f"look-ahead of {vocoder.config.lookahead_frames} frames), got {args.chunk_frames}")
    config = streaming_config(vocoder.config, args.chunk_frames)
    samples, _ = read_audio(args.file, sample_rate=rate)
    start = time.perf_counter()
    out = resynthesize(vocoder, samples, config.chunk_frames)
    elapsed = time.perf_counter() - start
    clipped = int((abs(out) > 1.0).sum())
    try:
        write_audio(args.out, out, rate, subtype=subtype)
    except (OSError, RuntimeError) as e:  # soundfile raises RuntimeError subclasses for unwritable paths
        raise SpeechstreamError(f"cannot write {args.out}: {e}") from None
    seconds = len(samples) / rate
    note = f"; {clipped} samples clipped to [-1, 1]" if clipped else ""
    print(f"wrote {args.out} ({seconds:.2f} s, {rate} Hz): RTF {elapsed / seconds:.3f} on {args.num_threads} "
          f"thread(s), latency {config.latency_ms:g} ms (chunk {config.chunk_frames} frames, look-ahead "
          f"{config.lookahead_frames}){note}", file=sys.stderr)
    return 0
