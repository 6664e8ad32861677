"""The server's limits and defaults, one frozen dataclass (what `speechstream serve` flags map onto)."""

from __future__ import annotations

from dataclasses import dataclass, field

from speechstream.errors import SpeechstreamError

RECEIVE_QUEUE = 4  # messages websockets buffers per connection before it stops reading the socket


@dataclass(frozen=True)
class ServerConfig:
    """Where to listen, who may connect, and how much any one client may cost.

    allow_origins: browser origins allowed besides the page's own (same host:port), "*" for any; clients that
        send no Origin header (not browsers) are always allowed. token: when set, every websocket and /metrics
        need it, as `Authorization: Bearer TOKEN` or `?token=TOKEN`. allow_hosts: without a token, the Host
        header of every request (page, websocket, /healthz, /metrics) must be an IP address, `localhost` (or a
        name under it), `host`, or one of these names ("*" for any); anything else is refused with 403, which
        stops DNS rebinding (a page on evil.example whose name now resolves to this machine). With a token the
        token does that job. max_utterance_s / idle_timeout_s / max_backlog_s: 0 = no limit.

    Memory per connection is bounded: the reader stops reading the socket (TCP then holds the client back)
    while its stream is more than `max_backlog_s` of audio ahead of its decoder, so at most that much audio
    waits on the server, as float32 at the client's rate (30 s: 1.9 MB at 16 kHz, 5.8 MB at 48 kHz), plus one
    message being handled and up to RECEIVE_QUEUE messages (each <= `max_message_bytes`) in websockets' buffer,
    plus at most `max_queued_results` results waiting for a client that does not read them (then: 1008).
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
    max_backlog_s: float = 30.0  # audio a stream may be ahead of its decoder before its socket is not read
    allow_hosts: tuple[str, ...] = field(default_factory=tuple)  # Host names allowed without a token
    max_batch: int = 32  # streams per encoder call; more ready streams take several calls a round
    max_queued_results: int = 200  # results waiting for a client that does not read them (then 1008)
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
        for name in ("idle_timeout_s", "max_utterance_s", "drain_timeout_s", "max_backlog_s"):
            if getattr(self, name) < 0:
                raise SpeechstreamError(f"{name} must be >= 0, got {getattr(self, name)}")
        if (self.certfile is None) != (self.keyfile is None):
            raise SpeechstreamError("--certfile and --keyfile go together")
        if self.token is not None and not self.token:
            raise SpeechstreamError("--token must not be empty")

    @property
    def tls(self) -> bool:
        return self.certfile is not None
