"""The frame-pull pipeline: sources feed stages, and the consumer pulls.

A *flow* is an iterable of chunks (numpy arrays, axis 0 is time) with a `sample_rate` attribute
(rows per second: samples for audio, frames for features). Sources are flows: `ArraySource`,
`FileSource`, `MicSource`, `PushSource`. A `Stage` runs one streaming object (anything with
`accept(x) -> y` and `flush() -> y`: a resampler, a feature extractor, later an encoder or a vocoder)
over an upstream flow and is itself a flow. `pipe(source, *steps)` chains them.

The consumer drives: asking the last stage for output makes it pull from the stage before it only
when it has nothing ready, and so on back to the source. So nothing runs ahead (a file is read at
most one chunk ahead of what was consumed), a slow consumer slows the source down instead of
filling memory, and end of stream is natural: when the source ends, each stage in turn calls
`flush()` and passes on what remains. Empty outputs are not passed on.

    from speechstream.audio import FbankConfig
    from speechstream.pipeline import FileSource, Features, Resample, collect, pipe

    frames = pipe(FileSource("samples/hello.wav", chunk_ms=10), Resample(16000), Features(FbankConfig()))
    for block in frames:             # (t, 80) float32 blocks, as soon as each is final
        ...
    # or all at once, identical to offline Fbank of the resampled file:
    # features = collect(pipe(...))

Live: `with pipe(MicSource(), Resample(16000), Features()) as frames: for block in frames: ...`
(closing the pipeline closes the microphone). From asyncio, feed a `PushSource` on the event loop and
consume with `async for block in aiterate(frames)`.
"""

from __future__ import annotations

from speechstream.pipeline.core import Flow, Stage, StageFactory, Streaming, aiterate, collect, pipe
from speechstream.pipeline.mic import MicSource
from speechstream.pipeline.sources import ArraySource, BlockQueue, FileSource, PushSource
from speechstream.pipeline.stages import Features, Resample

__all__ = [
    "ArraySource",
    "BlockQueue",
    "Features",
    "FileSource",
    "Flow",
    "MicSource",
    "PushSource",
    "Resample",
    "Stage",
    "StageFactory",
    "Streaming",
    "aiterate",
    "collect",
    "pipe",
]
