"""The microphone source: a PortAudio input stream whose callback hands blocks to the pulling consumer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from speechstream.audio.devices import import_sounddevice
from speechstream.errors import DeviceError
from speechstream.pipeline.sources import BlockQueue


class MicSource:
    """Captures mono float32 blocks of `block_ms` from an input device, until `close()`.

    The audio callback must never wait, and memory must stay bounded when the consumer falls behind, so
    at most `max_queued_blocks` blocks wait; a block arriving when the queue is full is dropped.
    `overruns` counts lost audio: `dropped_blocks` (queue full) plus `input_overflows` (PortAudio's
    input_overflow flag: the device lost samples before the callback ran).

    Capture starts at the first pull (or `start()`); iteration ends after `close()` once the blocks
    already captured are consumed, or when the device stops by itself. `device` is a sounddevice device
    (index or name substring, e.g. "pulse"); `sample_rate=None` uses the device's default rate.
    """

    def __init__(
        self,
        device: int | str | None = None,
        sample_rate: float | None = None,
        block_ms: float = 20.0,
        max_queued_blocks: int = 100,
    ):
        sd = import_sounddevice()
        try:
            info = sd.query_devices(device, kind="input")
        except (ValueError, sd.PortAudioError) as e:
            which = "no default input device" if device is None else f"no input device matching {device!r}"
            raise DeviceError(f"{which} ({e}); see `speechstream devices`") from None
        self.device: dict[str, Any] = dict(info)
        self.sample_rate = float(sample_rate or info["default_samplerate"])
        self.blocksize = max(1, round(self.sample_rate * block_ms / 1000))
        self.dropped_blocks = 0
        self.input_overflows = 0
        self._queue = BlockQueue(max_queued_blocks)
        self._started = False
        try:
            self._stream = sd.InputStream(
                device=info["index"],
                samplerate=self.sample_rate,
                blocksize=self.blocksize,
                channels=1,
                dtype="float32",
                callback=self._callback,
                finished_callback=self._queue.close,  # the device stopped (or we did): end the iteration
            )
        except (ValueError, sd.PortAudioError) as e:
            raise DeviceError(f"cannot open input device {info['name']!r} at {self.sample_rate:g} Hz: {e}") from None

    @property
    def overruns(self) -> int:
        return self.dropped_blocks + self.input_overflows

    def _callback(self, indata: np.ndarray, frames: int, time: Any, status: Any) -> None:
        # Runs on PortAudio's thread: copy (indata is reused) and never block.
        if status and status.input_overflow:
            self.input_overflows += 1
        try:
            if not self._queue.put_nowait(indata[:, 0].copy()):
                self.dropped_blocks += 1
        except RuntimeError:  # closed while PortAudio was delivering this block: capture is over (raising
            pass  # here would print "Exception ignored from cffi callback" on the terminal)

    def start(self) -> None:
        if not self._started and not self._queue.closed:
            self._started = True
            self._stream.start()

    def close(self) -> None:
        """Stops capturing and releases the device; safe to call more than once."""
        # The queue first, so a consumer waiting on it wakes up (close() may run in a signal handler on
        # the consumer's thread; the callback tolerates a queue closed under it, see _callback).
        self._queue.close()
        self._stream.close(ignore_errors=True)

    def __iter__(self) -> Iterator[np.ndarray]:
        self.start()
        while (block := self._queue.get()) is not None:
            yield block

    def __enter__(self) -> MicSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
