"""Streaming analysis-resynthesis (what `speechstream vocode` runs) equals the offline Fbank + Vocoder.forward
for any input length and chunk, and gives exactly as many samples as it was given."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from speechstream.errors import ModelError
from speechstream.vocoder.config import VocoderConfig
from speechstream.vocoder.resynthesis import feature_config, resynthesize, resynthesize_offline
from speechstream.vocoder.torch.generator import FlowGenerator
from speechstream.vocoder.vocoder import Vocoder

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def vocoder() -> Vocoder:
    torch.manual_seed(0)
    return Vocoder(FlowGenerator(VocoderConfig.tiny(lookahead_frames=2, cond_kernel=3)).eval())


@pytest.mark.parametrize("n", [1, 79, 80, 159, 160, 161, 241, 4037])
@pytest.mark.parametrize("chunk", [None, 2, 7])
def test_streamed_equals_offline_at_any_length(vocoder: Vocoder, n: int, chunk: int | None) -> None:
    x = (0.3 * np.random.default_rng(n).standard_normal(n)).astype(np.float32)
    y = resynthesize(vocoder, x, chunk)
    assert y.shape == (n,) and y.dtype == np.float32
    ref = resynthesize_offline(vocoder, x)
    np.testing.assert_allclose(y, ref, rtol=0, atol=1e-5)
    if n >= 241:
        assert np.abs(ref).max() > 1e-3


def test_chunks_shorter_than_the_lookahead_are_refused(vocoder: Vocoder) -> None:
    with pytest.raises(ValueError, match="lookahead_frames"):
        resynthesize(vocoder, np.zeros(800, np.float32), chunk_frames=1)


def test_a_vocoder_on_other_frames_is_a_model_error() -> None:
    with pytest.raises(ModelError, match="does not match the toolkit's Fbank"):
        feature_config(VocoderConfig.tiny(hop_length=128, n_fft=512))
