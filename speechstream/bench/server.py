"""The server benchmark (`speechstream bench server`): how many real-time streams a websocket server holds.

N clients in one asyncio process (this one) stream audio on loopback at its real-time pace: protocol 1,
100 ms float32 messages at 16 kHz, each sent when its last sample "has arrived" (client start times are
spread at random over one message period), then `Done`, then they wait for `Done!`. Each step runs N
clients for a fixed audio length; the number of clients is searched (doubling, then bisection) for the
largest N that passes: p95 delay <= 100 ms and no stream lost. The same load, step for step interleaved,
goes to our server (`python -m speechstream serve`, a subprocess) and to sherpa-onnx's C++ server
(`sherpa-onnx-online-websocket-server --nemo-ctc-model ctc.onnx`) on the same model exported for sherpa.

Delay (DELAY_DEFINITION): a result message "needs" audio up to some sample n; the reference time is the
wall time at which the client sent the message holding sample n - 1 (taken just before `send`); delay =
the result's arrival time (when the client's recv returns it) - that reference time. So algorithmic
latency (chunk length, look-ahead, message size) is left out: this is the time the server takes to answer
once it has everything it needs, queueing included, which is what grows with load.
  - ours: every result carries `end` (seconds of decoded encoder frames); n = end * rate + reach, where
    reach = shift // 2 - length // 2 + length - shift is how far the last feature frame's window extends
    past its shift (120 samples at 16 kHz). Our server sends a result only when a segment's text changes,
    so only those results are measured: they are a sample of the chunks, and a chunk's delay does not
    depend on whether its text changed (the server does the same work for every chunk). Adding a per-chunk
    acknowledgement would need a server flag; measuring what the protocol sends needs nothing.
  - sherpa: it sends one result per decoded window and none carries an end time; its k-th message is
    window k, decoded once T > k * chunk_shift + window_size feature frames exist (IsReady is strict), so
    n = shift * (k * chunk_shift + window_size + 1) + reach (see speechstream.asr.sherpa_ctc).
  - results that need audio past the last message (the end of input: tail padding, the final chunk) are
    not stream delays; the end of an utterance is measured apart: final delay = the arrival of the later
    of the final result and `Done!` - `Done` send. A result that arrives before its reference message was
    sent is counted as an anomaly (it would mean the mapping is wrong); there should be none.
Lost: a stream that did not connect, got an error or an early close, or no final result and `Done!`
within the step's time plus FINAL_TIMEOUT_S. Server CPU: (utime + stime) of the server process over the
step's wall time, from /proc/PID/stat (1.0 = one core busy); RSS from /proc/PID/statm, sampled every
0.25 s (at the start, peak and end of the step; one process serves the whole search, so a step starts from
the memory earlier steps left). The load generator's own CPU and its send lag (actual - scheduled send
time) are kept too: on a small machine it competes with the server for the same cores.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from speechstream.bench.common import format_table, speech_clip
from speechstream.bench.server_config import ServerBenchConfig
from speechstream.bench.servers import (OURS, RATE, SHERPA, SHERPA_FLAGS, BenchModel, ServerProcess, our_server,
                                        prepare_model, sherpa_server)
from speechstream.errors import SpeechstreamError

MESSAGE_MS = 100  # audio per websocket message, like a browser's or sherpa's clients
TARGET_P95_MS = 100.0
FINAL_TIMEOUT_S = 10.0  # after the last `Done`, how long a step waits for every `Done!`
# sherpa posts `Done!` on its work thread and results on its connection thread, so under load `Done!` can
# overtake the final result (online-websocket-server-impl.cc). A client that stops at `Done!` (as sherpa's
# own do) loses that result; we keep reading this long after `Done!` and count it as `final_after_done`.
GRACE_S = 1.0
CONNECT_AT_ONCE = 32  # handshakes in flight while a step connects its clients
DELAY_DEFINITION = (
    "delay = arrival time of a result - send time of the message holding the last sample that result needs; "
    "ours: needed = end * 16000 + feature-window reach, on every result (sent when text changes); sherpa: "
    "its k-th result is window k, needed = shift * (k * chunk_shift + window_size + 1) + reach; results "
    "needing audio past the last message are end-of-input, measured as final delay = (final result and "
    "Done! both in) - Done")


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---- one client ----
@dataclass
class ClientRecord:
    scheduled: list[float] = field(default_factory=list)  # when each message's last sample "arrived"
    sent: list[float] = field(default_factory=list)  # just before each message's send
    arrivals: list[tuple[float, int]] = field(default_factory=list)  # (arrival time, samples needed)
    done_sent: float | None = None
    done_reply: float | None = None
    last_final: bool = False  # whether the last result was final
    final_after_done: bool = False  # the final result came after `Done!`
    error: str | None = None

    @property
    def lost(self) -> bool:
        return self.error is not None or self.done_reply is None or not self.last_final

    @property
    def why_lost(self) -> str | None:
        if self.error is not None:
            return self.error
        if self.done_reply is None:
            return "no Done!"
        return None if self.last_final else f"no final result (within {GRACE_S:g} s of Done!)"


async def _client(ws: Any, messages: list[bytes], start: float, server: ServerProcess, bm: BenchModel,
                  deadline: float, rec: ClientRecord) -> None:
    from websockets.exceptions import ConnectionClosed

    step_s = MESSAGE_MS / 1000

    async def send() -> None:
        for j, data in enumerate(messages):
            due = start + (j + 1) * step_s  # a microphone delivers a message once its last sample is in
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            rec.scheduled.append(due)
            rec.sent.append(time.perf_counter())
            await ws.send(data)
        rec.done_sent = time.perf_counter()
        await ws.send("Done")

    async def receive() -> None:
        k = 0
        while True:
            try:
                message = await (ws.recv() if rec.done_reply is None else asyncio.wait_for(ws.recv(), GRACE_S))
            except (asyncio.TimeoutError, ConnectionClosed):
                if rec.done_reply is None:
                    rec.error = f"closed before Done! (code {ws.close_code})"
                return  # after `Done!`: no final result came within the grace time
            t = time.perf_counter()
            if message == "Done!":
                rec.done_reply = t
                if rec.last_final:
                    return
                continue  # sherpa's `Done!` can overtake its final result (see GRACE_S)
            obj = json.loads(message)
            if "error" in obj:
                rec.error = f"server error {obj.get('code')}: {obj['error']}"
                return
            rec.arrivals.append((t, server.needed(obj, k, bm)))
            rec.last_final = bool(obj.get("is_final"))
            k += 1
            if rec.done_reply is not None and rec.last_final:
                rec.final_after_done = True
                return

    sender = asyncio.create_task(send())
    try:
        await asyncio.wait_for(receive(), max(0.1, deadline - time.perf_counter()))
        if rec.done_reply is not None and not sender.done():
            rec.error = "Done! before all audio was sent"
    except asyncio.TimeoutError:
        rec.error = "no Done! in time"
    except ConnectionClosed as e:
        rec.error = f"connection closed: {e}"
    finally:
        sender.cancel()
        results = await asyncio.gather(sender, return_exceptions=True)
        if rec.error is None and isinstance(results[0], BaseException) and not isinstance(
                results[0], asyncio.CancelledError):
            rec.error = f"send failed: {type(results[0]).__name__}: {results[0]}"


# ---- one step ----
def _percentiles(values_s: list[float]) -> dict[str, float | int | None]:
    if not values_s:
        return {"p50": None, "p95": None, "max": None, "min": None, "mean": None, "count": 0}
    x = 1000 * np.asarray(values_s)
    return {"p50": float(np.percentile(x, 50)), "p95": float(np.percentile(x, 95)), "max": float(x.max()),
            "min": float(x.min()), "mean": float(x.mean()), "count": int(x.size)}


def summarize(records: list[ClientRecord], step: int) -> dict[str, Any]:
    """Delays, final delays, send lag, lost streams and anomalies of one step's clients (see the module doc)."""
    delays, finals, lags, anomalies, results = [], [], [], 0, 0
    for rec in records:
        results += len(rec.arrivals)
        lags += [s - d for s, d in zip(rec.sent, rec.scheduled)]
        if rec.done_sent is not None and rec.done_reply is not None and rec.last_final:
            finals.append(max(rec.done_reply, rec.arrivals[-1][0]) - rec.done_sent)
        for t, needed in rec.arrivals:
            j = max(0, needed - 1) // step  # the message holding the last sample needed
            if j >= len(rec.sent):
                continue  # needs the end of input (or audio a lost stream never sent): not a stream delay
            if t < rec.sent[j]:
                anomalies += 1
            delays.append(t - rec.sent[j])
    errors = sorted({r.why_lost for r in records if r.why_lost})
    return {"delay_ms": _percentiles(delays), "final_delay_ms": _percentiles(finals),
            "send_lag_ms": _percentiles(lags), "lost": sum(r.lost for r in records), "errors": errors[:5],
            "final_after_done": sum(r.final_after_done for r in records), "results": results,
            "anomalies": anomalies}


