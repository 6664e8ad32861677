"""Decoding audio files as one batch of streams: every file is a Stream fed chunk by chunk, and each round
decodes all ready streams together (one encoder call per look-ahead)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from speechstream.asr.recognizer import Recognizer, Result
from speechstream.errors import AudioError
from speechstream.pipeline.sources import FileSource


def transcribe_files(recognizer: Recognizer, paths: Sequence[str | Path], lookahead_ms: float | None = None,
                     realtime: bool = False, chunk_ms: float = 100.0
                     ) -> Iterator[tuple[int, Result | AudioError]]:
    """Yields (file index, result) whenever a file's text changes or a segment ends, and (index, error)
    for a file that cannot be read (the other files go on)."""
    sources, streams, readers, last_text = {}, {}, {}, {}
    for i, path in enumerate(paths):
        try:
            sources[i] = FileSource(path, chunk_ms=chunk_ms, realtime=realtime)
        except AudioError as e:
            yield i, e
            continue
        streams[i] = recognizer.create_stream(lookahead_ms)
        readers[i] = iter(sources[i])
        last_text[i] = ""  # no event for a segment until it has text
    while streams:
        for i in list(readers):
            try:
                streams[i].accept_waveform(int(sources[i].sample_rate), next(readers[i]))
            except StopIteration:
                del readers[i]
                streams[i].input_finished()
            except AudioError as e:  # corrupt mid-file: report it, keep the rest going
                del readers[i], streams[i]
                yield i, e
        while any(recognizer.is_ready(s) for s in streams.values()):
            ready = {i: s for i, s in streams.items() if recognizer.is_ready(s)}
            recognizer.decode_streams(ready.values())
            for i, s in ready.items():
                r = recognizer.get_result(s)
                if r.is_final or r.text != last_text[i]:
                    yield i, r
                last_text[i] = "" if r.is_final else r.text
                if s.done:
                    del streams[i]
