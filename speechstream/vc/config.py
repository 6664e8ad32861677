"""The frozen config of the streaming voice-conversion model (source Fbank frames + a target voice -> Fbank
frames in the target's voice). Pure Python: the runtime reads it from the ONNX metadata; checkpoints store
``to_dict()`` as JSON.

Three networks, one frame rate (the toolkit's Fbank: 10 ms):
  content  source Fbank -> speaker-independent content frames (B, T, D): a causal convolution stack read
           ``content_lookahead`` frames late, a bottleneck trained by CTC on phoneme ids (its head is
           training-only). Causal per frame, so any chunking gives the same output.
  speaker  a reference's Fbank -> one target embedding (B, E): whole-utterance, computed once per target.
  decoder  content frames + target embedding -> Fbank frames by chunk-causal flow matching: the TTS decoder
           (speechstream.tts.torch.decoder.FlowDecoder), conditioned on content instead of phonemes, read
           ``decoder_lookahead`` frames late, ``solver.nfe`` evaluations per chunk with one cache per evaluation.
Then the vocoder (models/vocoder_en) turns the Fbank frames into audio.

Latency (computed, see ``latency``): an output sample waits for the source audio that the Fbank window, the
content look-ahead, the decoder's chunk and look-ahead and the vocoder's look-ahead and overlap-add reach.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from speechstream.vocoder.config import SolverConfig

PAD_FEATURE = math.log(1.1920929e-7)  # the Fbank's floor: digital silence, what pads a stream's end
FBANK_WINDOW = 400  # samples: the Fbank's frame length (speechstream.audio.fbank.FbankConfig)


@dataclass(frozen=True)
class VCConfig:
    # ---- signal (the toolkit's Fbank: 16 kHz, 10 ms hop, 80 mel bins) ----
    sample_rate: int = 16000
    hop_length: int = 160
    n_mels: int = 80
    mel_mean: float = -10.9  # every network reads (mel - mel_mean) / mel_std; the decoder's flow runs there too
    mel_std: float = 4.4  # (the TTS recipe's values, measured on kokoro_en_v1)
    # ---- content encoder ----
    vocab_size: int = 178  # CTC targets: Kokoro's phoneme ids 1 .. 177; 0 is the blank
    d_encoder: int = 256
    encoder_in_kernel: int = 3
    encoder_layers: int = 6
    encoder_kernel: int = 7
    d_content: int = 64  # the bottleneck the decoder reads
    content_lookahead: int = 4  # frames
    # ---- speaker encoder ----
    d_speaker_encoder: int = 128
    speaker_layers: int = 3
    speaker_kernel: int = 5
    d_speaker: int = 64  # the target embedding
    # ---- decoder ----
    d_decoder: int = 192
    cond_kernel: int = 3
    cond_layers: int = 2
    decoder_layers: int = 4
    decoder_kernel: int = 7
    ff_mult: int = 3
    d_time: int = 64
    chunk_frames: int = 4
    decoder_lookahead: int = 2
    # ---- sampling ----
    solver: SolverConfig = field(default_factory=lambda: SolverConfig(name="euler", nfe=2))

    def __post_init__(self) -> None:
        if isinstance(self.solver, dict):
            object.__setattr__(self, "solver", SolverConfig(**self.solver))
        for name in ("sample_rate", "hop_length", "n_mels", "vocab_size", "d_encoder", "encoder_in_kernel",
                     "encoder_layers", "encoder_kernel", "d_content", "d_speaker_encoder", "speaker_layers",
                     "speaker_kernel", "d_speaker", "d_decoder", "cond_kernel", "decoder_layers", "decoder_kernel",
                     "ff_mult", "d_time", "chunk_frames"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("content_lookahead", "decoder_lookahead", "cond_layers"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.encoder_reach < self.content_lookahead:
            raise ValueError(f"the content encoder sees {self.encoder_reach} frames back, less than its look-ahead "
                             f"{self.content_lookahead}: frame j's content would not see frame j")
        if self.mel_std <= 0:
            raise ValueError("mel_std must be positive")

    @property
    def encoder_reach(self) -> int:
        """Frames of the past the content encoder's stack sees (its receptive field minus one)."""
        return self.encoder_in_kernel - 1 + self.encoder_layers * (self.encoder_kernel - 1)

    # ---- the decoder as the TTS decoder's config ----
    def decoder_config(self) -> Any:
        """The AcousticConfig that FlowDecoder reads (its decoder fields; its text fields are unused)."""
        from speechstream.tts.config import AcousticConfig

        return AcousticConfig(d_speaker=self.d_speaker, n_mels=self.n_mels, mel_mean=self.mel_mean,
                              mel_std=self.mel_std, d_decoder=self.d_decoder, cond_kernel=self.cond_kernel,
                              cond_layers=self.cond_layers, decoder_layers=self.decoder_layers,
                              decoder_kernel=self.decoder_kernel, ff_mult=self.ff_mult, d_time=self.d_time,
                              chunk_frames=self.chunk_frames, lookahead_frames=self.decoder_lookahead,
                              solver=self.solver, sample_rate=self.sample_rate, hop_length=self.hop_length)

    # ---- latency, derived ----
    @property
    def frame_ms(self) -> float:
        return 1000.0 * self.hop_length / self.sample_rate

    @property
    def lookahead_frames(self) -> int:
        """Source frames past frame j that mel frame j depends on (content + decoder look-ahead)."""
        return self.content_lookahead + self.decoder_lookahead

    @property
    def fbank_wait_samples(self) -> int:
        """How long after its hop Fbank frame i is complete: it ends at sample i * hop + hop / 2 + window / 2,
        i.e. it arrives at (i + 1) * hop + this."""
        return self.hop_length // 2 + FBANK_WINDOW // 2 - self.hop_length

    def latency_samples(self, vocoder: Any | None = None) -> int:
        """Worst-case wait of an output sample for its input sample, the stream stepping once per chunk of
        source frames and handing each chunk's mel frames to the vocoder at once. `vocoder`: its
        VocoderConfig (look-ahead L_v and overlap-add of ceil(n_fft / 2 / hop) frames); None counts the
        Fbank frames only. Checked against a measured stream in tests/test_vc_converter.py."""
        frames = self.chunk_frames + self.lookahead_frames
        if vocoder is not None:
            frames += vocoder.lookahead_frames + -(-(vocoder.n_fft // 2) // vocoder.hop_length)
        return frames * self.hop_length + self.fbank_wait_samples

    def latency(self, vocoder: Any | None = None) -> dict[str, float]:
        """The parts and the total, in frames and milliseconds."""
        out: dict[str, float] = {"content_lookahead": self.content_lookahead, "chunk_frames": self.chunk_frames,
                                 "decoder_lookahead": self.decoder_lookahead,
                                 "fbank_wait_ms": 1000.0 * self.fbank_wait_samples / self.sample_rate}
        if vocoder is not None:
            out["vocoder_lookahead"] = vocoder.lookahead_frames
            out["vocoder_overlap_frames"] = -(-(vocoder.n_fft // 2) // vocoder.hop_length)
        out["latency_ms"] = 1000.0 * self.latency_samples(vocoder) / self.sample_rate
        return out

    def with_solver(self, **kw: Any) -> VCConfig:
        return VCConfig.from_dict({**self.to_dict(), "solver": {**asdict(self.solver), **kw}})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VCConfig:
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown VCConfig fields: {sorted(unknown)}")
        return cls(**d)

    @classmethod
    def tiny(cls, **overrides: Any) -> VCConfig:
        """A test-size model: random weights, milliseconds per step on CPU."""
        kw: dict[str, Any] = dict(d_encoder=16, encoder_in_kernel=3, encoder_layers=2, encoder_kernel=3, d_content=8,
                                  content_lookahead=3, d_speaker_encoder=16, speaker_layers=1, speaker_kernel=3,
                                  d_speaker=8, d_decoder=16, cond_kernel=3, cond_layers=1, decoder_layers=2,
                                  decoder_kernel=3, ff_mult=2, d_time=8, chunk_frames=4, decoder_lookahead=2)
        kw.update(overrides)
        return cls(**kw)
