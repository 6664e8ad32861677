"""The torch half of the ASR benchmark: random model directories, the buffered-inference baseline graph and
torch eager encoder steps. Imported by speechstream.bench.asr only once a run starts.

Shapes: C feature frames per chunk, F feature bins, W = left * f + C window frames, c = C / f.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from speechstream.asr.config import ASRModelConfig, AttContext
from speechstream.asr.tokenizer import BLANK, UNK, WORD_BOUNDARY, write_tokens
from speechstream.asr.torch.checkpoint import save_model_dir
from speechstream.asr.torch.model import ASRModel

RANDOM_SIZES = ("tiny", "default")


def set_threads(num_threads: int) -> None:
    torch.set_num_threads(num_threads)


def random_model_dir(size: str, out_dir: Path, seed: int = 0) -> Path:
    """A model directory of random weights: ASRModelConfig.tiny() or the default-size ASRModelConfig()."""
    if size not in RANDOM_SIZES:
        raise ValueError(f"random model size must be one of {RANDOM_SIZES}, got {size!r}")
    config = ASRModelConfig.tiny() if size == "tiny" else ASRModelConfig()
    torch.manual_seed(seed)
    model = ASRModel(config).eval()
    pieces = [chr(ord("a") + i) for i in range(26)] + [f"p{i}" for i in range(config.vocab_size)]
    symbols = [UNK, WORD_BOUNDARY, *pieces[:config.vocab_size - 3], BLANK]
    out_dir.mkdir(parents=True, exist_ok=True)
    write_tokens(symbols, str(out_dir / "tokens.txt"))
    save_model_dir(model, out_dir, out_dir)
    return out_dir


def parameter_counts(model: ASRModel) -> dict[str, int]:
    return {"total": sum(p.numel() for p in model.parameters()),
            "encoder": sum(p.numel() for p in model.encoder.parameters())}


class BufferedWindow(nn.Module):
    """Buffered inference's unit of work: the offline encoder + CTC over one window of left context + chunk,
    keeping the outputs of the chunk. The window is one attention chunk (every frame sees all of it), as
    an offline model over the buffer would; the cost of dense attention does not depend on the mask."""

    def __init__(self, model: ASRModel, window_frames: int, keep: int) -> None:
        super().__init__()
        self.model, self.keep = model, keep
        f = model.encoder.subsampling_factor
        left = model.config.encoder.att_cache_frames
        self.att_context: AttContext = (left, -(-window_frames // f) - 1)

    def forward(self, feats: Tensor, lengths: Tensor) -> Tensor:
        """feats (1, W, F), lengths (1,) -> CTC log-probs of the last chunk (1, c, V)."""
        enc, _ = self.model.encoder(feats, lengths, self.att_context)
        return self.model.ctc(enc[:, enc.size(1) - self.keep:])


def export_buffered_window(model: ASRModel, window_frames: int, chunk_frames: int, path: Path) -> Path:
    """An ONNX graph of BufferedWindow for windows of exactly window_frames (fixed shapes)."""
    keep = chunk_frames // model.encoder.subsampling_factor
    module = BufferedWindow(model, window_frames, keep).eval()
    feats = torch.zeros(1, window_frames, model.config.encoder.feat_dim)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about shapes turned into constants: they are fixed
        torch.onnx.export(module, (feats, torch.tensor([window_frames])), str(path),
                          input_names=["feats", "lengths"], output_names=["ctc_log_probs"],
                          opset_version=17, dynamo=False)
    return path


def eager_steps(model: ASRModel, chunks: list[np.ndarray], att_context: int) -> Callable[[], None]:
    """A function that runs torch eager encoder.step + the CTC head over `chunks` (each (1, C, F)) from a
    fresh state: the same work as one encoder.onnx call per chunk."""
    xs = [torch.from_numpy(np.ascontiguousarray(x)) for x in chunks]
    lengths = torch.tensor([xs[0].size(1)]) if xs else torch.tensor([0])

    def run() -> None:
        with torch.inference_mode():
            state = model.encoder.init_state(1)
            for x in xs:
                enc, state = model.encoder.step(x, state, att_context, lengths)
                model.ctc(enc)

    return run
