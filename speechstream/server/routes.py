"""HTTP on the websocket port (websockets' `process_request` hook): the static page, /healthz (alive), /readyz
(ready: 503 while starting or draining), /metrics (Prometheus), and the checks a request must pass: the Host
header when there is no token (DNS rebinding), then for websockets the origin allow-list and the token, which
/metrics needs too."""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from .config import ServerConfig
from .metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE

STATIC_DIR = Path(__file__).parent / "static"
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8"}
# The page may talk only to the server it came from, and loads nothing else.
CSP = ("default-src 'self'; connect-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:")


def static_files() -> dict[str, tuple[bytes, str]]:
    """URL path -> (body, content type) for the files of static/ ("/" is index.html)."""
    files = {}
    for f in sorted(STATIC_DIR.iterdir()):
        if f.is_file() and f.suffix in CONTENT_TYPES:
            files[f"/{f.name}"] = (f.read_bytes(), CONTENT_TYPES[f.suffix])
    files["/"] = files["/index.html"]
    return files


def response(status: int, body: bytes, content_type: str, extra: tuple[tuple[str, str], ...] = ()) -> Response:
    headers = Headers([("Content-Type", content_type), ("Content-Length", str(len(body))),
                       ("Cache-Control", "no-cache"), ("X-Content-Type-Options", "nosniff"), *extra])
    return Response(status, _REASONS.get(status, ""), headers, body)


def text_response(status: int, text: str) -> Response:
    return response(status, text.encode(), "text/plain; charset=utf-8")


_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            503: "Service Unavailable"}


def make_process_request(config: ServerConfig, health: Callable[[], dict[str, Any]],
                         ready: Callable[[], bool] = lambda: True, metrics: Callable[[], str] = lambda: ""
                         ) -> Callable[[ServerConnection, Request], Response | None]:
    files = static_files()

    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        host = request.headers.get("Host", "")
        if config.token is None and not host_allowed(host, config.host, config.allow_hosts):
            return text_response(403, f"host {host!r} is not allowed (see --allow-hosts)\n")
        query = parse_qs(url.query)
        if request.headers.get("Upgrade", "").lower() != "websocket":
            if url.path == "/healthz":
                return response(200, json.dumps(health()).encode(), "application/json")
            if url.path == "/readyz":
                return text_response(200, "ready\n") if ready() else text_response(503, "not ready\n")
            if url.path == "/metrics":
                if config.token is not None and not token_ok(request, query, config.token):
                    return _unauthorized()
                return response(200, metrics().encode(), METRICS_CONTENT_TYPE)
            if url.path in files:
                body, kind = files[url.path]
                extra = (("Content-Security-Policy", CSP),) if kind.startswith("text/html") else ()
                return response(200, body, kind, extra)
            return text_response(404, f"not found: {url.path}\n")
        origin = request.headers.get("Origin")
        if origin is not None and not origin_allowed(origin, host, config.allow_origins):
            return text_response(403, f"origin {origin} is not allowed (see --allow-origin)\n")
        if config.token is not None and not token_ok(request, query, config.token):
            return _unauthorized()
        return None  # go on with the websocket handshake

    return process_request


def _unauthorized() -> Response:
    return response(401, b"a token is required: Authorization: Bearer TOKEN, or ?token=TOKEN\n",
                    "text/plain; charset=utf-8", (("WWW-Authenticate", 'Bearer realm="speechstream"'),))


def host_allowed(host_header: str, bound: str, allowed: tuple[str, ...]) -> bool:
    """Whether a Host header names this server rather than a name an attacker points at it (DNS rebinding):
    an IP address (a page at an address is that address's own origin), `localhost` or a name under it, the
    bound host, or a name in `allowed` ("*": any). The port does not matter."""
    if "*" in allowed:
        return True
    name = _hostname(host_header)
    if not name:
        return False
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        pass
    return name in {_hostname(h) for h in (bound, *allowed)}


def _hostname(host: str) -> str:
    """'Example.org:6006' -> 'example.org', '[::1]:6006' -> '::1', 'example.org.' -> 'example.org'."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else ""
    if host.count(":") == 1:
        host = host.split(":")[0]
    elif host.count(":") > 1:  # a bare IPv6 address (a bound host such as "::")
        return host
    return host.rstrip(".")

def origin_allowed(origin: str, host: str, allowed: tuple[str, ...]) -> bool:
    """The page's own origin (same host:port as the request), or one named in the allow-list."""
    if "*" in allowed or origin in allowed:
        return True
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and bool(host) and parts.netloc.lower() == host.lower()


def token_ok(request: Request, query: dict[str, list[str]], token: str) -> bool:
    given = []
    auth = request.headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        given.append(auth[7:].strip())
    given += query.get("token", [])
    return any(hmac.compare_digest(g.encode(), token.encode()) for g in given)
