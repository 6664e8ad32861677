"""`speechstream serve --workers 2`: two processes accept on one port; real clients stream real audio at its
real-time pace and land on both; a worker that is stopped mid-stream ends its own clients cleanly (SIGTERM: final
results for the audio it read, `Done!`, close 1001; SIGKILL: the connections end at once, no hang) while the
other worker's clients lose nothing; the supervisor starts a new worker that serves new connections; SIGTERM to
the supervisor drains every worker and it exits 0. A model directory that cannot load stops it with one error,
and so does a worker that keeps dying before it listens."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf
from serve_process import REPO, ServeProcess, connection_owner, die_before_ready, paced_stream
from test_server_helpers import model_dir, reference_finals
from websockets.asyncio.client import ClientConnection, connect

from speechstream.errors import SpeechstreamError
from speechstream.server.supervisor import Supervisor, SupervisorConfig

RATE = 16000


def hello() -> np.ndarray:
    x, rate = sf.read(REPO / "samples" / "hello.wav", dtype="float32")
    assert rate == RATE
    return x


def test_two_workers_share_a_port_and_one_that_dies_is_replaced() -> None:
    x = hello()
    serve = ServeProcess("--model", str(model_dir()), "--port", "0", "--workers", "2")
    try:
        m = serve.wait_for(r"listening on (ws://\S+) with 2 workers \(pids (\d+), (\d+)\)", 90)
        url, pids = m.group(1), [int(m.group(2)), int(m.group(3))]
        pids = asyncio.run(_stop_one_mid_stream(serve, url, pids, pids[0], signal.SIGTERM, x))
        pids = asyncio.run(_stop_one_mid_stream(serve, url, pids, pids[1], signal.SIGKILL, x))

        async def one_stream_open() -> tuple[ClientConnection, asyncio.Task]:
            ws = await connect(url)
            return ws, asyncio.create_task(paced_stream(ws, x))

        async def sigterm_during_a_stream() -> None:
            streams = [await one_stream_open() for _ in range(2)]
            await asyncio.sleep(1.0)
            serve.proc.send_signal(signal.SIGTERM)
            for _, task in streams:
                out = await asyncio.wait_for(task, 30)
                assert out.done and out.close_code == 1001, out

        asyncio.run(sigterm_during_a_stream())
        assert serve.proc.wait(30) == 0
        serve.wait_for(r"^speechstream serve: stopped$", 5)
        assert "Traceback" not in serve.output, serve.output
    finally:
        serve.stop()


async def _stop_one_mid_stream(serve: ServeProcess, url: str, pids: list[int], victim: int, sig: int,
                               x: np.ndarray) -> list[int]:
    """Streams `x` from clients on both workers, sends `sig` to `victim` 1.5 s in, checks every client, waits for
    the supervisor's replacement and streams through it; returns the pids now serving."""
    port = int(url.rsplit(":", 1)[1])
    clients = await _clients_on_each(url, port, pids, 2)
    mark = len(serve.lines)
    tasks = [asyncio.create_task(paced_stream(ws, x)) for ws, _ in clients]
    await asyncio.sleep(1.5)
    stopped_at = time.monotonic()
    os.kill(victim, sig)
    outcomes = await asyncio.wait_for(asyncio.gather(*tasks), 30)
    reference = reference_finals(x, RATE)
    for (ws, pid), out in zip(clients, outcomes):
        if pid != victim:
            assert out.done and out.close_code == 1000 and out.finals() == reference, out
            continue
        assert out.closed_at - stopped_at < 5, "a client of the stopped worker hung"
        if sig == signal.SIGTERM:  # drained: the final results of the audio it had read
            assert out.done and out.close_code == 1001 and out.clean, out
            line = serve.wait_for(rf"serve\[{victim}\]: 127\.0\.0\.1:{ws.local_address[1]}: .* ([\d.]+) s of audio", 5)
            read = round(float(line.group(1)) * RATE)
            assert 0 < read < len(x) and out.finals() == reference_finals(x[:read], RATE), out
        else:  # the TCP connection ends with the process
            assert not out.done and not out.clean, out

    died = serve.wait_for(rf"worker (\d) \(pid {victim}\) (exited with code 0|was killed by SIGKILL) after "
                          rf"[\d.]+ s; restarting it in [\d.]+ s", 10, mark)
    new = int(serve.wait_for(rf"worker {died.group(1)} \(pid (\d+)\) listening on", 90, mark).group(1))
    assert new not in pids
    pids = [new if p == victim else p for p in pids]
    ((ws, _),) = await _clients_on_each(url, port, [new], 1, others=pids)
    out = await paced_stream(ws, x[:RATE])
    assert out.done and out.close_code == 1000 and out.finals() == reference_finals(x[:RATE], RATE)
    return pids


async def _clients_on_each(url: str, port: int, pids: list[int], n: int, others: list[int] | None = None,
                           tries: int = 40) -> list[tuple[ClientConnection, int]]:
    """Opens connections until each of `pids` holds `n` of them (Linux picks the worker by a hash of the
    connection's ports); those that land on one of `others` beyond that are closed again."""
    kept: list[tuple[ClientConnection, int]] = []
    for _ in range(tries):
        if all(sum(p == pid for _, p in kept) >= n for pid in pids):
            return kept
        ws = await connect(url)
        owner = connection_owner(others or pids, port, ws.local_address[1])
        assert owner is not None, "no worker holds the connection"
        if owner in pids:
            kept.append((ws, owner))
        else:
            await ws.close()
    raise AssertionError(f"{tries} connections did not reach every worker: {[p for _, p in kept]}")


def test_a_model_that_cannot_load_stops_every_worker_with_one_error(tmp_path) -> None:  # noqa: ANN001
    start = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "speechstream", "serve", "--model", str(tmp_path / "missing"),
                        "--port", "0", "--workers", "3"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert p.returncode == 2, p.stderr
    errors = [line for line in p.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and re.search(r"model directory not found: .*missing", errors[0]), p.stderr
    assert "Traceback" not in p.stderr and time.monotonic() - start < 30


def test_a_worker_that_keeps_dying_before_it_listens_stops_the_supervisor() -> None:
    supervisor = Supervisor(die_before_ready, 3, SupervisorConfig(workers=2, backoff_s=0.05))
    with pytest.raises(SpeechstreamError, match="died 3 times in a row before it was ready"):
        supervisor.run()
    assert all(slot.process is None for slot in supervisor.slots)  # none left behind
