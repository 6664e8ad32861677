"""What one hostile or careless client can cost the server, and that it cannot cost the others more:
a deeply nested configuration is a 1003 like any bad one; a client pushing audio faster than it is decoded is
held back by TCP once --max-backlog-s ahead; a client that does not read its results gets 1008 and loses the
connection if it never reads; a backlogged stream gets one chunk a round like a real-time one; without a token
the Host header must name this server (DNS rebinding)."""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import socket
import threading
import time

import numpy as np
import pytest
from asr_helpers import NEVER, utterances
from test_server import exchange, f32, results
from test_server_helpers import ServerThread, finals, model_dir, reference_finals
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from speechstream.asr.recognizer import Recognizer
from speechstream.server import ServerConfig
from speechstream.server.client import stream_audio
from speechstream.server.routes import host_allowed


@pytest.fixture(scope="module")
def audio() -> list[np.ndarray]:
    return utterances(np.random.default_rng(21), (16000 * 3, 16000 * 40))


def _until(condition, timeout: float = 20.0) -> None:  # noqa: ANN001
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)


def test_a_deeply_nested_config_is_a_1003_like_any_bad_config(caplog: pytest.LogCaptureFixture) -> None:
    s = ServerThread()  # the default --max-message-bytes (1 MiB): the message fits
    nested = '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}"  # 200 kB
    try:
        with caplog.at_level(logging.INFO):
            got, code = asyncio.run(exchange(s.url, [nested, "Done"]))
            ok, ok_code = asyncio.run(exchange(s.url, ["Done"]))
    finally:
        s.stop()
    assert code == 1003 and "nested too deeply" in json.loads(got[-1])["error"], got[-1:]
    assert "Done!" not in got
    assert not [r for r in caplog.records if r.exc_info], "no traceback for a client's mistake"
    assert ok_code == 1000 and ok[-1] == "Done!"


class GatedRecognizer(Recognizer):
    """Decodes only while `gate` is set: a decoder that has fallen behind, on demand."""

    def __init__(self, *args, **kw) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kw)
        self.gate = threading.Event()

    def decode_streams(self, streams) -> None:  # noqa: ANN001
        self.gate.wait()
        super().decode_streams(streams)


def test_a_client_ahead_of_its_decoder_is_held_back_then_finishes(audio: list[np.ndarray]) -> None:
    rec = GatedRecognizer(model_dir())
    s = ServerThread(ServerConfig(port=0, max_backlog_s=2.0), recognizer=rec)
    x = audio[1]  # 40 s, sent in 0.1 s messages as fast as TCP takes them
    try:
        async def go() -> tuple[list[str], int | None, float]:
            task = asyncio.create_task(exchange(s.url, [*f32(x, 1600), "Done"]))
            received = []  # what the server has read, polled until it stops growing
            while len(received) < 15 or received[-1] != received[-15]:
                await asyncio.sleep(0.05)
                received.append(sum(c.seconds_in for c in s.server.connections))
            held = received[-1]
            rec.gate.set()
            got, code = await task
            return got, code, held

        got, code, held = asyncio.run(go())
    finally:
        rec.gate.set()
        s.stop()
    assert 2.0 < held <= 2.0 + 0.1 + 1e-6, f"read {held:.2f} s of 40 s while the decoder was stopped"
    assert s.server.metrics.paused.value() >= 1
    assert code == 1000 and finals(results(got)) == reference_finals(x, 16000)


def _small_buffer_socket(url: str) -> socket.socket:
    host, port = url.split("//")[1].split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small TCP window
    sock.connect((host, int(port)))
    return sock


def test_a_client_that_does_not_read_its_results_gets_1008(audio: list[np.ndarray],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from speechstream.server import connection

    monkeypatch.setattr(connection, "CLOSE_GRACE_S", 1.0)
    # One segment per stream: every partial result repeats the segment's tokens, so results grow, and 60 s of
    # them outgrow what the sockets hold (the server's send buffer is SEND_BUFFER, the client's window small).
    rec = Recognizer.from_dir(model_dir(), endpoint=NEVER)
    s = ServerThread(ServerConfig(port=0, max_queued_results=3, idle_timeout_s=0), recognizer=rec)
    errors = s.server.metrics.errors
    x = np.tile(audio[1], 2)[:16000 * 60]
    try:
        async def stops_reading_then_reads() -> tuple[list[str], int | None]:
            ws = await connect(s.url, sock=_small_buffer_socket(s.url), max_queue=1, compression=None)
            for m in f32(x, 1600):
                await ws.send(m)
            while errors.value("1008") < 1:
                await asyncio.sleep(0.02)
            got = []
            try:
                async for m in ws:
                    got.append(m)
            except ConnectionClosed:
                pass
            return got, ws.close_code

        got, code = asyncio.run(asyncio.wait_for(stops_reading_then_reads(), 60))
        assert code == 1008 and "does not read" in json.loads(got[-1])["error"]
        assert len(results(got)) > 3  # what the socket held before the limit

        async def never_reads() -> None:
            ws = await connect(s.url, sock=_small_buffer_socket(s.url), max_queue=1, compression=None)
            for m in f32(x, 1600):
                await ws.send(m)
            await asyncio.sleep(3600)  # holds the connection open until the server drops it

        task = threading.Thread(target=asyncio.run, args=(never_reads(),), daemon=True)
        task.start()
        _until(lambda: errors.value("1008") >= 2)
        _until(lambda: not s.server.connections, timeout=10)  # dropped after CLOSE_GRACE_S
        assert s.health()["streams"] == 0
    finally:
        s.stop()


class RoundLog(Recognizer):
    """Records, for every encoder round (decode_streams call), the samples fed to each stream since its
    previous round: the work one round does for one stream. A round also costs 5 ms more, as with a real
    model: the tiny one would decode the backlog before the real-time stream has begun."""

    def __init__(self, *args, **kw) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kw)
        self.rounds: list[dict[int, int]] = []
        self._fed: dict[int, int] = {}

    def create_stream(self, lookahead_ms: float | None = None):  # noqa: ANN201
        stream = super().create_stream(lookahead_ms)
        accept = stream.accept_waveform

        def counting(rate: int, x: np.ndarray) -> None:
            self._fed[id(stream)] = self._fed.get(id(stream), 0) + len(x)
            accept(rate, x)

        stream.accept_waveform = counting
        return stream

    def decode_streams(self, streams) -> None:  # noqa: ANN001
        streams = list(streams)
        self.rounds.append({id(s): self._fed.pop(id(s), 0) for s in streams})
        time.sleep(0.005)
        super().decode_streams(streams)


