"""One websocket connection: reads the client's messages into its Session, writes what the worker emits.

A reader (this handler's task) and a writer task share nothing but the outbox. The reader runs until the
socket closes, whichever side closes it, so a close handshake always completes; after an error it only
discards. While the stream is more than --max-backlog-s ahead of its decoder the reader waits (TCP then holds
the client back). The writer sends results in order and ends with the close frame; a client that does not
read gets CLOSE_GRACE_S to take it, then its connection is dropped. Whatever happens, the session leaves the
worker when the handler returns.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from speechstream.asr.recognizer import Result
from speechstream.errors import SpeechstreamError

from . import protocol as p
from .config import ServerConfig
from .metrics import ServerMetrics
from .recognizers import RecognizerPool
from .worker import BatchingWorker, Session

log = logging.getLogger("speechstream.server")

CLOSE_GRACE_S = 5.0  # once the server closes, the client has this long to read the rest and the close frame


@dataclass(frozen=True)
class Close:
    code: int
    reason: str


class Connection:
    def __init__(self, ws: ServerConnection, config: ServerConfig, worker: BatchingWorker,
                 pool: RecognizerPool, metrics: ServerMetrics | None = None) -> None:
        self.ws, self.config, self.worker, self.pool = ws, config, worker, pool
        self.metrics = metrics or worker.metrics
        self.session: Session | None = None
        self.outbox: asyncio.Queue[str | Close] = asyncio.Queue()
        self.input_done = False  # `Done` received, or the server finished the stream itself (drain)
        self.failed = False
        self.error_code: int | None = None  # the close code of fail()
        self.draining = False
        self._progress = asyncio.Event()  # a round took this stream's input, or the stream ended
        self._closer: asyncio.TimerHandle | None = None
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
            if self._closer is not None:
                self._closer.cancel()
            if not writer.done():
                writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
            code = _close_code(self.ws)
            if self.error_code is None and code not in (p.NORMAL, p.GOING_AWAY):  # not by fail(): 1009, 1006...
                self.metrics.errors.inc(label_value=str(code))
            # One line per connection, whatever its end (an error also had its own line, in fail()).
            log.info("%s: protocol %d, %.1f s, %.2f s of audio, close code %s", self.peer, self.protocol,
                     time.monotonic() - self.started, self.seconds_in, code)

    # -- reading -----------------------------------------------------------------------------------------

    async def _read(self) -> None:
        while True:
            open_input = not (self.input_done or self.failed)
            timeout = self.config.idle_timeout_s if open_input and self.config.idle_timeout_s > 0 else None
            await self._wait_for_decoder()
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
            except Exception:  # a bug: this client gets 1011, the others go on
                log.exception("handling a message from %s failed", self.peer)
                self.fail(p.INTERNAL, "internal error")

    async def _wait_for_decoder(self) -> None:
        """Back-pressure: no reading while the stream is more than --max-backlog-s ahead of its decoder (and the
        worker has work for it: a limit shorter than a chunk must not stall the stream)."""
        limit, s = self.config.max_backlog_s, self.session
        if not limit or s is None or not s.busy or s.backlog_s <= limit:
            return
        self.metrics.paused.inc()
        while self.session is s and s.busy and s.backlog_s > limit and not (self.failed or self.draining):
            self._progress.clear()
            await self._progress.wait()

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
        seconds = samples.size / self.session.sample_rate
        self.seconds_in += seconds
        self.metrics.audio_received.inc(seconds)
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
            self._close(p.GOING_AWAY, "server shutting down")
        else:
            self._close(p.NORMAL, "")

    def on_failure(self, code: int, message: str) -> None:
        self.session = None
        self.fail(code, message)

    def on_round(self) -> None:
        self._progress.set()

    # -- ending -------------------------------------------------------------------------------------------

    def fail(self, code: int, message: str) -> None:
        """Tells the client what went wrong and closes with `code`; results not yet sent are dropped."""
        if self.failed:
            return
        self.failed = True
        self.error_code = code
        self.metrics.errors.inc(label_value=str(code))
        self._drop()
        while not self.outbox.empty():
            self.outbox.get_nowait()
        log.info("closing %s with %d: %s", self.peer, code, message)
        self.outbox.put_nowait(p.error_message(code, message))
        self._close(code, p.close_reason(message))

    def drain(self) -> None:
        """Server shutdown: finish the stream as if the client had sent `Done` (its final results still go
        out), then close with 1001; a connection that has sent nothing is closed at once."""
        if self.failed or self.draining:
            return
        self.draining = True
        self._progress.set()
        if self.session is None:
            if not self.input_done:
                self._close(p.GOING_AWAY, "server shutting down")
            return
        if not self.input_done:
            self.input_done = True
            self.session.finish()
            self.worker.notify(self.session)

    def _drop(self) -> None:
        if self.session is not None:
            self.worker.discard(self.session)
            self.session = None
        self._progress.set()

    def _close(self, code: int, reason: str) -> None:
        """Queues the close frame; a client that has not taken it CLOSE_GRACE_S later (it does not read, so
        the writer waits on a full socket) loses the connection without one."""
        self.outbox.put_nowait(Close(code, reason))
        if self._closer is None:
            self._closer = asyncio.get_running_loop().call_later(CLOSE_GRACE_S, self._abort)

    def _abort(self) -> None:
        if self.ws.state is not State.CLOSED:
            log.info("dropping %s: it has not read the close frame for %g s", self.peer, CLOSE_GRACE_S)
            self.ws.transport.abort()

    async def _write(self) -> None:
        while True:
            item = await self.outbox.get()
            if isinstance(item, Close):
                await self.ws.close(item.code, item.reason)
                return
            await self.ws.send(item)


def _close_code(ws: ServerConnection) -> int:
    """The code of whichever side closed first (websockets' close_code is the received one, 1006 when the server
    failed the connection itself, e.g. 1009 for a message over the limit, and closed TCP without waiting)."""
    sent, received = ws.protocol.close_sent, ws.protocol.close_rcvd
    if sent is not None and (received is None or not ws.protocol.close_rcvd_then_sent):
        return sent.code
    return received.code if received is not None else 1006


def _peer(ws: ServerConnection) -> str:
    try:
        host, port = ws.remote_address[:2]
        return f"{host}:{port}"
    except Exception:  # noqa: BLE001 - a closed transport has no address
        return "?"
