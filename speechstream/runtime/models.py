"""Where the default models live: `$SPEECHSTREAM_MODEL`, else the repository's models/ folder."""

from __future__ import annotations

import os
from pathlib import Path

from speechstream.errors import ModelError

DEFAULT_ASR = "asr_en"
MODELS_DIR = Path(__file__).resolve().parents[2] / "models"


def default_asr_model() -> Path:
    """The model `transcribe`, `mic` and `serve` use when none is named."""
    env = os.environ.get("SPEECHSTREAM_MODEL")
    path = Path(env) if env else MODELS_DIR / DEFAULT_ASR
    if not path.is_dir():
        where = "$SPEECHSTREAM_MODEL" if env else "the default location"
        raise ModelError(f"no ASR model at {path} ({where}); pass --model DIR")
    return path
