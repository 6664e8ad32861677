"""The voice-conversion model: source Fbank frames + a target embedding -> Fbank frames in the target's voice,
offline (``forward``) and streaming (``init_state``, ``content_step``, ``decoder_step``).

Shapes: B batch, T frames, c frames per step, M mel bins, D content dim, E target embedding dim, R reference
frames.

  content  ContentEncoder (content.py): source mel -> content (B, T, D), L_c frames of look-ahead
  speaker  SpeakerEncoder (speaker.py): reference mel (B, R, M) -> target embedding (B, E), once per target
  decoder  FlowDecoder (speechstream.tts.torch.decoder) with content frames as its conditions and the target
           embedding as its speaker: normalised mel frames, L_d frames of look-ahead
The two streaming halves run back to back on each chunk; the caller drops each half's pre-roll (its first L
outputs) and ends a stream with each half's end padding: ``content.end_frames`` (silence) for the content
encoder, then L_d zero content frames for the decoder (see speechstream.vc.converter, which does this in numpy).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from speechstream.tts.torch.decoder import DecoderState, FlowDecoder
from speechstream.vc.config import VCConfig
from speechstream.vocoder.torch.generator import seed_tensor

from .content import ContentEncoder, ContentState
from .speaker import SpeakerEncoder


class VCModel(nn.Module):
    def __init__(self, config: VCConfig) -> None:
        super().__init__()
        self.config = config
        self.content = ContentEncoder(config)
        self.speaker = SpeakerEncoder(config)
        self.decoder = FlowDecoder(config.decoder_config(), cond_dim=config.d_content)

    def denormalise(self, x: Tensor) -> Tensor:
        """Normalised x (B, T, M) -> log-mel (B, T, M)."""
        return x * self.config.mel_std + self.config.mel_mean

    def normalise(self, mel: Tensor) -> Tensor:
        return (mel - self.config.mel_mean) / self.config.mel_std

    # ---- offline ----
    def forward(self, mel: Tensor, target: Tensor, seed: int | Sequence[int] | Tensor = 0) -> Tensor:
        """Conversion offline: source mel (B, T, M), target embedding (B, E) -> mel (B, T, M)."""
        content = self.content(mel)
        x = self.decoder(content, target, seed_tensor(seed, mel.size(0), mel.device))
        return self.denormalise(x)

    def embed(self, reference: Tensor, lengths: Tensor | None = None) -> Tensor:
        """reference mel (B, R, M), lengths (B,) -> target embedding (B, E)."""
        return self.speaker(reference, lengths)

    # ---- streaming ----
    def init_state(self, batch_size: int, seed: int | Sequence[int] | Tensor = 0,
                   device: torch.device | None = None) -> tuple[ContentState, DecoderState]:
        return (self.content.init_state(batch_size, device),
                self.decoder.init_state(batch_size, seed_tensor(seed, batch_size, device), device))

    def content_step(self, mel: Tensor, state: ContentState) -> tuple[Tensor, ContentState]:
        """source mel (B, c, M) -> content (B, c, D), L_c frames late, state (see ContentEncoder.step)."""
        return self.content.step(mel, state)

    def decoder_step(self, content: Tensor, target: Tensor, state: DecoderState) -> tuple[Tensor, DecoderState]:
        """content (B, c, D), target (B, E) -> mel (B, c, M), L_d frames late, state (see FlowDecoder.step)."""
        x, state = self.decoder.step(content, target, state)
        return self.denormalise(x), state
