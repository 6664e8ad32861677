"""The acoustic model: phoneme ids + a voice -> 80-dim Fbank frames, offline (``forward``, ``synthesize``) and
streaming (``init_state``, ``encoder_step``, ``decoder_step``; length regulation between them).

Shapes: B batch, N phonemes, S speakers, E speaker dim, T frames, M mel bins.

A voice is a weight vector over the speaker table (B, S) (speechstream.tts.voices.VoiceSpec.vector): one-hot
for a voice, a convex blend for a mix; its embedding is the weighted sum of the table's rows.
The two halves stream separately because the frames a phoneme yields are only known once its duration is:
the encoder's step returns encodings and log durations per phoneme, the caller turns them into frame
conditions (regulate.frame_conditions; per phoneme, so any cut of the phonemes gives the same rows), and the
decoder's step turns any cut of those into mel frames. See config.py for the look-ahead and latency.
"""

from __future__ import annotations

import copy
from typing import Sequence

import torch
from torch import Tensor, nn

from speechstream.tts.config import AcousticConfig
from speechstream.vocoder.torch.generator import seed_tensor

from .decoder import DecoderState, FlowDecoder
from .encoder import EncoderState, TextEncoder
from .regulate import durations as to_durations
from .regulate import frame_conditions


class AcousticModel(nn.Module):
    def __init__(self, config: AcousticConfig) -> None:
        super().__init__()
        self.config = config
        self.speaker_table = nn.Parameter(torch.randn(len(config.speakers), config.d_speaker) * 0.5)
        self.encoder = TextEncoder(config)
        self.decoder = FlowDecoder(config)

    def with_solver(self, **kw: object) -> AcousticModel:
        """A model sharing these weights with other sampling options (name, nfe, t0)."""
        config = self.config.with_solver(**kw)
        decoder = copy.copy(self.decoder)  # shares the submodules; only the config differs
        decoder.config = config
        other = copy.copy(self)
        other._modules = {**self._modules, "decoder": decoder}
        other.config = config
        return other

    def speaker(self, voice: Tensor) -> Tensor:
        """voice (B, S) weights -> (B, E) embedding."""
        return voice.to(self.speaker_table.dtype) @ self.speaker_table

    def denormalise(self, x: Tensor) -> Tensor:
        """Normalised x (B, T, M) -> log-mel (B, T, M)."""
        return x * self.config.mel_std + self.config.mel_mean

    def normalise(self, mel: Tensor) -> Tensor:
        return (mel - self.config.mel_mean) / self.config.mel_std

    # ---- offline ----
    def forward(self, ids: Tensor, voice: Tensor, durations: Tensor | None = None, speed: float = 1.0,
                seed: int | Sequence[int] | Tensor = 0) -> tuple[Tensor, Tensor, Tensor]:
        """ids (B, N) (0 pads), voice (B, S), durations (B, N) int64 to impose (else predicted at `speed`)
        -> mel (B, T, M), frame mask (B, T), durations (B, N). A padding phoneme gets no frames."""
        speaker = self.speaker(voice)
        enc, log_dur = self.encoder(ids, speaker)
        if durations is None:
            durations = to_durations(log_dur, speed, self.config.max_duration)
        durations = durations * (ids != 0)
        frames, mask = frame_conditions(enc, durations)
        x = self.decoder(frames, speaker, seed_tensor(seed, ids.size(0), ids.device))
        return self.denormalise(x), mask, durations

    # ---- streaming ----
    def init_state(self, batch_size: int, seed: int | Sequence[int] | Tensor = 0,
                   device: torch.device | None = None) -> tuple[EncoderState, DecoderState]:
        return (self.encoder.init_state(batch_size, device),
                self.decoder.init_state(batch_size, seed_tensor(seed, batch_size, device), device))

    def encoder_step(self, ids: Tensor, voice: Tensor, state: EncoderState) -> tuple[Tensor, Tensor, EncoderState]:
        """ids (B, p) -> encodings (B, p, D), log durations (B, p), state (see TextEncoder.step)."""
        return self.encoder.step(ids, self.speaker(voice), state)

    def decoder_step(self, frames: Tensor, voice: Tensor, state: DecoderState) -> tuple[Tensor, DecoderState]:
        """conditions (B, c, C) -> mel (B, c, M), state (see FlowDecoder.step)."""
        x, state = self.decoder.step(frames, self.speaker(voice), state)
        return self.denormalise(x), state
