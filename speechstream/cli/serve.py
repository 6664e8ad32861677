"""`speechstream serve`: the websocket server for live transcription, its browser page and /healthz."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

HELP = ("websocket server for live transcription (sherpa-onnx compatible), with a browser page at /, and "
        "speech synthesis on /tts with --tts-model")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from speechstream.cli.transcribe import add_model_arguments

    add_model_arguments(parser)
    parser.add_argument("--tts-model", metavar="DIR",
                        help="a TTS model directory: serve text-to-speech on the websocket path /tts too")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=6006, help="port (default 6006; 0 picks a free one)")
    parser.add_argument("--max-connections", type=int, default=64,
                        help="websocket connections at once; more are refused with close code 1013 (default 64)")
    parser.add_argument("--token", default=os.environ.get("SPEECHSTREAM_TOKEN"),
                        help="require this token (Authorization: Bearer, or ?token=); default $SPEECHSTREAM_TOKEN")
    parser.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                        help="a browser origin allowed besides the page's own, e.g. https://example.org "
                             "(repeatable; '*' allows any)")
    parser.add_argument("--allow-hosts", action="append", default=[], metavar="NAMES",
                        help="without --token, requests must name this server in their Host header: an IP address, "
                             "localhost, --host, or one of these comma-separated names ('*': any); others get 403 "
                             "(stops DNS rebinding). Repeatable")
    parser.add_argument("--certfile", help="TLS certificate (PEM): serve https/wss (browsers need it off localhost)")
    parser.add_argument("--keyfile", help="TLS private key (PEM)")
    parser.add_argument("--max-message-bytes", type=int, default=1 << 20,
                        help="largest websocket message; bigger ones close with 1009 (default 1 MiB)")
    parser.add_argument("--idle-timeout", type=float, default=30.0, metavar="S",
                        help="close a stream that sends nothing for S seconds (default 30; 0 = never)")
    parser.add_argument("--max-backlog-s", type=float, default=30.0, metavar="S",
                        help="stop reading a client's socket while its stream is more than S seconds of audio "
                             "ahead of the decoder, so TCP holds it back and its memory stays bounded "
                             "(default 30; 0 = never)")
    parser.add_argument("--max-utterance-s", type=float, default=600.0,
                        help="longest audio per connection in seconds (default 600; 0 = no limit)")
    parser.add_argument("--max-batch", type=int, default=32, help="streams per encoder call (default 32)")
    parser.add_argument("--workers", type=int, default=1,
                        help="server processes sharing the port, each with its own model; Linux spreads new "
                             "connections over them by address hash; one that dies is restarted (default 1)")
    parser.add_argument("--reuse-port", action="store_true",
                        help="let other processes listen on the same port (SO_REUSEPORT), for several servers "
                             "under your own process manager (--workers does this itself)")


def run(args: argparse.Namespace, ready: Callable[[str], None] | None = None) -> int:
    """`ready(url)`: called once listening, instead of printing (a --workers worker reports to its supervisor)."""
    if args.workers != 1:
        return _supervise(args)
    import asyncio
    import logging

    from speechstream.asr.recognizer import Recognizer
    from speechstream.cli.transcribe import load_recognizer, vad_config
    from speechstream.errors import SpeechstreamError
    from speechstream.server import ServerConfig, SpeechServer

    logging.basicConfig(level=logging.INFO, format="speechstream serve: %(message)s")
    logging.getLogger("websockets").setLevel(logging.WARNING)
    recognizer = load_recognizer(args)
    recognizer.create_stream(args.lookahead_ms)  # a bad --lookahead-ms fails before binding
    synthesizer = None
    if getattr(args, "tts_model", None):
        from speechstream.tts.synthesizer import Synthesizer

        synthesizer = Synthesizer.from_dir(args.tts_model, num_threads=args.num_threads, provider=args.provider)
    config = ServerConfig(
        host=args.host, port=args.port, max_connections=args.max_connections, token=args.token,
        allow_hosts=tuple(h.strip() for v in args.allow_hosts for h in v.split(",") if h.strip()),
        max_backlog_s=args.max_backlog_s,
        allow_origins=tuple(args.allow_origin), certfile=args.certfile, keyfile=args.keyfile,
        max_message_bytes=args.max_message_bytes, idle_timeout_s=args.idle_timeout,
        max_utterance_s=args.max_utterance_s, max_batch=args.max_batch, lookahead_ms=args.lookahead_ms,
        decoding=args.decoding, reuse_port=args.reuse_port)

    def load(method: str) -> Recognizer:
        return Recognizer.from_dir(recognizer.model_dir, decoding=method, num_threads=args.num_threads,
                                   provider=args.provider, int8=args.int8, vad=vad_config(args))

    server = SpeechServer(recognizer, config, load, synthesizer)
    try:
        asyncio.run(_serve(server, ready))
    except OSError as e:  # port in use, unreadable certificate, ...
        raise SpeechstreamError(f"cannot serve on {args.host}:{args.port}: {e}") from None
    return 0


def _supervise(args: argparse.Namespace) -> int:
    import logging

    from speechstream.server.supervisor import Supervisor, SupervisorConfig, reserve_port

    logging.basicConfig(level=logging.INFO, format="speechstream serve: %(message)s")
    config = SupervisorConfig(workers=args.workers)
    with reserve_port(args.host, args.port) as held:  # port 0: one free port for all of them
        worker_args = argparse.Namespace(**{**vars(args), "workers": 1, "reuse_port": True,
                                            "port": held.getsockname()[1]})
        return Supervisor(run, worker_args, config).run()


async def _serve(server, ready: Callable[[str], None] | None = None) -> None:  # noqa: ANN001
    import asyncio
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await server.start()
    page = server.url.replace("ws", "http", 1)
    if ready is not None:
        ready(server.url)
    else:
        print(f"speechstream serve: listening on {server.url} (page {page}/, health {page}/healthz)", flush=True)
    await stop.wait()
    _say(ready, "shutting down: finishing open streams")
    await server.drain()
    _say(ready, "stopped")


def _say(ready: Callable[[str], None] | None, text: str) -> None:
    if ready is None:
        print(f"speechstream serve: {text}", flush=True)
    else:  # a --workers worker: a log line, with its pid
        import logging

        logging.getLogger("speechstream.server").info(text)
