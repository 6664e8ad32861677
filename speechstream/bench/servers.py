"""The two servers of the server benchmark: the model each runs (found or exported), and each as a
subprocess with its CPU and memory read from /proc. Used by speechstream.bench.server."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from speechstream.bench.common import RUNTIME_GRAPHS, quantized_copy, ships_int8_only
from speechstream.bench.server_config import ServerBenchConfig
from speechstream.errors import SpeechstreamError

DEFAULT_MODEL_DIR = Path("models") / "asr_en"
RATE = 16000
OURS, SHERPA = "speechstream", "sherpa-onnx"
SHERPA_BIN = "sherpa-onnx-online-websocket-server"
# One decoding thread and one onnxruntime thread on both sides (our server: one event loop + one worker
# thread), the same batch limit as our --max-batch default, no endpointing (it would only reset streams).
SHERPA_FLAGS = ("--num-work-threads=1", "--num-io-threads=1", "--num-threads=1", "--max-batch-size=32",
                "--enable-endpoint=false")

# ---- the model ----
@dataclass
class BenchModel:
    source: str
    graph_dir: Path  # what our server loads: runtime graphs, tokens.txt, config.json
    lookahead_ms: float
    reach: int  # samples the last feature frame's window reaches past its shift
    frame_shift: int  # samples per feature frame
    sherpa_ctc: Path | None
    sherpa_error: str | None
    sherpa_window: tuple[int, int] = (0, 0)  # (window_size, chunk_shift) in feature frames
    notes: list[str] = field(default_factory=list)
    int8: bool = False  # both servers run int8 graphs: the model ships only those (bench.common.ships_int8_only)


def prepare_model(cfg: ServerBenchConfig, work: Path) -> BenchModel:
    """Finds or makes the model directory, exports what is missing into `work`, and the sherpa ctc.onnx at
    the look-ahead our server will run."""
    from speechstream.asr.graphs import EncoderGraph

    notes: list[str] = []
    src = cfg.model_dir
    if src is None and not cfg.quick:
        src = next((d for d in (DEFAULT_MODEL_DIR, Path(__file__).parents[2] / DEFAULT_MODEL_DIR)
                    if (d / "config.json").is_file()), None)
        if src is None:
            notes.append(f"no --model and no {DEFAULT_MODEL_DIR}: a random tiny model (ASRModelConfig.tiny()) "
                         "stands in; its costs say little about a real model")
    if src is None:
        from speechstream.bench.asr_torch import random_model_dir

        src, source = random_model_dir("tiny", work / "random_tiny"), "random tiny model (ASRModelConfig.tiny())"
    else:
        source = str(src)
    src = Path(src)
    graph_dir, int8 = src, ships_int8_only(src)
    suffix = ".int8.onnx" if int8 else ".onnx"
    if not all((src / f"{g}{suffix}").is_file() for g in RUNTIME_GRAPHS):
        from speechstream.asr.torch.export import export_model_dir

        graph_dir = work / "graphs"
        export_model_dir(src, graph_dir, sherpa=False)
        if not source.startswith("random"):
            notes.append(f"{src} has no ONNX graphs: exported them into a temporary directory")
    contract = EncoderGraph(graph_dir / f"encoder{suffix}").contract
    index = contract.context_index(cfg.lookahead_ms)
    f = contract.features
    reach = f["frame_shift"] // 2 - f["frame_length"] // 2 + f["frame_length"] - f["frame_shift"]
    bm = BenchModel(source, graph_dir, contract.lookahead_ms[index], reach, f["frame_shift"], None, None, notes=notes,
                    int8=int8)
    try:
        bm.sherpa_ctc, bm.sherpa_window = sherpa_model(src, graph_dir, contract.att_contexts[index], index, work)
        if int8:  # the same precision on both sides
            bm.sherpa_ctc = quantized_copy(bm.sherpa_ctc.parent, "ctc", work / "sherpa_int8") / "ctc.int8.onnx"
    except Exception as e:  # noqa: BLE001 - any failure of the exporter is reported, not fatal
        bm.sherpa_error = f"no ctc.onnx for sherpa: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    return bm


def sherpa_model(src: Path, graph_dir: Path, att_context: tuple[int, int], index: int,
                 work: Path) -> tuple[Path, tuple[int, int]]:
    """A ctc.onnx (with tokens.txt beside it) at the attention context our server runs: the model's own if
    it has that one, else exported into `work`; and its (window_size, chunk_shift)."""
    for d in (graph_dir, src):
        if (d / "ctc.onnx").is_file() and (d / "tokens.txt").is_file():
            window, context = _sherpa_window(d / "ctc.onnx")
            if context == list(att_context):
                return d / "ctc.onnx", window
    from speechstream.asr.model_dir import TOKENS
    from speechstream.asr.torch.checkpoint import load_model_dir
    from speechstream.asr.torch.sherpa_ctc_export import export_sherpa_ctc

    model, features = load_model_dir(src)
    path = export_sherpa_ctc(model, work / "sherpa" / "ctc.onnx", att_context=index, tokens_path=src / TOKENS,
                             feature_config=features)
    return path, _sherpa_window(path)[0]


def _sherpa_window(path: Path) -> tuple[tuple[int, int], Any]:
    """((window_size, chunk_shift), att_context) from a ctc.onnx's metadata."""
    from speechstream.runtime.session import create_session, read_metadata

    meta = read_metadata(create_session(path, 1))
    return (int(meta["window_size"]), int(meta["chunk_shift"])), meta.get("att_context")


