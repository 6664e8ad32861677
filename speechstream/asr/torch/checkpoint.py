"""The ASR model directory written from and loaded into a torch ASRModel, without pickles.

The files and their format are speechstream.asr.model_dir's (which reads config.json without torch).
Every way a directory can be broken (missing, incomplete, corrupt, mismatched) is a ModelError with the path.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from speechstream.asr.config import ASRModelConfig
from speechstream.asr.model_dir import BPE, CONFIG, FORMAT, TOKENS, VERSION, WEIGHTS, read_config
from speechstream.asr.tokenizer import read_tokens
from speechstream.audio.fbank import FbankConfig
from speechstream.errors import ModelError

from .model import ASRModel


def save_model_dir(model: ASRModel, out_dir: str | Path, tokenizer_dir: str | Path,
                   feature_config: FbankConfig | None = None, extra: dict[str, Any] | None = None) -> Path:
    """Writes config.json, model.safetensors and the tokenizer files of `tokenizer_dir` into `out_dir`."""
    from safetensors.torch import save_file

    out, tok = Path(out_dir), Path(tokenizer_dir)
    symbols = read_tokens(str(tok / TOKENS))
    if len(symbols) != model.config.vocab_size:
        raise ModelError(f"{tok / TOKENS} has {len(symbols)} tokens, the model {model.config.vocab_size}")
    out.mkdir(parents=True, exist_ok=True)
    config = {"format": FORMAT, "version": VERSION, "model": model.config.to_dict(),
              "features": (feature_config or FbankConfig()).to_dict(), **(extra or {})}
    (out / CONFIG).write_text(json.dumps(config, indent=1) + "\n")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out / WEIGHTS))
    for name in (TOKENS, BPE):
        if (tok / name).is_file() and (tok / name).resolve() != (out / name).resolve():
            shutil.copyfile(tok / name, out / name)
    return out


def load_model_dir(model_dir: str | Path) -> tuple[ASRModel, FbankConfig]:
    """The model (eval mode, CPU) and its feature config from a model directory."""
    from speechstream.nn.weights import load_weights

    d = Path(model_dir)
    raw = read_config(d)
    try:
        config = ASRModelConfig.from_dict(raw["model"])
        features = FbankConfig.from_dict(raw["features"])
    except (KeyError, TypeError, ValueError) as e:
        raise ModelError(f"{d / CONFIG}: bad model or feature config ({e})") from None
    symbols = read_tokens(str(d / TOKENS))
    if len(symbols) != config.vocab_size:
        raise ModelError(f"{d / TOKENS} has {len(symbols)} tokens but the model expects {config.vocab_size}")
    return load_weights(ASRModel(config), d / WEIGHTS, CONFIG), features

