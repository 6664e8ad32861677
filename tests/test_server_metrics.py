"""GET /metrics (Prometheus text format), /healthz and /readyz: the text parses with a small parser written here
(not the server's), and its counters move as a client streams real speech; with --token, /metrics needs it."""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from test_server import exchange, f32
from test_server_helpers import ServerThread, finals, reference_finals

from speechstream.audio import read_audio
from speechstream.server import ServerConfig
from speechstream.server.client import stream_audio
from speechstream.server.routes import make_process_request

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "hello.wav"
LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\})? (\S+)$')


def parse(text: str) -> tuple[dict[tuple[str, str], float], dict[str, str]]:
    """Prometheus text format -> ({(sample name, 'label=value' or ''): value}, {metric: type}). Checks that
    every sample follows its metric's TYPE line and that histogram buckets are cumulative and end at +Inf."""
    samples: dict[tuple[str, str], float] = {}
    types: dict[str, str] = {}
    current = None
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge", "histogram") and name not in types
            types[name], current = kind, name
            continue
        m = LINE.match(line)
        assert m, f"not a sample line: {line!r}"
        name, _, label, value, number = m.groups()
        assert current is not None and name.startswith(current), (line, current)
        samples[(name, f"{label}={value}" if label else "")] = float(number)  # float() reads +Inf
    for name, kind in types.items():
        if kind == "histogram":
            buckets = [(k[1], v) for k, v in samples.items() if k[0] == name + "_bucket"]
            counts = [v for _, v in buckets]
            assert counts == sorted(counts) and buckets[-1][0] == "le=+Inf"
            assert counts[-1] == samples[(name + "_count", "")]
    return samples, types


def scrape(server: ServerThread, token: str | None = None) -> dict[tuple[str, str], float]:
    request = urllib.request.Request(server.http + "/metrics")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as r:
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return parse(r.read().decode())[0]


def status(url: str, headers: dict | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


@pytest.fixture(scope="module")
def server():  # noqa: ANN201
    s = ServerThread(ServerConfig(port=0, max_message_bytes=64 * 1024))
    yield s
    s.stop()


def test_metrics_move_as_a_client_streams_speech(server: ServerThread) -> None:
    x, _ = read_audio(str(SAMPLE), sample_rate=16000)
    before = scrape(server)
    assert before[("speechstream_connections", "")] == 0 and before[("speechstream_streams", "")] == 0

    async def go() -> tuple[list[dict], dict]:
        got, during = [], {}
        async for r in stream_audio(server.url, x, 16000, realtime=False, chunk_ms=100):
            got.append(r)
            if not during:
                during = await asyncio.to_thread(scrape, server)  # mid-stream
        return got, during

    got, during = asyncio.run(go())
    assert finals(got) == reference_finals(x, 16000)
    assert during[("speechstream_connections", "")] == 1 and during[("speechstream_streams", "")] == 1
    after = scrape(server)

    def moved(name: str, label: str = "") -> float:
        return after.get((name, label), 0.0) - before.get((name, label), 0.0)

    seconds = len(x) / 16000
    assert moved("speechstream_audio_received_seconds_total") == pytest.approx(seconds, abs=1e-6)
    decoded = moved("speechstream_audio_decoded_seconds_total")  # whole encoder frames, the last one partial
    assert seconds - 0.1 <= decoded <= seconds + 0.1
    calls = moved("speechstream_decode_batch_size_count")
    chunks = moved("speechstream_decode_batch_size_sum")
    assert calls >= 1 and chunks == calls  # one stream: every encoder call had batch 1
    assert moved("speechstream_decode_batch_size_bucket", "le=1") == calls
    assert moved("speechstream_queue_delay_seconds_count") == chunks  # one observation per chunk decoded
    assert moved("speechstream_result_delay_seconds_count") == len(got)  # one per result sent
    assert moved("speechstream_result_delay_seconds_sum") >= 0
    assert after[("speechstream_connections", "")] == 0


def test_errors_are_counted_by_close_code(server: ServerThread) -> None:
    before = scrape(server)
    asyncio.run(exchange(server.url, [b"\0" * 6]))  # 1003
    asyncio.run(exchange(server.url, [bytes(64 * 1024 + 4)]))  # 1009, closed by websockets itself
    asyncio.run(exchange(server.url, [*f32(np.zeros(16000, np.float32), 1600), "Done"]))  # 1000: no error
    keys = [("speechstream_errors_total", f"code={code}") for code in ("1003", "1009")]
    end = time.monotonic() + 10  # a connection is counted when its handler ends, just after the client's close
    while any(key not in (after := scrape(server)) for key in keys) and time.monotonic() < end:
        time.sleep(0.05)
    for key in keys:
        assert after.get(key, 0.0) - before.get(key, 0.0) == 1, key
    assert ("speechstream_errors_total", "code=1000") not in after


def test_healthz_readyz_and_the_token() -> None:
    token = "s3cret"
    s = ServerThread(ServerConfig(port=0, token=token))
    try:
        assert status(s.http + "/metrics") == 401
        assert status(s.http + "/metrics", {"Authorization": "Bearer wrong"}) == 401
        assert status(s.http + "/metrics", {"Authorization": f"Bearer {token}"}) == 200
        assert status(s.http + f"/metrics?token={token}") == 200
        assert scrape(s, token)[("speechstream_connections", "")] == 0
        assert status(s.http + "/healthz") == 200 and status(s.http + "/readyz") == 200  # probes need no token
        assert s.server.ready
        s.server.draining = True  # what drain() sets first; the listener closes right after
        try:
            assert status(s.http + "/readyz") == 503
            assert status(s.http + "/healthz") == 200 and s.health()["status"] == "draining"
        finally:
            s.server.draining = False
    finally:
        s.stop()
    assert not s.server.ready


def test_readyz_answers_503_until_ready() -> None:
    process = make_process_request(ServerConfig(), lambda: {}, ready=lambda: False)
    from websockets.datastructures import Headers
    from websockets.http11 import Request

    r = process(None, Request("/readyz", Headers([("Host", "127.0.0.1:6006")])))  # type: ignore[arg-type]
    assert r is not None and r.status_code == 503


def test_the_metric_text_format_itself() -> None:
    from speechstream.server.metrics import Counter, Histogram, ServerMetrics

    m = ServerMetrics(connections=lambda: 3)
    m.errors.inc(label_value="1008")
    m.queue_delay.observe(0.02)
    m.queue_delay.observe(100.0)
    samples, types = parse(m.render())
    assert types["speechstream_errors_total"] == "counter" and types["speechstream_connections"] == "gauge"
    assert samples[("speechstream_connections", "")] == 3
    assert samples[("speechstream_errors_total", "code=1008")] == 1
    assert samples[("speechstream_queue_delay_seconds_bucket", "le=0.01")] == 0
    assert samples[("speechstream_queue_delay_seconds_bucket", "le=0.025")] == 1
    assert samples[("speechstream_queue_delay_seconds_bucket", "le=+Inf")] == 2
    assert samples[("speechstream_queue_delay_seconds_sum", "")] == pytest.approx(100.02)
    c = Counter("x_total", "help", label="code")
    c.inc(label_value='a"b\\c')
    assert list(c.samples()) == ['x_total{code="a\\"b\\\\c"} 1']
    with pytest.raises(ValueError):
        c.inc(-1)
    h = Histogram("h", "help", (1, 2))
    assert math.isclose(h.count, 0)
    assert json.dumps(list(h.samples()))  # no observations: zeros, not an error
