"""Stage factories for the audio primitives: each builds a fresh streaming object for the upstream's rate."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from speechstream.errors import AudioError
from speechstream.pipeline.core import Flow, Stage


@dataclass(frozen=True)
class Resample:
    """Resamples an audio flow to `sample_rate`; passes it through unchanged when it is already there."""

    sample_rate: int

    def __call__(self, upstream: Flow) -> Flow:
        if float(upstream.sample_rate) == float(self.sample_rate):
            return upstream
        from speechstream.audio import Resampler

        return Stage(upstream, Resampler(upstream.sample_rate, self.sample_rate), self.sample_rate)


def _default_fbank_config() -> Any:
    from speechstream.audio import FbankConfig

    return FbankConfig()


@dataclass(frozen=True)
class Features:
    """Log-mel frames (t, n_mels) from an audio flow at the config's sample rate; put Resample before it."""

    config: Any = field(default_factory=_default_fbank_config)  # an audio.FbankConfig

    def __call__(self, upstream: Flow) -> Flow:
        from speechstream.audio import Fbank

        rate = self.config.sample_rate
        if float(upstream.sample_rate) != float(rate):
            raise AudioError(
                f"features need {rate} Hz audio but the stream is {upstream.sample_rate:g} Hz; "
                f"put Resample({rate}) before Features"
            )
        return Stage(upstream, Fbank(self.config).stream(), rate / self.config.frame_shift)
