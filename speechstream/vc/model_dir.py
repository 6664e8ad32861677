"""The VC model directory: a trained voice-conversion model on disk, run without torch, never pickled.

    config.json        {"format": "speechstream-vc", "version": 1, "model": VCConfig.to_dict()}
    model.safetensors  the VCModel state_dict (re-exports load it)
    content.onnx       the content encoder's streaming step, with its metadata (vc.torch.export)
    decoder.onnx       the decoder's streaming step at the config's solver
    speaker.onnx       reference Fbank -> target embedding
    voices.json        optional: built-in targets, {"voices": {name: [E floats]}}
    vocoder/           optional: the vocoder model directory to speak with (else models/vocoder_en)
    MODEL_CARD.md      optional

Writing a directory and loading its weights into torch are speechstream.vc.torch.checkpoint's.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from speechstream.errors import ModelError
from speechstream.runtime.models import MODELS_DIR, read_model_config
from speechstream.vocoder.model_dir import default_vocoder_model

from .config import VCConfig

FORMAT = "speechstream-vc"
VERSION = 1
CONFIG = "config.json"
WEIGHTS = "model.safetensors"
GRAPHS = ("content.onnx", "decoder.onnx", "speaker.onnx")
VOICES = "voices.json"
VOCODER = "vocoder"
CARD = "MODEL_CARD.md"
DEFAULT_VC = "vc_en"
ENV_VAR = "SPEECHSTREAM_VC_MODEL"


def default_vc_model() -> Path:
    """$SPEECHSTREAM_VC_MODEL, else models/vc_en; a ModelError when there is none."""
    env = os.environ.get(ENV_VAR)
    path = Path(env) if env else MODELS_DIR / DEFAULT_VC
    if not path.is_dir():
        where = f" (${ENV_VAR})" if env else ""
        raise ModelError(f"no voice-conversion model at {path}{where}; train one with recipes/vc/kokoro_en "
                         "or pass --model DIR")
    return path


def read_config(model_dir: str | Path) -> VCConfig:
    raw, path = read_model_config(model_dir, FORMAT, VERSION)
    try:
        return VCConfig.from_dict(raw["model"])
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ModelError(f"{path}: bad VC config ({e})") from None


def read_voices(model_dir: str | Path, dim: int) -> dict[str, np.ndarray]:
    """The built-in targets: name -> (E,) float32 embedding; {} when the directory has none."""
    path = Path(model_dir) / VOICES
    if not path.is_file():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))["voices"]
        voices = {str(k): np.asarray(v, np.float32) for k, v in raw.items()}
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError, AttributeError) as e:
        raise ModelError(f"{path}: not a voices file ({type(e).__name__}: {e})") from None
    bad = [k for k, v in voices.items() if v.shape != (dim,) or not np.all(np.isfinite(v))]
    if bad:
        raise ModelError(f"{path}: voices {', '.join(bad)} are not {dim} finite numbers")
    return voices


def vocoder_dir(model_dir: str | Path, vocoder: str | Path | None = None) -> Path:
    """The vocoder to speak with: `vocoder` if given, else the model's own vocoder/, else the default."""
    if vocoder is not None:
        return Path(vocoder)
    own = Path(model_dir) / VOCODER
    return own if own.is_dir() else default_vocoder_model()
