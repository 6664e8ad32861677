"""The batching worker: one asyncio task that decodes every connection's stream, all ready streams together.

Connections never touch a Stream. They queue audio on their Session (event-loop thread) and notify the
worker; each round the worker looks at the notified sessions (idle connections cost nothing) and, in one
worker thread, feeds each stream only the audio its next chunk needs, decodes one chunk of every ready stream
(one encoder call per recognizer and look-ahead, up to `max_batch` streams) and returns the results, which
the worker hands to each session's listener back on the event loop. So one thread mutates streams, the event
loop never waits on the model, and a round is as wide as the load but never longer for one stream's backlog:
a client that sent ten minutes at once gets one chunk a round like everyone else, and its backlog waits as
queued audio (bounded by the connection's --max-backlog-s), not as one long round that delays the real-time
streams beside it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from speechstream.asr.recognizer import Recognizer, Result, Stream

from .metrics import ServerMetrics
from .protocol import INTERNAL, UNSUPPORTED

log = logging.getLogger("speechstream.server")


class Listener(Protocol):
    """Who hears about a session's progress (the connection); called on the event loop."""

    def on_result(self, result: Result) -> None: ...

    def on_done(self) -> None: ...

    def on_failure(self, code: int, message: str) -> None: ...

    def on_round(self) -> None:
        """A round took the session's input (it may have caught up: see Session.backlog_s)."""


class Session:
    """One connection's stream, with the audio queued for it and whether its input has ended.

    The connection appends audio on the event loop; the worker thread takes it from the left (a deque is safe
    for that), a piece of at most one chunk at a time.
    """

    def __init__(self, recognizer: Recognizer, stream: Stream, sample_rate: int, listener: Listener) -> None:
        self.recognizer, self.stream, self.sample_rate, self.listener = recognizer, stream, sample_rate, listener
        self._audio: deque[tuple[np.ndarray, float]] = deque()  # (samples, arrival time) not yet fed
        self._finish: float | None = None  # when the input ended
        self._finish_taken = False  # worker thread only
        self.pushed_s = 0.0  # audio queued so far, in seconds (event loop)
        self.busy = False  # the worker has work for it: queued audio or a ready chunk (event loop)
        self.arrived = 0.0  # worker thread: arrival of the last audio fed to the stream (time.monotonic)
        self.last_text = ""  # worker thread only; no result for a segment until it has text (or ends)
        shift = recognizer.fbank.config.frame_shift * sample_rate / recognizer.sample_rate
        self.piece = max(1, round(stream.chunk_frames * shift))  # one chunk of audio at the client's rate

    def push(self, samples: np.ndarray) -> None:
        self._audio.append((samples, time.monotonic()))
        self.pushed_s += samples.size / self.sample_rate
        self.busy = True

    def finish(self) -> None:
        self._finish = time.monotonic()

    @property
    def backlog_s(self) -> float:
        """Seconds of audio received but not yet decoded."""
        return self.pushed_s - self.stream.frames_done * self.recognizer.frame_seconds

    @property
    def has_input(self) -> bool:
        return bool(self._audio) or (self._finish is not None and not self._finish_taken)

    def feed(self) -> None:
        """Worker thread: feeds queued audio, a chunk's worth at a time, until the stream has a chunk to
        decode or nothing is queued; once everything is fed after `finish()`, marks the input finished."""
        rec, stream = self.recognizer, self.stream
        while self._audio and not rec.is_ready(stream):
            x, arrived = self._audio.popleft()
            if x.size > self.piece:
                self._audio.appendleft((x[self.piece:], arrived))
                x = x[:self.piece]
            stream.accept_waveform(self.sample_rate, x)
            self.arrived = arrived
        finish = self._finish  # read before looking at the queue: audio is pushed before the input ends
        if finish is not None and not self._audio and not self._finish_taken:
            self._finish_taken = True
            stream.input_finished()
            self.arrived = finish


@dataclass
class Outcome:
    """What one round did to one session."""

    results: list[Result] = field(default_factory=list)
    done: bool = False
    failure: tuple[int, str] | None = None
    arrived: float = 0.0  # when the last audio the results need arrived (time.monotonic)


@dataclass
class WorkerStats:
    rounds: int = 0
    chunks: int = 0  # stream-chunks decoded
    max_batch: int = 0  # the widest encoder call so far


