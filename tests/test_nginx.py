"""nginx in front of two `speechstream serve` processes (scripts/nginx/run.sh, as the current user, everything in
a temp folder): websocket clients streaming real audio at its real-time pace through nginx are spread by
least_conn; one server is killed mid-stream: its clients' connections end at once (no hang), the other server's
clients get exactly the transcript of the audio run offline, and new connections go to the survivor."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from serve_process import REPO, ServeProcess, paced_stream
from test_server_helpers import free_port, model_dir, reference_finals
from test_server_workers import RATE, hello
from websockets.asyncio.client import ClientConnection, connect

NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)
pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (bash scripts/setup.sh --dev "
                                                      "installs Debian's nginx-light)")


def test_nginx_spreads_streams_and_a_dead_server_costs_only_its_own_clients(tmp_path: Path) -> None:
    x = hello()
    servers = [ServeProcess("--model", str(model_dir()), "--port", "0") for _ in range(2)]
    nginx: subprocess.Popen | None = None
    log = tmp_path / "nginx.out"
    try:
        ports = [int(s.wait_for(r"listening on ws://127\.0\.0\.1:(\d+)", 90).group(1)) for s in servers]
        listen = free_port()
        with open(log, "w") as out:
            nginx = subprocess.Popen(["bash", "scripts/nginx/run.sh", str(listen), *map(str, ports)], cwd=REPO,
                                     env={**os.environ, "NGINX_DIR": str(tmp_path / "nginx")}, stdout=out,
                                     stderr=subprocess.STDOUT)
        front = f"127.0.0.1:{listen}"
        _wait_until_up(f"http://{front}/healthz", nginx, log)
        asyncio.run(_kill_one_mid_stream(f"ws://{front}", servers, ports, x))
        nginx.terminate()
        assert nginx.wait(10) == 0, log.read_text()
        errors = (tmp_path / "nginx" / "error.log").read_text()
        assert f"127.0.0.1:{ports[0]}" in errors  # nginx saw the dead server (and said so)
    finally:
        if nginx is not None and nginx.poll() is None:
            nginx.kill()
            nginx.wait()
        for s in servers:
            s.stop()


async def _kill_one_mid_stream(front: str, servers: list[ServeProcess], ports: list[int], x: np.ndarray) -> None:
    clients = [await _open(front, ports) for _ in range(4)]
    assert sorted(port for _, port in clients) == sorted(ports * 2), "least_conn: to the emptier server"
    tasks = [asyncio.create_task(paced_stream(ws, x)) for ws, _ in clients]
    await asyncio.sleep(1.5)
    killed_at = time.monotonic()
    servers[0].proc.kill()
    outcomes = await asyncio.wait_for(asyncio.gather(*tasks), 30)
    reference = reference_finals(x, RATE)
    for (_, port), out in zip(clients, outcomes):
        if port == ports[0]:  # nginx closes the client's side when its server's side ends
            assert not out.done and out.closed_at - killed_at < 5, out
        else:
            assert out.done and out.close_code == 1000 and out.finals() == reference, out

    second = x[:RATE]
    late = [await _open(front, ports[1:]) for _ in range(3)]  # asks the survivor only: the other is gone
    assert [port for _, port in late] == [ports[1]] * 3
    outcomes = await asyncio.wait_for(asyncio.gather(*(paced_stream(ws, second) for ws, _ in late)), 30)
    for out in outcomes:
        assert out.done and out.close_code == 1000 and out.finals() == reference_finals(second, RATE), out


async def _open(front: str, ports: list[int]) -> tuple[ClientConnection, int]:
    """A websocket through nginx, and the port of the server that took it: the one of `ports` whose /healthz
    connection count went up."""
    before = [_health(p)["connections"] for p in ports]
    ws = await connect(front)
    end = time.monotonic() + 5
    while time.monotonic() < end:
        now = [_health(p)["connections"] for p in ports]
        grew = [i for i, (a, b) in enumerate(zip(before, now)) if b > a]
        if grew:
            assert len(grew) == 1, (before, now)
            return ws, ports[grew[0]]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no server counts the new connection: {before}")


def _health(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
        return json.loads(r.read())


def _wait_until_up(url: str, nginx: subprocess.Popen, log: Path) -> None:
    end = time.monotonic() + 20
    while time.monotonic() < end:
        assert nginx.poll() is None, f"nginx exited: {log.read_text()}"
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                assert json.loads(r.read())["status"] == "ok"  # the page and /healthz pass through too
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nginx did not answer: {log.read_text()}")
