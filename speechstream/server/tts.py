"""The `/tts` websocket: text in (e.g. an LLM's tokens as they come), audio out as soon as it is final.

Protocol: an optional first JSON text message ``{"voice": "af_heart:0.6,bm_george:0.4", "speed": 1.0}`` (every
key optional), answered, like a stream opened without one, by ``{"sample_rate": RATE, "voice": VOICE}``; then
text messages, pieces of the text in order; then the text `Done` (as on the ASR path). The server sends binary
messages of float32 little-endian samples at RATE as chunks become final, then ``{"done": true, "samples": N}``
and closes with 1000. A client's mistake is answered with ``{"error": MESSAGE, "code": CODE}`` and a close with
that code (1003: a binary message, a bad voice or speed; 1008: limits, idle).

The model runs in worker threads (asyncio.to_thread), one connection's step at a time under one lock, in
pieces of at most MAX_PIECE characters and PULL_CHUNKS decoder chunks, so the event loop never waits on it and
a client that sends a long text delays the others by one piece, not by its whole text.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

import numpy as np
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from . import protocol as p
from .config import ServerConfig
from .connection import CLOSE_GRACE_S, _close_code, _peer
from .metrics import ServerMetrics

if TYPE_CHECKING:
    from speechstream.tts.synthesizer import SynthesisStream, Synthesizer

log = logging.getLogger("speechstream.server")

TTS_PATH = "/tts"
CONFIG_KEYS = ("voice", "speed")
MAX_PIECE = 256  # characters fed to the model under the lock at once
PULL_CHUNKS = 4  # decoder chunks pulled under the lock at once
NO_MODEL = "no TTS model is loaded: start the server with --tts-model DIR"


def parse_tts_config(text: str) -> dict[str, Any]:
    """The first message -> {"voice": str | None, "speed": float}; ProtocolError(1003) for anything off."""
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        raise p.ProtocolError(p.UNSUPPORTED, "the configuration message is not valid JSON") from None
    if not isinstance(obj, dict):
        raise p.ProtocolError(p.UNSUPPORTED, "the configuration message must be a JSON object")
    unknown = sorted(set(obj) - set(CONFIG_KEYS))
    if unknown:
        raise p.ProtocolError(p.UNSUPPORTED, f"unknown configuration keys {unknown}; known: {list(CONFIG_KEYS)}")
    voice = obj.get("voice")
    if voice is not None and not isinstance(voice, str):
        raise p.ProtocolError(p.UNSUPPORTED, f"voice must be a string, got {voice!r}")
    speed = obj.get("speed", 1.0)
    if not isinstance(speed, (int, float)) or isinstance(speed, bool) or not 0.25 <= speed <= 4.0:
        raise p.ProtocolError(p.UNSUPPORTED, f"speed must be a number in 0.25..4, got {speed!r}")
    return {"voice": voice, "speed": float(speed)}


class TtsConnection:
    """One /tts websocket. `synth` None: the server has no TTS model; the client is told so."""

    def __init__(self, ws: ServerConnection, config: ServerConfig, synth: Synthesizer | None,
                 lock: threading.Lock, metrics: ServerMetrics) -> None:
        self.ws, self.config, self.synth, self.lock, self.metrics = ws, config, synth, lock, metrics
        self.stream: SynthesisStream | None = None
        self.samples = 0  # sent so far
        self.draining = False
        self.error_code: int | None = None
        self._drain = asyncio.Event()
        self.peer = _peer(ws)
        self.started = time.monotonic()

    async def run(self) -> None:
        try:
            if self.synth is None:
                raise p.ProtocolError(p.UNSUPPORTED, NO_MODEL)
            await self._serve()
        except p.ProtocolError as e:
            await self._fail(e.code, e.message)
        except ConnectionClosed:
            pass
        except Exception:  # a bug: this client gets 1011, the others go on
            log.exception("the TTS stream of %s failed", self.peer)
            await self._fail(p.INTERNAL, "internal error")
        finally:
            code = _close_code(self.ws)
            if self.error_code is None and code not in (p.NORMAL, p.GOING_AWAY):
                self.metrics.errors.inc(label_value=str(code))
            rate = self.synth.sample_rate if self.synth is not None else 1
            log.info("%s: tts, %.1f s, %.2f s of audio, close code %s", self.peer, time.monotonic() - self.started,
                     self.samples / rate, code)

    def drain(self) -> None:
        """Server shutdown: the text received so far is spoken to its end, then the close is 1001."""
        self.draining = True
        self._drain.set()

    async def _serve(self) -> None:
        while True:
            message = await self._next()
            if message is None or message == p.DONE:  # None: draining
                if self.stream is None:
                    await self._open(None, 1.0)
                await self._speak(None)
                await self._send(json.dumps({"done": True, "samples": self.samples}))
                await self._close(p.GOING_AWAY if self.draining else p.NORMAL, "")
                return
            if isinstance(message, bytes):
                raise p.ProtocolError(p.UNSUPPORTED, "a binary message on /tts: send the text as text messages, "
                                                     f"then the text {p.DONE!r}")
            if self.stream is None and message.lstrip().startswith("{"):
                cfg = parse_tts_config(message)
                await self._open(cfg["voice"], cfg["speed"])
                continue
            if self.stream is None:
                await self._open(None, 1.0)
            await self._speak(message)

    async def _next(self) -> str | bytes | None:
        """The next message, or None once the server drains; 1008 after --idle-timeout without one."""
        timeout = self.config.idle_timeout_s or None
        recv = asyncio.ensure_future(self.ws.recv())
        drain = asyncio.ensure_future(self._drain.wait())
        try:
            done, _ = await asyncio.wait({recv, drain}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (recv, drain):
                if not t.done():
                    t.cancel()  # cancelling recv loses nothing
        if recv in done:
            return recv.result()
        if drain in done:
            return None
        raise p.ProtocolError(p.POLICY, f"no message for {self.config.idle_timeout_s:g} s: closing an idle stream")

    async def _open(self, voice: str | None, speed: float) -> None:
        synth = self.synth
        assert synth is not None
        if voice is None:
            from speechstream.tts.voices import DEFAULT_VOICE

            voice = DEFAULT_VOICE if DEFAULT_VOICE in synth.voices else synth.voices[0]
        try:
            self.stream = synth.stream(voice, speed)
        except ValueError as e:  # an unknown voice, a bad blend
            raise p.ProtocolError(p.UNSUPPORTED, f"voice {voice!r}: {e}") from None
        await self._send(json.dumps({"sample_rate": synth.sample_rate, "voice": voice, "speed": speed}))

    async def _speak(self, text: str | None) -> None:
        """Feeds `text` (None: the end of the input) and sends every chunk that became final."""
        stream = self.stream
        assert stream is not None
        pieces = [text[i:i + MAX_PIECE] for i in range(0, len(text), MAX_PIECE)] if text is not None else [None]
        for piece in pieces:
            await asyncio.to_thread(self._feed, stream, piece)
            while True:
                audio = await asyncio.to_thread(self._pull, stream)
                if audio.size:
                    self.samples += audio.size
                    limit = self.config.max_utterance_s
                    if limit and self.samples > limit * stream.synth.sample_rate:
                        raise p.ProtocolError(p.POLICY, f"the speech is longer than --max-utterance-s {limit:g} s")
                    await self._send(audio.astype("<f4").tobytes())
                if not stream.is_ready:
                    break

    def _feed(self, stream: SynthesisStream, piece: str | None) -> None:
        with self.lock:
            if piece is None:
                stream.input_finished()
            else:
                stream.accept_text(piece)

    def _pull(self, stream: SynthesisStream) -> np.ndarray:
        with self.lock:
            return stream.pull(PULL_CHUNKS)

    async def _send(self, message: str | bytes) -> None:
        """A client that does not read gets CLOSE_GRACE_S (or the idle timeout, if longer) per message."""
        try:
            await asyncio.wait_for(self.ws.send(message), max(CLOSE_GRACE_S, self.config.idle_timeout_s))
        except asyncio.TimeoutError:
            log.info("dropping %s: it does not read its audio", self.peer)
            self.ws.transport.abort()
            raise ConnectionClosed(None, None) from None

    async def _fail(self, code: int, message: str) -> None:
        self.error_code = code
        self.metrics.errors.inc(label_value=str(code))
        log.info("closing %s with %d: %s", self.peer, code, message)
        try:
            await self._send(p.error_message(code, message))
            await self._close(code, p.close_reason(message))
        except ConnectionClosed:
            pass

    async def _close(self, code: int, reason: str) -> None:
        try:
            await asyncio.wait_for(self.ws.close(code, reason), CLOSE_GRACE_S + 1)
        except asyncio.TimeoutError:
            self.ws.transport.abort()
