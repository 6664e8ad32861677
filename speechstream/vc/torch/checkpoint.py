"""The VC model directory written from and loaded into a torch VCModel (safetensors, no pickles).

The files and their format are speechstream.vc.model_dir's, which reads them without torch.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Mapping, Sequence

from speechstream.nn.weights import load_weights
from speechstream.vc.model_dir import CARD, CONFIG, FORMAT, GRAPHS, VERSION, VOCODER, VOICES, WEIGHTS, read_config

from .export import export_vc
from .model import VCModel


def save_vc_dir(model: VCModel, out_dir: str | Path, vocoder: str | Path | None = None,
                voices: Mapping[str, Sequence[float]] | None = None, model_card: str | None = None,
                extra: dict[str, Any] | None = None, graphs: bool = True) -> Path:
    """Writes config.json, model.safetensors and (with `graphs`) the three ONNX graphs; voices.json with the
    built-in target embeddings, a copy of the `vocoder` directory as vocoder/, and MODEL_CARD.md, when given.
    `extra` adds keys to config.json. Without `graphs`, stale graphs of other weights are removed."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    config = {"format": FORMAT, "version": VERSION, "model": model.config.to_dict(), **(extra or {})}
    (out / CONFIG).write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(out / WEIGHTS))
    if graphs:
        export_vc(model, out)
    else:
        for name in GRAPHS:
            (out / name).unlink(missing_ok=True)
    if voices is not None:
        table = {name: [round(float(x), 6) for x in v] for name, v in voices.items()}
        (out / VOICES).write_text(json.dumps({"voices": table}, indent=1) + "\n", encoding="utf-8")
    if vocoder is not None:
        shutil.copytree(vocoder, out / VOCODER, dirs_exist_ok=True)
    if model_card is not None:
        (out / CARD).write_text(model_card, encoding="utf-8")
    return out


def load_vc(model_dir: str | Path) -> VCModel:
    """The torch VCModel (eval mode, CPU) from config.json and model.safetensors."""
    d = Path(model_dir)
    return load_weights(VCModel(read_config(d)), d / WEIGHTS, CONFIG)
