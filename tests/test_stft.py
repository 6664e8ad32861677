"""STFT / ISTFT: offline vs torch (independent reference), streaming == offline for any chunking, reconstruction."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from speechstream.audio.stft import STFT
from speechstream.errors import AudioError

# (n_fft, hop, win_length): even/odd n_fft, win_length < n_fft, hop not dividing n_fft, hop > n_fft / 2.
CONFIGS = [(512, 128, None), (400, 160, None), (512, 160, 400), (15, 4, None), (16, 6, 7), (9, 3, 5), (8, 5, None)]
CHUNKED = [(512, 128, None), (512, 160, 400), (15, 4, None), (16, 6, 7), (8, 5, None)]


def _signal(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(n).astype(np.float32)


def _torch_window(n_fft: int, win_length: int | None) -> torch.Tensor:
    return torch.hann_window(win_length or n_fft)  # periodic by default


def _split(a: np.ndarray, sizes: list[int]) -> list[np.ndarray]:
    """Cut a along axis 0 into pieces of the given sizes (cycled), empty pieces included."""
    out, i, k = [], 0, 0
    while i < a.shape[0]:
        n = sizes[k % len(sizes)]
        out.append(a[i : i + n])
        i, k = i + n, k + 1
        if k > 10 * a.shape[0] + 10:  # all-zero sizes: finish with one piece
            out.append(a[i:])
            break
    return out


def _stream_stft(s: STFT, pieces: list[np.ndarray]) -> np.ndarray:
    stream = s.stream()
    outs = [stream.accept(p) for p in pieces] + [stream.flush()]
    for o in outs:
        assert o.dtype == np.complex64 and o.ndim == 2 and o.shape[1] == s.n_freqs
    return np.concatenate(outs)


def _stream_istft(s: STFT, pieces: list[np.ndarray]) -> np.ndarray:
    stream = s.inverse_stream()
    outs = [stream.accept(p) for p in pieces] + [stream.flush()]
    for o in outs:
        assert o.dtype == np.float32 and o.ndim == 1
    return np.concatenate(outs)


@pytest.mark.parametrize("n_fft,hop,win_length", CONFIGS)
@pytest.mark.parametrize("n", [None, 1000, 1001, 1600])
def test_stft_matches_torch(n_fft: int, hop: int, win_length: int | None, n: int | None) -> None:
    n = n_fft // 2 + 1 if n is None else n  # None: the shortest allowed input
    x = _signal(n)
    ours = STFT(n_fft, hop, win_length)(x)
    ref = torch.stft(
        torch.from_numpy(x), n_fft, hop, win_length, _torch_window(n_fft, win_length),
        center=True, pad_mode="reflect", return_complex=True,
    ).T.numpy()
    assert ours.dtype == np.complex64
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=2e-5 * np.sqrt(n_fft), rtol=0)


@pytest.mark.parametrize("n_fft,hop,win_length", CONFIGS)
@pytest.mark.parametrize("length", [None, 900, 1000, 1100])
@pytest.mark.filterwarnings("ignore:The length of signal is shorter")
def test_inverse_matches_torch(n_fft: int, hop: int, win_length: int | None, length: int | None) -> None:
    rng = np.random.default_rng(1)
    t, f = 40, n_fft // 2 + 1
    frames = (rng.standard_normal((t, f)) + 1j * rng.standard_normal((t, f))).astype(np.complex64)
    s = STFT(n_fft, hop, win_length)
    ours = s.inverse(frames, length=length)

    def ref(n: int | None) -> np.ndarray:
        spec = torch.from_numpy(frames.T.copy())
        window = _torch_window(n_fft, win_length)
        return torch.istft(spec, n_fft, hop, win_length, window, center=True, length=n).numpy()

    expected_len = (t - 1) * hop + n_fft - 2 * (n_fft // 2) if length is None else length
    assert ours.dtype == np.float32 and ours.shape == (expected_len,)
    try:
        expected = ref(length)
    except RuntimeError as e:
        # torch refuses to divide where the window envelope (right padding of a window shorter than n_fft) is 0;
        # we document those samples as 0. Compare on the longest prefix torch accepts, then require zeros.
        assert "window overlap add min" in str(e)
        accepted = ref(None).shape[0]
        while True:
            try:
                expected = ref(accepted + 1)
            except RuntimeError:
                break
            accepted += 1
        expected = ref(accepted)
        assert np.all(ours[accepted : (t - 1) * hop + n_fft - n_fft // 2] == 0)
        ours = ours[:accepted]
    np.testing.assert_allclose(ours, expected, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("n_fft,hop,win_length", [(512, 128, None), (400, 100, None), (512, 128, 256), (16, 4, None)])
def test_perfect_reconstruction(n_fft: int, hop: int, win_length: int | None) -> None:
    s = STFT(n_fft, hop, win_length)
    for n in (n_fft // 2 + 1, 1000, 1237):
        x = _signal(n, seed=n)
        np.testing.assert_allclose(s.inverse(s(x), length=n), x, atol=1e-5, rtol=0)


@pytest.mark.parametrize("n_fft,hop,win_length", CHUNKED)
def test_stft_stream_one_sample_chunks(n_fft: int, hop: int, win_length: int | None) -> None:
    s = STFT(n_fft, hop, win_length)
    # 8 * hop: the last frame starts exactly at the end of x, so the right reflection reaches furthest back.
    for n in (777, 8 * hop):
        x = _signal(n)
        np.testing.assert_allclose(_stream_stft(s, _split(x, [1])), s(x), atol=1e-5, rtol=0)


@pytest.mark.parametrize("n_fft,hop,win_length", CHUNKED)
def test_stft_stream_one_chunk_and_empty_chunks(n_fft: int, hop: int, win_length: int | None) -> None:
    s = STFT(n_fft, hop, win_length)
    for n in (1001, 8 * hop, 9 * hop):
        x = _signal(n)
        offline = s(x)
        np.testing.assert_allclose(_stream_stft(s, [x]), offline, atol=1e-5, rtol=0)
        pieces = [x[:0], x[:3], x[3:3], x[3:500], x[500:500], x[500:]]
        np.testing.assert_allclose(_stream_stft(s, pieces + [x[:0]]), offline, atol=1e-5, rtol=0)


@settings(max_examples=25, deadline=None)
@given(
    cfg=st.sampled_from(CHUNKED),
    n_extra=st.integers(0, 900),
    sizes=st.lists(st.integers(0, 700), min_size=1, max_size=8),
)
def test_stft_stream_any_chunking(cfg: tuple, n_extra: int, sizes: list[int]) -> None:
    s = STFT(*cfg)
    x = _signal(cfg[0] // 2 + 1 + n_extra, seed=n_extra)
    np.testing.assert_allclose(_stream_stft(s, _split(x, sizes)), s(x), atol=1e-5, rtol=0)


def test_stft_stream_emits_frames_as_soon_as_possible() -> None:
    s = STFT(512, 128)
    stream = s.stream()
    # The first frame needs n_fft // 2 + 1 samples (left reflection), frame t then needs t * hop more.
    assert stream.accept(_signal(256)).shape[0] == 0
    assert stream.accept(_signal(1)).shape[0] == 1
    assert stream.accept(_signal(126)).shape[0] == 0
    assert stream.accept(_signal(1)).shape[0] == 1  # 384 = hop + n_fft - n_fft // 2 samples: frame 1
    assert stream.lookahead_samples == 255


def test_stft_stream_buffer_stays_small() -> None:
    s = STFT(512, 128)
    stream = s.stream()
    for _ in range(50):
        stream.accept(_signal(1000))
        assert stream._buf.shape[0] < s.n_fft + s.hop_length


@pytest.mark.parametrize("n_fft,hop,win_length", CHUNKED)
def test_istft_stream_one_frame_chunks_and_one_chunk(n_fft: int, hop: int, win_length: int | None) -> None:
    s = STFT(n_fft, hop, win_length)
    frames = s(_signal(1500))
    offline = s.inverse(frames)
    np.testing.assert_allclose(_stream_istft(s, _split(frames, [1])), offline, atol=1e-5, rtol=0)
    np.testing.assert_allclose(_stream_istft(s, [frames]), offline, atol=1e-5, rtol=0)
    empty = frames[:0]
    pieces = [empty, frames[:2], empty, frames[2:7], empty, frames[7:], empty]
    np.testing.assert_allclose(_stream_istft(s, pieces), offline, atol=1e-5, rtol=0)


@settings(max_examples=25, deadline=None)
@given(
    cfg=st.sampled_from(CHUNKED),
    n_frames=st.integers(0, 60),
    sizes=st.lists(st.integers(0, 12), min_size=1, max_size=8),
)
def test_istft_stream_any_chunking(cfg: tuple, n_frames: int, sizes: list[int]) -> None:
    s = STFT(*cfg)
    rng = np.random.default_rng(n_frames)
    f = s.n_freqs
    frames = (rng.standard_normal((n_frames, f)) + 1j * rng.standard_normal((n_frames, f))).astype(np.complex64)
    offline = s.inverse(frames)
    streamed = _stream_istft(s, _split(frames, sizes))
    assert streamed.shape == offline.shape
    np.testing.assert_allclose(streamed, offline, atol=1e-5, rtol=0)


def test_istft_stream_latency() -> None:
    s = STFT(512, 128)
    stream = s.inverse_stream()
    frames = s(_signal(5000))
    emitted = 0
    for k in range(1, 20):
        emitted += stream.accept(frames[k - 1 : k]).shape[0]
        # Samples covered by the k frames (after the centre trim) minus those still awaiting overlap.
        covered = (k - 1) * s.hop_length + s.n_fft - s.pad
        assert emitted == max(0, covered - stream.latency_samples)
    assert stream.latency_samples == s.inverse_latency_samples == 384


def test_streams_reset_after_flush() -> None:
    s = STFT(64, 16)
    x = _signal(500)
    stream = s.stream()
    first = np.concatenate([stream.accept(x), stream.flush()])
    second = np.concatenate([stream.accept(x), stream.flush()])
    np.testing.assert_array_equal(first, second)
    inv = s.inverse_stream()
    y1 = np.concatenate([inv.accept(first), inv.flush()])
    y2 = np.concatenate([inv.accept(first), inv.flush()])
    np.testing.assert_array_equal(y1, y2)


def test_short_input_raises_offline_and_streaming() -> None:
    s = STFT(512, 128)
    for n in (0, 1, 256):
        with pytest.raises(AudioError, match="too short"):
            s(np.zeros(n, np.float32))
        stream = s.stream()
        stream.accept(np.zeros(n, np.float32))
        with pytest.raises(AudioError, match="too short"):
            stream.flush()
    assert s(np.zeros(257, np.float32)).shape == (1 + 257 // 128, 257)


def test_empty_frames() -> None:
    s = STFT(64, 16)
    empty = np.zeros((0, s.n_freqs), np.complex64)
    assert s.inverse(empty).shape == (0,)
    assert s.inverse(empty, length=10).shape == (10,)
    inv = s.inverse_stream()
    assert inv.accept(empty).shape == (0,) and inv.flush().shape == (0,)


def test_bad_input_errors() -> None:
    s = STFT(64, 16)
    with pytest.raises(AudioError, match="1-D"):
        s(np.zeros((2, 100), np.float32))
    with pytest.raises(AudioError, match="NaN"):
        s(np.array([0.0] * 50 + [np.nan] * 50))
    with pytest.raises(AudioError, match="NaN"):
        s.stream().accept(np.array([np.inf]))
    with pytest.raises(AudioError, match="real"):
        s(np.zeros(100, np.complex64))
    with pytest.raises(AudioError, match=r"\(T, 33\)"):
        s.inverse(np.zeros((5, 32), np.complex64))
    with pytest.raises(AudioError, match=r"\(T, 33\)"):
        s.inverse_stream().accept(np.zeros(33, np.complex64))
    with pytest.raises(AudioError, match="NaN"):
        s.inverse(np.full((5, 33), np.nan, np.complex64))
    with pytest.raises(ValueError, match="win_length"):
        STFT(64, 16, 128)
    with pytest.raises(ValueError, match="hop_length"):
        STFT(64, 0)
    with pytest.raises(ValueError, match="NOLA"):
        STFT(8, 8).inverse(np.zeros((3, 5), np.complex64))  # periodic Hann's zero at n=0 is never covered


def test_custom_window_array() -> None:
    w = np.hamming(48)
    s = STFT(64, 16, 48, window=w)
    x = _signal(700)
    ref = torch.stft(torch.from_numpy(x), 64, 16, 48, torch.from_numpy(w).float(), center=True,
                     pad_mode="reflect", return_complex=True).T.numpy()
    np.testing.assert_allclose(s(x), ref, atol=1e-4, rtol=0)
    np.testing.assert_allclose(s.inverse(s(x), length=700), x, atol=1e-5, rtol=0)


def test_import_does_not_import_torch() -> None:
    code = "import sys, speechstream.audio.stft; from speechstream.audio import STFT; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
