"""`speechstream devices`: the audio devices PortAudio sees, with their default sample rates."""

from __future__ import annotations

import argparse
import json

HELP = "list audio input/output devices and their default sample rates"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the device list as JSON")


def run(args: argparse.Namespace) -> int:
    from speechstream.audio.devices import list_devices

    devices = list_devices()
    if args.json:
        print(json.dumps(devices, indent=2))
        return 0
    if not devices:
        print("no audio devices found")
        return 0
    print(format_table(devices))
    return 0


def format_table(devices: list[dict]) -> str:
    """One row per device; `>`/`<` mark the default input/output device."""
    rows = [("", "#", "name", "host API", "in", "out", "default rate")]
    for d in devices:
        mark = (">" if d["default_input"] else " ") + ("<" if d["default_output"] else " ")
        rows.append((
            mark, str(d["index"]), d["name"], d["hostapi"],
            str(d["max_input_channels"]), str(d["max_output_channels"]), f"{d['default_samplerate']:g} Hz",
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    right = {1, 4, 5, 6}  # numbers line up on the right
    lines = [
        "  ".join(cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in enumerate(zip(r, widths))).rstrip()
        for r in rows
    ]
    return "\n".join(lines + ["(> default input, < default output)"])
