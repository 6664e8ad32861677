"""The TTS model directory: a trained acoustic model on disk, run without torch, never pickled.

    config.json        {"format": "speechstream-tts", "version": 1, "model": AcousticConfig.to_dict()}
    model.safetensors  the AcousticModel state_dict (re-exports load it)
    encoder.onnx       the encoder's streaming step, with its metadata (tts.torch.export)
    decoder.onnx       the decoder's streaming step at the config's solver
    vocoder/           optional: the vocoder model directory to speak with (else models/vocoder_en)
    MODEL_CARD.md      optional

Writing a directory and loading its weights into torch are speechstream.tts.torch.checkpoint's.
"""

from __future__ import annotations

import os
from pathlib import Path

from speechstream.errors import ModelError
from speechstream.runtime.models import MODELS_DIR, read_model_config
from speechstream.vocoder.model_dir import default_vocoder_model

from .config import AcousticConfig

FORMAT = "speechstream-tts"
VERSION = 1
CONFIG = "config.json"
WEIGHTS = "model.safetensors"
ENCODER = "encoder.onnx"
DECODER = "decoder.onnx"
VOCODER = "vocoder"
CARD = "MODEL_CARD.md"
DEFAULT_TTS = "tts_en"
ENV_VAR = "SPEECHSTREAM_TTS_MODEL"


def default_tts_model() -> Path:
    """$SPEECHSTREAM_TTS_MODEL, else models/tts_en; a ModelError when there is none."""
    env = os.environ.get(ENV_VAR)
    path = Path(env) if env else MODELS_DIR / DEFAULT_TTS
    if not path.is_dir():
        where = f" (${ENV_VAR})" if env else ""
        raise ModelError(f"no TTS model at {path}{where}; pass a model directory")
    return path


def read_config(model_dir: str | Path) -> AcousticConfig:
    raw, path = read_model_config(model_dir, FORMAT, VERSION)
    try:
        return AcousticConfig.from_dict(raw["model"])
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ModelError(f"{path}: bad acoustic config ({e})") from None


def vocoder_dir(model_dir: str | Path, vocoder: str | Path | None = None) -> Path:
    """The vocoder to speak with: `vocoder` if given, else the model's own vocoder/, else the default."""
    if vocoder is not None:
        return Path(vocoder)
    own = Path(model_dir) / VOCODER
    return own if own.is_dir() else default_vocoder_model()
