"""`speechstream transcribe`: stream audio files through the recognizer (as one batch) and print results."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HELP = "transcribe audio files with a streaming model (text, json lines, srt or vtt)"
FORMATS = ("text", "json", "srt", "vtt")
STDIN = "-"
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".opus", ".aiff", ".au")


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by every subcommand that runs the recognizer."""
    from speechstream.asr.recognizer import DECODING_METHODS

    parser.add_argument("--model", type=Path, help="model directory (default: models/asr_en or $SPEECHSTREAM_MODEL)")
    parser.add_argument("--lookahead-ms", type=float,
                        help="the longest look-ahead (chunk) to use, in ms (default: the model's default)")
    parser.add_argument("--decoding", choices=DECODING_METHODS, default="ctc-greedy", help="default ctc-greedy")
    parser.add_argument("--num-threads", type=int, default=1, help="onnxruntime threads (default 1)")
    parser.add_argument("--provider", choices=("cpu", "cuda"), default="cpu",
                        help="onnxruntime execution provider: cpu (default) or cuda (needs onnxruntime-gpu)")
    parser.add_argument("--vad", action="store_true",
                        help="also end a segment at a pause the voice activity detector hears (silero-vad's ONNX "
                             "model: pip install --no-deps silero-vad)")
    parser.add_argument("--vad-min-silence-ms", type=float, default=500.0, metavar="MS",
                        help="--vad: the pause after speech that ends a segment (default 500)")
    parser.add_argument("--int8", action="store_true", default=None,
                        help="run the int8 runtime graphs (default: the fp32 ones, or int8 where only those exist)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE",
                        help="audio files (any rate, mono or stereo), folders of them, or - for standard input")
    add_model_arguments(parser)
    parser.add_argument("--format", choices=FORMATS, help="output format (default text)")
    parser.add_argument("--json", action="store_true", help="same as --format json")
    parser.add_argument("--partials", action="store_true",
                        help="json: also print the partial results as a segment grows (default: finals only)")
    parser.add_argument("--realtime", action="store_true", help="read files at real-time pace, like a microphone")
    parser.add_argument("--out-dir", type=Path, help="srt/vtt: write FILE.srt / FILE.vtt here (needed for several files)")


def load_recognizer(args: argparse.Namespace):  # noqa: ANN201
    from speechstream.asr.model_dir import default_asr_model
    from speechstream.asr.recognizer import Recognizer

    if args.num_threads < 1:
        from speechstream.errors import SpeechstreamError

        raise SpeechstreamError(f"--num-threads must be >= 1, got {args.num_threads}")
    model = args.model if args.model is not None else default_asr_model()
    return Recognizer.from_dir(model, decoding=args.decoding, num_threads=args.num_threads, provider=args.provider,
                               int8=args.int8, vad=vad_config(args))


def vad_config(args: argparse.Namespace):  # noqa: ANN201
    """The VadConfig of --vad / --vad-min-silence-ms, or None."""
    from speechstream.asr.vad import VadConfig
    from speechstream.errors import SpeechstreamError

    if not args.vad:
        return None
    if args.vad_min_silence_ms <= 0:
        raise SpeechstreamError(f"--vad-min-silence-ms must be > 0, got {args.vad_min_silence_ms:g}")
    return VadConfig(min_silence_s=args.vad_min_silence_ms / 1000)


def run(args: argparse.Namespace) -> int:
    from speechstream.asr.files import transcribe_files
    from speechstream.cli.live import LiveLine
    from speechstream.cli.subtitles import subtitles
    from speechstream.errors import AudioError, SpeechstreamError

    if args.json and args.format not in (None, "json"):
        raise SpeechstreamError(f"--json and --format {args.format} ask for two output formats; give one")
    args.format = "json" if args.json else args.format or "text"
    args.files = expand_inputs(args.files)
    if args.format in ("srt", "vtt") and len(args.files) > 1 and args.out_dir is None:
        raise SpeechstreamError(f"--format {args.format} with several files needs --out-dir")
    recognizer = load_recognizer(args)
    recognizer.create_stream(args.lookahead_ms)  # a bad --lookahead-ms fails before any work
    names = [str(f) for f in args.files]
    several = len(names) > 1
    live = LiveLine(args.format == "text" and not several and sys.stdout.isatty())
    finals: dict[int, list] = {i: [] for i in range(len(names))}
    failed = 0
    for i, event in transcribe_files(recognizer, args.files, args.lookahead_ms, args.realtime):
        if isinstance(event, AudioError):
            failed += 1
            finals.pop(i, None)  # no subtitles (not even a WEBVTT header) for a file that failed
            live.clear()
            print(f"speechstream transcribe: error: {event}", file=sys.stderr)
            continue
        if args.format == "json":
            if event.is_final or args.partials:  # raw characters, as `client --json` prints them
                print(json.dumps({"file": names[i], **event.to_dict()}, ensure_ascii=False), flush=True)
        elif args.format == "text":
            prefix = f"{names[i]}: " if several else ""
            if event.is_final and event.text:
                live.print(f"{prefix}[{event.start:.2f} - {event.end:.2f}] {event.text}")
            else:
                live.show(event.text)
        elif event.is_final and i in finals:
            finals[i].append(event)
    live.clear()
    if args.format in ("srt", "vtt"):
        for i, results in finals.items():
            _write_subtitles(subtitles(results, args.format), args.files[i], args)
    return 2 if failed else 0


def _write_subtitles(text: str, path: Path, args: argparse.Namespace) -> None:
    if args.out_dir is None:
        print(text)
        return
    args.out_dir.mkdir(parents=True, exist_ok=True)
    stem = "stdin" if str(path) == STDIN else path.stem
    (args.out_dir / f"{stem}.{args.format}").write_text(text + "\n")


def expand_inputs(paths: list[Path]) -> list[Path]:
    """Each folder replaced by the audio files directly in it (sorted); files and - stay as given."""
    from speechstream.errors import SpeechstreamError

    out: list[Path] = []
    for p in paths:
        if str(p) != STDIN and p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in AUDIO_SUFFIXES)
            if not found:
                raise SpeechstreamError(f"{p} is a folder with no audio files ({', '.join(AUDIO_SUFFIXES)}) in it")
            out += found
        else:
            out.append(p)
    if sum(str(p) == STDIN for p in out) > 1:
        raise SpeechstreamError("standard input (-) can be read only once")
    return out
