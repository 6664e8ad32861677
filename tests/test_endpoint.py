"""Endpoint rules (sherpa-onnx semantics) and their use on decoding states."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from speechstream.asr.ctc_decoding import CtcBeamDecoder, CtcGreedyDecoder
from speechstream.asr.endpoint import EndpointConfig, EndpointRule, detect_endpoint, endpoint_rule, is_endpoint

FS = 0.08  # 8 x 10 ms per encoder frame


def sherpa_is_endpoint(rules, num_frames, trailing, frame_shift):
    """sherpa-onnx's Endpoint::IsEndpoint, written out: non-silence is inferred from length > silence."""
    length, silence = num_frames * frame_shift, trailing * frame_shift
    for must, min_sil, min_len in rules:
        contains = length > silence
        if (contains or not must) and silence >= min_sil - 1e-9 and length >= min_len - 1e-9:
            return True
    return False


@pytest.mark.parametrize("frames,trailing,has_tokens,rule", [
    (29, 29, False, None),   # 2.32 s of silence, nothing decoded: not yet
    (30, 30, False, 1),      # 2.4 s: rule 1
    (40, 14, True, None),    # 1.12 s after speech: not yet
    (40, 15, True, 2),       # 1.2 s after speech: rule 2
    (40, 29, False, None),   # rule 2 needs something decoded; rule 1 needs 2.4 s
    (249, 0, True, None),    # 19.92 s of talking
    (250, 0, True, 3),       # 20 s: rule 3 regardless
    (250, 250, False, 1),    # rule 1 is checked first
])
def test_default_rules(frames, trailing, has_tokens, rule):
    cfg = EndpointConfig()
    assert endpoint_rule(cfg, frames, trailing, has_tokens, FS) == rule
    assert detect_endpoint(cfg, frames, trailing, has_tokens, FS) == (rule is not None)


def test_matches_sherpa_formula_on_consistent_inputs():
    """Where has_tokens agrees with sherpa's inference (frames > trailing), both agree on every input."""
    configs = [EndpointConfig(), EndpointConfig(EndpointRule(True, 0.5, 1.0), EndpointRule(False, 3.0, 0.5),
                                                 EndpointRule(True, 0.0, 4.0))]
    for cfg, frames in itertools.product(configs, range(0, 300, 7)):
        rules = [(r.must_contain_nonsilence, r.min_trailing_silence, r.min_utterance_length)
                 for r in (cfg.rule1, cfg.rule2, cfg.rule3)]
        for trailing in range(0, frames + 1, 3):
            has_tokens = frames > trailing
            assert detect_endpoint(cfg, frames, trailing, has_tokens, FS) == \
                sherpa_is_endpoint(rules, frames, trailing, FS)


def test_config_is_frozen():
    cfg = EndpointConfig()
    with pytest.raises(Exception):
        cfg.rule1 = EndpointRule(False, 1.0)  # type: ignore[misc]


@pytest.mark.parametrize("decoder", [CtcGreedyDecoder(), CtcBeamDecoder(beam=3)])
def test_endpoint_from_decoding_state(decoder):
    """Speech then silence: the endpoint comes exactly when 1.2 s of blanks follow the last token."""
    V = 4
    path = [0, 0, 3, 1, 2, 2] + [3] * 20
    lp = np.full((len(path), V), -9.0)
    lp[np.arange(len(path)), path] = -1e-3
    cfg = EndpointConfig()
    state = decoder.init_state()
    fired = None
    for t in range(len(path)):
        state = decoder.step(lp[t:t + 1], state)
        if fired is None and is_endpoint(cfg, state, FS):
            fired = t
    assert len(state.tokens) == 3
    assert fired == 5 + 15  # last token at frame 5, then 15 blank frames
    assert not is_endpoint(cfg, decoder.init_state(), FS)
