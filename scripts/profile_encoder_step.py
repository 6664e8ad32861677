#!/usr/bin/env python3
"""Where one encoder.onnx step spends its time: onnxruntime's per-node profile, summed by operator type.

    .venv/bin/python scripts/profile_encoder_step.py MODEL_DIR/encoder.onnx --batch 32 --chunk 16 --json out.json

Feeds random features and caches of the graph's own shapes (cache lengths full), times --calls plain calls
(1 thread), then --profiled calls with onnxruntime's profiler on, and prints the operator types and the
nodes that cost most. The profiler adds its own overhead per node, so compare its shares, not its totals,
with the plain timing. Used to find the slow grouped Conv1d (speechstream/nn/depthwise.py).
"""

from __future__ import annotations

import argparse
import collections
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def feeds(session, batch: int, chunk: int) -> dict[str, np.ndarray]:  # noqa: ANN001
    rng = np.random.default_rng(0)
    meta = session.get_modelmeta().custom_metadata_map
    out = {}
    for i in session.get_inputs():
        shape = [batch if d == "B" else chunk if d == "T" else d for d in i.shape]
        if i.name == "lengths":
            out[i.name] = np.full(batch, chunk, np.int64)
        elif i.name == "cache_last_channel_len":
            out[i.name] = np.full(batch, int(meta.get("att_cache_frames", 0)), np.int64)
        else:
            out[i.name] = (0.1 * rng.standard_normal(shape)).astype(np.float32)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("graph", type=Path, help="an encoder step graph (encoder.onnx or encoder.int8.onnx)")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--chunk", type=int, default=16, help="feature frames per step")
    p.add_argument("--calls", type=int, default=50)
    p.add_argument("--profiled", type=int, default=20)
    p.add_argument("--top", type=int, default=15)
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    import onnxruntime as ort

    def session(profile: bool):  # noqa: ANN202
        so = ort.SessionOptions()
        so.intra_op_num_threads = so.inter_op_num_threads = 1
        so.enable_profiling = profile
        so.profile_file_prefix = str(Path(tempfile.gettempdir()) / "speechstream_encoder_profile")
        return ort.InferenceSession(str(args.graph), so, providers=["CPUExecutionProvider"])

    plain = session(False)
    x = feeds(plain, args.batch, args.chunk)
    for _ in range(5):
        plain.run(None, x)
    t = time.perf_counter()
    for _ in range(args.calls):
        plain.run(None, x)
    ms = 1000 * (time.perf_counter() - t) / args.calls
    prof = session(True)
    for _ in range(args.profiled):
        prof.run(None, x)
    trace = Path(prof.end_profiling())
    events = json.loads(trace.read_text())
    trace.unlink()
    by_op: collections.Counter[str] = collections.Counter()
    by_node: collections.Counter[tuple[str, str]] = collections.Counter()
    count: collections.Counter[str] = collections.Counter()
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            op = e["args"].get("op_name", "?")
            by_op[op] += e["dur"]
            by_node[(op, e["name"][:-len("_kernel_time")])] += e["dur"]
            count[op] += 1
    total = sum(by_op.values()) or 1
    print(f"{args.graph}: batch {args.batch}, {args.chunk} frames: {ms:.3f} ms per call ({ms / args.batch:.3f} "
          f"per stream), {sum(count.values()) // args.profiled} nodes run per call")
    print(f"{'operator':24s} {'share':>6s} {'nodes':>6s}")
    for op, d in by_op.most_common(args.top):
        print(f"{op:24s} {100 * d / total:5.1f}% {count[op] // args.profiled:6d}")
    print("costliest nodes:")
    for (op, name), d in by_node.most_common(args.top):
        print(f"  {100 * d / total:5.1f}%  {op:16s} {name}")
    if args.json:
        args.json.write_text(json.dumps({
            "graph": str(args.graph), "batch": args.batch, "chunk": args.chunk, "ms_per_call": ms,
            "op_share": {op: d / total for op, d in by_op.items()},
            "node_share": {f"{op} {name}": d / total for (op, name), d in by_node.most_common(50)}}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
