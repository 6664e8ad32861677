"""Endpoint detection from the decoder's result, with sherpa-onnx's (Kaldi's) three rules.

A rule fires when all its conditions hold: (the result contains non-silence, if the rule requires it) and
trailing silence >= min_trailing_silence and utterance length >= min_utterance_length; an endpoint is
detected when any rule fires. Silence is the frames where the best path emitted blank (the decoding states'
``num_trailing_blanks``); non-silence is any decoded token. Lengths are in seconds: encoder frames times
``frame_seconds`` (subsampling_factor * frame_shift, 0.08 s for 8 x 10 ms), counted since the decoding
state was created (the recogniser starts a new state after each endpoint).

sherpa-onnx infers "contains non-silence" as utterance length > trailing silence; since the trailing count
restarts only when a token is emitted, that is the same as "a token was decoded", which we pass explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

_EPS = 1e-9  # seconds


@dataclass(frozen=True)
class EndpointRule:
    must_contain_nonsilence: bool
    min_trailing_silence: float  # seconds
    min_utterance_length: float = 0.0  # seconds

    def fires(self, trailing_silence: float, utterance_length: float, has_tokens: bool) -> bool:
        # frames * frame_seconds may land a hair under a threshold it reaches exactly (15 * 0.08 vs 1.2).
        return ((has_tokens or not self.must_contain_nonsilence)
                and trailing_silence >= self.min_trailing_silence - _EPS
                and utterance_length >= self.min_utterance_length - _EPS)


@dataclass(frozen=True)
class EndpointConfig:
    """sherpa-onnx's defaults: rule1 2.4 s of silence even if nothing was decoded; rule2 1.2 s of silence
    after something was decoded; rule3 an utterance of 20 s whatever else. The recogniser treats rule3 as the
    length limit: it cuts such a segment at its best pause before a word, not where the limit is reached."""

    rule1: EndpointRule = field(default_factory=lambda: EndpointRule(False, 2.4, 0.0))
    rule2: EndpointRule = field(default_factory=lambda: EndpointRule(True, 1.2, 0.0))
    rule3: EndpointRule = field(default_factory=lambda: EndpointRule(False, 0.0, 20.0))


def endpoint_rule(config: EndpointConfig, num_frames_decoded: int, trailing_blank_frames: int, has_tokens: bool,
                  frame_seconds: float) -> int | None:
    """The first rule (1, 2 or 3) that fires, or None."""
    length = num_frames_decoded * frame_seconds
    silence = trailing_blank_frames * frame_seconds
    for n, rule in enumerate((config.rule1, config.rule2, config.rule3), 1):
        if rule.fires(silence, length, has_tokens):
            return n
    return None


def detect_endpoint(config: EndpointConfig, num_frames_decoded: int, trailing_blank_frames: int, has_tokens: bool,
                    frame_seconds: float) -> bool:
    """Whether the utterance has ended: num_frames_decoded and trailing_blank_frames in encoder frames."""
    return endpoint_rule(config, num_frames_decoded, trailing_blank_frames, has_tokens, frame_seconds) is not None


class DecodingResult(Protocol):
    """What every decoding state of ctc_decoding and rnnt_decoding exposes (the best path's view)."""

    @property
    def tokens(self) -> tuple[int, ...]: ...

    @property
    def num_frames(self) -> int: ...

    @property
    def num_trailing_blanks(self) -> int: ...


def endpoint_rule_of(config: EndpointConfig, state: DecodingResult, frame_seconds: float) -> int | None:
    """endpoint_rule for a decoding state (greedy or beam, CTC or RNN-T)."""
    return endpoint_rule(config, state.num_frames, state.num_trailing_blanks, len(state.tokens) > 0, frame_seconds)


def is_endpoint(config: EndpointConfig, state: DecodingResult, frame_seconds: float) -> bool:
    """detect_endpoint for a decoding state (greedy or beam, CTC or RNN-T)."""
    return detect_endpoint(config, state.num_frames, state.num_trailing_blanks, len(state.tokens) > 0,
                           frame_seconds)
