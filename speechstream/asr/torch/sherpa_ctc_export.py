"""Export of the cache-aware Conformer CTC model in sherpa-onnx's NeMo streaming CTC contract (needs torch).

Shapes: B batch, F feature bins (80), W = P + C window frames (P pre-encode cache frames, C new frames per
step), f subsampling factor, c = C / f encoder frames per step, V vocabulary (blank = V - 1), L layers,
Lc attention cache frames, D model dim, K conv kernel.

The ONNX graph, inputs and outputs by position (sherpa-onnx binds them by position, not by name):
  features (B, F, W) float32, length (B,) int64, cache_last_channel (B, L, Lc, 2D), cache_last_time
  (B, L, D, K-1), cache_last_channel_len (B,) int64
  -> logits (B, c, V) log-probs, logit_length (B,) int64, and the three next caches.
The numpy side (what sherpa does with this file) is :mod:`speechstream.asr.sherpa_ctc`.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from speechstream.asr.config import AttContext
from speechstream.asr.sherpa_ctc import INPUT_NAMES, MODEL_TYPE, OUTPUT_NAMES, SHERPA_KEYS
from speechstream.asr.tokenizer import read_tokens
from speechstream.audio.fbank import FbankConfig
from speechstream.errors import ModelError

from .model import ASRModel


class SherpaCtcStep(nn.Module):
    """One sherpa-onnx step: a feature window (channels first, as sherpa transposes it) -> CTC log-probs."""

    def __init__(self, model: ASRModel, att_context: int | AttContext | None = None) -> None:
        super().__init__()
        self.encoder = model.encoder
        self.ctc = model.ctc
        # Resolved once: the exported graph is one fixed attention context.
        self.att_context = model.encoder.config.resolve_att_context(att_context)

    def forward(self, features: Tensor, length: Tensor, cache_last_channel: Tensor, cache_last_time: Tensor,
                cache_last_channel_len: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """features (B, F, W), length (B,) -> logits (B, c, V), logit_length (B,), the three next caches."""
        enc, att, conv, att_len = self.encoder.step_window(
            features.transpose(1, 2), cache_last_channel, cache_last_time, cache_last_channel_len, self.att_context)
        # sherpa always sends length = window_size and ignores logit_length; deriving it from `length`
        # keeps that input in the graph (an unused input would be dropped and the positions would shift).
        p, f = self.encoder.pre_encode_cache_frames, self.encoder.subsampling_factor
        logit_length = torch.div(length - p, f, rounding_mode="floor").clamp(min=0)
        return self.ctc(enc), logit_length, att, conv, att_len


def sherpa_metadata(model: ASRModel, att_context: int | AttContext | None = None,
                    feature_config: FbankConfig | None = None) -> dict[str, str]:
    """The ONNX metadata: sherpa-onnx's keys (integers as decimal strings) plus ours, all derived from the model."""
    enc = model.encoder
    cfg = enc.config
    left, right = cfg.resolve_att_context(att_context)
    p, c = enc.pre_encode_cache_frames, enc.chunk_frames((left, right))
    sherpa = {
        "window_size": p + c,  # the P context frames ride inside each window: sherpa pads nothing on the left
        "chunk_shift": c,
        "subsampling_factor": enc.subsampling_factor,
        # NeMo counts the vocabulary without the blank and sherpa adds 1 back; our blank is the last id.
        "vocab_size": model.config.vocab_size - 1,
        "cache_last_channel_dim1": cfg.num_layers,
        "cache_last_channel_dim2": enc.att_cache_frames,
        "cache_last_channel_dim3": enc.att_cache_dim,  # keys and values (NeMo: the input, D)
        "cache_last_time_dim1": cfg.num_layers,
        "cache_last_time_dim2": cfg.d_model,
        "cache_last_time_dim3": enc.conv_cache_frames,
    }
    assert set(sherpa) == set(SHERPA_KEYS)
    ours: dict[str, Any] = {
        "model_type": MODEL_TYPE,
        "att_context": json.dumps([left, right]),
        "pre_encode_cache_frames": p,
        "chunk_frames": c,
        "latency_ms": enc.latency_ms((left, right)),
        "frame_shift_ms": cfg.frame_shift_ms,
        "feat_dim": cfg.feat_dim,
        "num_tokens": model.config.vocab_size,  # with the blank
        "blank_id": model.blank_id,
        "pad_feature": repr(cfg.pad_feature),
        # NeMo's word for "no feature normalisation" (sherpa's NeMo loaders map "NA" to none).
        "normalize_type": "NA",
        "feature_config": json.dumps((feature_config or FbankConfig()).to_dict()),
        "model_config": json.dumps(model.config.to_dict()),
    }
    return {k: str(v) for k, v in {**sherpa, **ours}.items()}


def export_sherpa_ctc(model: ASRModel, out_path: str | Path, att_context: int | AttContext | None = None,
                      tokens_path: str | Path | None = None, feature_config: FbankConfig | None = None) -> Path:
    """Writes the fp32 ONNX file that ``sherpa_onnx.OnlineRecognizer.from_nemo_ctc`` loads; returns its path.

    tokens_path: a tokens.txt checked against the model (V lines, ``<blk>`` last) and copied beside the
    model as ``tokens.txt``, so the directory is a complete sherpa-onnx model.
    """
    import onnx

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    if tokens_path is not None:
        symbols = read_tokens(str(tokens_path))
        if len(symbols) != model.config.vocab_size:
            raise ModelError(f"{tokens_path} has {len(symbols)} tokens, the model {model.config.vocab_size}")
    step = SherpaCtcStep(model, att_context).eval()
    enc = model.encoder
    meta = sherpa_metadata(model, att_context, feature_config)
    window = int(meta["window_size"])
    _, chan, time_, chan_len = enc.init_state(1)
    example = (torch.zeros(1, enc.config.feat_dim, window), torch.tensor([window]), chan, time_, chan_len)
    # Only the batch is dynamic: sherpa always sends whole windows of window_size frames.
    dynamic = {name: {0: "B"} for name in INPUT_NAMES + OUTPUT_NAMES}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about Python ints from shapes; the shapes are fixed
        torch.onnx.export(step, example, str(out_path), input_names=list(INPUT_NAMES),
                          output_names=list(OUTPUT_NAMES), dynamic_axes=dynamic, dynamo=False)
    proto = onnx.load(str(out_path))
    del proto.metadata_props[:]
    for key, value in meta.items():
        proto.metadata_props.add(key=key, value=value)
    onnx.save(proto, str(out_path))
    if tokens_path is not None:
        dst = out_path.parent / "tokens.txt"
        if not dst.exists() or not dst.samefile(tokens_path):
            shutil.copyfile(tokens_path, dst)
    return out_path
