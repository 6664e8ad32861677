"""`speechstream serve --workers N`: N server processes accepting on one port, and the supervisor that keeps them.

    code = Supervisor(run_worker, args, SupervisorConfig(workers=4)).run()

Each worker is a fresh interpreter (multiprocessing's "spawn": no onnxruntime thread pool crosses a fork) that
loads its own model and runs its own SpeechServer on the same host:port with SO_REUSEPORT. Linux then hands
each new TCP connection to one of the listening sockets by a hash of its addresses and ports, not by load:
with many clients the split is even, with a few it can be lopsided, and a long connection stays where it landed.

The supervisor forwards SIGTERM/SIGINT (each worker drains: open streams get their final results, `Done!` and
close 1001), restarts a worker that exits without being asked to (after a back-off that doubles with each
failure in a row), and gives up (stops the others, raises SpeechstreamError) when a worker keeps dying before it
is ready, or at once when one reports an error at its first start (a bad model directory, a port in use: every
worker would fail alike).
A worker's `target(args, ready)` calls `ready(url)` once it listens; a SpeechstreamError it raises comes back
to the supervisor as one line instead of a traceback per worker.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from speechstream.errors import SpeechstreamError

log = logging.getLogger("speechstream.supervisor")

Target = Callable[[Any, Callable[[str], None]], Any]


@dataclass(frozen=True)
class SupervisorConfig:
    workers: int = 2
    backoff_s: float = 0.5  # the first restart's delay; doubled for each failure in a row, up to max_backoff_s
    max_backoff_s: float = 10.0
    max_start_failures: int = 3  # a worker that dies this many times in a row before it is ready: give up
    stable_s: float = 30.0  # a worker that ran this long starts its failure count afresh
    stop_timeout_s: float = 30.0  # after SIGTERM, a worker still alive this much later is killed
    name: str = "speechstream serve"  # the log lines' prefix

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise SpeechstreamError(f"--workers must be >= 1, got {self.workers}")


class _Slot:
    """One worker position: its current process, the pipe it reports on, and its failures in a row."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.process: multiprocessing.process.BaseProcess | None = None
        self.reports: multiprocessing.connection.Connection | None = None
        self.started = 0.0
        self.ready = False
        self.error: str | None = None
        self.failures = 0  # deaths in a row (the back-off)
        self.start_failures = 0  # deaths in a row before it was ready (giving up)
        self.restart_at: float | None = None

    def describe(self) -> str:
        return f"worker {self.index} (pid {self.process.pid if self.process else '-'})"


