"""How sherpa-onnx runs a NeMo-style streaming CTC model, in numpy: windowing, end of stream, greedy CTC, text.

Shapes: T feature frames of a stream, F feature bins (80), W = window_size, S = chunk_shift, c = S / f
encoder frames per window (f subsampling factor), V tokens (blank = V - 1), B streams.

What sherpa-onnx does (read in k2-fsa/sherpa-onnx: csrc/online-nemo-ctc-model.cc,
online-recognizer-ctc-impl.h, online-ctc-greedy-search-decoder.cc, features.cc, online-stream.cc,
symbol-table.cc, macros.h, python/sherpa_onnx/online_recognizer.py):

- Window k is feature frames [k*S, k*S + W), from frame 0 with no left padding; a window is decoded only
  while ``k*S + W < T`` (``IsReady`` is strict), so frames after the last whole window are never decoded.
  ``input_finished()`` only flushes the fbank's last frames: sherpa adds no tail padding itself, its
  examples append ~0.5 s of zeros first. With W = P + S the first P frames are left context only.
- Inputs go by position: window transposed to (B, F, W), length = W, the three caches; outputs logits,
  logit_length (ignored) and the next caches. Caches are batch first ({1, dim1, dim2, dim3} per stream,
  stacked on axis 0). Metadata are decimal integers read with atoi; vocab_size excludes the blank.
- Greedy search: argmax per frame (first maximum), a token is emitted when it is not the blank and differs
  from the previous frame's argmax, across windows too. Log-probs are not required, only the argmax counts.
- Text: the symbols concatenated, a leading ``▁`` of each symbol replaced by one space, ``<0xNN>`` byte
  symbols at ids 3..258 turned into bytes; specials such as ``<unk>`` stay in the text as written;
  ``OnlineRecognizer.get_result`` strips the ends. (Byte-level BPE vocabularies are not emulated.)
- Features: sherpa-onnx 2.0.1 computes ``speechstream.audio.fbank.Fbank()``'s defaults for these models
  (compared frame by frame through ``OnlineStream.get_frames`` in tests/test_sherpa_ctc.py). Its CTC
  timestamps and endpoint silence assume 4x subsampling whatever the metadata say.

The export in this contract needs torch: it is :mod:`speechstream.asr.torch.sherpa_ctc_export`, which imports
this module's names; this module never imports it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from speechstream.asr.ctc_decoding import CtcGreedyDecoder, CtcGreedyState
from speechstream.asr.tokenizer import WORD_BOUNDARY, read_tokens
from speechstream.errors import ModelError
from speechstream.runtime.session import create_session, read_metadata, require

MODEL_TYPE = "speechstream_conformer_ctc"
INPUT_NAMES = ("features", "length", "cache_last_channel", "cache_last_time", "cache_last_channel_len")
OUTPUT_NAMES = ("logits", "logit_length", "next_cache_last_channel", "next_cache_last_time",
                "next_cache_last_channel_len")
SHERPA_KEYS = ("window_size", "chunk_shift", "subsampling_factor", "vocab_size",
               "cache_last_channel_dim1", "cache_last_channel_dim2", "cache_last_channel_dim3",
               "cache_last_time_dim1", "cache_last_time_dim2", "cache_last_time_dim3")

SherpaCtcState = tuple[np.ndarray, np.ndarray, np.ndarray]  # (B, L, Lc, 2D), (B, L, D, K-1), (B,) int64


@dataclass(frozen=True)
class SherpaCtcMeta:
    window_size: int
    chunk_shift: int
    subsampling_factor: int
    num_tokens: int  # V, the blank included (sherpa's vocab_size + 1)
    cache_last_channel: tuple[int, int, int]
    cache_last_time: tuple[int, int, int]

    @classmethod
    def from_metadata(cls, meta: Mapping[str, Any], path: str | Path = "model") -> SherpaCtcMeta:
        require(dict(meta), list(SHERPA_KEYS), path)
        v = {k: int(str(meta[k])) for k in SHERPA_KEYS}  # sherpa reads them with atoi
        return cls(v["window_size"], v["chunk_shift"], v["subsampling_factor"], v["vocab_size"] + 1,
                   tuple(v[f"cache_last_channel_dim{i}"] for i in (1, 2, 3)),  # type: ignore[arg-type]
                   tuple(v[f"cache_last_time_dim{i}"] for i in (1, 2, 3)))  # type: ignore[arg-type]

    def num_windows(self, num_frames: int) -> int:
        """Windows sherpa decodes from T frames: those k with k*S + W < T."""
        return max(0, (num_frames - self.window_size - 1) // self.chunk_shift + 1)

    @property
    def tail_frames(self) -> int:
        """Extra frames after the last real one of a stream of >= W frames that get every real frame decoded:
        the first window ending at or past it ends at most S - 1 frames later and needs one frame beyond.
        (sherpa pads nothing itself; a caller appends silence, e.g. S * frame_shift zero samples.)"""
        return self.chunk_shift


def sherpa_text(symbols: Sequence[str], ids: Sequence[int]) -> str:
    """sherpa-onnx's raw result text of token ids (not stripped; ``get_result`` strips it)."""
    out = bytearray()
    for i in ids:
        sym = symbols[i]
        if sym.startswith(WORD_BOUNDARY):
            sym = " " + sym[len(WORD_BOUNDARY):]
        # Byte fallback as sherpa checks it: the id must spell the hex digits, written without zero padding,
        # so bytes 0x00-0x0F never convert.
        if 3 <= i <= 258 and len(sym) == 6 and sym.startswith("<0x") and sym[5] == ">" \
                and sym[3:5] == format(i - 3, "X"):
            out.append(i - 3)
        else:
            out += sym.encode("utf-8")
    return out.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class SherpaCtcResult:
    tokens: tuple[int, ...]
    frames: tuple[int, ...]  # encoder frame of each token, counted from the first window's first output
    text: str  # as OnlineRecognizer.get_result returns it (stripped)
    num_windows: int


