"""The vocoder model directory: a trained vocoder on disk, run without torch, never pickled.

    config.json        {"format": "speechstream-vocoder", "version": 1, "model": VocoderConfig.to_dict()}
    model.safetensors  the FlowGenerator state_dict (re-exports and `bench vocoder` load it)
    generator.onnx     the streaming step at the config's default solver (vocoder.torch.export), with its metadata
    MODEL_CARD.md      optional, written by whoever trained it

This module needs numpy and onnxruntime only; writing a directory and loading its weights into torch are
speechstream.vocoder.torch.checkpoint's (``save_vocoder_dir``, ``load_generator``).
Every way a directory can be broken (missing, incomplete, corrupt, mismatched) is a ModelError naming the path.
The config is wrapped with a format tag, as the ASR model directory's is, so handing one kind of model to the
other's command is a clear error rather than a confusing one.
"""

from __future__ import annotations

import os
from pathlib import Path

from speechstream.errors import ModelError
from speechstream.runtime.models import MODELS_DIR, read_model_config

from .config import VocoderConfig
from .onnx_generator import OnnxGenerator
from .vocoder import Vocoder

FORMAT = "speechstream-vocoder"
VERSION = 1
CONFIG = "config.json"
WEIGHTS = "model.safetensors"
GRAPH = "generator.onnx"
CARD = "MODEL_CARD.md"
DEFAULT_VOCODER = "vocoder_en"
ENV_VAR = "SPEECHSTREAM_VOCODER_MODEL"
TRAIN_HINT = "train one with recipes/vocoder/train.py (--export-model-dir DIR)"


def default_vocoder_model() -> Path:
    """The model `vocode` and `bench vocoder` use when none is named: $SPEECHSTREAM_VOCODER_MODEL, else
    models/vocoder_en (shipped). Without one the error says how to make one."""
    env = os.environ.get(ENV_VAR)
    path = Path(env) if env else MODELS_DIR / DEFAULT_VOCODER
    if not path.is_dir():
        where = f" (${ENV_VAR})" if env else ""
        raise ModelError(f"no vocoder model at {path}{where}; {TRAIN_HINT} or pass --model DIR")
    return path


def read_config(model_dir: str | Path) -> VocoderConfig:
    """The VocoderConfig of a model directory's config.json, checked for format and version."""
    raw, path = read_model_config(model_dir, FORMAT, VERSION)
    try:
        return VocoderConfig.from_dict(raw["model"])
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ModelError(f"{path}: bad vocoder config ({e})") from None


def load_vocoder(model_dir: str | Path, num_threads: int = 1, provider: str = "cpu") -> Vocoder:
    """The streaming Vocoder on generator.onnx (numpy + onnxruntime, no torch)."""
    d = Path(model_dir)
    config = read_config(d)
    if not (d / GRAPH).is_file():
        raise ModelError(f"{d} lacks {GRAPH}; write the directory with save_vocoder_dir "
                         "(recipes/vocoder/train.py --export-model-dir)")
    generator = OnnxGenerator(d / GRAPH, num_threads, provider)
    if generator.config != config:
        raise ModelError(f"{d / GRAPH} was exported from another config than {d / CONFIG}; re-export the directory")
    return Vocoder(generator)