class Supervisor:
    def __init__(self, target: Target, args: Any, config: SupervisorConfig) -> None:
        """`target` and `args` must pickle (a module-level function, an argparse Namespace)."""
        self.target, self.args, self.config = target, args, config
        self.slots = [_Slot(i + 1) for i in range(config.workers)]
        self._context = multiprocessing.get_context("spawn")
        self._signals: list[int] = []
        self._ever_ready = False
        self._announced = False

    def run(self) -> int:
        """Runs until SIGTERM/SIGINT and returns 0 once every worker has drained; SpeechstreamError if it gives up."""
        wake_r, wake_w = socket.socketpair()
        wake_r.setblocking(False)
        wake_w.setblocking(False)
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        old_fd = signal.set_wakeup_fd(wake_w.fileno(), warn_on_full_buffer=False)
        try:
            for slot in self.slots:
                self._start(slot)
            failed = self._loop(wake_r)
        finally:
            self._stop_all()
            signal.set_wakeup_fd(old_fd)
            for s, handler in previous.items():
                signal.signal(s, handler)
            wake_r.close()
            wake_w.close()
        if failed is not None:
            raise SpeechstreamError(failed)
        print(f"{self.config.name}: stopped", flush=True)
        return 0

    def _on_signal(self, signum: int, frame: Any) -> None:  # noqa: ARG002
        self._signals.append(signum)

    def _loop(self, wake: socket.socket) -> str | None:
        """Until a signal (None) or until a worker fails beyond restarting (the reason)."""
        while not self._signals:
            waits: list[Any] = [wake]
            for slot in self.slots:
                if slot.process is not None:
                    waits.append(slot.process.sentinel)
                if slot.reports is not None:
                    waits.append(slot.reports)
            pending = [s.restart_at for s in self.slots if s.restart_at is not None]
            timeout = max(0.0, min(pending) - time.monotonic()) if pending else None
            multiprocessing.connection.wait(waits, timeout)
            try:
                wake.recv(512)
            except BlockingIOError:
                pass
            for slot in self.slots:
                self._read_reports(slot)
                if slot.process is not None and not slot.process.is_alive() and not self._signals:
                    failed = self._on_exit(slot)
                    if failed is not None:
                        return failed
                if slot.restart_at is not None and time.monotonic() >= slot.restart_at and not self._signals:
                    slot.restart_at = None
                    self._start(slot)
        print(f"{self.config.name}: shutting down: each worker finishes its open streams", flush=True)
        return None

    def _start(self, slot: _Slot) -> None:
        ours, theirs = self._context.Pipe(duplex=False)
        slot.process = self._context.Process(
            target=_worker_main, args=(self.target, self.args, theirs, self.config.name),
            name=f"speechstream-worker-{slot.index}")
        slot.process.start()
        theirs.close()
        slot.reports, slot.started, slot.ready, slot.error = ours, time.monotonic(), False, None

    def _read_reports(self, slot: _Slot) -> None:
        while slot.reports is not None and slot.reports.poll():
            try:
                kind, text = slot.reports.recv()
            except (EOFError, OSError):  # the worker is gone; its sentinel says so too
                slot.reports.close()
                slot.reports = None
                return
            if kind == "ready":
                slot.ready, slot.start_failures, self._ever_ready = True, 0, True
                log.info("%s listening on %s", slot.describe(), text)
                if not self._announced and all(s.ready for s in self.slots):
                    self._announced = True
                    pids = ", ".join(str(s.process.pid) for s in self.slots if s.process)
                    print(f"{self.config.name}: listening on {text} with {len(self.slots)} workers (pids {pids})",
                          flush=True)
            elif kind == "error":
                slot.error = text

    def _on_exit(self, slot: _Slot) -> str | None:
        """Schedules the restart of a worker that exited on its own; returns the reason to give up, if any."""
        assert slot.process is not None
        self._read_reports(slot)
        code, ran = slot.process.exitcode, time.monotonic() - slot.started
        what = f"{slot.describe()} {_exit_words(code)} after {ran:.1f} s"
        slot.process.close()
        slot.process = None
        if slot.reports is not None:
            slot.reports.close()
            slot.reports = None
        if slot.error is not None and not self._ever_ready:
            return slot.error  # a bad model or port: the others fail the same way
        slot.failures = 1 if ran >= self.config.stable_s else slot.failures + 1
        slot.start_failures += not slot.ready
        if slot.start_failures >= self.config.max_start_failures:
            why = f": {slot.error}" if slot.error else ""
            return f"worker {slot.index} died {slot.start_failures} times in a row before it was ready{why}"
        delay = min(self.config.backoff_s * 2 ** (slot.failures - 1), self.config.max_backoff_s)
        log.warning("%s%s; restarting it in %.1f s", what, f" ({slot.error})" if slot.error else "", delay)
        slot.restart_at = time.monotonic() + delay
        return None

    def _stop_all(self) -> None:
        """SIGTERM to every worker (each drains), then waits; a second SIGTERM/SIGINT or the timeout kills."""
        alive = [s.process for s in self.slots if s.process is not None and s.process.is_alive()]
        for p in alive:
            _signal(p, signal.SIGTERM)
        seen = len(self._signals)
        deadline = time.monotonic() + self.config.stop_timeout_s
        while alive:
            if time.monotonic() >= deadline or len(self._signals) > max(seen, 1):
                for p in alive:
                    log.warning("worker pid %s did not stop; killing it", p.pid)
                    _signal(p, signal.SIGKILL)
                deadline = float("inf")
            multiprocessing.connection.wait([p.sentinel for p in alive], 0.2)
            alive = [p for p in alive if p.is_alive()]
        for slot in self.slots:
            if slot.process is not None:
                slot.process.join()
                slot.process.close()
                slot.process = None


def _signal(process: multiprocessing.process.BaseProcess, signum: int) -> None:
    try:
        os.kill(process.pid, signum)  # type: ignore[arg-type]
    except ProcessLookupError:
        pass


def _exit_words(code: int | None) -> str:
    if code is not None and code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with code {code}"


def _worker_main(target: Target, args: Any, reports: multiprocessing.connection.Connection, name: str) -> None:
    """A worker process: the target, with `ready` and a SpeechstreamError sent back over `reports`."""
    logging.basicConfig(level=logging.INFO, format=f"{name}[%(process)d]: %(message)s")
    logging.getLogger("websockets").setLevel(logging.WARNING)
    threading.Thread(target=_drain_when_orphaned, args=(os.getppid(),), daemon=True).start()
    try:
        target(args, lambda url: reports.send(("ready", url)))
    except SpeechstreamError as e:
        reports.send(("error", str(e)))
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


def _drain_when_orphaned(parent: int) -> None:
    """A supervisor killed outright leaves its workers to init: each then drains itself instead of holding the
    port with nobody to stop it."""
    while os.getppid() == parent:
        time.sleep(1.0)
    log.warning("the supervisor (pid %d) is gone: draining", parent)
    os.kill(os.getpid(), signal.SIGTERM)


def reserve_port(host: str, port: int) -> socket.socket:
    """A bound (not listening) SO_REUSEPORT socket on host:port that the workers can share; port 0 picks a free
    one. Held by the supervisor, it keeps the port from other programs while every worker is restarting."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        s.bind((host, port))
    except OSError as e:
        s.close()
        raise SpeechstreamError(f"cannot serve on {host}:{port}: {e}") from None
    return s