class SherpaCtcRunner:
    """Runs an exported sherpa CTC file exactly as sherpa-onnx's OnlineRecognizer does (numpy + onnxruntime)."""

    def __init__(self, session: Any, symbols: Sequence[str], meta: SherpaCtcMeta | None = None) -> None:
        self.session = session
        self.meta = meta or SherpaCtcMeta.from_metadata(read_metadata(session))
        self.symbols = list(symbols)
        if len(self.symbols) != self.meta.num_tokens:
            raise ModelError(f"{len(self.symbols)} tokens but the model has {self.meta.num_tokens}")
        self._inputs = [i.name for i in session.get_inputs()]  # bound by position, as sherpa does
        if len(self._inputs) != 5:
            raise ModelError(f"a sherpa NeMo CTC model has 5 inputs, this one {len(self._inputs)}")
        self._decoder = CtcGreedyDecoder(blank_id=self.meta.num_tokens - 1)

    @classmethod
    def from_files(cls, model: str | Path, tokens: str | Path, num_threads: int = 1) -> SherpaCtcRunner:
        session = create_session(model, num_threads)
        return cls(session, read_tokens(str(tokens)), SherpaCtcMeta.from_metadata(read_metadata(session), model))

    def init_state(self, batch_size: int = 1) -> SherpaCtcState:
        m = self.meta
        return (np.zeros((batch_size, *m.cache_last_channel), np.float32),
                np.zeros((batch_size, *m.cache_last_time), np.float32),
                np.zeros(batch_size, np.int64))

    def step(self, windows: np.ndarray, state: SherpaCtcState) -> tuple[np.ndarray, SherpaCtcState]:
        """windows (B, W, F) -> log-probs (B, c, V) and the next state."""
        b, w, _ = windows.shape
        if w != self.meta.window_size:
            raise ValueError(f"window of {w} frames, the model takes {self.meta.window_size}")
        feeds = [np.ascontiguousarray(windows.transpose(0, 2, 1), np.float32),
                 np.full(b, w, np.int64), *state]
        logits, _, chan, time_, chan_len = self.session.run(None, dict(zip(self._inputs, feeds)))
        return logits, (chan, time_, chan_len)

    def decode(self, feats: np.ndarray) -> SherpaCtcResult:
        """feats (T, F) of a whole stream, tail padding included -> sherpa's final result for it."""
        state, greedy = self.init_state(1), CtcGreedyState()
        # Our greedy rule (dedupe against the previous frame's argmax) is sherpa's: it restarts each window
        # from -1 / the blank / the last token, which is always that argmax.
        n = self.meta.num_windows(len(feats))
        for k in range(n):
            start = k * self.meta.chunk_shift
            log_probs, state = self.step(feats[None, start:start + self.meta.window_size], state)
            greedy = self._decoder.step(log_probs[0], greedy)
        return SherpaCtcResult(greedy.tokens, greedy.frames, sherpa_text(self.symbols, greedy.tokens).strip(), n)

