"""`speechstream transcribe`: several files as one batch give what each file gives alone through the
Recognizer's pipeline stage; every output format; bad files and options are one-line errors that lose
nothing else."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from asr_helpers import make_model_dir, make_piece_model_dir, utterances

from speechstream.asr.recognizer import Recognizer
from speechstream.cli import main
from speechstream.pipeline import ArraySource


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:  # noqa: ANN001
    return make_model_dir(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def wavs(tmp_path_factory) -> list[Path]:  # noqa: ANN001
    d = tmp_path_factory.mktemp("wavs")
    a, b = utterances(np.random.default_rng(5), (16000 * 3, 16000 * 2))
    paths = [d / "a.wav", d / "b.wav"]
    sf.write(paths[0], a, 16000, subtype="FLOAT")
    sf.write(paths[1], np.stack([b, b], axis=1), 16000, subtype="FLOAT")  # stereo: mixed to mono
    return paths


def alone(model_dir: Path, path: Path) -> list[str]:
    """Final texts of one file through Recognizer.transcribe (the pipeline stage), no CLI involved."""
    x, rate = sf.read(path, dtype="float32")
    x = x.mean(axis=1) if x.ndim == 2 else x
    rec = Recognizer.from_dir(model_dir)
    return [r.text for r in rec.transcribe(ArraySource(x, rate, chunk=777)) if r.is_final]


def test_json_batch_equals_each_file_alone(model_dir: Path, wavs: list[Path],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["transcribe", *map(str, wavs), "--model", str(model_dir), "--json", "--partials"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    for path in wavs:
        mine = [e for e in events if e["file"] == str(path)]
        assert set(mine[0]) == {"file", "text", "segment", "is_final", "start", "end", "tokens", "timestamps"}
        finals = [e["text"] for e in mine if e["is_final"]]
        assert finals == alone(model_dir, path) and any(finals)
        assert any(not e["is_final"] for e in mine)  # partial results stream out before the final one


def test_json_is_finals_only_unless_partials_are_asked_for(tmp_path: Path, wavs: list[Path],
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    model = make_piece_model_dir(tmp_path / "model")  # "▁a"-style tokens: the JSON must keep them raw
    assert main(["transcribe", str(wavs[0]), "--model", str(model), "--json"]) == 0
    out = capsys.readouterr().out
    finals = [json.loads(line) for line in out.splitlines()]
    assert finals and all(e["is_final"] for e in finals)
    assert "\u2581" in out and "\\u2581" not in out  # the same characters as `client --json`
    assert main(["transcribe", str(wavs[0]), "--model", str(model), "--json", "--partials"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e for e in events if e["is_final"]] == finals and len(events) > len(finals)
    assert all(e["text"] for e in events if not e["is_final"])  # no empty event before a segment has text


def test_no_empty_partial_result(model_dir: Path, wavs: list[Path], tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    from asr_helpers import SYMBOLS

    from speechstream.asr.tokenizer import write_tokens

    # The tiny model's first token is always "h": as a special symbol it leaves the first partials empty.
    d = tmp_path / "model"
    shutil.copytree(model_dir, d)
    write_tokens(["<h>" if sym == "h" else sym for sym in SYMBOLS], str(d / "tokens.txt"))
    assert main(["transcribe", str(wavs[0]), "--model", str(d), "--json", "--partials"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert any(not e["is_final"] for e in events) and all(e["text"] for e in events if not e["is_final"])
    rec = Recognizer.from_dir(d)
    x, rate = sf.read(wavs[0], dtype="float32")
    assert all(r.text for r in rec.transcribe(ArraySource(x, rate, chunk=777)) if not r.is_final)


def test_text_and_subtitle_formats(model_dir: Path, wavs: list[Path], tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["transcribe", str(wavs[0]), "--model", str(model_dir)]) == 0
    lines = capsys.readouterr().out.splitlines()
    texts = alone(model_dir, wavs[0])
    assert [re.sub(r"^\[\d+\.\d\d - \d+\.\d\d\] ", "", x) for x in lines] == [t for t in texts if t]

    assert main(["transcribe", *map(str, wavs), "--model", str(model_dir), "--format", "srt",
                 "--out-dir", str(tmp_path)]) == 0
    srt = (tmp_path / "a.srt").read_text()
    assert re.match(r"1\n\d\d:\d\d:\d\d,\d\d\d --> \d\d:\d\d:\d\d,\d\d\d\n\S", srt)
    assert main(["transcribe", str(wavs[0]), "--model", str(model_dir), "--format", "vtt"]) == 0
    vtt = capsys.readouterr().out
    assert vtt.startswith("WEBVTT\n\n") and re.search(r"\d\d:\d\d:\d\d\.\d\d\d --> ", vtt)


def test_a_bad_file_is_reported_and_the_others_still_decoded(model_dir: Path, wavs: list[Path], tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF not really")
    assert main(["transcribe", str(bad), str(wavs[0]), "--model", str(model_dir), "--json"]) == 2
    out, err = capsys.readouterr()
    assert "bad.wav" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert [json.loads(x)["text"] for x in out.splitlines() if json.loads(x)["is_final"]] == alone(model_dir, wavs[0])


def test_the_only_file_failing_writes_no_subtitle_header(model_dir: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["transcribe", str(tmp_path / "nope.wav"), "--model", str(model_dir), "--format", "vtt"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "nope.wav" in err


def test_folders_and_standard_input(model_dir: Path, wavs: list[Path], tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    import subprocess
    import sys

    folder = wavs[0].parent  # a.wav and b.wav
    assert main(["transcribe", str(folder), "--model", str(model_dir), "--json"]) == 0
    files = {json.loads(line)["file"] for line in capsys.readouterr().out.splitlines()}
    assert files == {str(w) for w in wavs}
    (tmp_path / "empty").mkdir()
    assert main(["transcribe", str(tmp_path / "empty"), "--model", str(model_dir)]) == 2
    assert "no audio files" in capsys.readouterr().err
    # `sox ... -t wav - | speechstream transcribe -`
    p = subprocess.run([sys.executable, "-m", "speechstream", "transcribe", "-", "--model", str(model_dir), "--json"],
                       input=wavs[0].read_bytes(), capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr.decode()
    events = [json.loads(line) for line in p.stdout.decode().splitlines()]
    assert {e["file"] for e in events} == {"-"} and [e["text"] for e in events] == alone(model_dir, wavs[0])
    p = subprocess.run([sys.executable, "-m", "speechstream", "transcribe", "-", "--model", str(model_dir)],
                       input=b"", capture_output=True, timeout=120)
    assert p.returncode == 2 and b"standard input (-) is empty" in p.stderr and b"Traceback" not in p.stderr


@pytest.mark.parametrize("argv, message", [
    (["--model", "/nonexistent"], "model directory not found"),
    (["--lookahead-ms", "5"], "no look-ahead"),
    (["--num-threads", "0"], "num-threads"),
    (["--int8"], "encoder.int8.onnx"),  # the directory has fp32 graphs only
])
def test_bad_options_are_one_line_errors(model_dir: Path, wavs: list[Path], capsys: pytest.CaptureFixture[str],
                                         argv: list[str], message: str) -> None:
    args = ["transcribe", str(wavs[0]), "--model", str(model_dir), *argv]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_reader_that_goes_away_is_no_error(model_dir: Path, wavs: list[Path]) -> None:
    """`speechstream transcribe ... | head -1`: the CLI stops quietly when its stdout closes."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "speechstream", "transcribe", *map(str, wavs), "--model",
                             str(model_dir), "--json", "--realtime"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline()
    proc.stdout.close()  # what head does after its line
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and b"Traceback" not in err, err.decode()

