"""`speechstream client`: stream an audio file to a websocket server and print the results."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# The Recognizer's methods, spelled out: importing it would load numpy and onnxruntime for `--help`.
DECODING_METHODS = ("ctc-greedy", "ctc-beam", "rnnt-greedy", "rnnt-beam")
HELP = "stream an audio file to a websocket server (speechstream serve or sherpa-onnx's) and print results"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, metavar="FILE", help="audio file (any rate; resampled to 16 kHz)")
    parser.add_argument("--url", default="ws://127.0.0.1:6006", help="server (default ws://127.0.0.1:6006)")
    parser.add_argument("--realtime", action=argparse.BooleanOptionalAction, default=True,
                        help="send at real-time pace, like a microphone (default; --no-realtime: as fast as possible)")
    parser.add_argument("--chunk-ms", type=float, default=100.0, help="audio per message in ms (default 100)")
    parser.add_argument("--token", default=os.environ.get("SPEECHSTREAM_TOKEN"),
                        help="the server's token (sent as Authorization: Bearer); default $SPEECHSTREAM_TOKEN")
    parser.add_argument("--lookahead-ms", type=float, help="ask for this look-ahead (protocol 2)")
    parser.add_argument("--decoding", choices=DECODING_METHODS,
                        help="ask for this decoding method (protocol 2; default: the server's)")
    parser.add_argument("--cafile", help="wss: trust this certificate (PEM), e.g. a self-signed one")
    parser.add_argument("--json", action="store_true", help="print every message as one JSON line")


def run(args: argparse.Namespace) -> int:
    import asyncio

    from speechstream.audio.io import read_audio
    from speechstream.errors import SpeechstreamError

    if args.chunk_ms <= 0:
        raise SpeechstreamError(f"--chunk-ms must be > 0, got {args.chunk_ms}")
    samples, rate = read_audio(args.file)
    asyncio.run(_run(args, samples, rate))
    return 0


async def _run(args: argparse.Namespace, samples, rate: int) -> None:  # noqa: ANN001
    import json
    import ssl

    from speechstream.cli.live import LiveLine
    from speechstream.server.client import stream_audio

    context = None
    if args.url.startswith("wss:"):
        context = ssl.create_default_context(cafile=args.cafile)
    live = LiveLine(not args.json and sys.stdout.isatty())
    async for message in stream_audio(args.url, samples, rate, realtime=args.realtime, chunk_ms=args.chunk_ms,
                                      token=args.token, lookahead_ms=args.lookahead_ms, decoding=args.decoding,
                                      ssl_context=context):
        if args.json:
            print(json.dumps(message, ensure_ascii=False), flush=True)
        elif "text" not in message:
            continue
        elif message.get("is_final"):
            if message["text"]:
                span = f"[{message['start']:.2f} - {message['end']:.2f}] " if "end" in message else ""
                live.print(f"{span}{message['text']}")
        else:
            live.show(message["text"])
    live.clear()
