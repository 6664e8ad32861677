"""The `speechstream` command line: one console script, one module per subcommand.

Each subcommand module defines `HELP` (one line), `add_arguments(parser)` and `run(args) -> int`.
Modules import only the standard library at the top; heavy imports happen inside `run`, so
`speechstream --help` is instant and never imports torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from speechstream import __version__
from speechstream.errors import SpeechstreamError

# name -> module; the order is the order of `speechstream --help`.
COMMANDS: dict[str, str] = {
    "devices": "speechstream.cli.devices",
    "features": "speechstream.cli.features",
    "transcribe": "speechstream.cli.transcribe",
    "mic": "speechstream.cli.mic",
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except SpeechstreamError as e:
        print(f"speechstream {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
