"""The batching worker: one asyncio task that decodes every connection's stream, all ready streams together.

Connections never touch a Stream. They queue audio on their Session (event-loop thread) and notify the
worker; each round the worker takes the notified sessions' queued audio (idle connections cost nothing),
and in one worker thread feeds it to the streams, decodes one chunk of every ready stream (one encoder
call per recognizer and look-ahead, up to `max_batch` streams) and returns the results, which the worker
hands to each session's listener back on the event loop. So one thread mutates streams, the event loop
never waits on the model, and a round is as wide as the load.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from speechstream.asr.recognizer import Recognizer, Result, Stream

from .protocol import INTERNAL, UNSUPPORTED

log = logging.getLogger("speechstream.server")


class Listener(Protocol):
    """Who hears about a session's progress (the connection); called on the event loop."""

    def on_result(self, result: Result) -> None: ...

    def on_done(self) -> None: ...

    def on_failure(self, code: int, message: str) -> None: ...


class Session:
    """One connection's stream, with the audio queued for it and whether its input has ended."""

    def __init__(self, recognizer: Recognizer, stream: Stream, sample_rate: int, listener: Listener) -> None:
        self.recognizer, self.stream, self.sample_rate, self.listener = recognizer, stream, sample_rate, listener
        self._audio: list[np.ndarray] = []  # appended by the connection, taken by the worker (event loop)
        self._finish = False
        self._finish_taken = False
        self.last_text = ""  # worker thread only; no result for a segment until it has text (or ends)

    def push(self, samples: np.ndarray) -> None:
        self._audio.append(samples)

    def finish(self) -> None:
        self._finish = True

    def take(self) -> tuple[list[np.ndarray], bool]:
        """The queued audio, and whether to mark the input finished after it (once)."""
        audio, self._audio = self._audio, []
        finish = self._finish and not self._finish_taken
        self._finish_taken = self._finish_taken or finish
        return audio, finish

    @property
    def has_input(self) -> bool:
        return bool(self._audio) or (self._finish and not self._finish_taken)


@dataclass
class Outcome:
    """What one round did to one session."""

    results: list[Result] = field(default_factory=list)
    done: bool = False
    failure: tuple[int, str] | None = None


@dataclass
class WorkerStats:
    rounds: int = 0
    chunks: int = 0  # stream-chunks decoded
    max_batch: int = 0  # the widest encoder call so far


class BatchingWorker:
    def __init__(self, max_batch: int = 32) -> None:
        self.max_batch = max_batch
        self.sessions: set[Session] = set()
        self._pending: set[Session] = set()  # sessions with new input, or still ready after a round
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
            jobs = [(s, *s.take()) for s in active if s in self.sessions]
            if not jobs:
                continue
            try:
                outcomes, ready = await asyncio.to_thread(self._round, jobs)
            except Exception:  # a bug, not a client's doing: fail this round's sessions, keep serving
                log.exception("decoding round failed")
                outcomes, ready = {s: Outcome(failure=(INTERNAL, "internal error")) for s, _, _ in jobs}, set()
            for session, outcome in outcomes.items():
                self._deliver(session, outcome)
            ready &= self.sessions  # those with another chunk ready go again next round
            if ready:
                self._pending |= ready
                self._wake.set()

    def _deliver(self, session: Session, outcome: Outcome) -> None:
        if session not in self.sessions:
            return  # the connection went away during the round
        for r in outcome.results:
            session.listener.on_result(r)
        if outcome.failure is not None:
            self.sessions.discard(session)
            session.listener.on_failure(*outcome.failure)
        elif outcome.done:
            self.sessions.discard(session)
            session.listener.on_done()

    def _round(self, jobs: list[tuple[Session, list[np.ndarray], bool]]
               ) -> tuple[dict[Session, Outcome], set[Session]]:
        """Worker thread: feed the queued audio, decode one chunk of every ready stream; returns the outcomes
        and the sessions with another chunk ready."""
        outcomes: dict[Session, Outcome] = {}
        groups: dict[int, list[Session]] = {}
        for s, audio, finish in jobs:
            try:
                for x in audio:
                    s.stream.accept_waveform(s.sample_rate, x)
                if finish:
                    s.stream.input_finished()
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
        ready = {s for s, _, _ in jobs
                 if (s not in outcomes or outcomes[s].failure is None) and s.recognizer.is_ready(s.stream)}
        return outcomes, ready

    def _decode(self, batch: list[Session], outcomes: dict[Session, Outcome]) -> None:
        rec = batch[0].recognizer
        try:
            rec.decode_streams([s.stream for s in batch])
        except Exception:
            log.exception("decoding %d streams failed", len(batch))
            for s in batch:
                outcomes[s] = Outcome(failure=(INTERNAL, "internal error while decoding"))
            return
        self.stats.chunks += len(batch)
        self.stats.max_batch = max(self.stats.max_batch, len(batch))
        for s in batch:
            out = outcomes.setdefault(s, Outcome())
            r = rec.get_result(s.stream)
            if r.is_final or r.text != s.last_text:
                out.results.append(r)
            s.last_text = "" if r.is_final else r.text
            out.done = s.stream.done
