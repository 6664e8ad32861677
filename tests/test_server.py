"""The websocket server in-process: results equal the Recognizer's on the same audio, both protocols, batching;
malformed traffic gets the right error and close code while a good client beside it is unaffected; hundreds
of abusive clients leave no streams and bounded memory; limits (connections, token, origin, idle, length);
/healthz and the page; TLS with the `client` command."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import ssl
import subprocess
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from asr_helpers import utterances
from test_server_helpers import ServerThread, finals, model_dir, reference_finals, rss_mb
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from speechstream.cli import main
from speechstream.server import ServerConfig
from speechstream.server.client import ClientError, stream_audio

MAX_BYTES = 64 * 1024


@pytest.fixture(scope="module")
def server():  # noqa: ANN201
    s = ServerThread(ServerConfig(port=0, max_message_bytes=MAX_BYTES))
    yield s
    s.stop()


@pytest.fixture(scope="module")
def audio() -> list[np.ndarray]:
    return utterances(np.random.default_rng(7), (16000 * 3, 16000 * 2, 16000 + 123))


async def exchange(url: str, messages: list[str | bytes], **kw) -> tuple[list[str], int | None]:  # noqa: ANN003
    """Sends `messages`, then reads until the server closes: (every message received, close code)."""
    got: list[str] = []

    async def send(ws) -> None:  # noqa: ANN001
        try:
            for m in messages:
                await ws.send(m)
        except ConnectionClosed:  # the server closed first: what it said is still read below
            pass

    async with connect(url, max_size=None, compression=None, **kw) as ws:
        sender = asyncio.create_task(send(ws))
        try:
            async for m in ws:
                got.append(m)
        except ConnectionClosed:
            pass
        await sender
    return got, ws.close_code


def results(got: list[str]) -> list[dict]:
    return [json.loads(m) for m in got if m.startswith("{") and '"text"' in m]


def f32(x: np.ndarray, step: int) -> list[bytes]:
    return [x[i:i + step].astype("<f4").tobytes() for i in range(0, len(x), step)]


def test_results_equal_the_recognizer_and_streams_are_batched(server: ServerThread, audio: list[np.ndarray]) -> None:
    async def go() -> list[tuple[list[str], int | None]]:
        steps = (777, 8000, 160)  # message sizes do not matter: chunks are cut from features
        return await asyncio.gather(*(exchange(server.url, [*f32(x, n), "Done"]) for x, n in zip(audio, steps)))

    before = server.health()
    for (got, code), x in zip(asyncio.run(go()), audio):
        assert code == 1000 and got[-1] == "Done!"
        res = results(got)
        assert set(res[0]) == {"text", "segment", "is_final", "start", "end", "tokens", "timestamps"}
        assert finals(res) == reference_finals(x, 16000) and any(finals(res))
        assert any(not r["is_final"] for r in res)  # partial results came first
        texts = [r["text"] for r in res if not r["is_final"]]
        assert all(a != b for a, b in zip(texts, texts[1:]))  # sent only when the text changes
    after = server.health()
    assert after["max_batch"] >= 2, "concurrent streams should share encoder calls"
    assert after["rounds"] - before["rounds"] < after["chunks"] - before["chunks"]
    assert (after["connections"], after["streams"]) == (0, 0)


def test_protocol_2_rate_format_lookahead_and_decoding(server: ServerThread, audio: list[np.ndarray]) -> None:
    import soxr

    x48 = soxr.resample(audio[0], 16000, 48000)
    pcm = np.clip(np.round(x48 * 32767), -32768, 32767).astype("<i2")
    config = {"sample_rate": 48000, "format": "s16le", "lookahead_ms": 320, "decoding": "ctc-beam"}
    messages = [json.dumps(config), *[pcm[i:i + 4800].tobytes() for i in range(0, len(pcm), 4800)], "Done"]
    got, code = asyncio.run(exchange(server.url, messages))
    assert code == 1000 and got[-1] == "Done!"
    ack = json.loads(got[0])["config"]
    assert ack["sample_rate"] == 48000 and ack["lookahead_ms"] == 320 and ack["decoding"] == "ctc-beam"
    assert ack["latency_ms"] > 320
    ref = reference_finals(pcm.astype(np.float32) / 32768, 48000, decoding="ctc-beam", lookahead_ms=320)
    assert finals(results(got)) == ref and any(ref)
    # ... and the other look-ahead gives another stream shape, not just the same answer again
    got80, _ = asyncio.run(exchange(server.url, [json.dumps({"lookahead_ms": 80}), *f32(audio[0], 4000), "Done"]))
    assert json.loads(got80[0])["config"]["lookahead_ms"] == 80
    assert finals(results(got80)) == reference_finals(audio[0], 16000, lookahead_ms=80)
    # a transducer method: a second Recognizer, loaded on first use and kept for the next streams
    for _ in range(2):
        messages = [json.dumps({"decoding": "rnnt-greedy"}), *f32(audio[2], 999), "Done"]
        got, _ = asyncio.run(exchange(server.url, messages))
        assert finals(results(got)) == reference_finals(audio[2], 16000, decoding="rnnt-greedy")


def test_one_log_line_per_connection(server: ServerThread, audio: list[np.ndarray],
                                     caplog: pytest.LogCaptureFixture) -> None:
    import logging
    import re
    import time

    def lines() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "speechstream.server"]

    with caplog.at_level(logging.INFO, logger="speechstream.server"):
        asyncio.run(exchange(server.url, [*f32(audio[2], 4000), "Done"]))
        asyncio.run(exchange(server.url, [json.dumps({"lookahead_ms": 80}), *f32(audio[2], 4000), "Done"]))
        asyncio.run(exchange(server.url, [b"\0" * 6]))
        deadline = time.monotonic() + 10
        while len([m for m in lines() if "close code" in m]) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    line = r"127\.0\.0\.1:\d+: protocol {}, \d+\.\d s, {} s of audio, close code {}"
    seconds = f"{len(audio[2]) / 16000:.2f}"
    summary = [m for m in lines() if "close code" in m]
    assert len(summary) == 3, lines()
    for expected in (line.format(1, seconds, 1000), line.format(2, seconds, 1000), line.format(1, "0.00", 1003)):
        assert any(re.fullmatch(expected, m) for m in summary), (expected, summary)
    assert any(m.startswith("closing 127.0.0.1:") and "1003" in m for m in lines())  # the error's own line


def test_no_empty_partial_result_opens_a_segment(audio: list[np.ndarray], tmp_path: Path) -> None:
    from asr_helpers import SYMBOLS

    from speechstream.asr.endpoint import EndpointConfig, EndpointRule
    from speechstream.asr.recognizer import Recognizer
    from speechstream.asr.tokenizer import write_tokens

    # The tiny model's first token is always "h": labelled as a special symbol, it leaves the text empty,
    # so every stream and many segments start with tokens but no text.
    d = tmp_path / "model"
    shutil.copytree(model_dir(), d)
    write_tokens(["<h>" if sym == "h" else sym for sym in SYMBOLS], str(d / "tokens.txt"))
    rule = EndpointRule(False, 0.0, 0.25)  # a segment every 0.25 s
    s = ServerThread(recognizer=Recognizer.from_dir(d, endpoint=EndpointConfig(rule, rule, rule)))
    try:
        got, code = asyncio.run(exchange(s.url, [*f32(audio[0], 4000), "Done"]))
    finally:
        s.stop()
    res = results(got)
    assert code == 1000 and sum(r["is_final"] for r in res) >= 8
    assert all(r["text"] for r in res if not r["is_final"])  # but no partial says "nothing yet"


def test_an_empty_stream_gets_one_empty_final_result(server: ServerThread) -> None:
    got, code = asyncio.run(exchange(server.url, ["Done"]))
    assert code == 1000 and got[-1] == "Done!" and finals(results(got)) == [""]


NAN = np.array([0.1, np.nan], "<f4").tobytes()
INF = np.array([np.inf, 0.0], "<f4").tobytes()
SECOND = np.zeros(16000, "<f4").tobytes()
MALFORMED = {  # name: (messages, close code, words of the error)
    "odd f32 byte count": ([b"\0" * 6], 1003, "not a whole number of f32le samples"),
    "odd s16 byte count": ([json.dumps({"format": "s16le"}), b"\0" * 3], 1003, "s16le"),
    "NaN samples": ([SECOND, NAN], 1003, "NaN"),
    "infinite samples": ([INF], 1003, "infinite"),
    "text where audio is expected": ([SECOND, "hello"], 1003, "unexpected text message"),
    "config after audio": ([SECOND, json.dumps({"sample_rate": 16000})], 1008, "first message"),
    "two configs": ([json.dumps({}), json.dumps({})], 1008, "first message"),
    "audio after Done": ([SECOND, "Done", SECOND], 1008, "after 'Done'"),
    "config not JSON": (["{sample_rate: 16000"], 1003, "not valid JSON"),
    "config not an object": (["[1, 2]"], 1003, "unexpected text message"),  # only '{' starts a config
    "bad sample rate": ([json.dumps({"sample_rate": 100})], 1003, "sample_rate"),
    "bad format": ([json.dumps({"format": "mp3"})], 1003, "format must be one of"),
    "unknown key": ([json.dumps({"rate": 16000})], 1003, "unknown configuration keys"),
    "bad decoding": ([json.dumps({"decoding": "viterbi"})], 1003, "decoding must be one of"),
    "look-ahead the model lacks": ([json.dumps({"lookahead_ms": 5})], 1003, "no look-ahead"),
    "oversize frame": ([bytes(MAX_BYTES + 4)], 1009, ""),
}


def test_malformed_traffic_is_refused_while_a_good_client_goes_on(server: ServerThread,
                                                                  audio: list[np.ndarray]) -> None:
    async def bad(messages: list[str | bytes]) -> tuple[list[str], int | None]:
        return await exchange(server.url, messages)

    async def abrupt() -> None:  # mid-utterance, no close handshake
        ws = await connect(server.url)
        for m in f32(audio[1], 4000):
            await ws.send(m)
        ws.transport.abort()

    async def good() -> list[dict]:  # real-time pace: it is mid-stream while the others misbehave
        return [r async for r in stream_audio(server.url, audio[0], 16000, realtime=True, chunk_ms=100)]

    async def both():  # noqa: ANN202
        return await asyncio.gather(good(), *(bad(m) for m, _, _ in MALFORMED.values()), abrupt(), abrupt())

    ok, *outcomes = asyncio.run(both())
    assert finals(ok) == reference_finals(audio[0], 16000)
    for (case, (_, code, words)), (got, closed) in zip(MALFORMED.items(), outcomes[:len(MALFORMED)]):
        assert closed == code, case
        if code != 1009:  # websockets refuses an oversize frame itself, with the reason in the close frame
            error = json.loads(got[-1])
            assert error["code"] == code and words in error["error"], (case, error)
    _wait_empty(server)


def _wait_empty(server: ServerThread, timeout: float = 10.0) -> dict:
    import time

    end = time.monotonic() + timeout
    while True:
        h = server.health()
        if (h["connections"], h["streams"]) == (0, 0) or time.monotonic() > end:
            return h
        time.sleep(0.05)


def test_hundreds_of_abusive_clients_leave_no_streams_and_bounded_memory(server: ServerThread,
                                                                         audio: list[np.ndarray]) -> None:
    host, port = server.url.split("//")[1].split(":")
    chunks = f32(audio[2], 1600)

    async def abuse(kind: int) -> None:
        try:
            if kind == 5:  # not even a websocket: half a request, then gone
                reader, writer = await asyncio.open_connection(host, int(port))
                writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: webs")
                await writer.drain()
                writer.close()
                return
            ws = await connect(server.url, compression=None)
            if kind == 0:
                await ws.close()
            elif kind == 1:  # audio, then the TCP connection just drops
                for c in chunks[:3]:
                    await ws.send(c)
                ws.transport.abort()
            elif kind == 2:  # garbage text, reads its error
                await ws.send("garbage")
                await ws.wait_closed()
            elif kind == 3:  # garbage bytes, leaves without reading
                await ws.send(b"\x01\x02\x03")
                ws.transport.abort()
            else:  # a configured stream left mid-utterance with a clean close
                await ws.send(json.dumps({"sample_rate": 16000}))
                for c in chunks:
                    await ws.send(c)
                await ws.close()
        except (ConnectionClosed, OSError):
            pass

    async def wave(n: int, start: int) -> None:
        for i in range(start, start + n, 50):
            await asyncio.gather(*(abuse(k % 6) for k in range(i, min(i + 50, start + n))))

    asyncio.run(wave(60, 0))  # warm-up: allocator pools, logging, caches
    assert _wait_empty(server)["streams"] == 0
    base = rss_mb()
    asyncio.run(wave(300, 60))
    h = _wait_empty(server)
    assert (h["connections"], h["streams"]) == (0, 0), h
    grown = rss_mb() - base
    assert grown < 40, f"RSS grew {grown:.1f} MB over 300 abusive clients"
    got, code = asyncio.run(exchange(server.url, [*f32(audio[1], 3000), "Done"]))
    assert code == 1000 and finals(results(got)) == reference_finals(audio[1], 16000)


def test_healthz_and_the_page(server: ServerThread) -> None:
    h = server.health()
    assert {"status", "connections", "streams", "rounds", "chunks", "max_batch"} <= set(h) and h["status"] == "ok"
    assert h["model"] == model_dir().name  # the page shows it
    with urllib.request.urlopen(server.http + "/") as r:
        page = r.read().decode()
        assert r.headers["Content-Type"].startswith("text/html") and "Content-Security-Policy" in r.headers
    assert 'id="toggle"' in page and "app.js" in page
    for name, needle in (("app.js", "new WebSocket"), ("worklet.js", "registerProcessor")):
        with urllib.request.urlopen(f"{server.http}/{name}") as r:
            assert r.headers["Content-Type"].startswith("text/javascript") and needle in r.read().decode()
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(server.http + "/../config.py")
    assert e.value.code == 404


def test_max_connections_are_refused_with_1013() -> None:
    s = ServerThread(ServerConfig(port=0, max_connections=2))
    try:
        async def go() -> None:
            a, b = await connect(s.url), await connect(s.url)
            await a.send(SECOND)
            got, code = await exchange(s.url, [])
            assert code == 1013 and json.loads(got[0])["code"] == 1013 and "try again later" in got[0]
            assert s.health()["connections"] == 2
            await a.close()
            await asyncio.sleep(0.1)
            got, code = await exchange(s.url, ["Done"])  # room again
            assert code == 1000 and got[-1] == "Done!"
            await b.close()

        asyncio.run(go())
    finally:
        s.stop()


def test_token_origin_idle_and_length_limits(audio: list[np.ndarray]) -> None:
    token = "s3cret"
    s = ServerThread(ServerConfig(port=0, token=token, allow_origins=("https://allowed.example",),
                                  idle_timeout_s=0.5, max_utterance_s=1.0))
    auth = {"Authorization": f"Bearer {token}"}
    try:
        async def status(url: str, headers: dict | None = None, origin: str | None = None) -> int:
            try:
                async with connect(url, additional_headers=headers, origin=origin):
                    return 101
            except InvalidStatus as e:
                return e.response.status_code

        async def go() -> None:
            assert await status(s.url) == 401
            assert await status(s.url, {"Authorization": "Bearer wrong"}) == 401
            assert await status(s.url + "/?token=wrong") == 401
            assert await status(s.url, auth) == 101
            assert await status(s.url + f"/?token={token}") == 101  # what the browser page does
            assert await status(s.url, auth, origin="https://evil.example") == 403
            assert await status(s.url, auth, origin="https://allowed.example") == 101
            assert await status(s.url, auth, origin=s.http) == 101  # the page's own origin
            got, code = await exchange(s.url, [], additional_headers=auth)  # says nothing: idle
            assert code == 1008 and "idle" in json.loads(got[-1])["error"]
            got, code = await exchange(s.url, f32(audio[0], 4000), additional_headers=auth)
            assert code == 1008 and "--max-utterance-s" in json.loads(got[-1])["error"]
            short = audio[2][:12000]  # within --max-utterance-s
            with pytest.raises(ClientError, match="401"):
                [m async for m in stream_audio(s.url, short, 16000, realtime=False)]
            ok = [m async for m in stream_audio(s.url, short, 16000, realtime=False, token=token)]
            assert finals(ok) == reference_finals(short, 16000)

        asyncio.run(go())
        assert s.health()["connections"] == 0
    finally:
        s.stop()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_tls_and_the_client_command(tmp_path: Path, audio: list[np.ndarray],
                                    capsys: pytest.CaptureFixture[str]) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    wav = tmp_path / "a.wav"
    sf.write(wav, audio[1], 16000, subtype="FLOAT")
    s = ServerThread(ServerConfig(port=0, certfile=str(cert), keyfile=str(key)))
    try:
        assert s.url.startswith("wss://")
        context = ssl.create_default_context(cafile=str(cert))
        with urllib.request.urlopen(s.http + "/healthz", context=context) as r:
            assert json.loads(r.read())["status"] == "ok"
        assert main(["client", str(wav), "--url", s.url, "--cafile", str(cert), "--no-realtime", "--json"]) == 0
        messages = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert finals(messages) == reference_finals(audio[1], 16000)
        assert main(["client", str(wav), "--url", s.url, "--cafile", str(cert), "--no-realtime"]) == 0
        out = capsys.readouterr().out.splitlines()
        assert [line.split("] ", 1)[1] for line in out] == [t for t in finals(messages) if t]
        # a certificate the client does not trust: a one-line error
        assert main(["client", str(wav), "--url", s.url, "--no-realtime"]) == 2
        assert "certificate" in capsys.readouterr().err.lower()
    finally:
        s.stop()


def test_the_server_refuses_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["serve", "--model", str(model_dir())]
    assert main([*base, "--certfile", "x.pem"]) == 2
    assert "--certfile and --keyfile" in capsys.readouterr().err
    assert main([*base, "--lookahead-ms", "5"]) == 2
    assert "no look-ahead" in capsys.readouterr().err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        assert main([*base, "--port", str(busy.getsockname()[1])]) == 2
        assert "cannot serve" in capsys.readouterr().err
