"""ONNX export of a model directory: thin named wrappers around `step`, the state flattened in one place.

Graphs (all fp32; `--int8` adds `*.int8.onnx` copies with MatMul/Gemm quantized):

  encoder.onnx    one streaming step at any look-ahead: the chunk length C is dynamic (C = (right + 1) * f)
      in:  feats (B, C, F), lengths (B,) int64, pre_encode_cache (B, P, F), cache_last_channel (B, L, Lc, 2D),
           cache_last_time (B, L, D, K-1), cache_last_channel_len (B,) int64
      out: encoder_out (B, C/f, D), ctc_log_probs (B, C/f, V), and the four next states (same names + `_next`)
  predictor.onnx  tokens (N, context_size) int64 -> pred (N, Dp)
  joiner.onnx     encoder_out (N, D), pred (N, Dp) -> logits (N, V)
  ctc.onnx        sherpa-onnx's NeMo streaming CTC contract at the default look-ahead (asr/sherpa_ctc.py)

Metadata (read by speechstream.asr.recognizer): the streaming contract computed from the model,
never typed in: subsampling factor, cache sizes, every look-ahead with its chunk frames and latency,
the feature config, vocabulary size and blank id.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from speechstream.asr.model_dir import BPE, TOKENS
from speechstream.audio.fbank import FbankConfig
from speechstream.errors import ModelError

from .checkpoint import load_model_dir
from .model import ASRModel

STATE_NAMES = ("pre_encode_cache", "cache_last_channel", "cache_last_time", "cache_last_channel_len")
ENCODER_INPUTS = ("feats", "lengths", *STATE_NAMES)
ENCODER_OUTPUTS = ("encoder_out", "ctc_log_probs", *(f"{n}_next" for n in STATE_NAMES))
META_VERSION = 1


class EncoderStep(nn.Module):
    """encoder.step + the CTC head, with the four state tensors as separate inputs and outputs."""

    def __init__(self, model: ASRModel, left: int) -> None:
        super().__init__()
        self.model, self.left = model, left

    def forward(self, feats: Tensor, lengths: Tensor, pre: Tensor, channel: Tensor, time: Tensor,
                channel_len: Tensor) -> tuple[Tensor, ...]:
        # `right` only decides how many frames a step takes, which the caller sets through C: pass 0.
        enc, state = self.model.encoder.step(feats, (pre, channel, time, channel_len), (self.left, 0), lengths)
        return (enc, self.model.ctc(enc), *state)


class PredictorStep(nn.Module):
    def __init__(self, model: ASRModel) -> None:
        super().__init__()
        self.predictor = model.predictor

    def forward(self, tokens: Tensor) -> Tensor:
        return self.predictor.step(tokens)


class JoinerStep(nn.Module):
    def __init__(self, model: ASRModel) -> None:
        super().__init__()
        self.joiner = model.joiner

    def forward(self, enc: Tensor, pred: Tensor) -> Tensor:
        return self.joiner(enc, pred)


def streaming_metadata(model: ASRModel, features: FbankConfig) -> dict[str, Any]:
    """The streaming contract of a model, as written into every graph's metadata."""
    enc, c = model.encoder, model.config
    contexts = c.encoder.att_contexts
    # A chunk of feature frames [t0, t0 + C) also needs the samples that the last frame's window reaches
    # past the chunk's nominal end: (shift // 2 - length // 2 + length) - shift samples (7.5 ms at 16 kHz).
    reach = features.frame_shift // 2 - features.frame_length // 2 + features.frame_length - features.frame_shift
    feature_lookahead_ms = reach / features.sample_rate * 1000
    return {
        "model_type": "speechstream-asr",
        "meta_version": META_VERSION,
        "subsampling_factor": enc.subsampling_factor,
        "pre_encode_cache_frames": enc.pre_encode_cache_frames,
        "att_cache_frames": enc.att_cache_frames,
        "att_cache_dim": enc.att_cache_dim,
        "conv_cache_frames": enc.conv_cache_frames,
        "num_layers": c.encoder.num_layers,
        "d_model": c.encoder.d_model,
        "feat_dim": c.encoder.feat_dim,
        "pad_feature": c.encoder.pad_feature,
        "att_contexts": [list(x) for x in contexts],
        "default_att_context": c.encoder.default_att_context,
        "chunk_frames": [enc.chunk_frames(x) for x in contexts],
        # What a user waits for beyond real time: the chunk, plus the feature window's reach past a frame.
        "latency_ms": [enc.latency_ms(x) + feature_lookahead_ms for x in contexts],
        "vocab_size": c.vocab_size,
        "blank_id": c.blank_id,
        "context_size": c.context_size,
        "features": features.to_dict(),
    }


