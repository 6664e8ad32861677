"""Streaming == offline for the vocoder and its network, causality by gradients, deterministic noise,
batching, measured latency, and chunk boundaries that leave no trace.

Tiny random-weight models (weights perturbed so every path carries signal), CPU. A random model's
waveform is noise-like, so "no clicks" is shown two ways: streamed output equals offline output for any
chunking (a chunk boundary cannot add anything offline lacks), and with an oracle generator that returns a
chirp's true STFT frames, the chunked vocoder reproduces the chirp with no boundary-aligned error.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from speechstream.audio.stft import STFT
from speechstream.vocoder.config import SolverConfig, VocoderConfig
from speechstream.vocoder.torch.generator import FlowGenerator
from speechstream.vocoder.torch.network import VelocityNetwork
from speechstream.vocoder.vocoder import Vocoder

torch.set_num_threads(1)

VARIANTS = {
    "euler": dict(solver=SolverConfig("euler", 2)),
    "midpoint": dict(solver=SolverConfig("midpoint", 4, t0=0.3)),
    "meanflow": dict(mean_flow=True, solver=SolverConfig("euler", 1)),
    "gaussian_prior": dict(prior="gaussian", solver=SolverConfig("euler", 3, t0=0.5)),
}


def make_generator(variant: str = "euler", lookahead: int = 1, seed: int = 0, **kw) -> FlowGenerator:  # noqa: ANN003
    torch.manual_seed(seed)
    cfg = VocoderConfig.tiny(lookahead_frames=lookahead, cond_kernel=max(2, lookahead + 1),
                             **{**VARIANTS[variant], **kw})
    gen = FlowGenerator(cfg).eval()
    with torch.no_grad():
        for p in gen.parameters():
            p.add_(torch.randn_like(p) * 0.2)
    return gen


def random_mel(batch: int, frames: int, seed: int = 0) -> np.ndarray:
    """Log-mel-like values: around -8 with speech-like spread."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((batch, frames, 80)) * 2.0 - 8.0).astype(np.float32)


def stream(voc: Vocoder, mel: np.ndarray, sizes: list[int], seed: int | list[int] = 0) -> np.ndarray:
    state, outs, pos, i = voc.init_state(mel.shape[0], seed), [], 0, 0
    while pos < mel.shape[1]:
        n = sizes[i % len(sizes)] if sizes else voc.chunk_frames
        y, state = voc.step(mel[:, pos:pos + n], state)
        outs.append(y)
        pos, i = pos + n, i + 1
    outs.append(voc.flush(state))
    return np.concatenate(outs, axis=1)


@settings(max_examples=30, deadline=None)
@given(variant=st.sampled_from(sorted(VARIANTS)), lookahead=st.integers(0, 3), frames=st.integers(0, 40),
       sizes=st.lists(st.integers(0, 8), min_size=1, max_size=8).filter(any))
def test_streaming_equals_offline(variant: str, lookahead: int, frames: int, sizes: list[int]) -> None:
    voc = Vocoder(make_generator(variant, lookahead))
    mel = random_mel(2, frames, frames)
    offline = voc.forward(mel, seed=[3, 4])
    assert offline.shape == (2, frames * 160)
    streamed = stream(voc, mel, sizes, seed=[3, 4])
    assert streamed.shape == offline.shape
    if frames:
        assert np.abs(offline).max() > 1e-3  # a real signal, not zeros
    np.testing.assert_allclose(streamed, offline, rtol=0, atol=1e-4)


@pytest.mark.parametrize("mean_flow", [False, True])
def test_network_step_equals_forward(mean_flow: bool) -> None:
    """One velocity evaluation streamed (x_t of positions [p - L, p - L + c) per step) equals forward."""
    torch.manual_seed(0)
    cfg = VocoderConfig.tiny(lookahead_frames=2, cond_kernel=3, mean_flow=mean_flow,
                             solver=SolverConfig("euler", 1))
    net = VelocityNetwork(cfg).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.2)
    b, t, L = 2, 17, 2
    x_t = torch.randn(b, t, cfg.frame_dim)
    mel = torch.from_numpy(random_mel(b, t))
    tt, r = torch.tensor([0.3, 0.7]), torch.tensor([0.9, 0.8])
    with torch.no_grad():
        ref = net(x_t, tt, net.pad_lookahead(mel), r)
        mel_all = net.pad_lookahead(mel)  # the stream's end feeds L pad frames
        x_all = torch.cat([torch.randn(b, L, cfg.frame_dim), x_t], dim=1)  # pre-roll rows: junk
        state, outs = net.init_state(b), []
        for a, e in ((0, 4), (4, 5), (5, 12), (12, t + L)):
            v, state = net.step(x_all[:, a:e], tt, mel_all[:, a:e], state, r)
            outs.append(v)
    assert [s.shape for s in state] == [(b, 80, 2), (b, 1, 16, 2), (b, 2, 16, 2), (b,)]
    torch.testing.assert_close(torch.cat(outs, 1)[:, L:], ref, rtol=0, atol=1e-5)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_causal_with_declared_lookahead(variant: str) -> None:
    """STFT frame j depends on mel frames <= j + L, and on frame j + L itself (the look-ahead is tight)."""
    lookahead = 2
    gen = make_generator(variant, lookahead)
    t = 14
    mel = torch.from_numpy(random_mel(1, t)).requires_grad_(True)
    frames = gen(mel)  # (1, T, 2, F)
    for j in range(t):
        proj = torch.randn(frames[0, j].shape)
        (grad,) = torch.autograd.grad((frames[0, j] * proj).sum(), mel, retain_graph=True)
        per_frame = grad[0].abs().sum(-1)
        assert (per_frame[j + lookahead + 1:] == 0).all(), j
        if j + lookahead < t:
            assert per_frame[j + lookahead] > 0, j
        assert per_frame[j] > 0, j


