"""A streaming voice activity detector: silero-vad's ONNX model run with onnxruntime (no torch).

The recogniser's own endpointer listens to the model's blank runs, which a weak or unfamiliar model makes
unreliable; a VAD hears pauses in the audio itself. silero-vad looks at 32 ms windows (512 samples at 16 kHz,
with the previous window's last 64 samples as context) and carries a (2, 1, 128) state; a window's decision
uses sherpa-onnx's / silero's hysteresis: speech starts above `threshold` and ends below `threshold - 0.15`.
Windows are cut from the stream's start, so any chunking of the input gives the same decisions.

The model is the `silero_vad.onnx` inside the silero-vad PyPI package (MIT): only the file is read, the
package (which imports torch) never is, so `pip install --no-deps silero-vad` is enough.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from speechstream.errors import ModelError

RATE = 16000
WINDOW = 512  # samples at 16 kHz: 32 ms
CONTEXT = 64  # samples of the previous window the model sees first
WINDOW_SECONDS = WINDOW / RATE


@dataclass(frozen=True)
class VadConfig:
    """threshold: speech probability that starts speech; min_silence_s: a pause this long after speech ends
    the recogniser's segment; model: a silero_vad.onnx (default: the silero-vad package's)."""

    threshold: float = 0.5
    min_silence_s: float = 0.5
    model: str | None = None

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")
        if self.min_silence_s <= 0:
            raise ValueError(f"min_silence_s must be > 0, got {self.min_silence_s}")


def silero_model_path() -> Path:
    """silero_vad.onnx from the installed silero-vad package, found without importing it."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            path = Path(folder) / "data" / "silero_vad.onnx"
            if path.is_file():
                return path
    raise ModelError("the VAD needs silero-vad's model: pip install --no-deps silero-vad (only its ONNX file "
                     "is used, never torch)")


class SileroVad:
    """The loaded model (shared by any number of VadStreams)."""

    def __init__(self, config: VadConfig | None = None) -> None:
        import onnxruntime as ort

        self.config = config or VadConfig()
        path = Path(self.config.model) if self.config.model else silero_model_path()
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1  # one 32 ms window at a time
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own types for unreadable or foreign files
            raise ModelError(f"cannot load the VAD model {path}: {e}") from None
        self._sr = np.array(RATE, dtype=np.int64)

    def stream(self) -> VadStream:
        return VadStream(self)

    def probability(self, window: np.ndarray, state: np.ndarray) -> tuple[float, np.ndarray]:
        """(speech probability, next state) of one (CONTEXT + WINDOW,) float32 window."""
        prob, state = self.session.run(None, {"input": window[None], "state": state, "sr": self._sr})
        return float(prob.reshape(-1)[0]), state


class VadStream:
    """One stream's VAD: `accept(samples)` at 16 kHz; `is_speech[i]` is window i's decision (1 speech)."""

    def __init__(self, vad: SileroVad) -> None:
        self.vad = vad
        self._state = np.zeros((2, 1, 128), np.float32)
        self._pending = np.zeros(CONTEXT, np.float32)  # the context, then samples not yet in a window
        self._speaking = False
        self.is_speech = bytearray()

    def accept(self, samples: np.ndarray) -> None:
        x = np.concatenate([self._pending, np.asarray(samples, np.float32)])
        start = 0
        threshold = self.vad.config.threshold
        while x.shape[0] - start >= CONTEXT + WINDOW:
            p, self._state = self.vad.probability(x[start:start + CONTEXT + WINDOW], self._state)
            self._speaking = p >= threshold or (self._speaking and p >= threshold - 0.15)
            self.is_speech.append(self._speaking)
            start += WINDOW
        self._pending = x[start:]

    def trailing_silence(self, until_s: float, since_s: float) -> float:
        """Seconds of non-speech windows that end at or before `until_s`, counted back from there, and
        whether speech came before them after `since_s`: returns 0 when there was no speech since then."""
        last = min(len(self.is_speech), int(until_s / WINDOW_SECONDS + 1e-9))
        first = max(0, int(since_s / WINDOW_SECONDS))
        i = last
        while i > first and not self.is_speech[i - 1]:
            i -= 1
        return (last - i) * WINDOW_SECONDS if i > first else 0.0
