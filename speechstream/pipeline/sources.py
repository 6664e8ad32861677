"""Sources: where a pipeline's audio comes from. Each is an iterable of float32 mono chunks with `sample_rate`."""

from __future__ import annotations

import asyncio
import collections
import io
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from speechstream.errors import AudioError

STDIN = "-"


def as_mono_block(samples: object, what: str = "samples") -> np.ndarray:
    """float32 (N,) from (N,) or (N, channels) input (channels are averaged); AudioError otherwise."""
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim == 2:
        x = x.mean(axis=1, dtype=np.float32)
    if x.ndim != 1:
        raise AudioError(f"{what} must be (N,) or (N, channels), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise AudioError(f"{what} contain NaN or infinite values")
    return x


class ArraySource:
    """Yields `samples` in chunks of `chunk` samples (the last may be shorter)."""

    def __init__(self, samples: np.ndarray, sample_rate: float, chunk: int = 320):
        if chunk < 1:
            raise ValueError(f"chunk must be >= 1 sample, got {chunk}")
        self.samples = as_mono_block(samples)
        self.sample_rate = float(sample_rate)
        self.chunk = int(chunk)

    def __iter__(self) -> Iterator[np.ndarray]:
        for start in range(0, len(self.samples), self.chunk):
            yield self.samples[start : start + self.chunk]


class FileSource:
    """Reads an audio file chunk by chunk, only when pulled: never more than one chunk ahead of the consumer.

    With `realtime=True` each chunk is released when it would have finished arriving from a microphone
    (its end time, on a monotonic clock started at the first pull), so downstream timing is realistic.
    Multi-channel files are averaged to mono. `chunks_read` and `samples_read` count what was read so far.
    The path "-" reads standard input (whole, before the first chunk: libsndfile needs to seek).
    """

    def __init__(
        self,
        path: str | Path,
        chunk_ms: float = 20.0,
        realtime: bool = False,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        import soundfile

        if chunk_ms <= 0:
            raise ValueError(f"chunk_ms must be positive, got {chunk_ms}")
        self.path = Path(path)
        # "-" is standard input (`sox in.mp3 -t wav - | speechstream transcribe -`): a pipe cannot seek,
        # which libsndfile needs, so it is read whole first.
        self._data = sys.stdin.buffer.read() if str(path) == STDIN else None
        if self._data is None and self.path.is_dir():
            raise AudioError(f"{self.path} is a folder, not an audio file")
        if self._data is None and not self.path.is_file():
            raise AudioError(f"no such audio file: {self.path}")
        if self._data is not None and not self._data:
            raise AudioError("standard input (-) is empty: pipe an audio file into it")
        try:
            info = soundfile.info(self._open_target())
        except Exception as e:  # soundfile raises several types (LibsndfileError, RuntimeError, TypeError)
            raise AudioError(f"cannot read audio file {self.path}: {_reason(e)}") from None
        if info.frames <= 0:
            raise AudioError(f"audio file {self.path} contains no samples")
        self.sample_rate = float(info.samplerate)
        self.chunk = max(1, round(self.sample_rate * chunk_ms / 1000))
        self.realtime = realtime
        self.chunks_read = 0
        self.samples_read = 0
        self._clock, self._sleep = clock, sleep

    def __iter__(self) -> Iterator[np.ndarray]:
        import soundfile

        try:
            f = soundfile.SoundFile(self._open_target())
        except Exception as e:
            raise AudioError(f"cannot read audio file {self.path}: {_reason(e)}") from None
        with f:
            self.chunks_read = self.samples_read = 0
            start = None
            while True:
                try:
                    block = f.read(self.chunk, dtype="float32", always_2d=True)
                except Exception as e:
                    raise AudioError(f"{self.path} is corrupt after {self.samples_read / self.sample_rate:.2f} s: {_reason(e)}") from None
                if len(block) == 0:
                    return
                self.chunks_read += 1
                x = as_mono_block(block, what=f"samples of {self.path}")
                self.samples_read += len(x)
                if self.realtime:
                    start = self._clock() if start is None else start
                    wait = start + self.samples_read / self.sample_rate - self._clock()
                    if wait > 0:
                        self._sleep(wait)
                yield x


    def _open_target(self) -> str | io.BytesIO:
        return str(self.path) if self._data is None else io.BytesIO(self._data)


def _reason(e: Exception) -> str:
    return str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__


class BlockQueue:
    """A bounded, thread-safe FIFO of blocks with an end: `get()` returns None once closed and drained."""

    def __init__(self, max_blocks: int):
        if max_blocks < 1:
            raise ValueError(f"the queue must hold at least one block, got {max_blocks}")
        self.max_blocks = max_blocks
        self._blocks: collections.deque[np.ndarray] = collections.deque()
        self._closed = False
        self._changed = threading.Condition()

    @property
    def closed(self) -> bool:
        return self._closed

    def put(self, block: np.ndarray, timeout: float | None = None) -> bool:
        """Adds a block, waiting while full; False if it timed out. RuntimeError if closed."""
        with self._changed:
            ok = self._changed.wait_for(lambda: self._closed or len(self._blocks) < self.max_blocks, timeout)
            if self._closed:
                raise RuntimeError("cannot put a block into a closed stream")
            if not ok:
                return False
            self._blocks.append(block)
            self._changed.notify_all()
            return True

    def put_nowait(self, block: np.ndarray) -> bool:
        """Adds a block unless full (False); never waits, so it is safe in an audio callback."""
        return self.put(block, timeout=0)

    def get(self) -> np.ndarray | None:
        """The next block, waiting for one; None once the queue is closed and empty."""
        with self._changed:
            self._changed.wait_for(lambda: self._closed or self._blocks)
            if not self._blocks:
                return None
            block = self._blocks.popleft()
            self._changed.notify_all()
            return block

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()


class PushSource:
    """A source that other code feeds: a thread with `push()`, or asyncio code with `apush()`/`try_push()`.

    Iterating it blocks until a block arrives and ends after `close()` once the queued blocks are
    consumed. At most `max_queued` blocks wait; `push` then waits (back-pressure reaches the producer),
    `try_push` returns False and counts the block in `dropped`.

    From asyncio (a websocket handler), feed it on the event loop and consume the pipeline in a thread:

        source = PushSource(16000)
        frames = pipe(source, Features())
        async for f in aiterate(frames):          # pulls run in a worker thread
            ...
        # meanwhile, in the receiving task:  await source.apush(block) ... source.close()
    """

    def __init__(self, sample_rate: float, max_queued: int = 100):
        self.sample_rate = float(sample_rate)
        self.dropped = 0
        self._queue = BlockQueue(max_queued)

    def push(self, samples: np.ndarray, timeout: float | None = None) -> bool:
        """Queues a block, waiting while the queue is full; False if `timeout` passed first."""
        return self._queue.put(as_mono_block(samples), timeout)

    def try_push(self, samples: np.ndarray) -> bool:
        """Queues a block if there is room, else drops it (counted in `dropped`); never waits."""
        ok = self._queue.put_nowait(as_mono_block(samples))
        self.dropped += not ok
        return ok

    async def apush(self, samples: np.ndarray) -> None:
        """`push` for asyncio: waits for room without blocking the event loop."""
        block = as_mono_block(samples)
        if not self._queue.put_nowait(block):
            await asyncio.to_thread(self._queue.put, block)

    def close(self) -> None:
        """Ends the stream: iteration stops after the blocks already queued."""
        self._queue.close()

    def __iter__(self) -> Iterator[np.ndarray]:
        while (block := self._queue.get()) is not None:
            yield block
