"""The websocket server: binds, admits connections within the limits, and drains on shutdown.

    server = SpeechServer(Recognizer.from_dir("models/asr_en"), ServerConfig(port=6006))
    await server.start()
    ...
    await server.drain()        # SIGTERM: finish every stream, send its final results, close, stop

Everything runs on one event loop; the model runs in the batching worker's thread.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve

from speechstream.asr.recognizer import Recognizer

from . import protocol as p
from .config import RECEIVE_QUEUE, ServerConfig
from .connection import Connection
from .metrics import ServerMetrics
from .recognizers import RecognizerPool
from .routes import make_process_request
from .tts import TTS_PATH, TtsConnection
from .worker import BatchingWorker

if TYPE_CHECKING:
    from speechstream.tts.synthesizer import Synthesizer

log = logging.getLogger("speechstream.server")

# The kernel's send buffer per connection (Linux doubles it): results are a few hundred bytes per chunk, so this
# is ample for a client that reads, and it keeps one that does not from parking megabytes in the kernel
# (autotuned buffers grow to 4 MB) where --max-queued-results cannot see them.
SEND_BUFFER = 16 * 1024


class SpeechServer:
    def __init__(self, recognizer: Recognizer, config: ServerConfig | None = None,
                 load: Callable[[str], Recognizer] | None = None, synthesizer: Synthesizer | None = None) -> None:
        """`load(method)` makes a Recognizer for another decoding method when a stream asks for one;
        `synthesizer` serves /tts (without one, /tts answers an error)."""
        self.config = config or ServerConfig()
        self.pool = RecognizerPool(recognizer, load)
        self.synthesizer = synthesizer
        self._tts_lock = threading.Lock()  # one TTS step at a time, in whichever worker thread
        self.connections: set[Connection | TtsConnection] = set()
        self.metrics = ServerMetrics(connections=lambda: len(self.connections),
                                     streams=lambda: len(self.worker.sessions))
        self.worker = BatchingWorker(self.config.max_batch, self.metrics)
        self.draining = False
        self.started = False
        self._server: Server | None = None
        self._idle = asyncio.Event()  # set while no connection is open

    @property
    def port(self) -> int:
        assert self._server is not None, "start() first"
        return self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        scheme = "wss" if self.config.tls else "ws"
        return f"{scheme}://{self.config.host}:{self.port}"

    @property
    def ready(self) -> bool:
        """For /readyz: listening and not draining (a load balancer sends new streams elsewhere)."""
        return self.started and not self.draining

    def health(self) -> dict[str, Any]:
        s = self.worker.stats
        return {"status": "draining" if self.draining else "ok", "model": self.pool.default.model_dir.name,
                "tts": self.synthesizer is not None,
                "connections": len(self.connections),
                "streams": len(self.worker.sessions), "rounds": s.rounds, "chunks": s.chunks,
                "max_batch": s.max_batch}

    async def start(self) -> None:
        c = self.config
        self.worker.start()
        self._idle.set()
        self._server = await serve(
            self._handle, c.host, c.port,
            process_request=make_process_request(c, self.health, lambda: self.ready, self.metrics.render),
            ssl=self._ssl_context(), max_size=c.max_message_bytes, compression=None,  # audio does not deflate
            max_queue=RECEIVE_QUEUE, open_timeout=10, close_timeout=5, reuse_port=c.reuse_port or None)
        self.started = True
        log.debug("listening on %s", self.url)

    def _ssl_context(self) -> ssl.SSLContext | None:
        if not self.config.tls:
            return None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.config.certfile, self.config.keyfile)  # type: ignore[arg-type]
        return context

    async def _handle(self, ws: ServerConnection) -> None:
        if self.draining:
            await ws.close(p.GOING_AWAY, "server shutting down")
            return
        if len(self.connections) >= self.config.max_connections:
            message = f"the server is at its limit of {self.config.max_connections} connections; try again later"
            try:
                await ws.send(p.error_message(p.TRY_AGAIN_LATER, message))
                await ws.close(p.TRY_AGAIN_LATER, "too many connections")
            except Exception:  # noqa: BLE001 - it left already
                pass
            self.metrics.errors.inc(label_value=str(p.TRY_AGAIN_LATER))
            return
        sock = ws.transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        conn: Connection | TtsConnection
        if urlsplit(ws.request.path).path == TTS_PATH:  # type: ignore[union-attr]
            conn = TtsConnection(ws, self.config, self.synthesizer, self._tts_lock, self.metrics)
        else:
            conn = Connection(ws, self.config, self.worker, self.pool, self.metrics)
        self.connections.add(conn)
        self._idle.clear()
        try:
            await conn.run()
        except Exception:  # a bug: log it, keep the others going
            log.exception("connection handler failed")
        finally:
            self.connections.discard(conn)
            if not self.connections:
                self._idle.set()

    async def drain(self, timeout: float | None = None) -> None:
        """Stops accepting, finishes every open stream (final results, `Done!`, close 1001) within
        `timeout` (config.drain_timeout_s), then closes whatever is left and stops the worker."""
        if self._server is None:
            return
        self.draining = True
        self._server.server.close()  # no new TCP connections; the open ones go on
        for conn in list(self.connections):
            conn.drain()
        try:
            await asyncio.wait_for(self._idle.wait(), self.config.drain_timeout_s if timeout is None else timeout)
        except asyncio.TimeoutError:
            log.warning("%d connections still open after the drain timeout; closing them", len(self.connections))
        self._server.close(close_connections=True, code=p.GOING_AWAY, reason="server shutting down")
        await self._server.wait_closed()
        await self.worker.stop()
        self._server = None

    async def serve_until(self, stop: asyncio.Event) -> None:
        await self.start()
        await stop.wait()
        await self.drain()
