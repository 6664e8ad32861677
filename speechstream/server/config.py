"""The server's limits and defaults, one frozen dataclass (what `speechstream serve` flags map onto)."""

from __future__ import annotations

from dataclasses import dataclass, field

from speechstream.errors import SpeechstreamError


@dataclass(frozen=True)
class ServerConfig:
    """Where to listen, who may connect, and how much any one client may cost.

    allow_origins: browser origins allowed besides the page's own (same host:port), "*" for any; clients that
        send no Origin header (not browsers) are always allowed. token: when set, every websocket needs it,
        as `Authorization: Bearer TOKEN` or `?token=TOKEN`. max_utterance_s / idle_timeout_s: 0 = no limit.
    """

    host: str = "127.0.0.1"
    port: int = 6006
    max_connections: int = 64
    token: str | None = None
    allow_origins: tuple[str, ...] = field(default_factory=tuple)
    certfile: str | None = None
    keyfile: str | None = None
    max_message_bytes: int = 1 << 20  # 1 MiB = 16 s of float32 at 16 kHz in one message
    idle_timeout_s: float = 30.0  # no message for this long while the input is open: closed (1008)
    max_utterance_s: float = 600.0  # audio per connection, at the client's rate
    max_batch: int = 32  # streams per encoder call; more ready streams take several calls a round
    max_queued_results: int = 1000  # results waiting for a client that does not read them
    drain_timeout_s: float = 10.0  # SIGTERM: time given to finish every stream
    lookahead_ms: float | None = None  # the default look-ahead of a stream (the model's default if None)
    decoding: str = "ctc-greedy"  # the default decoding method
    reuse_port: bool = False  # SO_REUSEPORT: several server processes accept on one port (serve --workers)

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise SpeechstreamError(f"--port must be in 0..65535, got {self.port}")
        for name in ("max_connections", "max_message_bytes", "max_batch", "max_queued_results"):
            if getattr(self, name) < 1:
                raise SpeechstreamError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        for name in ("idle_timeout_s", "max_utterance_s", "drain_timeout_s"):
            if getattr(self, name) < 0:
                raise SpeechstreamError(f"{name} must be >= 0, got {getattr(self, name)}")
        if (self.certfile is None) != (self.keyfile is None):
            raise SpeechstreamError("--certfile and --keyfile go together")
        if self.token is not None and not self.token:
            raise SpeechstreamError("--token must not be empty")

    @property
    def tls(self) -> bool:
        return self.certfile is not None
