"""The TTS model directory written from and loaded into a torch AcousticModel (safetensors, no pickles).

The files and their format are speechstream.tts.model_dir's, which reads them without torch.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from speechstream.nn.weights import load_weights
from speechstream.tts.model_dir import CARD, CONFIG, FORMAT, VERSION, VOCODER, WEIGHTS, read_config

from .export import export_acoustic
from .model import AcousticModel


def save_tts_dir(model: AcousticModel, out_dir: str | Path, vocoder: str | Path | None = None,
                 model_card: str | None = None, extra: dict[str, Any] | None = None) -> Path:
    """Writes config.json, model.safetensors, encoder.onnx and decoder.onnx (plus a copy of the `vocoder`
    directory as vocoder/, and MODEL_CARD.md, when given). `extra` adds keys to config.json."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    config = {"format": FORMAT, "version": VERSION, "model": model.config.to_dict(), **(extra or {})}
    (out / CONFIG).write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(out / WEIGHTS))
    export_acoustic(model, out)
    if vocoder is not None:
        shutil.copytree(vocoder, out / VOCODER, dirs_exist_ok=True)
    if model_card is not None:
        (out / CARD).write_text(model_card, encoding="utf-8")
    return out


def load_acoustic(model_dir: str | Path) -> AcousticModel:
    """The torch AcousticModel (eval mode, CPU) from config.json and model.safetensors."""
    d = Path(model_dir)
    return load_weights(AcousticModel(read_config(d)), d / WEIGHTS, CONFIG)
