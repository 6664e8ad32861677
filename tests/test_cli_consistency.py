"""The subcommands spell shared options alike and explain every one: --num-threads everywhere (bench keeps
--threads as a hidden alias), help on every option, client --decoding with the Recognizer's choices, the token
from $SPEECHSTREAM_TOKEN in client as in serve, and --json with another --format is an error."""

from __future__ import annotations

import argparse

import pytest

from speechstream.asr.recognizer import DECODING_METHODS
from speechstream.cli import build_parser, main

MINE = ("devices", "features", "transcribe", "mic", "vocode", "export", "serve", "client", "bench")


def subparsers(parser: argparse.ArgumentParser, name: str = "speechstream") -> dict[str, argparse.ArgumentParser]:
    out = {name: parser}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, p in action.choices.items():
                out.update(subparsers(p, f"{name} {sub}"))
    return out


def test_every_option_has_help_and_threads_are_num_threads() -> None:
    parsers = {n: p for n, p in subparsers(build_parser()).items() if n.split(" ")[1:2] in ([], *([m] for m in MINE))}
    assert "speechstream bench vocoder" in parsers
    for name, parser in parsers.items():
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"
            visible = action.help != argparse.SUPPRESS
            assert not (visible and "--threads" in action.option_strings), f"{name}: --threads, not --num-threads"


def test_bench_threads_alias() -> None:
    parser = build_parser()
    assert parser.parse_args(["bench", "asr", "--threads", "2"]).num_threads == 2
    assert parser.parse_args(["bench", "vocoder", "--num-threads", "3"]).num_threads == 3
    assert parser.parse_args(["bench", "vocoder"]).num_threads == 1


def test_client_decoding_choices_and_token_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    action = next(a for a in subparsers(build_parser())["speechstream client"]._actions if a.dest == "decoding")
    assert tuple(action.choices) == DECODING_METHODS
    monkeypatch.setenv("SPEECHSTREAM_TOKEN", "s3cret")
    parser = build_parser()
    assert parser.parse_args(["client", "x.wav"]).token == "s3cret"
    assert parser.parse_args(["serve"]).token == "s3cret"
    token = next(a for a in subparsers(parser)["speechstream client"]._actions if a.dest == "token")
    assert "$SPEECHSTREAM_TOKEN" in token.help


def test_json_with_another_format_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["transcribe", "x.wav", "--json", "--format", "srt"]) == 2
    err = capsys.readouterr().err
    assert "--json" in err and "--format srt" in err and len(err.strip().splitlines()) == 1
