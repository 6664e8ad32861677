"""Loading a model directory's safetensors weights into a module, with a clear error for every bad file.

Never unpickles: safetensors holds tensors only. Shared by the ASR and vocoder model directories.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from torch import nn

from speechstream.errors import ModelError

M = TypeVar("M", bound=nn.Module)


def load_weights(module: M, path: Path, config_name: str = "config.json") -> M:
    """Loads `path` (a model.safetensors) into `module` and returns it in eval mode; a ModelError when the
    file is missing, corrupt, or does not fit the module that `config_name` describes."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        raise ModelError(f"{path.parent} lacks {path.name}")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as e:
        raise ModelError(f"{path} is corrupt: {e}") from None
    try:
        module.load_state_dict(state)
    except RuntimeError as e:
        raise ModelError(f"{path} does not match {config_name}: {str(e).splitlines()[0]}") from None
    return module.eval()