# ---- which sample a result needs ----
def needed_ours(message: dict[str, Any], k: int, bm: BenchModel) -> int:
    """Samples our server needed for this result: its decoded frames' audio plus the last window's reach."""
    return round(float(message["end"]) * RATE) + bm.reach


def needed_sherpa(message: dict[str, Any], k: int, bm: BenchModel) -> int:
    """Samples sherpa needed for its k-th result: window k is decoded once k*S + W + 1 frames exist."""
    window, chunk_shift = bm.sherpa_window
    return bm.frame_shift * (k * chunk_shift + window + 1) + bm.reach


# ---- the servers (subprocesses) ----
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """A server subprocess on a free loopback port, with its CPU time and resident memory from /proc."""

    def __init__(self, name: str, argv: list[str], port: int, log_path: Path,
                 needed: Callable[[dict[str, Any], int, BenchModel], int]) -> None:
        self.name, self.argv, self.port, self.log_path, self.needed = name, argv, port, log_path, needed
        self.url = f"ws://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(Path(__file__).parents[2]), *filter(None, [os.environ.get("PYTHONPATH")])])}
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                                         stdin=subprocess.DEVNULL)
        end = time.monotonic() + timeout
        while time.monotonic() < end:  # ready once it accepts TCP connections (a log line is no reliable signal)
            if self.proc.poll() is not None:
                raise SpeechstreamError(f"{self.name} exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise SpeechstreamError(f"{self.name} did not listen on port {self.port} within {timeout:g} s")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def cpu_seconds(self) -> float:
        """utime + stime of the process, all its threads (/proc/PID/stat fields 14 and 15)."""
        assert self.proc is not None
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        assert self.proc is not None
        with open(f"/proc/{self.proc.pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)  # ours drains its streams and exits
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def log_tail(self, chars: int = 1500) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def our_server(bm: BenchModel, cfg: ServerBenchConfig, work: Path) -> ServerProcess:
    port = free_port()
    limit = cfg.max_clients + 16  # type: ignore[operator]
    argv = [sys.executable, "-m", "speechstream", "serve", "--port", str(port), "--model", str(bm.graph_dir),
            "--max-connections", str(limit), "--lookahead-ms", f"{bm.lookahead_ms:g}", *(["--int8"] if bm.int8 else [])]
    return ServerProcess(OURS, argv, port, work / "ours.log", needed_ours)


def sherpa_server(bm: BenchModel, work: Path) -> ServerProcess:
    exe = Path(sys.executable).parent / SHERPA_BIN
    path = str(exe) if exe.is_file() else shutil.which(SHERPA_BIN)
    if path is None:
        raise SpeechstreamError(f"{SHERPA_BIN} not found (pip install sherpa-onnx-bin)")
    assert bm.sherpa_ctc is not None
    port = free_port()
    argv = [path, f"--port={port}", f"--nemo-ctc-model={bm.sherpa_ctc}",
            f"--tokens={bm.sherpa_ctc.parent / 'tokens.txt'}", *SHERPA_FLAGS, f"--log-file={work / 'sherpa-log.txt'}"]
    return ServerProcess(SHERPA, argv, port, work / "sherpa.log", needed_sherpa)
