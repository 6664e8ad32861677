"""The vocoder benchmark (`speechstream bench vocoder`): real-time factor of the flow-matching vocoder on one
onnxruntime thread, for every sampler it can run: NFE 1, 2 and 4 with the Euler solver, and with the
midpoint solver where the NFE is even (a mean-flow model samples with Euler jumps only).

  rtf           streaming: the Fbank frames of the clip fed chunk by chunk (the model's chunk) through
                Vocoder.step (the ONNX generator step and the numpy ISTFT stream), then flush
  rtf_offline   the same frames in one Vocoder.forward call

The solver and NFE are baked into the exported step graph, so each case is exported for this run from
model.safetensors with config.with_solver(...): the benchmark needs torch (the `train` extra), the vocoder it
measures does not. Features are computed once beforehand and not timed. Headline numbers use process CPU
time (CLOCK), as `bench asr` does; wall-clock figures are kept under "timings". Case keys: "euler-nfe2".
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from speechstream.bench.common import CLOCKS, format_table, repeat_to, speech_clip, time_round_robin
from speechstream.errors import ModelError, SpeechstreamError

CLOCK = "cpu"
NFES = (1, 2, 4)
RANDOM_SOURCE = "VocoderConfig() (the default size)"


@dataclass(frozen=True)
class VocoderBenchConfig:
    """What to run. The model: model_dir, else the default model if present, else random weights."""

    model_dir: Path | None = None
    seconds: float = 20.0
    repeats: int = 5
    threads: int = 1
    nfes: tuple[int, ...] = NFES

    def checked(self) -> VocoderBenchConfig:
        if self.threads < 1:
            raise SpeechstreamError(f"--threads must be >= 1, got {self.threads}")
        if not self.seconds > 0:
            raise SpeechstreamError(f"--seconds must be > 0, got {self.seconds:g}")
        if self.repeats < 1:
            raise SpeechstreamError(f"--repeats must be >= 1, got {self.repeats}")
        if self.model_dir is not None and not Path(self.model_dir).is_dir():
            raise SpeechstreamError(f"vocoder model directory not found: {self.model_dir}")
        return self


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def case_key(solver: str, nfe: int) -> str:
    return f"{solver}-nfe{nfe}"


def samplers(config: Any, nfes: tuple[int, ...] = NFES) -> list[tuple[str, int]]:
    """(solver, nfe) pairs the model can run: midpoint needs an even NFE and a flow-matching model."""
    out = []
    for nfe in nfes:
        out.append(("euler", nfe))
        if nfe % 2 == 0 and not config.mean_flow:
            out.append(("midpoint", nfe))
    return out


def prepare_generator(cfg: VocoderBenchConfig, notes: list[str]) -> tuple[Any, str, bool]:
    """(torch FlowGenerator, where it came from, whether its weights are random)."""
    import torch

    from speechstream.vocoder.config import VocoderConfig
    from speechstream.vocoder.model_dir import default_vocoder_model
    from speechstream.vocoder.torch.checkpoint import load_generator
    from speechstream.vocoder.torch.generator import FlowGenerator

    if cfg.model_dir is not None:
        return load_generator(cfg.model_dir), str(cfg.model_dir), False
    try:
        path = default_vocoder_model()
    except ModelError as e:
        notes.append(f"{e}: a {RANDOM_SOURCE} generator with random weights stands in")
        torch.manual_seed(0)
        return FlowGenerator(VocoderConfig()).eval(), RANDOM_SOURCE, True
    return load_generator(path), str(path), False


def stream_all(vocoder: Any, mel: np.ndarray, chunk: int) -> int:
    """mel (1, T, M) through Vocoder.step `chunk` frames at a time, then flush; returns the samples made."""
    state, n = vocoder.init_state(1), 0
    for a in range(0, mel.shape[1], chunk):
        y, state = vocoder.step(mel[:, a:a + chunk], state)
        n += y.shape[1]
    return n + vocoder.flush(state).shape[1]


def run_vocoder_bench(config: VocoderBenchConfig, log: Callable[[str], None] = _stderr) -> dict[str, Any]:
    """Every measurement, as the JSON `speechstream bench vocoder --json` writes."""
    cfg = config.checked()
    t_start = time.perf_counter()
    import torch

    from speechstream.audio.fbank import Fbank
    from speechstream.bench.asr import environment
    from speechstream.vocoder.resynthesis import feature_config
    from speechstream.vocoder.torch.export import export_sampler

    torch.set_num_threads(cfg.threads)
    notes: list[str] = []
    generator, source, random_weights = prepare_generator(cfg, notes)
    c = generator.config
    chunk = c.chunk_frames
    pairs = samplers(c, cfg.nfes)
    with tempfile.TemporaryDirectory(prefix="speechstream-bench-vocoder-") as tmp:
        work = Path(tmp)
        features = feature_config(c)
        clip, audio_desc = speech_clip(work, features.sample_rate)
        audio = repeat_to(clip, int(cfg.seconds * features.sample_rate))
        mel = Fbank(features)(audio)[None]
        seconds = len(audio) / features.sample_rate
        chunks = -(-mel.shape[1] // chunk)
        cases: dict[str, Callable[[], object]] = {}
        for solver, nfe in pairs:
            key = case_key(solver, nfe)
            log(f"exporting {key}")
            vocoder = export_sampler(generator, solver, nfe, work / f"{key}.onnx", cfg.threads)
            cases[f"{key}/stream"] = lambda v=vocoder: stream_all(v, mel, chunk)
            cases[f"{key}/offline"] = lambda v=vocoder: v.forward(mel)
        log(f"timing {len(pairs)} samplers, streaming and offline, {cfg.repeats} repeats of {seconds:g} s")
        t = time_round_robin(cases, cfg.repeats)
    keys = [case_key(s, n) for s, n in pairs]
    rtf = {clock: {k: t.median(f"{k}/stream", clock) / seconds for k in keys} for clock in CLOCKS}
    rtf_off = {clock: {k: t.median(f"{k}/offline", clock) / seconds for k in keys} for clock in CLOCKS}
    ms_chunk = {k: {clock: 1000 * t.median(f"{k}/stream", clock) / chunks for clock in CLOCKS} for k in keys}
    parameters = sum(p.numel() for p in generator.parameters())
    if random_weights:
        notes.append("random weights: the timings hold for a trained model of this size (they do not depend on "
                     "the weights); the audio it makes is noise")
    return {
        "rtf": rtf[CLOCK],
        "rtf_offline": rtf_off[CLOCK],
        "latency_ms": c.latency_ms,
        "parameters": parameters,
        "random_weights": random_weights,
        "timings": {"rtf_wall": rtf["wall"], "rtf_offline_wall": rtf_off["wall"], "ms_per_chunk": ms_chunk,
                    "chunk_ms": 1000 * chunk * c.hop_length / c.sample_rate, "chunks": chunks, "audio_s": seconds,
                    "raw": t.to_dict()},
        "model": {"source": source, "random_weights": random_weights, "parameters": parameters,
                  "config": c.to_dict(), "latency_ms": c.latency_ms, "latency_samples": c.latency_samples,
                  "chunk_frames": chunk, "lookahead_frames": c.lookahead_frames, "mean_flow": c.mean_flow,
                  "default_sampler": case_key(c.solver.name, c.solver.nfe), "t0": c.solver.t0,
                  "samplers": keys},
        "run": {**{k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()},
                "clock": f"headline numbers in {'process CPU' if CLOCK == 'cpu' else 'wall-clock'} time",
                "audio": audio_desc, "wall_s": time.perf_counter() - t_start, **environment()},
        "notes": notes,
    }


def format_vocoder_table(r: dict[str, Any]) -> str:
    """One row per sampler: streaming and offline RTF (CPU, wall), time per chunk against the chunk's length."""
    m, t, run = r["model"], r["timings"], r["run"]
    rows = []
    for key, v in r["rtf"].items():
        solver, nfe = key.split("-nfe")
        ms = t["ms_per_chunk"][key][CLOCK]
        rows.append([solver, nfe, f"{v:.4f}", f"{t['rtf_wall'][key]:.4f}", f"{r['rtf_offline'][key]:.4f}",
                     f"{t['rtf_offline_wall'][key]:.4f}", f"{ms:.3f} ms per {t['chunk_ms']:g} ms chunk"])
    weights = " (random weights)" if r["random_weights"] else ""
    head = (f"# model: {m['source']}{weights}, {r['parameters'] / 1e6:.2f} M parameters, chunk {m['chunk_frames']} "
            f"frames + look-ahead {m['lookahead_frames']}, latency {r['latency_ms']:g} ms, default "
            f"{m['default_sampler']}; {run['threads']} thread(s); audio: {t['audio_s']:g} s ({run['audio']}); "
            f"median of {run['repeats']} repeats; {run['clock']}; took {run['wall_s']:.1f} s")
    notes = "".join(f"\n# {n}" for n in r["notes"])
    header = ["solver", "nfe", f"rtf stream ({CLOCK})", "wall", f"rtf offline ({CLOCK})", "wall",
              f"streaming step ({CLOCK})"]
    return head + "\n" + format_table(header, rows, right={1, 2, 3, 4, 5}) + notes
