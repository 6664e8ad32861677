"""`speechstream export`: write a model directory's ONNX graphs (needs the `train` extra: torch + onnx)."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "export a model directory to ONNX: the runtime's graphs and sherpa-onnx's ctc.onnx"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_dir", type=Path, help="model directory (config.json, model.safetensors, tokens.txt)")
    parser.add_argument("--out", type=Path, help="output directory (default: the model directory itself)")
    parser.add_argument("--int8", action="store_true", help="also write int8 copies (MatMul/Gemm quantized)")
    parser.add_argument("--no-sherpa", action="store_true", help="skip ctc.onnx (sherpa-onnx's NeMo CTC contract)")


def run(args: argparse.Namespace) -> int:
    from speechstream.errors import SpeechstreamError

    try:
        from speechstream.asr.torch.export import export_model_dir
    except ImportError as e:
        raise SpeechstreamError(f"export needs torch and onnx (pip install 'speechstream[train]'): {e}") from None
    for path in export_model_dir(args.model_dir, args.out, int8=args.int8, sherpa=not args.no_sherpa):
        print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0
