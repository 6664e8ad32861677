"""Frozen configs of the chunked flow-matching vocoder: signal and representation, network, streaming, solver.

Pure Python + numpy (no torch): the deployed runtime reads them from ONNX metadata; checkpoints store
``to_dict()`` as JSON.

Geometry: one mel frame = one STFT frame. The toolkit's Fbank shifts by 160 samples at 16 kHz, so the STFT
hop is 160; n_fft 640 with a periodic Hann window overlaps 4x (the squared windows sum to a constant, so
the overlap-add is perfectly invertible, NOLA and COLA). STFT frame j is centred on sample j * hop; the
mel frame j it is generated from is centred half a hop later (Kaldi framing).

Look-ahead: STFT frame j is generated from mel frames up to j + lookahead_frames (and nothing later).
Chunk: the streaming step takes ``chunk_frames`` mel frames; the network is causal frame by frame, so
any chunking gives the same output - the chunk only sets the step size, hence the latency.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

# log(float32 eps): the log-mel value of digital silence (the Fbank's floor).
PAD_FEATURE = math.log(1.1920929e-7)

SOLVERS = ("euler", "midpoint")
PRIORS = ("gaussian", "mel")


@dataclass(frozen=True)
class SolverConfig:
    """How the ODE from noise (t = 0) to data (t = 1) is integrated.

    nfe: network evaluations per frame (euler: nfe steps; midpoint: nfe / 2 steps of two evaluations).
    t0: early skip - integrate over [t0, 1] only, starting from the cheap mel-shaped Gaussian prior that
    approximates the marginal at t0 (see flow.start_sample).
    With a mean-flow model "euler" takes average-velocity jumps u(x_t, t, r) from each t to the next r.
    """

    name: str = "midpoint"
    nfe: int = 2
    t0: float = 0.0

    def __post_init__(self) -> None:
        if self.name not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}, got {self.name!r}")
        if isinstance(self.nfe, bool) or not isinstance(self.nfe, int) or self.nfe < 1:
            raise ValueError(f"nfe must be a positive integer, got {self.nfe!r}")
        if self.name == "midpoint" and self.nfe % 2:
            raise ValueError(f"the midpoint solver evaluates twice per step: nfe must be even, got {self.nfe}")
        if not 0.0 <= self.t0 < 1.0:
            raise ValueError(f"t0 must be in [0, 1), got {self.t0}")

    @property
    def steps(self) -> int:
        return self.nfe // 2 if self.name == "midpoint" else self.nfe


@dataclass(frozen=True)
class VocoderConfig:
    # ---- signal and representation ----
    sample_rate: int = 16000
    n_mels: int = 80
    n_fft: int = 640
    hop_length: int = 160  # = the Fbank frame shift: one mel frame per STFT frame
    spec_compress: float = 0.5  # x = spec_scale * |X|^a * exp(i angle X), real and imaginary parts
    spec_scale: float = 1.0
    mel_offset: float = PAD_FEATURE  # network input (mel - mel_offset) / mel_scale: silence -> 0,
    mel_scale: float = 5.0  # so the causal convs' zero padding means silence
    pad_feature: float = PAD_FEATURE  # mel value that pads the look-ahead at the end of a stream
    prior: str = "mel"  # x0 ~ N(0, 1) ("gaussian") or N(0, s(mel)^2) with s the mel-derived spectral envelope
    prior_floor: float = 0.02  # lower bound of s, in the compressed domain
    # ---- network ----
    d_model: int = 160
    num_layers: int = 6  # velocity blocks, run once per solver evaluation
    cond_layers: int = 2  # mel-conditioning blocks, run once per chunk
    ff_mult: int = 3
    kernel_size: int = 7
    cond_kernel: int = 3  # first conv on the mel frames; its cache doubles as the look-ahead delay line
    d_time: int = 64
    mean_flow: bool = False  # the network also takes r (average velocity over [t, r]) for 1-2 step jumps
    # ---- streaming ----
    chunk_frames: int = 4
    lookahead_frames: int = 2
    # ---- sampling ----
    solver: SolverConfig = field(default_factory=SolverConfig)

    def __post_init__(self) -> None:
        if isinstance(self.solver, dict):
            object.__setattr__(self, "solver", SolverConfig(**self.solver))
        if self.prior not in PRIORS:
            raise ValueError(f"prior must be one of {PRIORS}, got {self.prior!r}")
        for name in ("n_mels", "n_fft", "hop_length", "d_model", "num_layers", "cond_layers", "ff_mult",
                     "kernel_size", "cond_kernel", "d_time", "chunk_frames"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.lookahead_frames <= self.chunk_frames:
            raise ValueError(f"lookahead_frames must be in [0, chunk_frames={self.chunk_frames}], "
                             f"got {self.lookahead_frames}")
        if self.cond_kernel - 1 < self.lookahead_frames:
            raise ValueError(f"cond_kernel must be > lookahead_frames ({self.lookahead_frames}): its cache "
                             "holds the mel frames the prior of the delayed STFT frames needs")
        if not 0 < self.spec_compress <= 1:
            raise ValueError(f"spec_compress must be in (0, 1], got {self.spec_compress}")
        if self.spec_scale <= 0 or self.mel_scale <= 0 or self.prior_floor <= 0:
            raise ValueError("spec_scale, mel_scale and prior_floor must be positive")
        if self.mean_flow and self.solver.name != "euler":
            raise ValueError("a mean-flow model samples with average-velocity jumps: use solver 'euler'")
        from speechstream.audio.stft import STFT  # numpy only

        STFT(self.n_fft, self.hop_length).inverse_stream()  # raises unless the window is invertible (NOLA)

    # ---- derived sizes ----
    @property
    def n_freqs(self) -> int:
        return self.n_fft // 2 + 1

    @property
    def frame_dim(self) -> int:
        """Channels of one generated frame: real and imaginary parts of n_freqs bins."""
        return 2 * self.n_freqs

    @property
    def latency_samples(self) -> int:
        """Worst-case wait of an output sample, with mel frame i arriving at time (i + 1) * hop.

        The first frame of a chunk waits for the whole chunk and its look-ahead; then the overlap-add holds
        back the right half-window of the newest frame (ceil(n_fft / 2 / hop) frames). Checked against a
        measured stream in tests/test_vocoder_streaming.py.
        """
        istft_frames = -(-(self.n_fft // 2) // self.hop_length)
        return (self.chunk_frames + self.lookahead_frames + istft_frames) * self.hop_length

    @property
    def latency_ms(self) -> float:
        return 1000.0 * self.latency_samples / self.sample_rate

    def with_solver(self, **kw: Any) -> VocoderConfig:
        """The same model with other sampling options (name, nfe, t0)."""
        return VocoderConfig.from_dict({**self.to_dict(), "solver": {**asdict(self.solver), **kw}})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VocoderConfig:
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown VocoderConfig fields: {sorted(unknown)}")
        return cls(**d)

    @classmethod
    def tiny(cls, **overrides: Any) -> VocoderConfig:
        """A test-size vocoder: random weights, a chunk in about a millisecond on CPU."""
        kw: dict[str, Any] = dict(d_model=16, num_layers=2, cond_layers=1, ff_mult=2, kernel_size=3,
                                  d_time=8, chunk_frames=3, lookahead_frames=1, cond_kernel=2)
        kw.update(overrides)
        return cls(**kw)