def test_a_backlogged_stream_does_not_delay_a_real_time_one(audio: list[np.ndarray]) -> None:
    rec = RoundLog(model_dir())
    s = ServerThread(ServerConfig(port=0), recognizer=rec)
    realtime, backlog = audio
    try:
        async def go() -> tuple[list[dict], tuple[list[str], int | None], float]:
            flood = asyncio.create_task(exchange(s.url, [*f32(backlog, 16000), "Done"]))  # 40 s at once
            while not s.server.worker.sessions:
                await asyncio.sleep(0.01)
            worst, sent = 0.0, time.monotonic()
            got = []
            async for r in stream_audio(s.url, realtime, 16000, realtime=True, chunk_ms=100):
                got.append(r)  # result end (audio seconds) vs the time that audio had been sent by
                worst = max(worst, time.monotonic() - sent - r["end"])
            return got, await flood, worst

        got, (flood_got, flood_code), worst = asyncio.run(go())
    finally:
        s.stop()
    assert finals(got) == reference_finals(realtime, 16000)
    assert flood_code == 1000 and finals(results(flood_got)) == reference_finals(backlog, 16000)
    both = [r for r in rec.rounds if len(r) == 2]
    assert len(both) > 10, "the two streams should have shared rounds"
    # A round's work for one stream is one chunk: at most a chunk of new audio (80 ms here) plus what a
    # partial piece left short, never the backlog. (The old worker fed a stream all its queued audio.)
    most = max(max(r.values()) for r in rec.rounds) / 16000
    assert most <= 0.25, f"a round fed one stream {most:.2f} s of audio"
    print(f"real-time stream beside a 40 s backlog: worst result delay {worst:.2f} s (wall clock, not asserted)")


def test_without_a_token_the_host_header_must_name_this_server() -> None:
    s = ServerThread(ServerConfig(port=0, allow_hosts=("speech.example",)))
    port = s.server.port

    def status(path: str, host: str, websocket: bool = False, origin: str | None = None) -> int:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        headers = {"Host": host}
        if websocket:
            headers |= {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
                        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
        if origin:
            headers["Origin"] = origin
        c.request("GET", path, headers=headers)
        code = c.getresponse().status
        c.close()
        return code

    try:
        evil = f"evil.example:{port}"
        assert status("/", evil, websocket=True, origin=f"http://{evil}") == 403  # DNS rebinding
        for path in ("/", "/healthz", "/metrics", "/app.js"):
            assert status(path, evil) == 403, path
        for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", f"speech.example:{port}",
                     "LOCALHOST", "app.localhost"):
            assert status("/", host) == 200, host
            assert status("/", host, websocket=True, origin=f"http://{host}") == 101, host
    finally:
        s.stop()
    t = ServerThread(ServerConfig(port=0, token="t0k"))  # the token does that job
    try:
        c = http.client.HTTPConnection("127.0.0.1", t.server.port, timeout=10)
        c.request("GET", "/", headers={"Host": "evil.example"})
        assert c.getresponse().status == 200
    finally:
        t.stop()


def test_host_names() -> None:
    assert host_allowed("127.0.0.1:6006", "127.0.0.1", ())
    assert host_allowed("10.1.2.3:6006", "0.0.0.0", ())  # an address is its own origin: no rebinding
    assert host_allowed("[fe80::1]:80", "::", ())
    assert host_allowed("Box.LAN.:6006", "box.lan", ())  # the bound name, any case, trailing dot
    assert host_allowed("anything:1", "127.0.0.1", ("*",))
    assert not host_allowed("box.lan:6006", "0.0.0.0", ())
    assert not host_allowed("", "127.0.0.1", ())
    assert not host_allowed("localhost.evil.example", "127.0.0.1", ())
    assert not host_allowed("127.0.0.1.evil.example", "127.0.0.1", ())
