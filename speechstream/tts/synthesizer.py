"""The user-facing synthesizer: text -> 16 kHz float32 audio, whole or streamed, with numpy and onnxruntime only.

    tts = Synthesizer.from_dir("models/tts_en")
    audio = tts.synthesize("Hello there.", voice="af_heart:0.6,bm_george:0.4")
    stream = tts.stream("af_heart")
    stream.accept_text("Hello "); stream.accept_text("there."); stream.input_finished()
    while not stream.done: play(stream.pull())     # or: while stream.is_ready: play(stream.pull(1))

The path: text front end (TextStream: segments, normalised, phonemised as soon as final) -> encoder step on
each batch of new ids -> durations and frame conditions per phoneme (regulate.py) -> decoder steps of whole
chunks -> the vocoder's streaming step -> samples. ``synthesize`` runs every stage in one step and the vocoder
offline; a stream, fed and pulled in any pieces, gives the same samples (tests/test_tts_synthesizer.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from speechstream.errors import ModelError
from speechstream.vocoder.model_dir import load_vocoder
from speechstream.vocoder.vocoder import Vocoder, VocoderState

from . import regulate
from .frontend import TextFrontend, TextStream
from .model_dir import read_config, vocoder_dir
from .onnx_model import OnnxAcoustic, OnnxState
from .segment import Segmenter
from .voices import DEFAULT_VOICE, VoiceSpec


class Synthesizer:
    def __init__(self, model_dir: str | Path, vocoder: str | Path | Vocoder | None = None, num_threads: int = 1,
                 provider: str = "cpu", segmenter: Segmenter = Segmenter()) -> None:
        d = Path(model_dir)
        config = read_config(d)
        self.acoustic = OnnxAcoustic(d, num_threads, provider)
        if self.acoustic.config != config:
            raise ModelError(f"{d}: the graphs were exported from another config than config.json; re-export")
        self.config = config
        self.vocoder = vocoder if isinstance(vocoder, Vocoder) else load_vocoder(vocoder_dir(d, vocoder),
                                                                               num_threads, provider)
        v = self.vocoder.config
        if (v.sample_rate, v.hop_length, v.n_mels) != (config.sample_rate, config.hop_length, config.n_mels):
            raise ModelError(f"the vocoder's frames ({v.sample_rate} Hz, hop {v.hop_length}, {v.n_mels} mels) are "
                             f"not the acoustic model's ({config.sample_rate} Hz, hop {config.hop_length}, "
                             f"{config.n_mels} mels)")
        self.segmenter = segmenter
        self._frontends: dict[bool, TextFrontend] = {}

    @classmethod
    def from_dir(cls, path: str | Path, **options: Any) -> Synthesizer:
        return cls(path, **options)

    @property
    def voices(self) -> tuple[str, ...]:
        return self.config.speakers

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    def frontend(self, british: bool) -> TextFrontend:
        if british not in self._frontends:
            self._frontends[british] = TextFrontend(british, self.segmenter)
        return self._frontends[british]

    def voice(self, spec: str) -> tuple[VoiceSpec, np.ndarray]:
        """A voice spec -> (parsed, (1, S) weights); ValueError for an unknown voice."""
        parsed = VoiceSpec.parse(spec, self.voices)
        return parsed, parsed.vector(self.voices)[None]

    # ---- whole utterance ----
    def mel(self, ids: list[int], voice: np.ndarray, speed: float = 1.0, seed: int = 0) -> np.ndarray:
        """Token ids, voice (1, S) -> log-mel (T, M): every stage as one step."""
        c = self.config
        enc_state, dec_state = self.acoustic.init_state(1, seed)
        padded = np.asarray([list(ids) + [0] * c.lookahead_phonemes], np.int64)
        enc, log_dur, _ = self.acoustic.encoder_step(padded, voice, enc_state)
        durations = regulate.durations(log_dur[0, c.lookahead_phonemes:], speed, c.max_duration)
        frames = regulate.frame_conditions(enc[0, c.lookahead_phonemes:], durations)
        if len(frames) == 0:
            return np.zeros((0, c.n_mels), np.float32)
        frames = np.concatenate([frames, np.zeros((c.lookahead_frames, c.cond_dim), np.float32)])
        mel, _ = self.acoustic.decoder_step(frames[None], voice, dec_state)
        return mel[0, c.lookahead_frames:]

    def synthesize(self, text: str, voice: str = DEFAULT_VOICE, speed: float = 1.0, seed: int = 0) -> np.ndarray:
        """text -> float32 samples at sample_rate (mono)."""
        spec, weights = self.voice(voice)
        mel = self.mel(self.frontend(spec.british).ids(text), weights, speed, seed)
        if len(mel) == 0:
            return np.zeros(0, np.float32)
        return self.vocoder.forward(mel[None], seed)[0]

    # ---- streaming ----
    def stream(self, voice: str = DEFAULT_VOICE, speed: float = 1.0, seed: int = 0) -> SynthesisStream:
        spec, weights = self.voice(voice)
        if not speed > 0:
            raise ValueError(f"speed must be positive, got {speed}")
        enc_state, dec_state = self.acoustic.init_state(1, seed)
        return SynthesisStream(self, self.frontend(spec.british).stream(), weights, speed, enc_state, dec_state,
                               self.vocoder.init_state(1, seed))


@dataclass
class SynthesisStream:
    """One utterance (or a whole text) being spoken: text in with accept_text / input_finished, audio out with
    pull. Pre-roll (the look-aheads' first outputs) is dropped here; the ends are padded here."""

    synth: Synthesizer
    text: TextStream
    voice: np.ndarray  # (1, S)
    speed: float
    enc_state: OnnxState
    dec_state: OnnxState
    voc_state: VocoderState
    phoneme_preroll: int = -1  # set from the config in __post_init__
    frame_preroll: int = -1
    frames: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))  # conditions to decode
    mel_frames: int = 0  # sent to the vocoder
    ended: bool = False  # the decoder's end padding is queued
    done: bool = False  # every sample has been pulled

    def __post_init__(self) -> None:
        c = self.synth.config
        self.phoneme_preroll, self.frame_preroll = c.lookahead_phonemes, c.lookahead_frames
        self.frames = np.zeros((0, c.cond_dim), np.float32)

    def accept_text(self, piece: str) -> None:
        self._encode(self.text.accept_text(piece))

    def input_finished(self) -> None:
        if self.ended:
            return
        c = self.synth.config
        self._encode(self.text.input_finished())
        self._encode([0] * c.lookahead_phonemes)  # the encoder's end: L pad ids
        self.frames = np.concatenate([self.frames, np.zeros((c.lookahead_frames, c.cond_dim), np.float32)])
        self.ended = True

    @property
    def is_ready(self) -> bool:
        """Whether pull() has work: a whole chunk of frames, or the end of the input not yet pulled."""
        return len(self.frames) >= self.synth.config.chunk_frames or (self.ended and not self.done)

    def pull(self, max_chunks: int | None = None) -> np.ndarray:
        """Decodes the whole chunks of frames that are ready (at most max_chunks), and after input_finished
        the rest; returns the samples that became final (float32, maybe none)."""
        c = self.synth.config
        n = len(self.frames) if self.ended else len(self.frames) // c.chunk_frames * c.chunk_frames
        if max_chunks is not None:
            n = min(n, max_chunks * c.chunk_frames)
        out = [np.zeros(0, np.float32)]
        if n:
            chunk, self.frames = self.frames[:n], self.frames[n:]
            mel, self.dec_state = self.synth.acoustic.decoder_step(chunk[None], self.voice, self.dec_state)
            drop = min(self.frame_preroll, mel.shape[1])
            self.frame_preroll -= drop
            mel = mel[:, drop:]
            if mel.shape[1]:
                samples, self.voc_state = self.synth.vocoder.step(mel, self.voc_state)
                self.mel_frames += mel.shape[1]
                out.append(samples[0])
        if self.ended and not len(self.frames) and not self.done:
            self.done = True
            if self.mel_frames:  # no frames, no audio (as synthesize)
                out.append(self.synth.vocoder.flush(self.voc_state)[0])
        return np.concatenate(out).astype(np.float32)

    def _encode(self, ids: list[int]) -> None:
        if not ids:
            return
        c = self.synth.config
        enc, log_dur, self.enc_state = self.synth.acoustic.encoder_step(np.asarray([ids], np.int64), self.voice,
                                                                        self.enc_state)
        drop = min(self.phoneme_preroll, enc.shape[1])
        self.phoneme_preroll -= drop
        durations = regulate.durations(log_dur[0, drop:], self.speed, c.max_duration)
        self.frames = np.concatenate([self.frames, regulate.frame_conditions(enc[0, drop:], durations)])
