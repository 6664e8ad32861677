"""Training examples from a corpus folder shaped like kokoro_en_v1 (a tiny one made here): ids from the
runtime front end with the voice's accent, Fbank frames, voice vectors, a padded batch that trains."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from tts_helpers import tiny_model

torch.set_num_threads(1)

ROWS = [("u1", "k000", ["af_heart"], [1.0], 0.9, "Time for rest by the pool.", 1.3),
        ("u2", "k001", ["bm_george", "bm_lewis"], [0.25, 0.75], 1.1, "Hello there, my friend.", 0.9)]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    rng = np.random.default_rng(0)
    with gzip.open(root / "utterances.jsonl.gz", "wt", encoding="utf-8") as f:
        for uid, speaker, voices, weights, speed, text, seconds in ROWS:
            (root / "audio" / speaker).mkdir(parents=True, exist_ok=True)
            audio = f"audio/{speaker}/{uid}.wav"
            sf.write(root / audio, (0.1 * rng.standard_normal(int(16000 * seconds))).astype(np.float32), 16000)
            f.write(json.dumps({"id": uid, "speaker": speaker, "voices": voices, "weights": weights, "speed": speed,
                                "text": text, "audio": audio}) + "\n")
    return root


def test_examples_and_a_batch_that_trains(corpus: Path) -> None:
    from speechstream.tts.frontend import TextFrontend
    from speechstream.tts.torch.corpus import ExampleReader, collate, read_utterances
    from speechstream.tts.torch.losses import acoustic_loss

    model = tiny_model().train()
    speakers = model.config.speakers
    utts = list(read_utterances(corpus, speakers))
    assert [u.id for u in utts] == ["u1", "u2"] and utts[1].voice.british and not utts[0].voice.british
    reader = ExampleReader(speakers)
    examples = [reader(u) for u in utts]
    assert examples[1].ids.tolist() == TextFrontend(british=True).ids("Hello there, my friend.")
    assert examples[0].mel.shape == (130, 80) and examples[1].voice.sum() == pytest.approx(1.0)
    batch = collate(examples)
    assert batch["ids"].shape == (2, max(len(e.ids) for e in examples)) and batch["mel"].shape == (2, 130, 80)
    assert batch["mel_lengths"].tolist() == [130, 90] and batch["speeds"].tolist() == pytest.approx([0.9, 1.1])
    terms = acoustic_loss(model, **batch)
    assert all(torch.isfinite(t) for t in terms.values())
    terms["loss"].backward()


def test_unknown_voices_are_named(tmp_path: Path) -> None:
    from speechstream.tts.torch.corpus import read_utterances

    with gzip.open(tmp_path / "utterances.jsonl.gz", "wt", encoding="utf-8") as f:
        f.write(json.dumps({"id": "x9", "speaker": "s", "voices": ["zz_nobody"], "weights": [1.0],
                            "text": "hi", "audio": "a.wav"}) + "\n")
    with pytest.raises(ValueError, match="x9"):
        list(read_utterances(tmp_path, ("af_heart",)))