def _export(module: nn.Module, args: tuple[Tensor, ...], path: Path, inputs: tuple[str, ...],
            outputs: tuple[str, ...], dynamic: dict[str, dict[int, str]], meta: dict[str, Any]) -> None:
    import onnx

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, str(path), input_names=list(inputs), output_names=list(outputs),
                          dynamic_axes=dynamic, opset_version=17, dynamo=False)
    add_metadata(onnx, path, meta)


def add_metadata(onnx: Any, path: Path, meta: dict[str, Any]) -> None:
    """Writes `meta` into the graph's metadata_props: strings as they are, everything else as JSON."""
    graph = onnx.load(str(path))
    del graph.metadata_props[:]
    for key, value in meta.items():
        prop = graph.metadata_props.add()
        prop.key, prop.value = key, value if isinstance(value, str) else json.dumps(value)
    onnx.save(graph, str(path))


def export_runtime_graphs(model: ASRModel, features: FbankConfig, out_dir: Path) -> list[Path]:
    """encoder.onnx, predictor.onnx and joiner.onnx for speechstream.Recognizer."""
    lefts = {left for left, _ in model.config.encoder.att_contexts}
    if len(lefts) != 1:
        raise ModelError(f"one encoder graph serves look-aheads with one left context; this model has {sorted(lefts)}")
    meta = streaming_metadata(model, features)
    enc = model.encoder
    batch, chunk = 2, enc.chunk_frames(model.config.encoder.default_att_context)
    state = enc.init_state(batch)
    feats = torch.randn(batch, chunk, model.config.encoder.feat_dim)
    batch_axis = {name: {0: "B"} for name in ENCODER_INPUTS + ENCODER_OUTPUTS}
    for name in ("feats", "encoder_out", "ctc_log_probs"):
        batch_axis[name] = {0: "B", 1: "T"}
    paths = [out_dir / "encoder.onnx", out_dir / "predictor.onnx", out_dir / "joiner.onnx"]
    _export(EncoderStep(model, lefts.pop()), (feats, torch.full((batch,), chunk), *state), paths[0],
            ENCODER_INPUTS, ENCODER_OUTPUTS, batch_axis, {**meta, "graph": "encoder"})
    tokens = torch.full((batch, model.config.context_size), model.config.blank_id, dtype=torch.int64)
    _export(PredictorStep(model), (tokens,), paths[1], ("tokens",), ("pred",),
            {"tokens": {0: "N"}, "pred": {0: "N"}}, {**meta, "graph": "predictor"})
    d = model.config.encoder.d_model
    _export(JoinerStep(model), (torch.randn(batch, d), torch.randn(batch, model.config.d_pred)), paths[2],
            ("encoder_out", "pred"), ("logits",), {n: {0: "N"} for n in ("encoder_out", "pred", "logits")},
            {**meta, "graph": "joiner"})
    return paths


def quantize(path: Path) -> Path:
    """An int8 copy (dynamic quantization of MatMul/Gemm only: quantized convolutions cost accuracy and speed)."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    out = path.with_suffix(".int8.onnx")
    root = logging.getLogger()
    level, root.level = root.level, logging.ERROR  # its advice to pre-process first is for static quantization
    try:
        quantize_dynamic(str(path), str(out), op_types_to_quantize=["MatMul", "Gemm"], weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)
    return out


def export_model_dir(model_dir: str | Path, out_dir: str | Path | None = None, int8: bool = False,
                     sherpa: bool = True) -> list[Path]:
    """Exports every graph of a model directory (into itself unless `out_dir`); returns the files written."""
    src = Path(model_dir)
    model, features = load_model_dir(src)
    out = Path(out_dir) if out_dir is not None else src
    out.mkdir(parents=True, exist_ok=True)
    for name in (TOKENS, BPE, "config.json"):
        if (src / name).is_file() and (src / name).resolve() != (out / name).resolve():
            shutil.copyfile(src / name, out / name)
    written = export_runtime_graphs(model, features, out)
    if int8:  # the runtime's graphs only: sherpa users quantize with their own tools
        written += [quantize(p) for p in list(written)]
    if sherpa:
        from .sherpa_ctc_export import export_sherpa_ctc

        written.append(export_sherpa_ctc(model, out / "ctc.onnx", tokens_path=out / TOKENS, feature_config=features))
    return written