def test_rerunning_a_chunk_gives_the_same_samples() -> None:
    voc = Vocoder(make_generator("midpoint", 1))
    mel = random_mel(1, 12)
    state = voc.init_state(1, seed=7)
    _, state = voc.step(mel[:, :6], state)
    y1, s1 = voc.step(mel[:, 6:9], state)
    y2, s2 = voc.step(mel[:, 6:9], state)  # the same chunk from the same state
    assert np.array_equal(y1, y2) and y1.shape == (1, 3 * 160)
    assert all(torch.equal(a, b) for a, b in zip(s1.generator, s2.generator))
    other = voc.init_state(1, seed=8)
    _, other = voc.step(mel[:, :6], other)
    y3, _ = voc.step(mel[:, 6:9], other)
    assert np.abs(y3 - y1).max() > 1e-3  # the seed matters


def test_streams_stack_into_a_batch() -> None:
    voc = Vocoder(make_generator("euler", 1))
    mel = random_mel(2, 20)
    both = stream(voc, mel, [3], seed=[5, 9])
    for row, seed in ((0, 5), (1, 9)):
        alone = stream(voc, mel[row:row + 1], [4, 1], seed=seed)
        np.testing.assert_allclose(both[row], alone[0], rtol=0, atol=1e-5)


@pytest.mark.parametrize(("chunk", "lookahead"), [(3, 1), (4, 2), (1, 0), (5, 5)])
def test_latency_matches_a_measured_stream(chunk: int, lookahead: int) -> None:
    """Feed chunk-sized steps; the worst (mel frames received * hop - sample index) over the samples the
    steps emit equals config.latency_samples."""
    voc = Vocoder(make_generator("euler", lookahead, chunk_frames=chunk))
    hop, total = 160, 6 * chunk + 7
    mel = random_mel(1, total)
    state, emitted, worst = voc.init_state(1), 0, 0
    for pos in range(0, total - chunk + 1, chunk):
        y, state = voc.step(mel[:, pos:pos + chunk], state)
        if y.shape[1]:
            worst = max(worst, (pos + chunk) * hop - emitted)  # the first sample of this call waited longest
        emitted += y.shape[1]
    assert worst == voc.config.latency_samples
    assert voc.latency_ms == 1000 * worst / 16000


class OracleBackend:
    """A generator that 'generates' a known signal's true STFT frames, with the real one's geometry:
    a step on mel frames [p, p + c) returns frames of positions [p - L, p - L + c)."""

    def __init__(self, config: VocoderConfig, frames: np.ndarray) -> None:
        self.config, self.frames = config, frames  # (T, F) complex

    def init_state(self, batch_size: int, seed: int = 0) -> int:
        return 0

    def step(self, mel: np.ndarray, p: int) -> tuple[np.ndarray, int]:
        out = np.zeros((1, mel.shape[1], 2, self.frames.shape[1]), np.float32)
        for i in range(mel.shape[1]):
            j = p - self.config.lookahead_frames + i
            if 0 <= j < self.frames.shape[0]:
                out[0, i, 0], out[0, i, 1] = self.frames[j].real, self.frames[j].imag
        return out, p + mel.shape[1]

    def generate(self, mel: np.ndarray, seed: int = 0) -> np.ndarray:
        f = self.frames[: mel.shape[1]]
        return np.stack([f.real, f.imag], axis=1)[None].astype(np.float32)


@pytest.mark.parametrize("signal", ["tone", "chirp"])
def test_chunk_boundaries_leave_no_trace(signal: str) -> None:
    """A pure tone / chirp through analysis -> chunked synthesis (uneven chunks, look-ahead 2): the stream
    reproduces the signal to 1e-4 everywhere but the closing fade of the last half window, and the error
    at chunk boundaries is no larger than anywhere else (no boundary-aligned energy spikes)."""
    from speechstream.audio.fbank import Fbank

    cfg = VocoderConfig(lookahead_frames=2)
    t_frames, hop = 100, 160
    n = t_frames * hop
    time = np.arange(n) / 16000
    phase = 2 * np.pi * (440 * time if signal == "tone" else 100 * time + 1950 * time ** 2)  # 100 Hz -> 4 kHz
    x = (0.5 * np.sin(phase)).astype(np.float32)
    voc = Vocoder(OracleBackend(cfg, STFT(cfg.n_fft, hop)(x)))
    mel = Fbank()(x)[None]
    sizes = [3, 7, 1, 4, 5, 2]
    y = stream(voc, mel, sizes)[0]
    np.testing.assert_allclose(y, voc.forward(mel)[0], rtol=0, atol=1e-6)
    body = n - cfg.n_fft // 2  # the last half window fades under the closing frame
    err = np.abs(y[:body] - x[:body])
    assert err.max() <= 1e-4
    boundaries, pos = [], 0
    for i in range(len(mel[0])):
        pos += sizes[i % len(sizes)]
        if pos >= t_frames:
            break
        boundaries.append((pos - cfg.lookahead_frames) * hop - cfg.n_fft // 2)  # first sample each emitted
    d = np.abs(np.diff(y[:body]))  # sample-to-sample jumps: a click is a jump the signal lacks
    ref = np.abs(np.diff(x[:body]))
    at = [b for b in boundaries if 1 <= b < body - 1]
    assert len(at) > 10
    assert max(d[b - 1] - ref[b - 1] for b in at) <= 1e-4
