"""One Recognizer per decoding method, loaded the first time a stream asks for it and shared afterwards."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from speechstream.asr.recognizer import Recognizer
from speechstream.errors import SpeechstreamError

from .protocol import UNSUPPORTED, ProtocolError


class RecognizerPool:
    """`default` serves streams that name no method; `load(method)` makes the others (in a thread)."""

    def __init__(self, default: Recognizer, load: Callable[[str], Recognizer] | None = None) -> None:
        self.default = default
        self._load = load or (lambda method: Recognizer.from_dir(default.model_dir, decoding=method))
        self._loaded: dict[str, Recognizer] = {default.decoding: default}
        self._lock = asyncio.Lock()

    async def get(self, method: str | None) -> Recognizer:
        if method is None:
            return self.default
        if method in self._loaded:
            return self._loaded[method]
        async with self._lock:
            if method not in self._loaded:
                try:
                    self._loaded[method] = await asyncio.to_thread(self._load, method)
                except SpeechstreamError as e:  # e.g. a CTC-only model asked for rnnt decoding
                    raise ProtocolError(UNSUPPORTED, f"decoding {method!r} is not available: {e}") from None
        return self._loaded[method]
