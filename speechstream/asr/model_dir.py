"""The ASR model directory: what a trained model is on disk, and where the default one lives (no torch).

    config.json         {"format": "speechstream-asr", "version": 1, "model": ASRModelConfig, "features": FbankConfig}
    model.safetensors   the ASRModel state_dict
    tokens.txt          `symbol id` per line, `<blk>` last (sherpa-onnx's format)
    bpe.model           the sentencepiece model, for BPE vocabularies (needed to encode text, i.e. to train)
    *.onnx              written by `speechstream export` (speechstream.asr.torch.export), run by the Recognizer
    MODEL_CARD.md       written by whoever trained it

Writing a directory and loading its weights need torch: speechstream.asr.torch.checkpoint. Every way a
directory can be broken (missing, incomplete, corrupt, mismatched) is a ModelError with the path.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from speechstream.errors import ModelError
from speechstream.runtime.models import MODELS_DIR, read_model_config

FORMAT = "speechstream-asr"
VERSION = 1
CONFIG = "config.json"
WEIGHTS = "model.safetensors"
TOKENS = "tokens.txt"
BPE = "bpe.model"
DEFAULT_ASR = "asr_en"


def default_asr_model() -> Path:
    """The model `transcribe`, `mic` and `serve` use when none is named: $SPEECHSTREAM_MODEL, else models/asr_en."""
    env = os.environ.get("SPEECHSTREAM_MODEL")
    path = Path(env) if env else MODELS_DIR / DEFAULT_ASR
    if not path.is_dir():
        where = "$SPEECHSTREAM_MODEL" if env else "the default location"
        raise ModelError(f"no ASR model at {path} ({where}); pass --model DIR")
    return path


def read_config(model_dir: str | Path) -> dict[str, Any]:
    """config.json of a model directory, checked for format and version."""
    return read_model_config(model_dir, FORMAT, VERSION)[0]


HEADS = ("ctc", "rnnt")


def check_runtime_dir(model_dir: Path) -> None:
    """A ModelError that says what `model_dir` is when it holds no encoder graph to run: another kind of
    model, a trained model not yet exported, or no model at all."""
    if any((model_dir / f"encoder{s}.onnx").is_file() for s in ("", ".int8")):
        return
    config = model_dir / CONFIG
    if config.is_file():
        try:
            kind = json.loads(config.read_text()).get("format")
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            kind = None
        if kind is not None and kind != FORMAT:
            raise ModelError(f"{model_dir} is not an ASR model directory (its {CONFIG} is a {kind!r} one)")
        if (model_dir / WEIGHTS).is_file():
            raise ModelError(f"{model_dir} has no ONNX graphs yet; run `speechstream export {model_dir}`")
    raise ModelError(f"{model_dir} is not an ASR model directory: it has no encoder.onnx (nor {CONFIG} and "
                     f"{WEIGHTS} to export one from)")


def trained_heads(model_dir: Path) -> frozenset[str]:
    """The heads training taught: config.json's "trained_heads" when written there, else what its loss
    weights imply (ctc_weight 1.0: the RNN-T loss was never computed; 0.0: the CTC loss). Both without a
    readable config.json (graphs exported elsewhere): nothing to go by."""
    try:
        config = json.loads((model_dir / CONFIG).read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return frozenset(HEADS)
    if not isinstance(config, dict):
        return frozenset(HEADS)
    if isinstance(config.get("trained_heads"), list):
        return frozenset(h for h in config["trained_heads"] if h in HEADS)
    weight = (config.get("model") or {}).get("ctc_weight") if isinstance(config.get("model"), dict) else None
    if weight == 1.0:
        return frozenset({"ctc"})
    if weight == 0.0:
        return frozenset({"rnnt"})
    return frozenset(HEADS)
