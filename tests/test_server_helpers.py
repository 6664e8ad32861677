"""Shared by the server tests (no tests here): the tiny model made once per session, a SpeechServer running
on its own event loop in a background thread, the reference transcripts, and small client helpers."""

from __future__ import annotations

import asyncio
import atexit
import functools
import json
import shutil
import socket
import tempfile
import threading
import urllib.request
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import numpy as np
from asr_helpers import make_model_dir

from speechstream.asr.recognizer import Recognizer
from speechstream.pipeline import ArraySource
from speechstream.server import ServerConfig, SpeechServer


@functools.lru_cache(maxsize=None)
def model_dir(sherpa: bool = False) -> Path:
    """The tiny model of asr_helpers, made once per test session; with `ctc.onnx` for sherpa if asked."""
    d = Path(tempfile.mkdtemp(prefix="speechstream-server-model-"))
    atexit.register(shutil.rmtree, d, True)
    make_model_dir(d)
    if sherpa:
        from speechstream.asr.torch.export import export_model_dir

        export_model_dir(d)
    return d


def reference_finals(samples: np.ndarray, rate: int, decoding: str = "ctc-greedy",
                     lookahead_ms: float | None = None, model: Path | None = None) -> list[str]:
    """Final texts of the Recognizer run directly on the audio (no server)."""
    rec = Recognizer.from_dir(model or model_dir(), decoding=decoding)
    return [r.text for r in rec.transcribe(ArraySource(samples, rate, chunk=777), lookahead_ms) if r.is_final]


class ServerThread:
    """A SpeechServer on its own event loop in a daemon thread (so tests can run blocking clients)."""

    def __init__(self, config: ServerConfig | None = None, model: Path | None = None,
                 recognizer: Recognizer | None = None) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="test-server")
        self.thread.start()
        rec = recognizer or Recognizer.from_dir(model or model_dir())
        self.server = self.call(_make(rec, config or ServerConfig(port=0)))
        self.call(self.server.start())

    def call(self, coro: Coroutine[Any, Any, Any], timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def http(self) -> str:
        return self.url.replace("ws", "http", 1)

    def health(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.http}/healthz", timeout=5) as r:
            return json.loads(r.read())

    def stop(self) -> None:
        self.call(self.server.drain(timeout=2))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


async def _make(rec: Recognizer, config: ServerConfig) -> SpeechServer:
    return SpeechServer(rec, config)  # made on the server's loop


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def finals(messages: list[dict[str, Any]]) -> list[str]:
    return [m["text"].strip() for m in messages if m.get("is_final")]


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")
