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
from speechstream.runtime.models import MODELS_DIR

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
    path = Path(model_dir) / CONFIG
    if not Path(model_dir).is_dir():
        raise ModelError(f"model directory not found: {model_dir}")
    if not path.is_file():
        raise ModelError(f"{model_dir} is not a speechstream model directory: {CONFIG} is missing")
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelError(f"{path}: not a {FORMAT} config")
    if config.get("version") != VERSION:
        raise ModelError(f"{path}: format version {config.get('version')!r}, this speechstream reads {VERSION}")
    return config
