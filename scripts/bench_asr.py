"""The ASR benchmark as a script: the same function and flags as `speechstream bench asr`.

    python scripts/bench_asr.py [--model DIR] [--quick] [--json OUT] [--num-threads 1] [--random default]
"""

from __future__ import annotations

import argparse
import sys

from speechstream.cli.bench import add_asr_arguments, run_asr
from speechstream.errors import SpeechstreamError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="streaming ASR benchmark (see speechstream.bench.asr)")
    add_asr_arguments(parser)
    try:
        return run_asr(parser.parse_args(argv))
    except SpeechstreamError as e:
        print(f"bench_asr: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
