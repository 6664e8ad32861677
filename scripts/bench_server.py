"""The server benchmark as a script: the same function and flags as `speechstream bench server`.

    python scripts/bench_server.py [--model DIR] [--quick] [--json OUT] [--seconds 10] [--max-clients 512]
                                   [--lookahead-ms MS]
"""

from __future__ import annotations

import argparse
import sys

from speechstream.cli.bench import add_server_arguments, run_server
from speechstream.errors import SpeechstreamError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="websocket server load benchmark (see speechstream.bench.server)")
    add_server_arguments(parser)
    try:
        return run_server(parser.parse_args(argv))
    except SpeechstreamError as e:
        print(f"bench_server: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
