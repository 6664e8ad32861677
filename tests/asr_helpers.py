"""A tiny random ASR model that emits varied tokens, saved and exported: shared by the runtime tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from speechstream.asr.config import ASRModelConfig
from speechstream.asr.endpoint import EndpointConfig, EndpointRule
from speechstream.asr.tokenizer import write_tokens
from speechstream.asr.torch.checkpoint import save_model_dir
from speechstream.asr.torch.export import export_runtime_graphs
from speechstream.asr.torch.model import ASRModel
from speechstream.audio.fbank import Fbank

SYMBOLS = ["<unk>", "\u2581", *"abcdefghij", "<blk>"]
NEVER = EndpointConfig(*(EndpointRule(True, 1e9, 1e9),) * 3)  # one segment per stream


def make_model() -> ASRModel:
    """Random weights, with heads that look only at how encoder frames differ from their mean.

    A random encoder's output barely changes over time, so plain random heads emit one token forever;
    centred and amplified heads emit varied tokens, which makes the comparisons below able to fail.
    """
    torch.manual_seed(0)
    model = ASRModel(ASRModelConfig.tiny(vocab_size=len(SYMBOLS))).eval()
    calibration = torch.from_numpy(Fbank()(utterances(np.random.default_rng(99), (32000,))[0]))[None]
    with torch.no_grad():
        mean = model(calibration, torch.tensor([calibration.size(1)]), 0)[0][0].mean(0)
        for layer, gain in ((model.ctc.proj, 30.0), (model.joiner.enc_proj, 20.0)):
            layer.weight.mul_(gain)
            layer.bias.copy_(-layer.weight @ mean)
    return model


def make_model_dir(d: Path) -> Path:
    """Writes the model of make_model() as a model directory with its runtime graphs."""
    d.mkdir(parents=True, exist_ok=True)
    write_tokens(SYMBOLS, str(d / "tokens.txt"))
    model = make_model()
    save_model_dir(model, d, d)
    export_runtime_graphs(model, Fbank().config, d)
    return d


def make_piece_model_dir(d: Path) -> Path:
    """make_model_dir with sentencepiece-like labels: every other letter starts a word ("▁a", "b", "▁c", ...)."""
    make_model_dir(d)
    write_tokens([f"\u2581{s}" if s in "acegi" else s for s in SYMBOLS], str(d / "tokens.txt"))
    return d


def utterances(rng: np.random.Generator, lengths: tuple[int, ...]) -> list[np.ndarray]:
    """Tones and noise that change every 50 ms, after a silent start: varied frames, varied tokens."""
    out = []
    for n in lengths:
        t = np.arange(n) / 16000
        hz = np.repeat(rng.uniform(100, 4000, n // 800 + 1), 800)[:n]
        level = np.repeat(rng.uniform(0.0, 0.5, n // 800 + 1), 800)[:n]
        x = level * np.sin(2 * np.pi * hz * t) + 0.3 * level[::-1] * rng.standard_normal(n)
        x[: n // 5] = 0.0  # frames at the log floor
        out.append(x.astype(np.float32))
    return out


def stream_finals(rec, x: np.ndarray, pieces: int, lookahead_ms: float | None = None) -> list:  # noqa: ANN001
    """The final results of one stream fed `x` (16 kHz) in `pieces` chunks, decoded as chunks become ready."""
    s = rec.create_stream(lookahead_ms)
    out = []
    for chunk in np.array_split(x, pieces):
        s.accept_waveform(16000, chunk)
        while rec.is_ready(s):
            rec.decode_streams([s])
            out.append(rec.get_result(s))
    s.input_finished()
    while rec.is_ready(s):
        rec.decode_streams([s])
        out.append(rec.get_result(s))
    return [r for r in out if r.is_final]

