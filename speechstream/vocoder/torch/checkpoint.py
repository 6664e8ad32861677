"""The vocoder model directory written from and loaded into a torch FlowGenerator (safetensors, no pickles).

The files and their format are speechstream.vocoder.model_dir's, which reads them (and runs generator.onnx)
without torch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from speechstream.nn.weights import load_weights
from speechstream.vocoder.model_dir import CARD, CONFIG, FORMAT, GRAPH, VERSION, WEIGHTS, read_config

from .export import export_generator_step
from .generator import FlowGenerator


def save_vocoder_dir(generator: FlowGenerator, out_dir: str | Path, model_card: str | None = None,
                     extra: dict[str, Any] | None = None) -> Path:
    """Writes config.json, model.safetensors and generator.onnx (and MODEL_CARD.md if given) into `out_dir`.

    `generator` is put in eval mode. `extra` adds keys to config.json (e.g. the training step), which loading
    ignores.
    """
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    generator = generator.eval()
    config = {"format": FORMAT, "version": VERSION, "model": generator.config.to_dict(), **(extra or {})}
    (out / CONFIG).write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")
    state = {k: v.detach().cpu().contiguous() for k, v in generator.state_dict().items()}
    save_file(state, str(out / WEIGHTS))
    export_generator_step(generator, out / GRAPH)
    if model_card is not None:
        (out / CARD).write_text(model_card, encoding="utf-8")
    return out


def load_generator(model_dir: str | Path) -> FlowGenerator:
    """The torch FlowGenerator (eval mode, CPU) from config.json and model.safetensors."""
    d = Path(model_dir)
    return load_weights(FlowGenerator(read_config(d)), d / WEIGHTS, CONFIG)
