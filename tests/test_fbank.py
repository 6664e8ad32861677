"""Fbank vs kaldi-native-fbank (offline), and streaming == offline for any chunking."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audio_helpers import assert_log_mel_close, espeak_speech, knf_fbank, noise_and_tones, run_stream
from speechstream.audio import Fbank, FbankConfig
from speechstream.errors import AudioError

FBANK = Fbank()


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> np.ndarray:
    x = espeak_speech(tmp_path_factory.mktemp("speech"))
    if x is None:
        pytest.skip("espeak-ng not installed")
    assert len(x) > 2 * 16000
    return x


def test_matches_knf_on_speech(speech):
    ours = FBANK(speech)
    ref = knf_fbank(speech)
    assert ours.shape == ref.shape == (FBANK.num_frames(len(speech)), 80)
    assert ours.dtype == np.float32
    assert_log_mel_close(ours, ref)


@pytest.mark.parametrize("n", [16000, 16080, 16079, 12345, 3210])
def test_matches_knf_on_noise_and_tones(n):
    x = noise_and_tones(n, seed=n)
    assert_log_mel_close(FBANK(x), knf_fbank(x))


@pytest.mark.parametrize("n", [1, 2, 5, 79, 80, 81, 100, 199, 200, 239, 240, 399, 400, 401, 560])
def test_short_inputs_match_knf(n):
    # Very short inputs exercise the repeated reflection (indices fold more than once).
    x = noise_and_tones(n, seed=n)
    ours = FBANK(x)
    assert ours.shape == (FBANK.num_frames(n), 80)
    assert_log_mel_close(ours, knf_fbank(x))
    np.testing.assert_allclose(run_stream(FBANK.stream(), x, [1]), ours, atol=1e-5, rtol=0)


def test_frame_count_formula():
    for n in range(0, 2000, 7):
        assert FBANK.num_frames(n) == (n + 80) // 160
    assert FBANK(np.zeros(0, np.float32)).shape == (0, 80)
    assert len(knf_fbank(noise_and_tones(1000))) == FBANK.num_frames(1000)


def test_streaming_speech_various_chunkings(speech):
    offline = FBANK(speech)
    for sizes in ([160], [1000], [333, 17, 4000], [len(speech)]):
        np.testing.assert_allclose(run_stream(FBANK.stream(), speech, sizes), offline, atol=1e-5, rtol=0)


def test_streaming_one_sample_chunks_emit_as_soon_as_ready():
    x = noise_and_tones(1500)
    s = FBANK.stream()
    counts = [len(s.accept(x[i : i + 1])) for i in range(len(x))]
    # Frame i's last sample is i*160 + 279, so it appears exactly when that sample is accepted.
    emitted_at = [i for i, c in enumerate(counts) if c]
    assert emitted_at == [f * 160 + 279 for f in range(len(emitted_at))]
    tail = s.flush()
    assert len(emitted_at) + len(tail) == FBANK.num_frames(len(x))


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(0, 5000),
    sizes=st.lists(st.integers(1, 700), min_size=1, max_size=10),
    seed=st.integers(0, 2**16),
)
def test_streaming_equals_offline_any_chunking(n, sizes, seed):
    x = (np.random.default_rng(seed).standard_normal(n) * 0.2).astype(np.float32)
    np.testing.assert_allclose(run_stream(FBANK.stream(), x, sizes), FBANK(x), atol=1e-5, rtol=0)


def test_stream_buffer_stays_bounded():
    s = FBANK.stream()
    for _ in range(50):
        s.accept(np.zeros(1000, np.float32))
    assert len(s._buffer) < 1000 + 400


def test_config_round_trips_through_json():
    c = FbankConfig(num_mel_bins=64, high_freq=7600.0)
    assert FbankConfig.from_dict(json.loads(json.dumps(c.to_dict()))) == c
    with pytest.raises(ValueError, match="unknown FbankConfig fields"):
        FbankConfig.from_dict({"bogus": 1})


def test_other_config_matches_knf():
    c = FbankConfig(num_mel_bins=64, low_freq=20.0, high_freq=7600.0, remove_dc_offset=True, window="povey")
    x = noise_and_tones(8000, seed=3)
    assert_log_mel_close(Fbank(c)(x), knf_fbank(x, c))


def test_rejects_bad_input():
    with pytest.raises(AudioError, match="1-D"):
        FBANK(np.zeros((10, 2), np.float32))
    with pytest.raises(AudioError, match="float"):
        FBANK(np.zeros(10, np.int16))


@pytest.mark.parametrize(
    "wrong",
    [{"window": "hanning"}, {"preemphasis": 0.0}, {"remove_dc_offset": True}, {"mel_norm": None}, {"mel_scale": "htk"}],
)
def test_knf_comparison_detects_a_wrong_option(wrong):
    # The comparison must be able to fail: each neighbouring option set differs from knf's.
    x = noise_and_tones(8000, seed=5)
    with pytest.raises(AssertionError):
        assert_log_mel_close(Fbank(FbankConfig(**wrong))(x), knf_fbank(x))


def test_default_equals_sherpa_nemo_option_set():
    # The options sherpa-onnx's NeMo scripts set on top of knf defaults (k2-fsa NeMo CTC test scripts:
    # dither 0, no DC removal, "hann", low_freq 0, 80 bins, is_librosa), plus sherpa's snip_edges=False;
    # everything else (preemph 0.97, slaney norm and scale, Nyquist high_freq, eps) is knf's default.
    import kaldi_native_fbank as knf

    o = knf.FbankOptions()
    o.frame_opts.dither = 0
    o.frame_opts.snip_edges = False
    o.frame_opts.remove_dc_offset = False
    o.frame_opts.window_type = "hann"
    o.mel_opts.low_freq = 0
    o.mel_opts.num_bins = 80
    o.mel_opts.is_librosa = True
    x = noise_and_tones(7000, seed=9)
    f = knf.OnlineFbank(o)
    f.accept_waveform(16000, x.tolist())
    f.input_finished()
    ref = np.stack([f.get_frame(i) for i in range(f.num_frames_ready)])
    assert_log_mel_close(FBANK(x), ref)
