"""The frozen config of the streaming acoustic model (text -> Fbank frames). Pure Python: the runtime reads it
from the ONNX metadata; checkpoints store ``to_dict()`` as JSON.

Two streaming halves, with length regulation (numpy or torch) between them:
  encoder  phoneme ids -> per-phoneme encodings and log durations. Causal convolutions; the encoding of
           phoneme i is read where phoneme i + ``lookahead_phonemes`` enters (a delay), so it depends on
           phonemes <= i + L and nothing later.
  decoder  per-frame conditions (the encoding of the frame's phoneme and the frame's progress through it)
           -> 80-dim Fbank frames by flow matching: a causal condition stack read ``lookahead_frames`` late,
           and a causal velocity stack run ``solver.nfe`` times per chunk with one cache per evaluation.
Both are causal per position, so any chunking gives the same output; the chunk sizes only set step sizes.

Latency (computed, see the properties): the first frames of a stream need their phonemes plus
``lookahead_phonemes`` more, then ``chunk_frames + lookahead_frames`` frames of conditions.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from speechstream.vocoder.config import SolverConfig

from .voices import KOKORO_VOICES

PAD_FEATURE = math.log(1.1920929e-7)  # the Fbank's floor: digital silence


@dataclass(frozen=True)
class AcousticConfig:
    # ---- text and speakers ----
    vocab_size: int = 178  # Kokoro's ids 1 .. 177; 0 pads
    speakers: tuple[str, ...] = KOKORO_VOICES
    d_speaker: int = 64
    # ---- signal (the toolkit's Fbank: 16 kHz, 10 ms hop, 80 mel bins) ----
    sample_rate: int = 16000
    hop_length: int = 160
    n_mels: int = 80
    mel_mean: float = -10.9  # the flow runs on (mel - mel_mean) / mel_std; both measured on 40 utterances
    mel_std: float = 4.4  # of kokoro_en_v1 (-10.86, 4.38)
    # ---- encoder ----
    d_model: int = 192
    encoder_layers: int = 4
    encoder_kernel: int = 5
    lookahead_phonemes: int = 3
    duration_layers: int = 2
    duration_kernel: int = 3
    max_duration: int = 50  # frames per phoneme at speed 1, a guard against runaway predictions
    # ---- decoder ----
    d_decoder: int = 192
    cond_kernel: int = 3  # first conv on the frame conditions
    cond_layers: int = 2
    decoder_layers: int = 6
    decoder_kernel: int = 7
    ff_mult: int = 3
    d_time: int = 64
    chunk_frames: int = 8
    lookahead_frames: int = 2
    # ---- sampling ----
    solver: SolverConfig = field(default_factory=lambda: SolverConfig(name="euler", nfe=2))

    def __post_init__(self) -> None:
        if isinstance(self.solver, dict):
            object.__setattr__(self, "solver", SolverConfig(**self.solver))
        if isinstance(self.speakers, list):
            object.__setattr__(self, "speakers", tuple(self.speakers))
        for name in ("vocab_size", "d_speaker", "n_mels", "d_model", "encoder_layers", "encoder_kernel",
                     "duration_kernel", "max_duration", "d_decoder", "cond_kernel", "decoder_layers",
                     "decoder_kernel", "ff_mult", "d_time", "chunk_frames", "hop_length", "sample_rate"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("lookahead_phonemes", "lookahead_frames", "duration_layers", "cond_layers"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not self.speakers or len(set(self.speakers)) != len(self.speakers):
            raise ValueError("speakers must be distinct names, at least one")
        reach = (self.encoder_layers + 1) * (self.encoder_kernel - 1)
        if reach < self.lookahead_phonemes:
            raise ValueError(f"the encoder sees {reach} phonemes back, less than its look-ahead "
                             f"{self.lookahead_phonemes}: phoneme i would not see itself")
        if self.mel_std <= 0:
            raise ValueError("mel_std must be positive")

    # ---- latency, derived ----
    @property
    def frame_ms(self) -> float:
        return 1000.0 * self.hop_length / self.sample_rate

    @property
    def decoder_latency_frames(self) -> int:
        """Condition frames the first output chunk waits for: a chunk and the decoder's look-ahead."""
        return self.chunk_frames + self.lookahead_frames

    @property
    def decoder_latency_ms(self) -> float:
        return self.decoder_latency_frames * self.frame_ms

    def latency(self) -> dict[str, float]:
        """What a first packet waits for, besides the text and the vocoder (whose own latency adds)."""
        return {"lookahead_phonemes": self.lookahead_phonemes, "chunk_frames": self.chunk_frames,
                "lookahead_frames": self.lookahead_frames, "decoder_latency_frames": self.decoder_latency_frames,
                "decoder_latency_ms": self.decoder_latency_ms}

    @property
    def cond_dim(self) -> int:
        """Channels of one frame condition: the phoneme's encoding and the frame's progress through it."""
        return self.d_model + 1

    def with_solver(self, **kw: Any) -> AcousticConfig:
        return AcousticConfig.from_dict({**self.to_dict(), "solver": {**asdict(self.solver), **kw}})

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["speakers"] = list(self.speakers)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AcousticConfig:
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown AcousticConfig fields: {sorted(unknown)}")
        return cls(**d)

    @classmethod
    def tiny(cls, **overrides: Any) -> AcousticConfig:
        """A test-size model: random weights, milliseconds per step on CPU."""
        kw: dict[str, Any] = dict(d_speaker=8, d_model=16, encoder_layers=2, encoder_kernel=3, lookahead_phonemes=2,
                                  duration_layers=1, duration_kernel=3, d_decoder=16, cond_kernel=3, cond_layers=1,
                                  decoder_layers=2, decoder_kernel=3, ff_mult=2, d_time=8, chunk_frames=4,
                                  lookahead_frames=2)
        kw.update(overrides)
        return cls(**kw)
