"""Streaming audio primitives whose streaming output equals their offline output for any chunking.

Every streaming object here follows one protocol: `accept(x) -> y` consumes the next piece of input and
returns whatever output is now final, `flush() -> y` ends the stream and returns the rest. Concatenating
all returns equals the offline transform.

Names are resolved lazily so that `import speechstream.audio` stays cheap. Everything here is numpy; the
torch half, speechstream.audio.torch (the batched Fbank for training), imports this package, never the reverse.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "STFT": "speechstream.audio.stft",
    "FbankConfig": "speechstream.audio.fbank",
    "Fbank": "speechstream.audio.fbank",
    "Resampler": "speechstream.audio.resample",
    "resample": "speechstream.audio.resample",
    "read_audio": "speechstream.audio.io",
    "check_samples": "speechstream.audio.io",
    "list_devices": "speechstream.audio.devices",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'speechstream.audio' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
