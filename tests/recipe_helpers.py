"""Recipe scripts loaded as modules (recipes/ is not a package)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def load_synth_en_prepare() -> ModuleType:
    """recipes/asr/synth_en/prepare.py, registered under one name: its worker processes pickle its functions
    by module name."""
    name = "synth_en_prepare"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "recipes/asr/synth_en/prepare.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod
