"""The repository's models/ folder, where each task's default model lives (asr.model_dir and
vocoder.model_dir name theirs and the variable that overrides it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from speechstream.errors import ModelError

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
CONFIG = "config.json"
# config.json's "format" of each task's model directory -> what to call it in an error
KINDS = {"speechstream-asr": "ASR", "speechstream-vocoder": "vocoder", "speechstream-tts": "TTS",
         "speechstream-vc": "VC"}


def read_model_config(model_dir: str | Path, fmt: str, version: int) -> tuple[dict[str, Any], Path]:
    """A model directory's config.json and its path, checked to be a `fmt` config of `version`: every error
    is a one-line ModelError that says what the directory is instead."""
    kind = KINDS[fmt]
    d = Path(model_dir)
    path = d / CONFIG
    if not d.is_dir():
        raise ModelError(f"{kind} model directory not found: {d}")
    if not path.is_file():
        raise ModelError(f"{d} is not a {kind} model directory: {CONFIG} is missing")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelError(f"{path} is not valid JSON: {e}") from None
    other = raw.get("format") if isinstance(raw, dict) else None
    if other != fmt and other in KINDS:
        article = "an" if KINDS[other] == "ASR" else "a"
        raise ModelError(f"{d} is {article} {KINDS[other]} model directory, not a {kind}")
    if other != fmt:
        raise ModelError(f"{path}: not a {fmt} config")
    if raw.get("version") != version:
        raise ModelError(f"{path}: format version {raw.get('version')!r}, this speechstream reads {version}")
    return raw, path

