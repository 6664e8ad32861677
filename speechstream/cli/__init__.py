"""The `speechstream` command line: one console script, one module per subcommand.

Each subcommand module defines `HELP` (one line), `add_arguments(parser)` and `run(args) -> int`.
Modules import only the standard library at the top; heavy imports happen inside `run`, so
`speechstream --help` is instant and never imports torch.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from speechstream import __version__
from speechstream.errors import SpeechstreamError

# name -> module; the order is the order of `speechstream --help`.
COMMANDS: dict[str, str] = {
    "devices": "speechstream.cli.devices",
    "features": "speechstream.cli.features",
    "transcribe": "speechstream.cli.transcribe",
    "mic": "speechstream.cli.mic",
    "vocode": "speechstream.cli.vocode",
    "speak": "speechstream.cli.speak",
    "convert": "speechstream.cli.convert",
    "export": "speechstream.cli.export",
    "serve": "speechstream.cli.serve",
    "client": "speechstream.cli.client",
    "bench": "speechstream.cli.bench",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="speechstream",
        description="Real-time speech toolkit: streaming recognition, synthesis and conversion.",
    )
    parser.add_argument("--version", action="version", version=f"speechstream {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


# numpy's OpenBLAS otherwise starts a thread per core for every small matmul (the Fbank's mel projection);
# next to onnxruntime's own threads those spin against each other: a 100-frame feature call took 12x
# longer on a busy 2-core machine. Set first thing, before the parser (some subcommands import numpy).
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def main(argv: list[str] | None = None) -> int:
    for name in BLAS_THREAD_VARIABLES:
        os.environ.setdefault(name, "1")
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except SpeechstreamError as e:
        print(f"speechstream {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (`speechstream transcribe ... | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's exit flush would fail again
        return 0
