"""Frozen configs of the cache-aware streaming Conformer encoder and the CTC / RNN-T model.

Pure Python (no torch) so that ``speechstream.asr`` imports without torch; saved as config.json inside
every checkpoint via ``to_dict`` / ``from_dict``.

Attention contexts are ``(left, right)`` pairs in encoder frames: the stream is cut into chunks of
``right + 1`` encoder frames (aligned to the stream start); a frame sees its whole chunk and ``left`` frames
before the chunk's start. With 8x subsampling and 10 ms frames, ``(64, 0)`` is an 80 ms chunk and
``(64, 5)`` a 480 ms chunk.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

AttContext = tuple[int, int]

# log(float32 eps): the log-mel value of digital silence (kaldi-native-fbank / sherpa-onnx floor).
PAD_FEATURE = math.log(1.1920929e-7)


@dataclass(frozen=True)
class ConformerConfig:
    feat_dim: int = 80
    subsampling_factor: int = 8
    subsampling_channels: int = 256
    d_model: int = 256
    num_layers: int = 16
    num_heads: int = 4
    ff_mult: int = 4
    conv_kernel: int = 9
    dropout: float = 0.1
    att_contexts: tuple[AttContext, ...] = ((64, 0), (64, 5))
    default_att_context: int = 0  # index into att_contexts (a pair is accepted); the one exported
    max_rel_pos: int = 64  # relative distances are clipped to [-max_rel_pos, max_rel_pos]
    frame_shift_ms: float = 10.0
    pad_feature: float = PAD_FEATURE

    def __post_init__(self) -> None:
        # Normalise lists (from JSON) into tuples so the config stays hashable.
        object.__setattr__(self, "att_contexts", tuple((int(a), int(b)) for a, b in self.att_contexts))
        if not isinstance(self.default_att_context, int):  # a (left, right) pair: store its index
            pair = tuple(int(v) for v in self.default_att_context)
            if pair not in self.att_contexts:
                raise ValueError(f"default_att_context {pair} is not one of att_contexts")
            object.__setattr__(self, "default_att_context", self.att_contexts.index(pair))
        if self.subsampling_factor not in (4, 8):
            raise ValueError(f"subsampling_factor must be 4 or 8, got {self.subsampling_factor}")
        if self.d_model % self.num_heads:
            raise ValueError("d_model must be divisible by num_heads")
        if not self.att_contexts:
            raise ValueError("att_contexts must not be empty")
        for left, right in self.att_contexts:
            if left < 0 or right < 0:
                raise ValueError(f"bad att_context {(left, right)}")
        if not 0 <= self.default_att_context < len(self.att_contexts):
            raise ValueError("default_att_context out of range")
        if self.conv_kernel < 1:
            raise ValueError("conv_kernel must be >= 1")

    # ---- derived sizes (the subsampler's look-back and pre-encode cache live in nn.subsampling) ----
    @property
    def att_cache_frames(self) -> int:
        """Encoder frames of attention cache per layer: the largest left context."""
        return max(left for left, _ in self.att_contexts)

    def resolve_att_context(self, att_context: int | AttContext | None = None) -> AttContext:
        """An index into att_contexts, a (left, right) pair, or None for the default."""
        if att_context is None:
            return self.att_contexts[self.default_att_context]
        if isinstance(att_context, int):
            return self.att_contexts[att_context]
        left, right = (int(v) for v in att_context)
        if left > self.att_cache_frames or left < 0 or right < 0:
            raise ValueError(f"att_context {(left, right)} needs left <= {self.att_cache_frames}")
        return left, right

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["att_contexts"] = [list(c) for c in self.att_contexts]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ConformerConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    @classmethod
    def tiny(cls, **overrides: Any) -> ConformerConfig:
        """A test-size encoder: random weights, runs in milliseconds on CPU."""
        kw: dict[str, Any] = dict(subsampling_channels=16, d_model=32, num_layers=2, num_heads=2,
                                  conv_kernel=5, dropout=0.0, att_contexts=((8, 0), (8, 3)),
                                  max_rel_pos=16)
        kw.update(overrides)
        return cls(**kw)


@dataclass(frozen=True)
class ASRModelConfig:
    """Encoder + CTC head + stateless RNN-T predictor and joiner. The blank is the last id, vocab_size - 1."""

    encoder: ConformerConfig = field(default_factory=ConformerConfig)
    vocab_size: int = 256
    d_pred: int = 256
    d_join: int = 256
    context_size: int = 2
    ctc_weight: float = 0.3  # total = ctc_weight * ctc + (1 - ctc_weight) * rnnt

    def __post_init__(self) -> None:
        if isinstance(self.encoder, dict):
            object.__setattr__(self, "encoder", ConformerConfig.from_dict(self.encoder))
        if self.vocab_size < 2:
            raise ValueError("vocab_size must be >= 2 (tokens + blank)")
        if not 0.0 <= self.ctc_weight <= 1.0:
            raise ValueError("ctc_weight must be in [0, 1]")

    @property
    def blank_id(self) -> int:
        return self.vocab_size - 1

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["encoder"] = self.encoder.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ASRModelConfig:
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        if "encoder" in kw:
            kw["encoder"] = ConformerConfig.from_dict(kw["encoder"])
        return cls(**kw)

    @classmethod
    def tiny(cls, **overrides: Any) -> ASRModelConfig:
        kw: dict[str, Any] = dict(encoder=ConformerConfig.tiny(), vocab_size=12, d_pred=16, d_join=24)
        kw.update(overrides)
        return cls(**kw)
