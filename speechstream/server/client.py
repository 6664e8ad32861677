"""A websocket client: streams audio to `speechstream serve` (or sherpa-onnx's online websocket server) and
yields the messages that come back.

    async for message in stream_audio("ws://127.0.0.1:6006", samples, 16000):
        print(message)        # result objects, then it returns after the server's `Done!`

It speaks protocol 1 as sherpa-onnx's own clients do (float32 at 16 kHz, then `Done`, no tail padding: the
servers pad or finish the stream themselves), or protocol 2 when a look-ahead or decoding method is asked for.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from speechstream.audio.resample import resample
from speechstream.errors import SpeechstreamError

from .protocol import DONE, DONE_REPLY

RATE = 16000


class ClientError(SpeechstreamError):
    """The server refused the stream, reported an error, or closed before `Done!`."""


async def stream_audio(url: str, samples: np.ndarray, sample_rate: int, *, realtime: bool = True,
                       chunk_ms: float = 100.0, token: str | None = None, lookahead_ms: float | None = None,
                       decoding: str | None = None, ssl_context: ssl.SSLContext | None = None,
                       ) -> AsyncIterator[dict[str, Any]]:
    """Sends `samples` (N,) float32 in chunks of `chunk_ms` (at their real-time pace if `realtime`), then
    `Done`; yields every JSON message received until `Done!`. ClientError on an error message or early close."""
    x = resample(np.asarray(samples, np.float32), int(sample_rate), RATE) if sample_rate != RATE else samples
    x = np.ascontiguousarray(x, "<f4")
    headers = {"Authorization": f"Bearer {token}"} if token else None
    config = {k: v for k, v in (("lookahead_ms", lookahead_ms), ("decoding", decoding)) if v is not None}
    try:
        async with connect(url, additional_headers=headers, ssl=ssl_context, max_size=2**22, compression=None,
                           open_timeout=10) as ws:
            sender = asyncio.create_task(_send(ws, x, realtime, chunk_ms, config))
            try:
                async for message in ws:
                    if message == DONE_REPLY:
                        return
                    obj = json.loads(message)
                    if "error" in obj:
                        raise ClientError(f"server error {obj.get('code')}: {obj['error']}")
                    yield obj
                raise ClientError(f"the server closed the connection before {DONE_REPLY!r}"
                                  f" (code {ws.close_code}{', ' + ws.close_reason if ws.close_reason else ''})")
            finally:
                sender.cancel()
                await asyncio.gather(sender, return_exceptions=True)
    except ConnectionClosed as e:
        raise ClientError(f"connection closed: {e}") from None
    except OSError as e:
        raise ClientError(f"cannot connect to {url}: {e}") from None
    except Exception as e:  # websockets' handshake errors (InvalidStatus: 401, 403, ...)
        if type(e).__module__.startswith("websockets"):
            raise ClientError(f"{url}: {e}") from None
        raise


async def _send(ws: Any, x: np.ndarray, realtime: bool, chunk_ms: float, config: dict[str, Any]) -> None:
    if config:
        await ws.send(json.dumps({"sample_rate": RATE, "format": "f32le", **config}))
    step = max(1, int(RATE * chunk_ms / 1000))
    start = time.monotonic()
    for pos in range(0, len(x), step):
        if realtime:  # a microphone delivers a chunk when its last sample has arrived
            delay = start + min(pos + step, len(x)) / RATE - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        await ws.send(x[pos:pos + step].tobytes())
    await ws.send(DONE)
