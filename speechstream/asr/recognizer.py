"""Streaming speech recognition with numpy + onnxruntime: a stateless Recognizer and one Stream per utterance.

    recognizer = Recognizer.from_dir("models/asr_en")          # decoding="ctc-greedy" by default
    stream = recognizer.create_stream(lookahead_ms=480)
    stream.accept_waveform(16000, samples)                     # any rate; resampled in the stream
    stream.input_finished()
    while recognizer.is_ready(stream):
        recognizer.decode_streams([stream])                    # batched across the streams given
        print(recognizer.get_result(stream))

Each `decode_streams` call runs one encoder chunk for every ready stream, batching streams of the same
look-ahead into one onnxruntime call. A stream computes its features as samples arrive (streaming Fbank,
identical to offline); the end of a stream is a last, shorter chunk whose missing frames are masked, so
streaming gives exactly the transcript of the whole file decoded at once. After an endpoint (sherpa-onnx's
rules) the result is final, the segment index goes up and decoding restarts; the encoder keeps its caches.
When a segment reaches the length limit (rule3) it is cut at its longest pause before a word instead
(speechstream.asr.segmenting): the tokens after the cut open the next segment and decoding goes on.
With `vad=VadConfig()` a voice activity detector (silero-vad's ONNX model) also ends a segment after a pause
in the audio itself, whatever the model's blanks say.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from speechstream.asr.ctc_decoding import CtcBeamDecoder, CtcGreedyDecoder
from speechstream.asr.endpoint import EndpointConfig, endpoint_rule_of
from speechstream.asr.graphs import (EncoderGraph, EncoderState, JoinerGraph, PredictorGraph, split_state,
                                     stack_states)
from speechstream.asr.model_dir import check_runtime_dir, trained_heads
from speechstream.asr.rnnt_decoding import RnntBeamDecoder, RnntGreedyDecoder
from speechstream.asr.segmenting import Split, TokenKinds, best_split
from speechstream.asr.tokenizer import Tokenizer
from speechstream.asr.vad import RATE as VAD_RATE
from speechstream.asr.vad import SileroVad, VadConfig
from speechstream.audio.fbank import Fbank, FbankConfig
from speechstream.audio.io import check_samples
from speechstream.audio.resample import Resampler
from speechstream.errors import AudioError, ModelError

DECODING_METHODS = ("ctc-greedy", "ctc-beam", "rnnt-greedy", "rnnt-beam")


@dataclass(frozen=True)
class Result:
    """One segment's hypothesis: partial while it grows, final once an endpoint or the end of input closes it.

    start / end: seconds from the start of the stream; timestamps: each token's start, same clock.
    """

    text: str
    segment: int
    is_final: bool
    start: float
    end: float
    tokens: list[str] = field(default_factory=list)
    timestamps: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Stream:
    """One audio stream's state: resampler, feature stream, pending frames, encoder caches, decoder state."""

    def __init__(self, recognizer: Recognizer, context_index: int) -> None:
        contract = recognizer.encoder.contract
        self.context_index = context_index
        self.chunk_frames = contract.chunk_frames[context_index]
        self.lookahead_ms = contract.lookahead_ms[context_index]
        self.sample_rate = recognizer.sample_rate
        self._resampler: Resampler | None = None
        self._features = recognizer.fbank.stream()
        self._vad = recognizer.vad.stream() if recognizer.vad is not None else None
        self._pending = np.zeros((0, contract.feat_dim), np.float32)  # features not yet encoded
        self.encoder_state: EncoderState = recognizer.encoder.init_state(1)
        self.decoder_state = recognizer.decoder.init_state()
        self.segment = 0
        self.segment_start = 0  # encoder frame where the current segment began
        self.frames_done = 0  # encoder frames decoded
        self.samples_received = 0  # at the model rate
        self.input_done = False
        self.done = False  # every frame decoded and the last result made final
        self.result: Result | None = None

    def accept_waveform(self, sample_rate: int, samples: np.ndarray) -> None:
        """Adds samples (N,) float in [-1, 1] at `sample_rate` (resampled to the model's rate)."""
        if self.input_done:
            raise AudioError("accept_waveform() after input_finished()")
        if np.asarray(samples).size == 0:
            return
        x = check_samples(samples)
        if self._resampler is None:
            self._resampler = Resampler(int(sample_rate), self.sample_rate)
        elif sample_rate != self._resampler.in_rate:
            raise AudioError(f"sample rate changed mid-stream: {self._resampler.in_rate} -> {sample_rate}")
        self._add(self._resampler.accept(x))

    def input_finished(self) -> None:
        """No more audio: the rest is decoded as a last, shorter chunk."""
        if self.input_done:
            return
        if self._resampler is not None:
            self._add(self._resampler.flush())
        self.input_done = True
        if self.samples_received:  # the right-edge frames; an empty stream has none
            self._pending = np.concatenate([self._pending, self._features.flush()])

    @property
    def num_pending_frames(self) -> int:
        return self._pending.shape[0]

    def _add(self, samples: np.ndarray) -> None:
        self.samples_received += samples.shape[0]
        if self._vad is not None:
            self._vad.accept(samples)
        frames = self._features.accept(samples)
        if frames.shape[0]:
            self._pending = np.concatenate([self._pending, frames])

    def _take_chunk(self) -> tuple[np.ndarray, int]:
        """(C, F) frames zero-padded to a whole chunk, and how many are real."""
        n = min(self.chunk_frames, self.num_pending_frames)
        if n == self.chunk_frames:  # every chunk but a stream's last: no copy
            chunk = self._pending[:n]
        else:
            chunk = np.zeros((self.chunk_frames, self._pending.shape[1]), np.float32)
            chunk[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return chunk, n


class Recognizer:
    """A loaded model (stateless; shared by any number of streams) and its decoding method."""

    def __init__(self, model_dir: str | Path, decoding: str = "ctc-greedy", num_threads: int = 1,
                 provider: str = "cpu", beam: int = 4, endpoint: EndpointConfig | None = None,
                 int8: bool | None = None, allow_untrained: bool = False, vad: VadConfig | None = None) -> None:
        if decoding not in DECODING_METHODS:
            raise ModelError(f"unknown decoding method {decoding!r}; choose one of {', '.join(DECODING_METHODS)}")
        d = Path(model_dir)
        if not d.is_dir():
            raise ModelError(f"model directory not found: {d}")
        check_runtime_dir(d)
        head = decoding.split("-")[0]
        if head not in trained_heads(d) and not allow_untrained:  # benchmarks time it all the same
            other = [m for m in DECODING_METHODS if not m.startswith(head)]
            raise ModelError(f"{d}: the model's {head.upper().replace('RNNT', 'RNN-T')} head is untrained (see its "
                             f"config.json), so {decoding} would print noise; use {' or '.join(other)}")
        self.model_dir, self.decoding = d, decoding
        self.encoder = EncoderGraph(_graph(d, "encoder", int8), num_threads, provider)
        contract = self.encoder.contract
        self.tokenizer = Tokenizer.from_file(str(d / "tokens.txt"))
        if self.tokenizer.vocab_size != contract.vocab_size:
            raise ModelError(f"{d / 'tokens.txt'} has {self.tokenizer.vocab_size} tokens, the model {contract.vocab_size}")
        self.fbank = Fbank(FbankConfig.from_dict(contract.features))
        self.sample_rate = self.fbank.config.sample_rate
        self.frame_seconds = contract.subsampling_factor * self.fbank.config.frame_shift / self.sample_rate
        self.endpoint = endpoint or EndpointConfig()
        if vad is not None and self.sample_rate != VAD_RATE:
            raise ModelError(f"the VAD runs at {VAD_RATE} Hz, this model at {self.sample_rate} Hz")
        self.vad = SileroVad(vad) if vad is not None else None
        self._kinds = TokenKinds.from_symbols(self.tokenizer.symbols)
        self._max_frames = int(round(self.endpoint.rule3.min_utterance_length / self.frame_seconds))
        blank = contract.blank_id
        if decoding.startswith("rnnt"):
            predictor = PredictorGraph(_graph(d, "predictor", int8), num_threads, provider)
            joiner = JoinerGraph(_graph(d, "joiner", int8), num_threads, provider)
            self.decoder: Any = (RnntGreedyDecoder(predictor, joiner, blank, contract.context_size)
                                 if decoding == "rnnt-greedy"
                                 else RnntBeamDecoder(predictor, joiner, blank, contract.context_size, beam))
        else:
            self.decoder = CtcGreedyDecoder(blank) if decoding == "ctc-greedy" else CtcBeamDecoder(beam, blank_id=blank)

    @classmethod
    def from_dir(cls, path: str | Path, decoding: str = "ctc-greedy", num_threads: int = 1,
                 provider: str = "cpu", **options: Any) -> Recognizer:
        return cls(path, decoding, num_threads, provider, **options)

    @property
    def lookaheads_ms(self) -> tuple[float, ...]:
        return self.encoder.contract.lookahead_ms

    def latency_ms(self, stream: Stream) -> float:
        """Algorithmic latency of a stream's look-ahead: its chunk plus the feature window's reach."""
        return self.encoder.contract.latency_ms[stream.context_index]

    def create_stream(self, lookahead_ms: float | None = None) -> Stream:
        return Stream(self, self.encoder.contract.context_index(lookahead_ms))

    def is_ready(self, stream: Stream) -> bool:
        """Whether decode_streams would make progress: a whole chunk waits, or the end of input does."""
        if stream.done:
            return False
        return stream.num_pending_frames >= stream.chunk_frames or stream.input_done

    def decode_streams(self, streams: Iterable[Stream]) -> None:
        """Decodes one chunk of every ready stream given; streams of one look-ahead share one encoder call."""
        groups: dict[int, list[Stream]] = {}
        for s in streams:
            if self.is_ready(s):
                groups.setdefault(s.chunk_frames, []).append(s)
        for group in groups.values():
            self._decode_group(group)

    def _decode_group(self, group: list[Stream]) -> None:
        chunks, lengths = zip(*(s._take_chunk() for s in group))
        live = [i for i, n in enumerate(lengths) if n > 0]
        if live:
            f = self.encoder.contract.subsampling_factor
            enc, log_probs, state = self.encoder.step(np.stack([chunks[i] for i in live]),
                                                      np.array([lengths[i] for i in live]),
                                                      stack_states([group[i].encoder_state for i in live]))
            new_states = split_state(state, len(live))
            valid = [-(-lengths[i] // f) for i in live]  # encoder frames of a partial last chunk
            inputs = [log_probs[k, :v] if self.decoding.startswith("ctc") else enc[k, :v]
                      for k, v in enumerate(valid)]
            decoded = self.decoder.step_batch(inputs, [group[i].decoder_state for i in live])
            for k, i in enumerate(live):
                s = group[i]
                s.encoder_state, s.decoder_state = new_states[k], decoded[k]
                s.frames_done += valid[k]
        for s in group:
            last = s.input_done and s.num_pending_frames == 0
            rule = None if last else endpoint_rule_of(self.endpoint, s.decoder_state, self.frame_seconds)
            if rule == 3:  # the length limit: cut at the best pause before a word, or wait for one
                cut = best_split(s.decoder_state.tokens, s.decoder_state.frames, self._kinds,
                                 s.decoder_state.num_frames)
                if cut is not None:
                    self._split(s, cut)
                    continue
                state = s.decoder_state
                if state.tokens and state.num_frames - state.frames[0] < 2 * self._max_frames:
                    rule = None  # one word so far: wait for the next to start (rules 1-2 end it at a pause)
            if rule is None and not last and self._vad_endpoint(s):
                rule = 0  # the VAD heard a pause after speech
            final = last or rule is not None
            s.result = self._result(s, final)
            if final:
                s.segment += 1
                s.segment_start = s.frames_done
                s.decoder_state = self.decoder.init_state()
                s.done = last

    def _vad_endpoint(self, s: Stream) -> bool:
        """With a VAD: a segment with tokens ends after `min_silence_s` of non-speech that followed speech."""
        if s._vad is None or self.vad is None or not s.decoder_state.tokens:
            return False
        silence = s._vad.trailing_silence(s.frames_done * self.frame_seconds, s.segment_start * self.frame_seconds)
        return silence >= self.vad.config.min_silence_s - 1e-9

    def _split(self, s: Stream, cut: Split) -> None:
        """Finalises the tokens before the cut as one segment; the rest opens the next, decoding on."""
        state = s.decoder_state
        start = s.segment_start * self.frame_seconds
        s.result = Result(text=self.tokenizer.decode(state.tokens[:cut.num_tokens]), segment=s.segment,
                          is_final=True, start=round(start, 3),
                          end=round((s.segment_start + cut.frame) * self.frame_seconds, 3),
                          tokens=[self.tokenizer.id_to_symbol(t) for t in state.tokens[:cut.num_tokens]],
                          timestamps=[round(start + f * self.frame_seconds, 3) for f in state.frames[:cut.num_tokens]])
        s.segment += 1
        s.segment_start += cut.frame
        s.decoder_state = self.decoder.drop_prefix(state, cut.num_tokens, cut.frame)

    def _result(self, s: Stream, is_final: bool) -> Result:
        tokens, frames = s.decoder_state.tokens, s.decoder_state.frames
        start = s.segment_start * self.frame_seconds
        return Result(text=self.tokenizer.decode(tokens), segment=s.segment, is_final=is_final,
                      start=round(start, 3), end=round(s.frames_done * self.frame_seconds, 3),
                      tokens=[self.tokenizer.id_to_symbol(t) for t in tokens],
                      timestamps=[round(start + fr * self.frame_seconds, 3) for fr in frames])

    def get_result(self, stream: Stream) -> Result:
        """The result of the stream's last decoded chunk (an empty partial one before any)."""
        if stream.result is None:
            return Result(text="", segment=stream.segment, is_final=False, start=0.0, end=0.0)
        return stream.result

    def transcribe(self, source: Iterable[np.ndarray], lookahead_ms: float | None = None,
                   sample_rate: int | None = None) -> Iterator[Result]:
        """Pipeline stage: pulls audio chunks from `source` (a Flow with `sample_rate`, or give it) and yields
        a Result whenever a segment's text changes and every final one."""
        rate = int(sample_rate if sample_rate is not None else getattr(source, "sample_rate"))
        stream = self.create_stream(lookahead_ms)
        last_text = ""  # no event for a segment until it has text (or ends)
        for chunk in _chain(source, stream):
            if chunk is not None:
                stream.accept_waveform(rate, chunk)
            while self.is_ready(stream):
                self.decode_streams([stream])
                r = self.get_result(stream)
                if r.is_final or r.text != last_text:
                    yield r
                last_text = "" if r.is_final else r.text


def _chain(source: Iterable[np.ndarray], stream: Stream) -> Iterator[np.ndarray | None]:
    """The source's chunks, then a None after marking the input finished."""
    yield from source
    stream.input_finished()
    yield None


def _graph(model_dir: Path, name: str, int8: bool | None) -> Path:
    """`name.onnx`, or `name.int8.onnx` when asked for (int8=True) or when it is the only one there."""
    fp32, q = model_dir / f"{name}.onnx", model_dir / f"{name}.int8.onnx"
    if int8 or (int8 is None and not fp32.is_file() and q.is_file()):
        return q
    if not fp32.is_file():
        raise ModelError(f"{model_dir} lacks {fp32.name}; run `speechstream export {model_dir}`")
    return fp32
