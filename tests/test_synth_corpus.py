"""Smoke test of the synthetic ASR corpus recipe: a few utterances with espeak-ng + flite, manifests, splits,
resumability (a second run makes nothing; a deleted file is remade)."""

from __future__ import annotations

import os
import re
import shutil

import pytest

from speechstream.data import text as textmod, voices
from recipe_helpers import load_synth_en_prepare

pytestmark = pytest.mark.skipif(not all(shutil.which(p) for p in ("espeak-ng", "flite", "sox")),
                                reason="needs espeak-ng, flite and sox")

SENTENCES = """\
The old man walked slowly along the quiet river bank.
She opened the window to let the fresh morning air inside.
A small dog barked at the children playing in the garden.
We should finish the report before the meeting tomorrow afternoon.
The rain kept falling on the roof all through the night.
He bought a loaf of bread and some cheese at the market.
Nobody knew where the little boat had drifted during the storm.
Please put the books back on the shelf when you are done.
The teacher asked every student to read one page aloud.
They planted tall trees along the edge of the field.
My sister likes to paint pictures of mountains and lakes.
The train left the station exactly when the clock struck noon.
"""


def test_text_filters():
    assert textmod.normalize("Don't  stop, 'now' -- well-known!") == "don't stop now well known"
    assert textmod.clean_sentence("The cat sat on the mat.") == "The cat sat on the mat."
    assert textmod.clean_sentence("I have 3 cats at home.") is None  # digits
    assert textmod.clean_sentence("The USA is a big country.") is None  # acronym
    assert textmod.clean_sentence("Mr. Smith went to town today.") is None  # abbreviation
    assert textmod.clean_sentence("Too short.") is None


def test_speaker_draws_hold_out_persons():
    spk = voices.draw_speakers(seed=0)
    assert len(spk) >= 200
    persons = {split: {s.person for s in spk if s.split == split} for split in ("train", "dev", "test")}
    assert not persons["train"] & persons["test"] and not persons["train"] & persons["dev"]
    assert not persons["dev"] & persons["test"]
    assert "awb" in persons["test"] and "ked" in persons["dev"]
    assert all(0.85 <= s.rate <= 1.2 and -3 <= s.pitch <= 3 for s in spk)
    assert spk == voices.draw_speakers(seed=0)  # fixed draws


def test_synth_corpus_smoke(tmp_path):
    from lhotse import CutSet
    import soundfile as sf

    prepare = load_synth_en_prepare()
    text = tmp_path / "sentences.txt"
    text.write_text(SENTENCES)
    out = tmp_path / "corpus"
    argv = ["--out", str(out), "--engines", "espeak,flite", "--text-sources", "none", "--text-file", str(text),
            "--hours", "0.003", "--dev-hours", "0.0003", "--test-hours", "0.0003", "--workers", "2",
            "--chunk-size", "2"]
    summary = prepare.main(argv)
    made = summary["last_run"]["done"]
    assert summary["last_run"]["failed"] == 0 and 4 <= made <= 10

    cuts = {s: CutSet.from_file(out / f"cuts_{s}.jsonl.gz") for s in ("train", "dev", "test", "test_aug")}
    for split, cs in cuts.items():
        assert len(cs) >= 1, split
        for c in cs:
            sup = c.supervisions[0]
            path = c.recording.sources[0].source
            info = sf.info(path)
            assert info.samplerate == 16000 and info.channels == 1 and info.subtype == "PCM_16"
            assert abs(info.duration - c.duration) < 1e-3 and 0.8 < c.duration < 15
            assert re.fullmatch(r"[a-z' ]+", sup.text) and sup.speaker
            assert split in path.split(os.sep)
    train_persons = {c.supervisions[0].custom["person"] for c in cuts["train"]}
    train_text = {c.supervisions[0].text for c in cuts["train"]}
    for split in ("dev", "test", "test_aug"):
        assert not {c.supervisions[0].custom["person"] for c in cuts[split]} & train_persons
        assert not {c.supervisions[0].text for c in cuts[split]} & train_text
    assert (out / "summary.json").exists() and (out / "summary.csv").exists()

    # Resumable: a second run makes nothing and leaves the files alone ...
    files = sorted((out / "audio").rglob("*.flac"))
    mtimes = [f.stat().st_mtime_ns for f in files]
    again = prepare.main(argv)
    assert again["last_run"]["done"] == 0 and again["last_run"]["skipped"] == made
    assert [f.stat().st_mtime_ns for f in files] == mtimes
    # ... and a missing file is remade, with the same manifests afterwards.
    files[0].unlink()
    third = prepare.main(argv + ["--workers", "1"])
    assert third["last_run"]["done"] == 1 and files[0].exists()
    assert third["splits"] == summary["splits"]
    assert not list((out / "audio").rglob("*.tmp.flac"))