class BatchingWorker:
    def __init__(self, max_batch: int = 32, metrics: ServerMetrics | None = None) -> None:
        self.max_batch = max_batch
        self.metrics = metrics or ServerMetrics()
        self.sessions: set[Session] = set()
        self._pending: set[Session] = set()  # sessions with new input, or still with work after a round
        self.stats = WorkerStats()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="speechstream-worker")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    def add(self, session: Session) -> None:
        self.sessions.add(session)

    def discard(self, session: Session) -> None:
        """Forgets a session (its connection is gone); a round in flight drops its results."""
        self.sessions.discard(session)
        self._pending.discard(session)

    def notify(self, session: Session) -> None:
        """New input is queued on `session`. A round looks only at notified sessions, not at every open one."""
        self._pending.add(session)
        self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            active, self._pending = self._pending, set()
            jobs = [s for s in active if s in self.sessions]
            if not jobs:
                continue
            try:
                outcomes, again = await asyncio.to_thread(self._round, jobs)
            except Exception:  # a bug, not a client's doing: fail this round's sessions, keep serving
                log.exception("decoding round failed")
                outcomes, again = {s: Outcome(failure=(INTERNAL, "internal error")) for s in jobs}, set()
            for session, outcome in outcomes.items():
                self._deliver(session, outcome)
            again &= self.sessions  # those with more work go again next round
            for s in jobs:
                if s in self.sessions:
                    s.busy = s in again or s in self._pending  # _pending: audio pushed during the round
                    s.listener.on_round()
            if again:
                self._pending |= again
                self._wake.set()

    def _deliver(self, session: Session, outcome: Outcome) -> None:
        if session not in self.sessions:
            return  # the connection went away during the round
        now = time.monotonic()
        for r in outcome.results:
            self.metrics.result_delay.observe(max(0.0, now - outcome.arrived))
            session.listener.on_result(r)
        if outcome.failure is not None:
            self.sessions.discard(session)
            session.listener.on_failure(*outcome.failure)
        elif outcome.done:
            self.sessions.discard(session)
            session.listener.on_done()

    def _round(self, jobs: list[Session]) -> tuple[dict[Session, Outcome], set[Session]]:
        """Worker thread: feed each stream the audio for its next chunk, decode one chunk of every ready
        stream; returns the outcomes and the sessions with more work (a ready chunk or queued input)."""
        outcomes: dict[Session, Outcome] = {}
        groups: dict[int, list[Session]] = {}
        for s in jobs:
            try:
                s.feed()
            except Exception as e:  # checked by the protocol already; a last line of defence
                outcomes[s] = Outcome(failure=(UNSUPPORTED, f"unusable audio: {e}"))
                continue
            if s.recognizer.is_ready(s.stream):
                groups.setdefault(id(s.recognizer), []).append(s)
        if groups:
            self.stats.rounds += 1
        for group in groups.values():
            for i in range(0, len(group), self.max_batch):
                self._decode(group[i:i + self.max_batch], outcomes)
        again = {s for s in jobs if (s not in outcomes or outcomes[s].failure is None)
                 and (s.has_input or s.recognizer.is_ready(s.stream))}
        return outcomes, again

    def _decode(self, batch: list[Session], outcomes: dict[Session, Outcome]) -> None:
        rec = batch[0].recognizer
        frames = [s.stream.frames_done for s in batch]
        start = time.monotonic()
        try:
            rec.decode_streams([s.stream for s in batch])
        except Exception:
            log.exception("decoding %d streams failed", len(batch))
            for s in batch:
                outcomes[s] = Outcome(failure=(INTERNAL, "internal error while decoding"))
            return
        m = self.metrics
        self.stats.chunks += len(batch)
        self.stats.max_batch = max(self.stats.max_batch, len(batch))
        m.batch_size.observe(len(batch))
        for s, before in zip(batch, frames):
            m.queue_delay.observe(max(0.0, start - s.arrived))
            m.audio_decoded.inc((s.stream.frames_done - before) * rec.frame_seconds)
            out = outcomes.setdefault(s, Outcome())
            out.arrived = s.arrived
            r = rec.get_result(s.stream)
            if r.is_final or r.text != s.last_text:
                out.results.append(r)
            s.last_text = "" if r.is_final else r.text
            out.done = s.stream.done
