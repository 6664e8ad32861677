"""What --model DIR is, said plainly: not a model directory, another kind of model, a model to export first,
or a model whose RNN-T (or CTC) head was never trained, which would decode noise."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from asr_helpers import make_model_dir

from speechstream.asr.model_dir import trained_heads
from speechstream.asr.recognizer import Recognizer
from speechstream.cli import main
from speechstream.errors import ModelError


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:  # noqa: ANN001
    return make_model_dir(tmp_path_factory.mktemp("model"))


def test_a_folder_without_a_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "talk.wav").write_bytes(b"")
    with pytest.raises(ModelError, match="is not an ASR model directory: it has no encoder.onnx") as e:
        Recognizer.from_dir(tmp_path)
    assert "speechstream export" not in str(e.value)  # export would fail there: config.json is missing
    assert main(["transcribe", str(tmp_path / "talk.wav"), "--model", str(tmp_path)]) == 2
    assert "not an ASR model directory" in capsys.readouterr().err


def test_another_kind_of_model(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"format": "speechstream-vocoder", "version": 1}))
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(ModelError, match="'speechstream-vocoder' one"):
        Recognizer.from_dir(tmp_path)


def test_a_model_to_export(model_dir: Path, tmp_path: Path) -> None:
    d = tmp_path / "m"
    d.mkdir()
    for name in ("config.json", "model.safetensors", "tokens.txt"):
        shutil.copy(model_dir / name, d / name)
    with pytest.raises(ModelError, match=f"run `speechstream export {d}`"):
        Recognizer.from_dir(d)


def _with_config(model_dir: Path, tmp_path: Path, **changes: object) -> Path:
    d = tmp_path / "m"
    shutil.copytree(model_dir, d)
    config = json.loads((d / "config.json").read_text())
    for key, value in changes.items():
        if key == "ctc_weight":
            config["model"]["ctc_weight"] = value
        else:
            config[key] = value
    (d / "config.json").write_text(json.dumps(config))
    return d


def test_an_untrained_rnnt_head_is_refused(model_dir: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    d = _with_config(model_dir, tmp_path, ctc_weight=1.0)  # the RNN-T loss was never computed
    assert trained_heads(d) == {"ctc"} and trained_heads(model_dir) == {"ctc", "rnnt"}
    for method in ("rnnt-greedy", "rnnt-beam"):
        with pytest.raises(ModelError, match="RNN-T head is untrained.*use ctc-greedy or ctc-beam"):
            Recognizer.from_dir(d, decoding=method)
    Recognizer.from_dir(d, decoding="ctc-beam")
    Recognizer.from_dir(d, decoding="rnnt-greedy", allow_untrained=True)  # benchmarks time it anyway
    wav = tmp_path / "x.wav"
    wav.write_bytes(b"")
    assert main(["transcribe", str(wav), "--model", str(d), "--decoding", "rnnt-greedy"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "untrained" in err


def test_trained_heads_written_in_the_config_win(model_dir: Path, tmp_path: Path) -> None:
    d = _with_config(model_dir, tmp_path, trained_heads=["rnnt"])
    assert trained_heads(d) == {"rnnt"}
    with pytest.raises(ModelError, match="CTC head is untrained"):
        Recognizer.from_dir(d, decoding="ctc-greedy")
