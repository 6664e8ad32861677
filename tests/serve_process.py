"""Shared by the multi-process serving tests (no tests here): `speechstream serve` as a subprocess whose output
a thread collects, which process holds a given TCP connection, a websocket client that sends audio at its
real-time pace and records how its connection ended, and worker targets that die. Light to import (no torch):
the supervisor's spawned workers import it."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from websockets.exceptions import ConnectionClosed

REPO = Path(__file__).resolve().parents[1]


class ServeProcess:
    """`speechstream serve ARGS...` with stdout and stderr read into `lines` by a thread."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "speechstream", "serve", *args], cwd=REPO,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self.eof = False
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:  # type: ignore[union-attr]
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self.eof = True
            self._changed.notify_all()

    def wait_for(self, pattern: str, timeout: float, start: int = 0) -> re.Match[str]:
        """The first line from `start` on that matches `pattern`, waiting for it up to `timeout` seconds."""
        end = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines[start:]:
                    if m := re.search(pattern, line):
                        return m
                left = end - time.monotonic()
                if left <= 0 or self.eof:
                    raise AssertionError(f"{pattern!r} not printed; output:\n" + "\n".join(self.lines)[-3000:])
                self._changed.wait(min(left, 0.5))

    @property
    def output(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def stop(self) -> None:
        """Kills it if it still runs (a failed test); a passing test has already stopped it."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


def connection_owner(pids: list[int], server_port: int, client_port: int) -> int | None:
    """Which of `pids` holds the server end of the loopback TCP connection client_port -> server_port: its
    socket inode from /proc/net/tcp, then whose /proc/PID/fd links to it."""
    inodes = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(name):
            continue
        with open(name) as f:
            for row in f.read().splitlines()[1:]:
                cols = row.split()
                local, remote, inode = cols[1], cols[2], cols[9]
                if int(local.rsplit(":", 1)[1], 16) == server_port and int(remote.rsplit(":", 1)[1], 16) == client_port:
                    inodes.add(f"socket:[{inode}]")
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except FileNotFoundError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                    return pid
            except FileNotFoundError:
                continue
    return None


@dataclass
class Outcome:
    """How one client's stream went: every text message, and how and when its connection ended."""

    messages: list[str] = field(default_factory=list)
    close_code: int | None = None
    closed_at: float = 0.0  # time.monotonic()
    clean: bool = False  # a close frame came (False: the TCP connection just ended)

    @property
    def done(self) -> bool:
        return bool(self.messages) and self.messages[-1] == "Done!"

    def finals(self) -> list[str]:
        results = [json.loads(m) for m in self.messages if m != "Done!"]
        return [r["text"].strip() for r in results if r.get("is_final")]


async def paced_stream(ws: Any, x: np.ndarray, chunk: int = 1600, rate: int = 16000) -> Outcome:
    """Sends `x` (N,) float32 over an open websocket in `chunk`-sample messages at the real-time pace, then
    `Done` (protocol 1), and reads until the connection ends, however it ends."""
    out = Outcome()

    async def send() -> None:
        start = time.monotonic()
        try:
            for pos in range(0, len(x), chunk):
                await asyncio.sleep(max(0.0, start + min(pos + chunk, len(x)) / rate - time.monotonic()))
                await ws.send(x[pos:pos + chunk].astype("<f4").tobytes())
            await ws.send("Done")
        except ConnectionClosed:
            pass

    sender = asyncio.create_task(send())
    try:
        async for m in ws:
            out.messages.append(m)
    except ConnectionClosed:
        pass
    out.closed_at = time.monotonic()
    out.close_code = ws.close_code
    out.clean = ws.protocol.close_rcvd is not None
    sender.cancel()
    await asyncio.gather(sender, return_exceptions=True)
    return out


def die_before_ready(code: int, ready: Any) -> None:  # noqa: ARG001
    """A supervisor target whose worker exits with `code` before it listens (and prints no traceback)."""
    os._exit(code)
