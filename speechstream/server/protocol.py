"""The websocket protocol: what a client may send, what the server answers, and the close codes.

Protocol 1 (sherpa-onnx's streaming websocket clients): binary messages of float32 little-endian samples at
16 kHz, then the text `Done`. Protocol 2: the first message is a JSON object configuring the stream, e.g.
``{"sample_rate": 48000, "format": "s16le", "lookahead_ms": 320, "decoding": "ctc-beam"}`` (every key
optional), answered by ``{"config": {...}}`` with the values in effect; then as protocol 1.

The server answers with result objects (JSON text: text, segment, is_final, start, end, tokens,
timestamps) whenever a segment's text changes and when it ends, then the text `Done!`, then closes with 1000.
A client's mistake is answered with ``{"error": MESSAGE, "code": CODE}`` and a close with that code.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from speechstream.asr.recognizer import DECODING_METHODS, Result

DONE = "Done"  # client: no more audio
DONE_REPLY = "Done!"  # server: every result sent (sherpa's clients wait for it)

# Close codes (RFC 6455 section 7.4.1)
NORMAL = 1000
GOING_AWAY = 1001  # the server is shutting down (after finishing the stream)
UNSUPPORTED = 1003  # data the protocol does not accept: bad audio, bad configuration values
POLICY = 1008  # wrong order of messages, limits (idle, utterance length, unread results)
TOO_BIG = 1009  # a message over --max-message-bytes (websockets closes with it by itself)
INTERNAL = 1011
TRY_AGAIN_LATER = 1013  # --max-connections reached

FORMATS = {"f32le": np.dtype("<f4"), "s16le": np.dtype("<i2")}
MIN_RATE, MAX_RATE = 8000, 192000
CONFIG_KEYS = ("sample_rate", "format", "lookahead_ms", "decoding")


class ProtocolError(Exception):
    """A client's mistake: the message it gets and the close code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class StreamConfig:
    sample_rate: int = 16000
    format: str = "f32le"
    lookahead_ms: float | None = None  # None: the server's default
    decoding: str | None = None  # None: the server's default


def parse_config(text: str) -> StreamConfig:
    """A protocol-2 configuration message -> StreamConfig; ProtocolError(1003) for anything off."""
    try:
        obj = json.loads(text)
    except ValueError:
        raise ProtocolError(UNSUPPORTED, "the configuration message is not valid JSON") from None
    except RecursionError:  # json nests by recursion: a few kB of '[' reach the interpreter's limit
        raise ProtocolError(UNSUPPORTED, "the configuration message is nested too deeply") from None
    if not isinstance(obj, dict):
        raise ProtocolError(UNSUPPORTED, "the configuration message must be a JSON object")
    unknown = sorted(set(obj) - set(CONFIG_KEYS))
    if unknown:
        raise ProtocolError(UNSUPPORTED, f"unknown configuration keys {unknown}; known: {list(CONFIG_KEYS)}")
    rate = obj.get("sample_rate", 16000)
    if isinstance(rate, float) and rate.is_integer():
        rate = int(rate)  # JavaScript's AudioContext.sampleRate is a float such as 48000.0
    if not isinstance(rate, int) or isinstance(rate, bool) or not MIN_RATE <= rate <= MAX_RATE:
        raise ProtocolError(UNSUPPORTED, f"sample_rate must be an integer in {MIN_RATE}..{MAX_RATE}, got {rate!r}")
    fmt = obj.get("format", "f32le")
    if fmt not in FORMATS:
        raise ProtocolError(UNSUPPORTED, f"format must be one of {list(FORMATS)}, got {fmt!r}")
    lookahead = obj.get("lookahead_ms")
    if lookahead is not None and (not isinstance(lookahead, (int, float)) or isinstance(lookahead, bool)
                                  or not math.isfinite(lookahead) or lookahead <= 0):
        raise ProtocolError(UNSUPPORTED, f"lookahead_ms must be a positive number, got {lookahead!r}")
    decoding = obj.get("decoding")
    if decoding is not None and decoding not in DECODING_METHODS:
        raise ProtocolError(UNSUPPORTED, f"decoding must be one of {list(DECODING_METHODS)}, got {decoding!r}")
    return StreamConfig(rate, fmt, None if lookahead is None else float(lookahead), decoding)


def decode_audio(data: bytes, fmt: str) -> np.ndarray:
    """A binary message -> (N,) float32 samples in [-1, 1]; ProtocolError(1003) for a partial sample or
    non-finite values."""
    dtype = FORMATS[fmt]
    if len(data) % dtype.itemsize:
        raise ProtocolError(UNSUPPORTED, f"a binary message of {len(data)} bytes is not a whole number of {fmt} "
                                         f"samples ({dtype.itemsize} bytes each)")
    x = np.frombuffer(data, dtype)
    if fmt == "s16le":
        return x.astype(np.float32) / 32768.0
    if not np.isfinite(x).all():
        raise ProtocolError(UNSUPPORTED, "the audio contains NaN or infinite samples")
    return x.astype(np.float32)  # a copy: the message's buffer is not kept


def result_message(result: Result) -> str:
    return json.dumps(result.to_dict(), ensure_ascii=False)


def error_message(code: int, message: str) -> str:
    return json.dumps({"error": message, "code": code})


def config_message(values: dict[str, Any]) -> str:
    return json.dumps({"config": values})


def close_reason(message: str) -> str:
    """A close frame's reason holds at most 123 bytes of UTF-8."""
    data = message.encode("utf-8")
    return message if len(data) <= 123 else data[:120].decode("utf-8", "ignore") + "..."
