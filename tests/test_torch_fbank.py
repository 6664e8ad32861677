"""Batched torch Fbank == numpy Fbank on each row alone (numpy Fbank is itself checked against knf)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audio_helpers import assert_log_mel_close, noise_and_tones
from speechstream.audio import Fbank, FbankConfig
from speechstream.audio.torch.fbank import TorchFbank


@pytest.mark.parametrize("config", [FbankConfig(), FbankConfig(num_mel_bins=64, remove_dc_offset=True, window="povey")])
def test_padded_batch_equals_numpy_per_row(config):
    lengths = [16000, 12345, 401, 80, 1, 7999]
    rows = [noise_and_tones(n, seed=i) for i, n in enumerate(lengths)]
    wave = torch.full((len(rows), max(lengths)), 0.7)  # non-zero padding: it must not leak into frames
    for i, r in enumerate(rows):
        wave[i, : len(r)] = torch.from_numpy(r)
    feats, frame_lengths = TorchFbank(config)(wave, torch.tensor(lengths))
    fb = Fbank(config)
    assert feats.shape == (len(rows), fb.num_frames(max(lengths)), config.num_mel_bins)
    assert torch.isfinite(feats).all()
    for i, r in enumerate(rows):
        ref = fb(r)
        assert int(frame_lengths[i]) == len(ref)
        # float32 torch vs float64 numpy: same depth-dependent bound as the knf comparison.
        assert_log_mel_close(feats[i, : len(ref)].numpy(), ref)


def test_zero_length_row_and_gradient_flows():
    wave = torch.randn(2, 800, requires_grad=True)
    feats, frame_lengths = TorchFbank()(wave, torch.tensor([800, 0]))
    assert frame_lengths.tolist() == [5, 0]
    assert torch.isfinite(feats).all()
    feats[0].sum().backward()
    assert wave.grad[0].abs().sum() > 0 and wave.grad[1].abs().sum() == 0
