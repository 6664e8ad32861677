"""The frame-pull core: a Flow is an iterable of chunks with a rate; a Stage runs one streaming object.

Nothing here buffers or runs ahead: a Stage pulls from its upstream only when its own consumer asks
for output and the streaming object has none ready, so the consumer sets the pace for the whole chain.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any, Protocol, Union, runtime_checkable


@runtime_checkable
class Streaming(Protocol):
    """The streaming protocol of speechstream's primitives: concatenated returns equal the offline result."""

    def accept(self, x: Any) -> Any: ...

    def flush(self) -> Any: ...


class Flow(Protocol):
    """What sources and stages are: iterables of chunks along axis 0, with the rate of that axis.

    `sample_rate` is in rows per second: audio samples for audio, frames for features.
    """

    sample_rate: float

    def __iter__(self) -> Iterator[Any]: ...


# A step of a pipeline: builds the downstream flow from its upstream (it needs the upstream's rate).
StageFactory = Callable[[Flow], Flow]


def is_empty(y: Any) -> bool:
    """Whether a streaming output carries nothing (None, or zero rows), so it is not passed on."""
    return y is None or len(y) == 0


class Stage:
    """Runs one streaming object over an upstream flow; iterating it yields the non-empty outputs.

    On upstream end-of-stream it calls `flush()` and yields what remains, then ends; since its own
    consumer sees that end only afterwards, end-of-stream flushes every stage of a chain in order.
    A Stage is single-use, like the streaming object it owns.
    """

    def __init__(self, upstream: Iterable[Any], processor: Streaming, sample_rate: float | None = None):
        self.upstream = upstream
        self.processor = processor
        self.sample_rate = float(sample_rate if sample_rate is not None else upstream.sample_rate)  # type: ignore[attr-defined]
        self._outputs = self._run()

    def _run(self) -> Iterator[Any]:
        for x in self.upstream:
            y = self.processor.accept(x)
            if not is_empty(y):
                yield y
        y = self.processor.flush()
        if not is_empty(y):
            yield y

    def __iter__(self) -> Stage:
        return self

    def __next__(self) -> Any:
        return next(self._outputs)

    def close(self) -> None:
        """Stop this stage and everything upstream of it (a microphone stops capturing)."""
        self._outputs.close()
        close = getattr(self.upstream, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> Stage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def pipe(source: Flow, *steps: Union[StageFactory, Streaming]) -> Flow:
    """Chains `steps` after `source` and returns the last flow; iterate it to run the chain.

    A step is either a stage factory (`Resample(16000)`, `Features(cfg)`, any `flow -> flow` callable)
    or a ready streaming object with accept/flush, which is run as a Stage keeping the upstream rate.
    """
    flow = source
    for step in steps:
        if isinstance(step, Streaming):
            flow = Stage(flow, step)
        elif callable(step):
            flow = step(flow)
        else:
            raise TypeError(f"a pipeline step must be a stage factory or have accept/flush, got {step!r}")
    return flow


def collect(flow: Iterable[Any]) -> Any:
    """Runs a flow to its end and concatenates its chunks along axis 0 (numpy arrays)."""
    import numpy as np

    chunks = list(flow)
    if not chunks:
        raise ValueError("the flow produced no output")
    return np.concatenate(chunks, axis=0)


async def aiterate(flow: Iterable[Any]) -> AsyncIterator[Any]:
    """Iterates a flow from asyncio code without blocking the event loop.

    Each pull runs in a worker thread (pulls are blocking, and the stages do the CPU work inside them);
    pulls never overlap, so the flow sees one consumer as always. Pair it with a PushSource that the
    event loop feeds.
    """
    iterator = iter(flow)
    done = object()
    while True:
        item = await asyncio.to_thread(next, iterator, done)
        if item is done:
            return
        yield item
