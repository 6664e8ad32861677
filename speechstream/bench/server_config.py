"""What one run of the server benchmark does: the model, the mode (full or quick) and the search's limits.

Its own module because both halves of the benchmark read it: speechstream.bench.server (the load and the
search) and speechstream.bench.servers (the model each server runs and how it is started).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from speechstream.errors import SpeechstreamError


@dataclass(frozen=True)
class ServerBenchConfig:
    """What to run. None means the default of the mode: full (10 s per step, up to 512 clients) or quick
    (3 s, up to 8). The model: model_dir, else (unless quick) models/asr_en if it exists, else a random tiny one."""

    model_dir: Path | None = None
    quick: bool = False
    seconds: float | None = None  # audio per client per step
    max_clients: int | None = None  # the search's cap
    lookahead_ms: float | None = None  # None: the model's default
    start_clients: int | None = None  # the search's first step (default 4; quick 2)

    def resolved(self) -> ServerBenchConfig:
        q = self.quick
        c = replace(self, seconds=self.seconds if self.seconds is not None else (3.0 if q else 10.0),
                    max_clients=self.max_clients if self.max_clients is not None else (8 if q else 512))
        start = self.start_clients or (2 if q else 4)
        c = replace(c, start_clients=min(c.max_clients, start))  # type: ignore[type-var]
        if c.seconds < 1:  # type: ignore[operator]
            raise SpeechstreamError(f"--seconds must be >= 1, got {c.seconds:g}")
        if c.max_clients < 1:  # type: ignore[operator]
            raise SpeechstreamError(f"--max-clients must be >= 1, got {c.max_clients}")
        if c.start_clients < 1:  # type: ignore[operator]
            raise SpeechstreamError(f"start_clients must be >= 1, got {c.start_clients}")
        if c.lookahead_ms is not None and c.lookahead_ms <= 0:
            raise SpeechstreamError(f"--lookahead-ms must be > 0, got {c.lookahead_ms:g}")
        if c.model_dir is not None and not Path(c.model_dir).is_dir():
            raise SpeechstreamError(f"model directory not found: {c.model_dir}")
        return c