async def _connect(url: str, gate: asyncio.Semaphore) -> Any:
    from websockets.asyncio.client import connect

    async with gate:
        return await connect(url, compression=None, max_size=2**22, open_timeout=10, ping_interval=None,
                             close_timeout=2)


async def run_step(server: ServerProcess, bm: BenchModel, n: int, seconds: float, ring: list[bytes],
                   seed: int = 0) -> dict[str, Any]:
    """N clients, `seconds` of audio each, against one server; the step's stats."""
    rng = np.random.default_rng(seed)
    per_client = int(round(seconds * 1000 / MESSAGE_MS))
    period = len(ring) - per_client  # distinct start offsets in the looped clip
    gate = asyncio.Semaphore(CONNECT_AT_ONCE)
    conns = await asyncio.gather(*(_connect(server.url, gate) for _ in range(n)), return_exceptions=True)
    records = [ClientRecord() for _ in range(n)]
    phases = rng.uniform(0, MESSAGE_MS / 1000, n)
    start = time.perf_counter() + 0.1
    deadline = start + seconds + MESSAGE_MS / 1000 + FINAL_TIMEOUT_S
    rss_start = server.rss_mb()  # the process lives through the whole search: earlier steps' high water stays
    rss_peak, stop = [rss_start], asyncio.Event()

    async def sample_rss() -> None:
        while not stop.is_set():
            rss_peak.append(server.rss_mb())
            try:
                await asyncio.wait_for(stop.wait(), 0.25)
            except asyncio.TimeoutError:
                pass

    sampler = asyncio.create_task(sample_rss())
    cpu0, gen0, wall0 = server.cpu_seconds(), time.process_time(), time.perf_counter()
    tasks = []
    for i, (ws, rec) in enumerate(zip(conns, records)):
        if isinstance(ws, BaseException):
            rec.error = f"cannot connect: {type(ws).__name__}: {ws}"
            continue
        offset = (i * 7) % max(1, period)
        tasks.append(_client(ws, ring[offset:offset + per_client], start + phases[i], server, bm, deadline, rec))
    await asyncio.gather(*tasks)
    wall = time.perf_counter() - wall0
    cpu, gen = server.cpu_seconds() - cpu0, time.process_time() - gen0
    stop.set()
    await sampler
    rss_end = server.rss_mb()
    await asyncio.gather(*(ws.close() for ws in conns if not isinstance(ws, BaseException)), return_exceptions=True)
    stats = summarize(records, RATE * MESSAGE_MS // 1000)
    p95 = stats["delay_ms"]["p95"]
    passed = stats["lost"] == 0 and p95 is not None and p95 <= TARGET_P95_MS
    return {"clients": n, "passed": passed, **stats, "server_cpu": cpu / wall,
            "server_rss_mb": {"start": rss_start, "peak": max(rss_peak + [rss_end]), "end": rss_end},
            "generator_cpu": gen / wall, "wall_s": wall, "audio_s": per_client * MESSAGE_MS / 1000,
            "load_average": list(os.getloadavg())}


# ---- the search ----
@dataclass
class Search:
    """Doubling from `start` until a step fails or `cap` passes, then bisection until the gap between the
    largest pass and the smallest failure is at most 1/8 of the pass (and at least 1)."""

    start: int
    cap: int
    lo: int = 0  # largest N that passed
    hi: int | None = None  # smallest N that failed
    order: list[int] = field(default_factory=list)

    def next(self) -> int | None:
        if not self.order:
            return self.start
        if self.hi is None:
            return None if self.lo >= self.cap else min(2 * self.lo, self.cap)
        if self.hi - self.lo <= max(1, self.lo // 8):
            return None
        return (self.lo + self.hi) // 2

    def record(self, n: int, passed: bool) -> None:
        self.order.append(n)
        if passed:
            self.lo = max(self.lo, n)
        else:
            self.hi = n if self.hi is None else min(self.hi, n)

    @property
    def capped(self) -> bool:
        return self.hi is None and self.lo >= self.cap


def _ring(clip: np.ndarray, per_client: int) -> list[bytes]:
    """The clip looped, cut into messages: every client sends a window of it from its own offset."""
    step = RATE * MESSAGE_MS // 1000
    n_clip = max(1, len(clip) // step)
    x = np.resize(clip, (n_clip + per_client) * step).astype("<f4")
    return [x[j * step:(j + 1) * step].tobytes() for j in range(n_clip + per_client)]


async def _search(servers: list[ServerProcess], bm: BenchModel, cfg: ServerBenchConfig, ring: list[bytes],
                  log: Callable[[str], None]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    searches = {s.name: Search(cfg.start_clients, cfg.max_clients) for s in servers}  # type: ignore[arg-type]
    for s in servers:  # a warm-up stream: sessions allocate on their first run; also proves the server works
        warm = await run_step(s, bm, 1, 1.0, ring)
        out[s.name] = {"warmup": warm, "runs": {}}
        if warm["lost"]:
            out[s.name]["error"] = f"the warm-up stream was lost: {warm['errors']}"
            searches.pop(s.name)
    seed = 1
    while True:
        pending = [(s, searches[s.name].next()) for s in servers if s.name in searches]
        pending = [(s, n) for s, n in pending if n is not None]
        if not pending:
            break
        for s, n in pending:  # interleaved: a burst of load on the machine hits both searches
            if not s.alive():
                out[s.name]["error"] = f"{s.name} died: {s.log_tail()}"
                searches.pop(s.name)
                continue
            r = await run_step(s, bm, n, cfg.seconds, ring, seed)  # type: ignore[arg-type]
            seed += 1
            out[s.name]["runs"][str(n)] = r
            searches[s.name].record(n, r["passed"])
            d = r["delay_ms"]
            late = f", {r['final_after_done']} finals after Done!" if r["final_after_done"] else ""
            log(f"  {s.name}: {n} clients: p95 {_ms(d['p95'])} ms, max {_ms(d['max'])} ms, lost {r['lost']}{late}, "
                f"server cpu {r['server_cpu']:.2f}, {'pass' if r['passed'] else 'FAIL'}")
            await asyncio.sleep(0.3)  # let the closes finish
    for name, search in searches.items():
        out[name].update({"max_streams": search.lo, "capped": search.capped, "search": search.order,
                          "smallest_failure": search.hi})
    for name, o in out.items():
        o.setdefault("max_streams", None)
        o["runs"] = dict(sorted(o["runs"].items(), key=lambda kv: int(kv[0])))
    return out


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


# ---- the run ----
def run_server_bench(config: ServerBenchConfig, log: Callable[[str], None] = _stderr) -> dict[str, Any]:
    """Every measurement, as the JSON `speechstream bench server --json` writes."""
    cfg = config.resolved()
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="speechstream-bench-server-") as tmp:
        work = Path(tmp)
        log("preparing the model")
        bm = prepare_model(cfg, work)
        clip, audio_desc = speech_clip(work, RATE)
        ring = _ring(clip, int(round(cfg.seconds * 1000 / MESSAGE_MS)))  # type: ignore[operator]
        servers: list[ServerProcess] = []
        commands: dict[str, str] = {}
        errors: dict[str, str | None] = {}
        started: list[ServerProcess] = []  # every process started, to stop whatever happens
        try:
            for name in (OURS, SHERPA):
                if name == SHERPA and bm.sherpa_ctc is None:
                    errors[name] = bm.sherpa_error
                    continue
                try:
                    s = our_server(bm, cfg, work) if name == OURS else sherpa_server(bm, work)
                    commands[name] = " ".join(s.argv)
                    log(f"starting {name}")
                    started.append(s)
                    s.start()
                    servers.append(s)
                except SpeechstreamError as e:
                    if name == OURS:
                        raise
                    errors[name] = str(e)
            log(f"searching the largest number of real-time streams with p95 delay <= {TARGET_P95_MS:g} ms")
            out = asyncio.run(_search(servers, bm, cfg, ring, log))
        finally:
            for s in started:
                s.stop()
        unclean = [f"{s.name} exited with {s.proc.returncode}: {s.log_tail(600)}" for s in servers
                   if s.name == OURS and s.proc is not None and s.proc.returncode != 0]
    for name, why in errors.items():
        out[name] = {"error": why, "runs": {}, "max_streams": None}
        bm.notes.append(f"{name}: not measured ({why})")
    for name, o in out.items():
        o["command"] = commands.get(name)
        if o.get("error") and name not in errors:
            bm.notes.append(f"{name}: {o['error']}")
    bm.notes.extend(unclean)
    maxes = {name: out[name]["max_streams"] if name in out else None for name in (OURS, SHERPA)}
    ratio = (maxes[OURS] / maxes[SHERPA] if maxes[OURS] is not None and maxes[SHERPA] else None)
    if any(out[n].get("capped") for n in out):
        bm.notes.append(f"a search reached --max-clients {cfg.max_clients} without failing: its max_streams "
                        "is a lower bound (and so may be the ratio)")
    return {
        "max_streams": maxes,
        "ratio": ratio,
        "servers": {name: out[name] for name in (OURS, SHERPA) if name in out},
        "criterion": f"p95 delay <= {TARGET_P95_MS:g} ms and 0 lost streams",
        "delay_definition": DELAY_DEFINITION,
        "model": {"source": bm.source, "precision": "int8" if bm.int8 else "fp32", "lookahead_ms": bm.lookahead_ms,
                  "feature_reach_samples": bm.reach,
                  "sherpa_ctc": "exported for this run" if bm.sherpa_ctc and str(bm.sherpa_ctc).startswith(str(work))
                  else (str(bm.sherpa_ctc) if bm.sherpa_ctc else None),
                  "sherpa_window": {"window_size": bm.sherpa_window[0], "chunk_shift": bm.sherpa_window[1]}},
        "load": {"message_ms": MESSAGE_MS, "format": "float32 16 kHz, protocol 1", "audio": audio_desc,
                 "final_timeout_s": FINAL_TIMEOUT_S, "sherpa_flags": list(SHERPA_FLAGS)},
        "run": {**{k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()},
                "wall_s": time.perf_counter() - t_start, **environment()},
        "goals": {"ratio": ">= 1 (we hold at least as many streams)"},
        "notes": bm.notes,
    }


def environment() -> dict[str, Any]:
    return {"python": platform.python_version(), "cpu_count": os.cpu_count(),
            "load_average": list(os.getloadavg()), "machine": platform.machine()}


# ---- the table ----
def format_server_table(r: dict[str, Any]) -> str:
    """One row per server and step, then the max streams of each and their ratio."""
    rows = []
    for name, s in r["servers"].items():
        for n, x in s["runs"].items():
            d, f = x["delay_ms"], x["final_delay_ms"]
            rows.append([name, n, "yes" if x["passed"] else "no", _ms(d["p50"]), _ms(d["p95"]), _ms(d["max"]),
                         str(d["count"]), _ms(f["p95"]), str(x["lost"]), str(x["final_after_done"]),
                         f"{x['server_cpu']:.2f}",
                         f"{x['server_rss_mb']['peak']:.0f}", f"{x['generator_cpu']:.2f}",
                         _ms(x["send_lag_ms"]["p95"])])
    header = ["server", "clients", "pass", "p50 ms", "p95 ms", "max ms", "measured", "final p95 ms", "lost",
              "final after Done!", "server cpu", "rss MB", "gen cpu", "send lag p95 ms"]
    m, run = r["model"], r["run"]
    head = (f"# model: {m['source']}, {m['precision']} graphs on both servers, look-ahead {m['lookahead_ms']:g} ms; "
            f"{run['seconds']:g} s of real-time audio "
            f"per client per step in {r['load']['message_ms']} ms messages; pass: {r['criterion']}; "
            f"load average {' '.join(f'{x:.1f}' for x in run['load_average'])} on {run['cpu_count']} cores; "
            f"took {run['wall_s']:.0f} s\n# {r['delay_definition']}")
    mx = r["max_streams"]

    def streams(name: str) -> str:
        s = r["servers"].get(name, {})
        v = mx.get(name)
        return "null" if v is None else f"{v}{'+' if s.get('capped') else ''}"

    ratio = "null" if r["ratio"] is None else f"{r['ratio']:.2f}"
    tail = f"max streams: {OURS} {streams(OURS)}, {SHERPA} {streams(SHERPA)}; ratio {ratio} (goal >= 1)"
    notes = "".join(f"\n# {n}" for n in r["notes"])
    return head + "\n" + format_table(header, rows, right=set(range(1, len(header)))) + "\n" + tail + notes
