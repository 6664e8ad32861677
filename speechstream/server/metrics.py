"""The server's metrics, served as Prometheus' text format (version 0.0.4) at GET /metrics.

Written by hand (three metric kinds, one optional label) rather than with prometheus_client, which the runtime
does not depend on. Counters and histograms are updated from the event loop and the worker thread; each takes
a lock, so a scrape never sees a histogram whose buckets disagree with its count.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DELAY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class Counter:
    """A count that only goes up; with `label`, one count per label value (e.g. errors by close code)."""

    kind = "counter"

    def __init__(self, name: str, help: str, label: str | None = None) -> None:  # noqa: A002 - Prometheus' word
        self.name, self.help, self.label = name, help, label
        self._values: dict[str, float] = {} if label else {"": 0.0}
        self._lock = threading.Lock()

    def inc(self, amount: float = 1.0, label_value: str = "") -> None:
        if amount < 0:
            raise ValueError("a counter only goes up")
        with self._lock:
            self._values[label_value] = self._values.get(label_value, 0.0) + amount

    def value(self, label_value: str = "") -> float:
        return self._values.get(label_value, 0.0)

    def samples(self) -> Iterable[str]:
        with self._lock:
            values = sorted(self._values.items())
        for key, v in values:
            labels = f'{{{self.label}="{_escape(key)}"}}' if self.label else ""
            yield f"{self.name}{labels} {_number(v)}"


class Gauge:
    """A value read when scraped (the number of open connections, of streams)."""

    kind = "gauge"

    def __init__(self, name: str, help: str, read: Callable[[], float]) -> None:  # noqa: A002
        self.name, self.help, self._read = name, help, read

    def samples(self) -> Iterable[str]:
        yield f"{self.name} {_number(self._read())}"


class Histogram:
    """Observations counted into cumulative buckets (upper bounds `buckets`, then +Inf), with their sum."""

    kind = "histogram"

    def __init__(self, name: str, help: str, buckets: tuple[float, ...]) -> None:  # noqa: A002
        if list(buckets) != sorted(set(buckets)):
            raise ValueError("buckets must increase")
        self.name, self.help, self.buckets = name, help, tuple(buckets)
        self._counts = [0] * (len(buckets) + 1)  # per bucket, not cumulative; the last is +Inf
        self._sum = 0.0
        self._lock = threading.Lock()

    def observe(self, value: float) -> None:
        i = next((k for k, b in enumerate(self.buckets) if value <= b), len(self.buckets))
        with self._lock:
            self._counts[i] += 1
            self._sum += value

    @property
    def count(self) -> int:
        return sum(self._counts)

    def samples(self) -> Iterable[str]:
        with self._lock:
            counts, total = list(self._counts), self._sum
        running = 0
        for bound, n in zip((*self.buckets, math.inf), counts):
            running += n
            yield f'{self.name}_bucket{{le="{_number(bound)}"}} {running}'
        yield f"{self.name}_sum {_number(total)}"
        yield f"{self.name}_count {running}"


class ServerMetrics:
    """Every metric the server exports. `connections` and `streams` read the server's live state."""

    def __init__(self, connections: Callable[[], float] = lambda: 0, streams: Callable[[], float] = lambda: 0
                 ) -> None:
        p = "speechstream_"
        self.connections = Gauge(p + "connections", "Open websocket connections.", connections)
        self.streams = Gauge(p + "streams", "Streams the batching worker holds.", streams)
        self.audio_received = Counter(p + "audio_received_seconds_total",
                                      "Audio received from clients, in seconds at the client's rate.")
        self.audio_decoded = Counter(p + "audio_decoded_seconds_total", "Audio decoded by the encoder, in seconds.")
        self.batch_size = Histogram(p + "decode_batch_size", "Streams per encoder call.", BATCH_BUCKETS)
        self.queue_delay = Histogram(
            p + "queue_delay_seconds",
            "From the arrival of the last audio a chunk needs to the encoder call that decodes it.", DELAY_BUCKETS)
        self.result_delay = Histogram(
            p + "result_delay_seconds",
            "From the arrival of the last audio a result needs to the result being queued for its client.",
            DELAY_BUCKETS)
        self.errors = Counter(p + "errors_total",
                              "Connections that ended with an error, by websocket close code (1006: the client "
                              "vanished without a close handshake).", label="code")
        self.paused = Counter(p + "backpressure_pauses_total",
                              "Times a connection stopped reading because its stream was --max-backlog-s ahead "
                              "of its decoder.")

    def all(self) -> tuple[Counter | Gauge | Histogram, ...]:
        return (self.connections, self.streams, self.audio_received, self.audio_decoded, self.batch_size,
                self.queue_delay, self.result_delay, self.errors, self.paused)

    def render(self) -> str:
        lines = []
        for m in self.all():
            lines += [f"# HELP {m.name} {_escape_help(m.help)}", f"# TYPE {m.name} {m.kind}", *m.samples()]
        return "\n".join(lines) + "\n"


def _number(x: float) -> str:
    if x == math.inf:
        return "+Inf"
    if float(x).is_integer() and abs(x) < 2**53:
        return str(int(x))
    return repr(float(x))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")
