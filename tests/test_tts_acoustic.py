"""The streaming acoustic model on tiny random weights: chunked steps equal forward() for many cuts of the
phonemes and the frames, gradients prove the declared look-ahead, length regulation agrees between numpy and
torch, the losses train, and the latency is computed from the config."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from speechstream.tts.config import AcousticConfig
from speechstream.tts.voices import KOKORO_VOICES, VoiceSpec
from tts_helpers import stream_torch, tiny_model, voice

torch.set_num_threads(1)  # tiny tensors: one thread, no contention with the other jobs on the machine

N_PHONEMES = 23


def ids_for(n: int = N_PHONEMES, seed: int = 1) -> torch.Tensor:
    return torch.randint(1, 178, (1, n), generator=torch.Generator().manual_seed(seed))


def test_config_latency_and_round_trip() -> None:
    c = AcousticConfig()
    assert c.latency() == {"lookahead_phonemes": 3, "chunk_frames": 8, "lookahead_frames": 2,
                           "decoder_latency_frames": 10, "decoder_latency_ms": 100.0}
    assert AcousticConfig.from_dict(c.to_dict()) == c
    assert c.speakers == KOKORO_VOICES and len(c.speakers) == 28
    assert c.with_solver(name="midpoint", nfe=4).solver.steps == 2
    with pytest.raises(ValueError):
        AcousticConfig.tiny(lookahead_phonemes=9)  # beyond what the encoder's convolutions reach
    with pytest.raises(ValueError):
        AcousticConfig.from_dict({**c.to_dict(), "bogus": 1})


def test_voice_specs() -> None:
    spec = VoiceSpec.parse("af_heart:0.6,bm_george:0.4")
    vec = spec.vector()
    assert vec.shape == (28,) and vec.sum() == pytest.approx(1.0)
    assert vec[KOKORO_VOICES.index("af_heart")] == pytest.approx(0.6) and not spec.british
    assert VoiceSpec.parse("bm_george").british
    assert VoiceSpec.parse("af_heart:3,af_bella:1").weights == (0.75, 0.25)
    for bad in ("nobody", "af_heart:-1", "af_heart:x"):
        with pytest.raises(ValueError):
            VoiceSpec.parse(bad)


def test_shapes_and_blending() -> None:
    model = tiny_model()
    c = model.config
    ids = torch.cat([ids_for(), ids_for(seed=2)])
    ids[1, 15:] = 0  # a shorter second item
    v = torch.cat([voice("af_heart", c), voice("af_heart:0.6,bm_george:0.4", c)])
    with torch.no_grad():
        mel, mask, dur = model(ids, v)
    assert mel.shape == (2, int(dur.sum(1).max()), 80) and mask.shape == mel.shape[:2]
    assert dur.dtype == torch.int64 and (dur[1, 15:] == 0).all()
    assert mask.sum(1).tolist() == dur.sum(1).tolist()
    blend = 0.6 * model.speaker_table[KOKORO_VOICES.index("af_heart")] + \
        0.4 * model.speaker_table[KOKORO_VOICES.index("bm_george")]
    torch.testing.assert_close(model.speaker(v)[1], blend)
    with torch.no_grad():  # the speaker changes the output
        other, _, _ = model(ids[:1], voice("am_adam", c), durations=dur[:1])
    assert (other - mel[:1, :other.size(1)]).abs().max() > 1e-3


def test_regulation_numpy_equals_torch() -> None:
    from speechstream.tts import regulate as np_reg
    from speechstream.tts.torch import regulate as torch_reg

    rng = np.random.default_rng(0)
    enc = rng.standard_normal((7, 5)).astype(np.float32)
    log_dur = rng.uniform(-0.5, 3.5, 7).astype(np.float32)
    for speed in (1.0, 1.3, 0.8):
        d_np = np_reg.durations(log_dur, speed)
        d_t = torch_reg.durations(torch.from_numpy(log_dur)[None], speed)[0].numpy()
        np.testing.assert_array_equal(d_np, d_t)
    d = np.array([3, 0, 1, 5, 2, 0, 4])
    rows = np_reg.frame_conditions(enc, d)
    t_rows, mask = torch_reg.frame_conditions(torch.from_numpy(enc)[None], torch.from_numpy(d)[None])
    assert rows.shape == (15, 6) and bool(mask.all())
    np.testing.assert_array_equal(rows, t_rows[0].numpy())
    per_phoneme = np.concatenate([np_reg.frame_conditions(enc[i:i + 1], d[i:i + 1]) for i in range(7)])
    np.testing.assert_array_equal(per_phoneme, rows)
    np.testing.assert_allclose(rows[:3, -1], [0.5 / 3, 1.5 / 3, 2.5 / 3], rtol=1e-6)


CUTS = [  # (phoneme cuts, frame cuts)
    ([1], [1]),
    ([3], [4]),
    ([2, 5, 1], [3, 7, 1, 9]),
    ([100], [1000]),
    ([4, 1], [2, 11]),
]


@pytest.mark.parametrize("solver", [dict(name="euler", nfe=2), dict(name="midpoint", nfe=2),
                                    dict(name="euler", nfe=1, t0=0.3)])
def test_streaming_equals_forward(solver: dict) -> None:
    model = tiny_model().with_solver(**solver)
    c = model.config
    ids = ids_for()
    v = voice("af_heart:0.6,bm_george:0.4", c)
    with torch.no_grad():
        want, _, want_dur = model(ids, v, seed=7)
    assert want.size(1) > 40
    for phoneme_cuts, frame_cuts in CUTS:
        got, dur = stream_torch(model, ids, v, phoneme_cuts, frame_cuts, seed=7)
        torch.testing.assert_close(dur, want_dur, rtol=0, atol=0)
        assert got.shape == want.shape
        err = (got - want).abs().max().item()
        assert err <= 1e-4, (phoneme_cuts, frame_cuts, err)


def test_speed_and_seed() -> None:
    model = tiny_model()
    ids, v = ids_for(), voice("am_adam", model.config)
    with torch.no_grad():
        a, _, d1 = model(ids, v, seed=1)
        b, _, _ = model(ids, v, seed=2)
        fast, _, d2 = model(ids, v, speed=1.5, seed=1)
        again, _, _ = model(ids, v, seed=1)
    assert (a - b).abs().max() > 1e-3 and torch.equal(a, again)
    assert d2.sum() < d1.sum()
    got, _ = stream_torch(model, ids, v, [3], [5], seed=1, speed=1.5)
    assert (got - fast).abs().max() <= 1e-4


def test_gradients_prove_the_lookahead() -> None:
    """Encoding i and duration i depend on phonemes <= i + L; mel frame j on the conditions of frames
    <= j + Lf; so through fixed durations, frame j depends on phonemes <= phoneme(j + Lf) + L, exactly."""
    model = tiny_model()
    c = model.config
    ids = ids_for(12)
    v = voice("af_heart", c)
    captured = {}
    def keep_embedding(module, inputs, out):  # the first graph's embedded phonemes, to take gradients to
        if out.requires_grad and "emb" not in captured:
            captured["emb"] = out

    hook = model.encoder.embed.register_forward_hook(keep_embedding)
    try:
        speaker = model.speaker(v)
        enc, log_dur = model.encoder(ids, speaker)
        for i in range(12):
            probe = (enc[0, i] * torch.linspace(-1, 1, enc.size(-1))).sum()  # a LayerNorm's outputs sum to 0
            grad, = torch.autograd.grad(probe, captured["emb"], retain_graph=True)
            seen = grad[0].abs().sum(-1)
            assert not seen[i + c.lookahead_phonemes + 1:].any()  # nothing beyond the look-ahead
            assert seen[i + c.lookahead_phonemes] > 0  # and the look-ahead is used
            # durations read the encodings with the gradient stopped: perturb the phonemes beyond instead
            changed = ids.clone()
            changed[0, i + c.lookahead_phonemes + 1:] = torch.randint(1, 178, (12 - i - c.lookahead_phonemes - 1,)) \
                if i + c.lookahead_phonemes + 1 < 12 else changed[0, i + c.lookahead_phonemes + 1:]
            with torch.no_grad():
                enc2, log_dur2 = model.encoder(changed, speaker)
            torch.testing.assert_close(log_dur2[0, :i + 1], log_dur[0, :i + 1].detach(), rtol=0, atol=1e-6)
            torch.testing.assert_close(enc2[0, :i + 1], enc[0, :i + 1].detach(), rtol=0, atol=1e-6)
        durations = torch.tensor([[2, 3, 1, 4, 2, 3, 2, 1, 3, 2, 4, 2]])
        from speechstream.tts.torch.regulate import frame_conditions

        frames, _ = frame_conditions(enc, durations)
        frames = frames.detach().requires_grad_(True)
        x = model.decoder(frames, speaker, torch.tensor([0]))
        phoneme_of = torch.repeat_interleave(torch.arange(12), durations[0])
        total = frames.size(1)
        for j in range(total):
            g_frames, = torch.autograd.grad(x[0, j].sum(), frames, retain_graph=True)
            seen = g_frames[0].abs().sum(-1)
            assert not seen[j + c.lookahead_frames + 1:].any()
            assert j + c.lookahead_frames >= total or seen[j + c.lookahead_frames] > 0
        full = model.decoder(frame_conditions(enc, durations)[0], speaker, torch.tensor([0]))  # end to end
        for j in range(total):
            g, = torch.autograd.grad(full[0, j].sum(), captured["emb"], retain_graph=True)
            seen = g[0].abs().sum(-1)
            last = int(phoneme_of[min(j + c.lookahead_frames, total - 1)]) + c.lookahead_phonemes
            assert not seen[last + 1:].any(), j
    finally:
        hook.remove()


def test_losses_train() -> None:
    from speechstream.tts.torch.losses import acoustic_loss

    model = tiny_model().train()
    c = model.config
    ids = torch.cat([ids_for(10), ids_for(10, seed=3)])
    ids[1, 7:] = 0
    durations = torch.randint(1, 6, ids.shape) * (ids != 0)
    gen = torch.Generator().manual_seed(0)
    mel = torch.randn(2, int(durations.sum(1).max()) + 3, 80, generator=gen) * 2 - 6
    v = torch.cat([voice("af_heart", c), voice("bm_lewis", c)])
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(25):
        terms = acoustic_loss(model, ids, mel, v, durations, generator=gen)
        assert set(terms) == {"loss", "duration", "flow", "prior", "align"} and torch.isfinite(terms["loss"])
        opt.zero_grad()
        terms["loss"].backward()
        opt.step()
        first = first if first is not None else {k: float(t.detach()) for k, t in terms.items()}
    with torch.no_grad():
        last = {k: float(t) for k, t in acoustic_loss(model, ids, mel, v, durations, generator=gen).items()}
    assert last["duration"] < first["duration"] and last["prior"] < first["prior"]
    assert last["loss"] < first["loss"]
