"""onnxruntime sessions: creation with thread/provider options and the metadata contract (numpy only)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from speechstream.errors import ModelError

PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
}


def create_session(path: str | Path, num_threads: int = 1, provider: str = "cpu"):
    """An `onnxruntime.InferenceSession` for `path`, with a clear ModelError for a missing or corrupt file."""
    import onnxruntime as ort

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"missing model file {path}")
    if provider not in PROVIDERS:
        raise ModelError(f"unknown provider {provider!r}; choose one of {', '.join(PROVIDERS)}")
    available = ort.get_available_providers()
    if PROVIDERS[provider] not in available:
        raise ModelError(
            f"provider {provider!r} is not available in this onnxruntime build "
            f"(available: {', '.join(available)}); install onnxruntime-gpu for cuda"
        )
    options = ort.SessionOptions()
    options.intra_op_num_threads = num_threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=[PROVIDERS[provider]])
    except Exception as e:  # onnxruntime raises its own exception types for unreadable graphs
        raise ModelError(f"cannot load {path}: {str(e).splitlines()[0]}") from None


def read_metadata(session) -> dict[str, Any]:
    """The custom metadata of a session; values that are JSON are decoded, the rest stay strings."""
    raw = session.get_modelmeta().custom_metadata_map
    out: dict[str, Any] = {}
    for key, value in raw.items():
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def require(meta: dict[str, Any], keys: list[str], path: str | Path) -> None:
    missing = [k for k in keys if k not in meta]
    if missing:
        raise ModelError(f"{path} lacks metadata {', '.join(missing)}; re-export it with `speechstream export`")
