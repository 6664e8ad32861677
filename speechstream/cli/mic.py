"""`speechstream mic`: live transcription from a microphone, with endpointing, a level meter and overrun warnings."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from speechstream.cli.transcribe import add_model_arguments, load_recognizer

HELP = "transcribe a microphone live (Ctrl-C ends: the last result is printed)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", help="input device index or name substring (see `speechstream devices`)")
    add_model_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print every result as a JSON line")
    parser.add_argument("--save", type=Path, help="also write the captured audio to this file (.wav, .flac, .ogg or .mp3)")
    parser.add_argument("--duration", type=float, help="stop after this many seconds of audio")
    parser.add_argument("--block-ms", type=float, default=20.0, help="capture block size (default 20 ms)")


def level_meter(samples, width: int = 20) -> str:  # noqa: ANN001
    """`[#####.....] -23 dB`: the block's RMS in dB full scale."""
    import numpy as np

    rms = float(np.sqrt(np.mean(np.square(samples)))) if len(samples) else 0.0
    db = max(-60.0, 20 * np.log10(max(rms, 1e-9)))
    filled = int(round((db + 60) / 60 * width))
    return f"[{'#' * filled}{'.' * (width - filled)}] {db:4.0f} dB"


def run(args: argparse.Namespace) -> int:
    from speechstream.cli.live import LiveLine
    from speechstream.cli.outputs import audio_output
    from speechstream.pipeline import MicSource

    writer_format = audio_output(args.save, "--save", wav_subtype="FLOAT") if args.save is not None else None
    recognizer = load_recognizer(args)
    stream = recognizer.create_stream(args.lookahead_ms)
    device = int(args.device) if args.device is not None and args.device.isdigit() else args.device
    mic = MicSource(device=device, block_ms=args.block_ms)
    rate = int(mic.sample_rate)
    live = LiveLine(sys.stdout.isatty() and not args.json)
    writer = _open_writer(args.save, rate, writer_format)
    shown_overruns, received = 0, 0
    print(f"listening on {mic.device['name']!r} at {rate} Hz; Ctrl-C to stop", file=sys.stderr)

    shown = ""  # the partial text last printed: JSON gets a result when it changes or ends

    def emit(final_only: bool = False) -> None:
        nonlocal shown
        while recognizer.is_ready(stream):
            recognizer.decode_streams([stream])
            r = recognizer.get_result(stream)
            changed = r.is_final or r.text != shown
            shown = "" if r.is_final else r.text
            if args.json:
                if changed:  # raw characters, as `client --json` prints them
                    print(json.dumps(r.to_dict(), ensure_ascii=False), flush=True)
            elif r.is_final and r.text:
                live.print(f"[{r.start:.2f} - {r.end:.2f}] {r.text}")
            elif not final_only:
                live.show(r.text, prefix=f"{level_meter(block)} ")

    def stop(signum, frame) -> None:  # noqa: ANN001
        # Ctrl-C stops the capture; the blocks already captured are still decoded. A second one aborts.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        mic.close()

    previous = signal.signal(signal.SIGINT, stop)
    block = []
    try:
        for block in mic:
            received += len(block)
            if writer is not None:
                writer.write(block)
            stream.accept_waveform(rate, block)
            emit()
            if mic.overruns > shown_overruns:
                live.clear()
                print(f"warning: {mic.overruns - shown_overruns} audio block(s) lost: the computer is too slow "
                      "or busy (try a shorter --lookahead-ms or a faster --decoding)", file=sys.stderr)
                shown_overruns = mic.overruns
            if args.duration is not None and received >= args.duration * rate:
                break
    finally:
        signal.signal(signal.SIGINT, previous)
        mic.close()
        if writer is not None:
            writer.close()
    stream.input_finished()
    emit(final_only=True)
    live.clear()
    return 0


def _open_writer(path: Path | None, rate: int, format_subtype: tuple[str, str] | None):  # noqa: ANN202
    if path is None or format_subtype is None:
        return None
    import soundfile as sf

    from speechstream.errors import SpeechstreamError

    fmt, subtype = format_subtype
    try:
        return sf.SoundFile(str(path), "w", samplerate=rate, channels=1, format=fmt, subtype=subtype)
    except (OSError, RuntimeError) as e:
        raise SpeechstreamError(f"cannot write {path}: {e}") from None
