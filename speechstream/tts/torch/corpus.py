"""Training examples from a natural-voice corpus such as ../shared/corpora/kokoro_en_v1: the text through the
runtime's own front end (so training and synthesis see the same ids), the speaker's voice blend as a weight
vector over the speaker table, and the audio's Fbank frames (the features the vocoder inverts).

Shapes: B batch, N phonemes, T frames, M mel bins, S speakers.

The corpus's ``utterances.jsonl.gz`` rows carry id, speaker, voices, weights, speed, text and audio (a path
relative to the folder); the teacher spoke each row at ``speed``, so the durations it implies are
speed-1 durations divided by it (losses.acoustic_loss takes the speeds and regresses speed-1 durations,
which the runtime's ``speed`` then divides).
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
from torch import Tensor

from speechstream.audio.fbank import Fbank
from speechstream.audio.io import read_audio
from speechstream.tts.config import PAD_FEATURE
from speechstream.tts.frontend import TextFrontend
from speechstream.tts.voices import VoiceSpec

UTTERANCES = "utterances.jsonl.gz"


@dataclass(frozen=True)
class Utterance:
    id: str
    speaker: str
    text: str
    voice: VoiceSpec
    speed: float
    audio: Path


@dataclass(frozen=True)
class Example:
    id: str
    ids: np.ndarray  # (N,) int64
    mel: np.ndarray  # (T, M) float32 log-mel
    voice: np.ndarray  # (S,) float32
    speed: float


def read_utterances(folder: str | Path, speakers: Sequence[str]) -> Iterator[Utterance]:
    """The corpus's rows, with voices checked against the speaker table (ValueError naming the row)."""
    root = Path(folder)
    with gzip.open(root / UTTERANCES, "rt", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            spec = ",".join(f"{n}:{w}" for n, w in zip(row["voices"], row["weights"]))
            try:
                voice = VoiceSpec.parse(spec, speakers)
            except ValueError as e:
                raise ValueError(f"{row['id']}: {e}") from None
            yield Utterance(row["id"], row["speaker"], row["text"], voice, float(row.get("speed", 1.0)),
                            root / row["audio"])


class ExampleReader:
    """Utterance -> Example: one front end per accent (UK readings for b* voices), one Fbank."""

    def __init__(self, speakers: Sequence[str]) -> None:
        self.speakers = tuple(speakers)
        self.fbank = Fbank()
        self._frontends: dict[bool, TextFrontend] = {}

    def __call__(self, utt: Utterance) -> Example:
        british = utt.voice.british
        if british not in self._frontends:
            self._frontends[british] = TextFrontend(british)
        ids = np.asarray(self._frontends[british].ids(utt.text), np.int64)
        samples, _ = read_audio(utt.audio, sample_rate=self.fbank.config.sample_rate)
        return Example(utt.id, ids, self.fbank(samples).astype(np.float32), utt.voice.vector(self.speakers),
                       utt.speed)


def collate(examples: Sequence[Example]) -> dict[str, Tensor]:
    """-> ids (B, N) padded with 0, mel (B, T, M) padded with the Fbank's floor, mel_lengths (B,), voice (B, S),
    speed (B,): the keyword arguments of losses.acoustic_loss."""
    b = len(examples)
    n = max(len(e.ids) for e in examples)
    t = max(len(e.mel) for e in examples)
    m = examples[0].mel.shape[1]
    ids = np.zeros((b, n), np.int64)
    mel = np.full((b, t, m), PAD_FEATURE, np.float32)
    for i, e in enumerate(examples):
        ids[i, :len(e.ids)] = e.ids
        mel[i, :len(e.mel)] = e.mel
    return {"ids": torch.from_numpy(ids), "mel": torch.from_numpy(mel),
            "mel_lengths": torch.tensor([len(e.mel) for e in examples]),
            "voice": torch.from_numpy(np.stack([e.voice for e in examples])),
            "speeds": torch.tensor([e.speed for e in examples], dtype=torch.float32)}
