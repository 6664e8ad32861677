"""One websocket connection: reads the client's messages into its Session, writes what the worker emits.

A reader (this handler's task) and a writer task share nothing but the outbox. The reader runs until the
socket closes, whichever side closes it, so a close handshake always completes; after an error it only
discards. The writer sends results in order and ends with the close frame. Whatever happens, the session
leaves the worker when the handler returns.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from speechstream.asr.recognizer import Result
from speechstream.errors import SpeechstreamError

from . import protocol as p
from .config import ServerConfig
from .recognizers import RecognizerPool
from .worker import BatchingWorker, Session

log = logging.getLogger("speechstream.server")


@dataclass(frozen=True)
class Close:
    code: int
    reason: str


class Connection:
    def __init__(self, ws: ServerConnection, config: ServerConfig, worker: BatchingWorker,
                 pool: RecognizerPool) -> None:
        self.ws, self.config, self.worker, self.pool = ws, config, worker, pool
        self.session: Session | None = None
        self.outbox: asyncio.Queue[str | Close] = asyncio.Queue()
        self.input_done = False  # `Done` received, or the server finished the stream itself (drain)
        self.failed = False
        self.draining = False
        self.seconds_in = 0.0  # audio received, in seconds
        self._configured = False
        self._format = "f32le"
        self.protocol = 1
        self.peer = _peer(ws)  # taken now: a closed transport has no address
        self.started = time.monotonic()

    async def run(self) -> None:
        writer = asyncio.create_task(self._write())
        try:
            await self._read()
        except ConnectionClosed:
            pass
        finally:
            self._drop()
            if not writer.done():
                writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
            # One line per connection, whatever its end (an error also had its own line, in fail()).
            log.info("%s: protocol %d, %.1f s, %.2f s of audio, close code %s", self.peer, self.protocol,
                     time.monotonic() - self.started, self.seconds_in, self.ws.close_code)

    # -- reading -----------------------------------------------------------------------------------------

    async def _read(self) -> None:
        while True:
            open_input = not (self.input_done or self.failed)
            timeout = self.config.idle_timeout_s if open_input and self.config.idle_timeout_s > 0 else None
            try:
                message = await asyncio.wait_for(self.ws.recv(), timeout)  # cancelling recv loses nothing
            except asyncio.TimeoutError:
                self.fail(p.POLICY, f"no message for {self.config.idle_timeout_s:g} s: closing an idle stream")
                continue
            if self.failed or self.draining:
                continue  # the close is on its way; read until it completes
            try:
                await self._handle(message)
            except p.ProtocolError as e:
                self.fail(e.code, e.message)

    async def _handle(self, message: str | bytes) -> None:
        if self.input_done:
            raise p.ProtocolError(p.POLICY, f"a message after {p.DONE!r}: the stream has ended")
        if isinstance(message, str):
            if message == p.DONE:
                if self.session is None:
                    await self._open(p.StreamConfig())  # an empty stream: one empty final result
                if self.session is None:
                    return  # shutting down meanwhile
                self.input_done = True
                self.session.finish()
                self.worker.notify(self.session)
            elif message.lstrip().startswith("{"):
                if self._configured:
                    raise p.ProtocolError(p.POLICY, "the configuration message must be the first message")
                self.protocol = 2
                await self._open(p.parse_config(message), protocol2=True)
            else:
                preview = message[:40] + ("..." if len(message) > 40 else "")
                raise p.ProtocolError(p.UNSUPPORTED, f"unexpected text message {preview!r}: audio goes in binary "
                                                     f"messages, and the text {p.DONE!r} ends the stream")
            return
        if self.session is None:
            await self._open(p.StreamConfig())
        if self.session is None:
            return
        samples = p.decode_audio(message, self._format)
        if not samples.size:
            return
        self.seconds_in += samples.size / self.session.sample_rate
        limit = self.config.max_utterance_s
        if limit and self.seconds_in > limit:
            raise p.ProtocolError(p.POLICY, f"the stream is longer than --max-utterance-s {limit:g} s")
        self.session.push(samples)
        self.worker.notify(self.session)

    async def _open(self, cfg: p.StreamConfig, protocol2: bool = False) -> None:
        self._configured = True
        self._format = cfg.format
        rec = await self.pool.get(cfg.decoding)
        try:
            stream = rec.create_stream(cfg.lookahead_ms if cfg.lookahead_ms is not None else self.config.lookahead_ms)
        except SpeechstreamError as e:  # a look-ahead the model does not have
            raise p.ProtocolError(p.UNSUPPORTED, str(e)) from None
        if self.failed or self.draining:  # closed while the model was loading
            return
        self.session = Session(rec, stream, cfg.sample_rate, self)
        self.worker.add(self.session)
        if protocol2:
            self.outbox.put_nowait(p.config_message({
                "sample_rate": cfg.sample_rate, "format": cfg.format, "lookahead_ms": stream.lookahead_ms,
                "latency_ms": rec.latency_ms(stream), "decoding": rec.decoding}))

    # -- what the worker reports (Listener) ---------------------------------------------------------------

    def on_result(self, result: Result) -> None:
        if self.outbox.qsize() >= self.config.max_queued_results:
            self.fail(p.POLICY, "too many results waiting: the client does not read them")
            return
        self.outbox.put_nowait(p.result_message(result))

    def on_done(self) -> None:
        self.session = None
        self.outbox.put_nowait(p.DONE_REPLY)
        if self.draining:
            self.outbox.put_nowait(Close(p.GOING_AWAY, "server shutting down"))
        else:
            self.outbox.put_nowait(Close(p.NORMAL, ""))

    def on_failure(self, code: int, message: str) -> None:
        self.session = None
        self.fail(code, message)

    # -- ending -------------------------------------------------------------------------------------------

    def fail(self, code: int, message: str) -> None:
        """Tells the client what went wrong and closes with `code`; results not yet sent are dropped."""
        if self.failed:
            return
        self.failed = True
        self._drop()
        while not self.outbox.empty():
            self.outbox.get_nowait()
        log.info("closing %s with %d: %s", self.peer, code, message)
        self.outbox.put_nowait(p.error_message(code, message))
        self.outbox.put_nowait(Close(code, p.close_reason(message)))

    def drain(self) -> None:
        """Server shutdown: finish the stream as if the client had sent `Done` (its final results still go
        out), then close with 1001; a connection that has sent nothing is closed at once."""
        if self.failed or self.draining:
            return
        self.draining = True
        if self.session is None:
            if not self.input_done:
                self.outbox.put_nowait(Close(p.GOING_AWAY, "server shutting down"))
            return
        if not self.input_done:
            self.input_done = True
            self.session.finish()
            self.worker.notify(self.session)

    def _drop(self) -> None:
        if self.session is not None:
            self.worker.discard(self.session)
            self.session = None

    async def _write(self) -> None:
        while True:
            item = await self.outbox.get()
            if isinstance(item, Close):
                await self.ws.close(item.code, item.reason)
                return
            await self.ws.send(item)


def _peer(ws: ServerConnection) -> str:
    try:
        host, port = ws.remote_address[:2]
        return f"{host}:{port}"
    except Exception:  # noqa: BLE001 - a closed transport has no address
        return "?"
