"""Shared by the TTS tests: a tiny random acoustic model, voices, and a torch streaming driver that cuts the
phonemes and the frames where it is told."""

from __future__ import annotations

from typing import Sequence

import torch

from speechstream.tts.config import AcousticConfig
from speechstream.tts.voices import VoiceSpec


def tiny_model(seed: int = 0, **overrides):
    from speechstream.tts.torch.model import AcousticModel

    torch.manual_seed(seed)
    model = AcousticModel(AcousticConfig.tiny(**overrides)).eval()
    with torch.no_grad():  # adaLN modulations start at zero: make the speaker and time matter
        for name, p in model.named_parameters():
            if "modulation" in name:
                p.normal_(0.0, 0.3)
    return model


def voice(spec: str, config: AcousticConfig) -> torch.Tensor:
    return torch.from_numpy(VoiceSpec.parse(spec, config.speakers).vector(config.speakers))[None]


def pieces(n: int, sizes: Sequence[int]) -> list[tuple[int, int]]:
    """[0, n) cut into consecutive pieces of the given sizes (cycled)."""
    out, pos, i = [], 0, 0
    while pos < n:
        size = sizes[i % len(sizes)]
        out.append((pos, min(n, pos + size)))
        pos, i = pos + size, i + 1
    return out


def stream_torch(model, ids: torch.Tensor, voice: torch.Tensor, phoneme_cuts: Sequence[int],
                 frame_cuts: Sequence[int], seed: int = 0, speed: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """ids (1, N) streamed in pieces of phoneme_cuts through encoder_step (then L pad ids), per-phoneme
    length regulation, and decoder_step in pieces of frame_cuts (then L zero frames) -> mel (1, T, M),
    durations (1, N)."""
    from speechstream.tts.torch.regulate import durations as to_durations
    from speechstream.tts.torch.regulate import frame_conditions

    c = model.config
    enc_state, dec_state = model.init_state(1, seed)
    padded = torch.cat([ids, ids.new_zeros(1, c.lookahead_phonemes)], dim=1)
    encs, durs = [], []
    with torch.no_grad():
        for a, b in pieces(padded.size(1), phoneme_cuts):
            enc, log_dur, enc_state = model.encoder_step(padded[:, a:b], voice, enc_state)
            encs.append(enc)
            durs.append(to_durations(log_dur, speed, c.max_duration))
        enc = torch.cat(encs, dim=1)[:, c.lookahead_phonemes:]
        dur = torch.cat(durs, dim=1)[:, c.lookahead_phonemes:]
        conds = [frame_conditions(enc[:, i:i + 1], dur[:, i:i + 1])[0] for i in range(enc.size(1))]
        frames = torch.cat(conds + [enc.new_zeros(1, c.lookahead_frames, c.cond_dim)], dim=1)
        mels = []
        for a, b in pieces(frames.size(1), frame_cuts):
            mel, dec_state = model.decoder_step(frames[:, a:b], voice, dec_state)
            mels.append(mel)
    return torch.cat(mels, dim=1)[:, c.lookahead_frames:], dur
