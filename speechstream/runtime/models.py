"""The repository's models/ folder, where each task's default model lives (asr.model_dir and
vocoder.model_dir name theirs and the variable that overrides it)."""

from __future__ import annotations

from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
