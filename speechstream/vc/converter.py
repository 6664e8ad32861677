"""The user-facing voice converter: source audio + a target voice -> audio in the target's voice, whole or
streamed, with numpy and onnxruntime only.

    vc = Converter.from_dir("models/vc_en")
    vc.set_target(reference_samples, 16000)          # or vc.set_voice("af_heart"): a built-in target
    out = vc.convert(samples, 16000)                 # whole file (the model's rate, as long as the input)
    stream = vc.create_stream()
    stream.accept_waveform(48000, block)             # any rate: resampled in the stream
    play(stream.pull())                              # the samples that became final
    stream.input_finished(); play(stream.pull())     # the rest

The path: resampling -> streaming Fbank -> whole chunks of source frames through the content step (its L_c
pre-roll dropped) and the decoder step (its L_d pre-roll dropped) -> the vocoder's streaming step -> samples.
The end of a stream feeds each half its end padding (silence frames, then zero content frames) and flushes the
vocoder. ``convert`` runs every stage in one step and the vocoder offline; a stream, fed in any pieces, gives
the same samples (tests/test_vc_converter.py). The latency is the config's plus the vocoder's, computed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from speechstream.audio.fbank import Fbank, FbankConfig
from speechstream.audio.io import check_samples
from speechstream.audio.resample import Resampler, resample
from speechstream.errors import AudioError, ModelError
from speechstream.vocoder.model_dir import load_vocoder
from speechstream.vocoder.resynthesis import fit_length
from speechstream.vocoder.vocoder import Vocoder, VocoderState

from .config import PAD_FEATURE
from .model_dir import read_config, read_voices, vocoder_dir
from .onnx_model import OnnxState, OnnxVC

MIN_REFERENCE_SECONDS = 1.0  # a target embedding from less speech than this is mostly noise
SILENCE_RMS = 1e-4  # a reference quieter than this (about -80 dBFS) holds no voice


class Converter:
    def __init__(self, model_dir: str | Path, vocoder: str | Path | Vocoder | None = None, num_threads: int = 1,
                 provider: str = "cpu") -> None:
        d = Path(model_dir)
        config = read_config(d)
        if num_threads < 1:
            raise ModelError(f"num_threads must be >= 1, got {num_threads}")
        self.model = OnnxVC(d, num_threads, provider)
        if self.model.config != config:
            raise ModelError(f"{d}: the graphs were exported from another config than config.json; re-export")
        self.config = config
        fb = FbankConfig()
        if (config.sample_rate, config.hop_length, config.n_mels) != (fb.sample_rate, fb.frame_shift,
                                                                      fb.num_mel_bins):
            raise ModelError(f"{d}: the model's frames ({config.sample_rate} Hz, hop {config.hop_length}, "
                             f"{config.n_mels} mels) are not the toolkit's Fbank")
        self.fbank = Fbank(fb)
        self.vocoder = vocoder if isinstance(vocoder, Vocoder) else load_vocoder(vocoder_dir(d, vocoder),
                                                                               num_threads, provider)
        v = self.vocoder.config
        if (v.sample_rate, v.hop_length, v.n_mels) != (config.sample_rate, config.hop_length, config.n_mels):
            raise ModelError(f"the vocoder's frames ({v.sample_rate} Hz, hop {v.hop_length}, {v.n_mels} mels) are "
                             f"not the VC model's ({config.sample_rate} Hz, hop {config.hop_length}, "
                             f"{config.n_mels} mels)")
        self.voices = read_voices(d, config.d_speaker)
        self.target: np.ndarray | None = None  # (E,) the default target of new streams

    @classmethod
    def from_dir(cls, path: str | Path, **options: Any) -> Converter:
        return cls(path, **options)

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def latency_samples(self) -> int:
        """Worst-case wait of an output sample for its input sample (at the model's rate)."""
        return self.config.latency_samples(self.vocoder.config)

    @property
    def latency_ms(self) -> float:
        return 1000.0 * self.latency_samples / self.sample_rate

    # ---- targets ----
    def embed(self, reference: np.ndarray, sample_rate: int) -> np.ndarray:
        """A reference recording (N,) or (N, channels) at `sample_rate` -> its target embedding (E,)."""
        x = check_samples(reference, "reference")
        x = resample(x, int(sample_rate), self.sample_rate)
        seconds = len(x) / self.sample_rate
        if seconds < MIN_REFERENCE_SECONDS:
            raise AudioError(f"reference: {seconds:.2f} s is too short; give at least {MIN_REFERENCE_SECONDS:g} s "
                             "of the target's speech")
        if float(np.sqrt(np.mean(np.square(x)))) < SILENCE_RMS:
            raise AudioError("reference: is silent; give a recording of the target's speech")
        return self.model.embed(self.fbank(x)[None])[0]

    def voice(self, name: str) -> np.ndarray:
        """A built-in target's embedding (E,); ValueError naming the voices there are."""
        if name not in self.voices:
            there = ", ".join(sorted(self.voices)) or "none (this model has no voices.json)"
            raise ValueError(f"unknown voice {name!r}; built-in voices: {there}")
        return self.voices[name]

    def set_target(self, reference: np.ndarray, sample_rate: int) -> np.ndarray:
        """Makes the voice of `reference` the default target; returns its embedding (E,)."""
        self.target = self.embed(reference, sample_rate)
        return self.target

    def set_voice(self, name: str) -> np.ndarray:
        """Makes a built-in voice the default target; returns its embedding (E,)."""
        self.target = self.voice(name)
        return self.target

    def _target(self, target: np.ndarray | str | None) -> np.ndarray:
        """(1, E) from an embedding, a built-in voice's name, or the default target."""
        if isinstance(target, str):
            target = self.voice(target)
        elif target is None:
            if self.target is None:
                raise ValueError("no target voice: call set_target(reference, rate) or set_voice(name) first")
            target = self.target
        t = np.asarray(target, np.float32).reshape(-1)
        if t.shape != (self.config.d_speaker,) or not np.all(np.isfinite(t)):
            raise ValueError(f"a target embedding is {self.config.d_speaker} finite numbers, got shape {t.shape}")
        return t[None]

    # ---- whole utterance ----
    def mel(self, source: np.ndarray, target: np.ndarray | str | None = None, seed: int = 0) -> np.ndarray:
        """Source log-mel (T, M) -> converted log-mel (T, M): both halves as one step each."""
        c = self.config
        content_state, decoder_state = self.model.init_state(1, seed)
        frames = np.concatenate([source, np.full((c.content_lookahead, c.n_mels), PAD_FEATURE, np.float32)])
        content, _ = self.model.content_step(frames[None], content_state)
        content = np.concatenate([content[:, c.content_lookahead:],
                                  np.zeros((1, c.decoder_lookahead, c.d_content), np.float32)], axis=1)
        mel, _ = self.model.decoder_step(content, self._target(target), decoder_state)
        return mel[0, c.decoder_lookahead:]

    def convert(self, samples: np.ndarray, sample_rate: int, target: np.ndarray | str | None = None,
                seed: int = 0) -> np.ndarray:
        """Source samples (N,) or (N, channels) at `sample_rate` -> float32 samples at the model's rate, as long
        as the (resampled) input."""
        x = resample(check_samples(samples, "source"), int(sample_rate), self.sample_rate)
        mel = self.mel(self.fbank(x), target, seed)
        if len(mel) == 0:
            return np.zeros(len(x), np.float32)
        return fit_length(self.vocoder.forward(mel[None], seed)[0], len(x))

    # ---- streaming ----
    def create_stream(self, target: np.ndarray | str | None = None, seed: int = 0,
                      keep_mel: bool = False) -> ConversionStream:
        """A stream converting to `target` (an embedding, a built-in voice's name, or the default target);
        `keep_mel` keeps the converted Fbank frames it vocodes (``stream.mel()``)."""
        return ConversionStream(self, self._target(target), seed, keep_mel)


class ConversionStream:
    """One source stream being converted: audio in with accept_waveform / input_finished, audio out with pull.
    Each half's pre-roll is dropped here and the ends are padded here."""

    def __init__(self, converter: Converter, target: np.ndarray, seed: int = 0, keep_mel: bool = False) -> None:
        c = converter.config
        self.converter = converter
        self.target = target  # (1, E)
        self._resampler: Resampler | None = None
        self._features = converter.fbank.stream()
        self._frames = np.zeros((0, c.n_mels), np.float32)  # source frames not yet converted
        self._content_preroll, self._decoder_preroll = c.content_lookahead, c.decoder_lookahead
        self._content_state, self._decoder_state = converter.model.init_state(1, seed)
        self._vocoder_state: VocoderState = converter.vocoder.init_state(1, seed)
        self.samples_received = 0  # at the model's rate
        self.samples_emitted = 0
        self.mel_frames = 0  # sent to the vocoder
        self._kept: list[np.ndarray] | None = [] if keep_mel else None
        self.input_done = False
        self.done = False  # every sample has been pulled

    def accept_waveform(self, sample_rate: int, samples: np.ndarray) -> None:
        """Adds samples (N,) or (N, channels) in [-1, 1] at `sample_rate` (resampled to the model's rate).
        The rate comes first, as in Recognizer's streams."""
        if self.input_done:
            raise AudioError("accept_waveform() after input_finished()")
        if isinstance(sample_rate, np.ndarray) or not np.isscalar(sample_rate):
            raise AudioError("accept_waveform(sample_rate, samples): the rate comes first")
        if np.asarray(samples).size == 0:
            return
        x = check_samples(samples)
        if self._resampler is None:
            self._resampler = Resampler(int(sample_rate), self.converter.sample_rate)
        elif sample_rate != self._resampler.in_rate:
            raise AudioError(f"sample rate changed mid-stream: {self._resampler.in_rate} -> {sample_rate}")
        self._add(self._resampler.accept(x))

    def input_finished(self) -> None:
        """No more audio: the rest is converted by the next pull()."""
        if self.input_done:
            return
        if self._resampler is not None:
            self._add(self._resampler.flush())
        c = self.converter.config
        self._frames = np.concatenate([self._frames, self._features.flush(),
                                       np.full((c.content_lookahead, c.n_mels), PAD_FEATURE, np.float32)])
        self.input_done = True

    @property
    def is_ready(self) -> bool:
        """Whether pull() has work: a whole chunk of source frames, or the end of the input not yet pulled."""
        return len(self._frames) >= self.converter.config.chunk_frames or (self.input_done and not self.done)

    def pull(self, max_chunks: int | None = None) -> np.ndarray:
        """Converts the whole chunks of source frames that are ready (at most max_chunks), and after
        input_finished the rest; returns the samples that became final (float32 at the model's rate)."""
        c = self.converter.config
        n = len(self._frames) if self.input_done else len(self._frames) // c.chunk_frames * c.chunk_frames
        if max_chunks is not None:
            n = min(n, max_chunks * c.chunk_frames)
        out = [np.zeros(0, np.float32)]
        if n:
            chunk, self._frames = self._frames[:n], self._frames[n:]
            out.append(self._convert(chunk, last=self.input_done and not len(self._frames)))
        if self.input_done and not len(self._frames) and not self.done:
            self.done = True
            if self.mel_frames:
                out.append(self.converter.vocoder.flush(self._vocoder_state)[0])
            y = np.concatenate(out)
            # T = (N + hop / 2) // hop frames give T * hop samples: the output is as long as the input.
            room = self.samples_received - self.samples_emitted
            y = fit_length(y, room)
            self.samples_emitted += len(y)
            return y.astype(np.float32)
        y = np.concatenate(out).astype(np.float32)
        self.samples_emitted += len(y)
        return y

    def mel(self) -> np.ndarray:
        """The converted Fbank frames (t, M) vocoded so far (a stream created with keep_mel)."""
        if self._kept is None:
            raise ValueError("this stream keeps no frames: create it with keep_mel=True")
        return np.concatenate([np.zeros((0, self.converter.config.n_mels), np.float32), *self._kept])

    def _convert(self, frames: np.ndarray, last: bool) -> np.ndarray:
        """Source frames (t, M) through both halves and the vocoder's step -> samples (n,)."""
        conv, c = self.converter, self.converter.config
        content, self._content_state = conv.model.content_step(frames[None], self._content_state)
        drop = min(self._content_preroll, content.shape[1])
        self._content_preroll -= drop
        content = content[:, drop:]
        if last:  # the decoder's end: L_d zero content frames
            content = np.concatenate([content, np.zeros((1, c.decoder_lookahead, c.d_content), np.float32)], axis=1)
        if not content.shape[1]:
            return np.zeros(0, np.float32)
        mel, self._decoder_state = conv.model.decoder_step(content, self.target, self._decoder_state)
        drop = min(self._decoder_preroll, mel.shape[1])
        self._decoder_preroll -= drop
        mel = mel[:, drop:]
        if not mel.shape[1]:
            return np.zeros(0, np.float32)
        samples, self._vocoder_state = conv.vocoder.step(mel, self._vocoder_state)
        self.mel_frames += mel.shape[1]
        if self._kept is not None:
            self._kept.append(mel[0])
        return samples[0]

    def _add(self, samples: np.ndarray) -> None:
        self.samples_received += len(samples)
        frames = self._features.accept(samples)
        if len(frames):
            self._frames = np.concatenate([self._frames, frames])
