"""The ASR benchmark (`speechstream bench asr`): one model, one run, one thread, at every look-ahead.

  cache_vs_buffered  P1  encoder.onnx stepped with its caches, chunk by chunk, vs buffered re-computation
                         at the same latency: every chunk, an offline graph of the same model re-encodes
                         the window of left context (the attention left context x the subsampling factor,
                         in feature frames) + the chunk. Ratio of compute per audio second; the JSON's
                         work_ratio (window / chunk frames) is what it would be if both sides ran at the
                         same cost per frame: the ceiling for a step that only computes its chunk.
  vs_sherpa          P2  our Recognizer (ctc-greedy) vs sherpa-onnx's OnlineRecognizer.from_nemo_ctc on our
                         ctc.onnx (the default look-ahead), same audio, same pieces. Ratio ours / sherpa.
  rtf                P3  real-time factor of the whole Recognizer (features, encoder, ctc-greedy decoding);
                         rtf_rnnt_greedy the same with rnnt-greedy.
  ort_vs_eager       P4  torch eager encoder.step (+ CTC head) vs the same step in onnxruntime, per step.
  late_vs_early      P5  one stream fed an hour of audio (--quick: 3 minutes), with a copy of it taken
                         after minute 1; then both are fed one more minute, a chunk each in turn: median
                         time per chunk of the old stream / of the copy (the same moment's machine load on
                         both sides; the sequential last-minute / first-minute ratio is kept in "timings").
                         rss_growth_mb: resident memory at the end minus after minute 1.

Every comparison times its sides round-robin and reports the median of the per-repeat ratios. Headline
numbers use process CPU time (CLOCK): on a shared machine other processes can double the wall time of
either side of a comparison; the wall-clock figures are kept under "timings". Look-ahead keys are the
chunk length in ms ("80", "320", ...).
"""

from __future__ import annotations

import copy
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from speechstream.bench.common import (CLOCKS, RUNTIME_GRAPHS, looped_audio, peak_rss_mb, quantized_copy, repeat_to,
                                       rss_mb, ships_int8_only, speech_clip, time_round_robin)
from speechstream.errors import SpeechstreamError

DEFAULT_MODEL_DIR = Path("models") / "asr_en"
PIECE_SECONDS = 0.1  # audio per accept_waveform call in P2 / P3, like a microphone callback
CLOCK = "cpu"  # the headline clock; "wall" figures are kept beside them
HEAVY_SECONDS = 10.0  # audio cap for the slow sides (buffered, torch eager): per-second costs stay comparable
GOALS = {
    "cache_vs_buffered": ">= 10x at look-aheads <= 480 ms",
    "vs_sherpa": "<= 1.2",
    "rtf": "<= 0.02 (default-size model)",
    "ort_vs_eager": ">= 3x",
    "late_vs_early": "<= 1.05",
    "rss_growth_mb": "flat (about 0)",
}


@dataclass(frozen=True)
class AsrBenchConfig:
    """What to run. None means the default of the mode: quick (6 s, 3 minutes, 3 repeats) or full (30 s,
    60 minutes, 5 repeats). The model: model_dir, else a random model of random_size, else with quick a
    random tiny one, else models/asr_en if it exists, else a random tiny one."""

    model_dir: Path | None = None
    quick: bool = False
    threads: int = 1
    random_size: str | None = None  # "tiny" (ASRModelConfig.tiny()) or "default" (ASRModelConfig())
    seconds: float | None = None  # audio for P1-P4
    minutes: float | None = None  # the long stream of P5
    repeats: int | None = None
    int8: bool | None = None  # None: int8 when the model directory ships only int8 runtime graphs

    def resolved(self) -> AsrBenchConfig:
        q = self.quick
        c = replace(self, seconds=self.seconds if self.seconds is not None else (6.0 if q else 30.0),
                    minutes=self.minutes if self.minutes is not None else (3.0 if q else 60.0),
                    repeats=self.repeats if self.repeats is not None else (3 if q else 5))
        if c.threads < 1:
            raise SpeechstreamError(f"--threads must be >= 1, got {c.threads}")
        if c.seconds < 2:  # type: ignore[operator]
            raise SpeechstreamError(f"--seconds must be >= 2 (whole chunks at every look-ahead), got {c.seconds:g}")
        if c.minutes < 2:  # type: ignore[operator]
            raise SpeechstreamError(f"--minutes must be >= 2 (a first and a last minute), got {c.minutes:g}")
        if c.repeats < 1:  # type: ignore[operator]
            raise SpeechstreamError(f"--repeats must be >= 1, got {c.repeats}")
        if c.model_dir is not None and not Path(c.model_dir).is_dir():
            raise SpeechstreamError(f"model directory not found: {c.model_dir}")
        if c.random_size not in (None, "tiny", "default"):
            raise SpeechstreamError(f"--random must be tiny or default, got {c.random_size!r}")
        return c


@dataclass
class BenchModel:
    model: Any  # the torch ASRModel: eager steps and the buffered baseline's graph
    features: Any  # FbankConfig
    source: str
    graph_dir: Path  # encoder, predictor, joiner (.onnx, or .int8.onnx when int8), tokens.txt
    sherpa_dir: Path | None  # ctc.onnx (ctc.int8.onnx when int8) + tokens.txt, or None when it could not be made
    sherpa_error: str | None
    exported: bool  # whether the graphs were exported for this run (into a temporary directory)
    int8: bool = False  # every side runs int8 graphs (MatMul/Gemm dynamically quantized, as `export --int8`)

    def graph(self, name: str) -> Path:
        return self.graph_dir / f"{name}{'.int8' if self.int8 else ''}.onnx"

    @property
    def sherpa_ctc(self) -> Path:
        assert self.sherpa_dir is not None
        return self.sherpa_dir / ("ctc.int8.onnx" if self.int8 else "ctc.onnx")


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def ms_key(ms: float) -> str:
    return f"{ms:g}"


# ---- the model ----
def prepare_model(cfg: AsrBenchConfig, work: Path, notes: list[str]) -> BenchModel:
    """Loads (or makes) the model directory and finds or exports its graphs into `work`."""
    from speechstream.asr.model_dir import TOKENS
    from speechstream.asr.torch.checkpoint import load_model_dir
    from speechstream.asr.torch.export import export_model_dir
    from speechstream.bench import asr_torch

    src, size = cfg.model_dir, cfg.random_size
    if src is None and size is None and not cfg.quick:
        default = next((d for d in (DEFAULT_MODEL_DIR, Path(__file__).parents[2] / DEFAULT_MODEL_DIR)
                        if (d / "config.json").is_file()), None)
        if default is not None:
            src = default
        else:
            size = "tiny"
            notes.append(f"no --model and no {DEFAULT_MODEL_DIR}: a random tiny model (ASRModelConfig.tiny()) "
                         "stands in; its numbers say little about a real model")
    if src is None:
        size = size or "tiny"
        src = asr_torch.random_model_dir(size, work / f"random_{size}")
        source = f"random {size} model ({'ASRModelConfig.tiny()' if size == 'tiny' else 'ASRModelConfig()'})"
    else:
        source = str(src)
    model, features = load_model_dir(src)
    int8 = cfg.int8 if cfg.int8 is not None else ships_int8_only(src)
    suffix = ".int8.onnx" if int8 else ".onnx"
    if all((src / f"{g}{suffix}").is_file() for g in RUNTIME_GRAPHS):
        graph_dir = src
    else:
        graph_dir = work / "graphs"
        export_model_dir(src, graph_dir, int8=int8, sherpa=False)
        if not source.startswith("random"):
            notes.append(f"{src} lacks its {'int8 ' if int8 else ''}ONNX graphs: exported them into a temporary "
                         "directory")
    sherpa_dir: Path | None = graph_dir if (graph_dir / "ctc.onnx").is_file() else None
    error = None
    try:
        if sherpa_dir is None:
            from speechstream.asr.torch.sherpa_ctc_export import export_sherpa_ctc

            sherpa_dir = work / "sherpa"
            export_sherpa_ctc(model, sherpa_dir / "ctc.onnx", tokens_path=src / TOKENS, feature_config=features)
        if int8 and not (sherpa_dir / "ctc.int8.onnx").is_file():
            sherpa_dir = quantized_copy(sherpa_dir, "ctc", work / "sherpa_int8")
    except Exception as e:  # noqa: BLE001 - any failure of that exporter is reported, not fatal
        sherpa_dir, error = None, f"ctc.onnx export failed: {type(e).__name__}: {str(e).splitlines()[0]}"
    return BenchModel(model, features, source, graph_dir, sherpa_dir, error, graph_dir != src, int8)


def describe(bm: BenchModel, contract: Any) -> dict[str, Any]:
    from speechstream.bench.asr_torch import parameter_counts

    return {"source": bm.source, "config": bm.model.config.to_dict(), "parameters": parameter_counts(bm.model),
            "lookaheads_ms": list(contract.lookahead_ms), "latency_ms": list(contract.latency_ms),
            "chunk_frames": list(contract.chunk_frames), "att_contexts": [list(x) for x in contract.att_contexts],
            "default_lookahead_ms": contract.lookahead_ms[contract.default_att_context],
            "subsampling_factor": contract.subsampling_factor,
            "graphs": "exported for this run" if bm.exported else str(bm.graph_dir),
            "precision": "int8" if bm.int8 else "fp32", "features": bm.features.to_dict()}


# ---- shared pieces ----
def decode_all(rec: Any, pieces: list[np.ndarray], lookahead_ms: float, tail: np.ndarray) -> Any:
    """Streams the pieces through one new stream of `rec`, decoding whatever is ready after each, then the
    tail and the end of input; returns the stream."""
    rate = rec.sample_rate
    s = rec.create_stream(lookahead_ms)
    for p in pieces:
        s.accept_waveform(rate, p)
        while rec.is_ready(s):
            rec.decode_streams([s])
    s.accept_waveform(rate, tail)
    s.input_finished()
    while rec.is_ready(s):
        rec.decode_streams([s])
    return s


def split(x: np.ndarray, size: int) -> list[np.ndarray]:
    return [x[i:i + size] for i in range(0, len(x), size)]


# ---- P1 and P4 ----
def bench_encoder(bm: BenchModel, feats: np.ndarray, cfg: AsrBenchConfig, work: Path) -> dict[str, Any]:
    """P1 (cache vs buffered) and P4 (onnxruntime vs eager) at every look-ahead, on features (T, F)."""
    from speechstream.asr.graphs import EncoderGraph
    from speechstream.asr.torch.export import quantize
    from speechstream.bench.asr_torch import eager_steps, export_buffered_window
    from speechstream.runtime.session import create_session

    enc = EncoderGraph(bm.graph("encoder"), cfg.threads)
    c = enc.contract
    shift_s = c.features["frame_shift"] / c.features["sample_rate"]
    p1: dict[str, dict[str, Any]] = {k: {} for k in ("ratio", "ratio_wall", "cache_ms_per_audio_s",
                                                     "buffered_ms_per_audio_s", "window_frames", "work_ratio",
                                                     "audio_s", "raw")}
    p4: dict[str, dict[str, Any]] = {k: {} for k in ("ratio", "ratio_wall", "ort_ms_per_step", "eager_ms_per_step",
                                                     "steps")}
    for i, la in enumerate(c.lookahead_ms):
        key, C = ms_key(la), c.chunk_frames[i]
        n = feats.shape[0] // C
        chunks = [feats[None, k * C:(k + 1) * C] for k in range(n)]
        full = np.array([C], np.int64)
        n_heavy = max(1, min(n, int(HEAVY_SECONDS / (C * shift_s))))

        def cache(chunks: list[np.ndarray] = chunks) -> None:
            state = enc.init_state(1)
            for x in chunks:
                state = enc.step(x, full, state)[2]

        # Buffered: the window ends with the chunk and reaches back the model's attention left context.
        left = c.att_contexts[i][0] * c.subsampling_factor
        w = left + C
        buffered_graph = export_buffered_window(bm.model, w, C, work / f"buffered_{key}.onnx")
        session = create_session(quantize(buffered_graph) if bm.int8 else buffered_graph, cfg.threads)
        padded = np.concatenate([np.full((left, c.feat_dim), c.pad_feature, np.float32), feats[:n_heavy * C]])
        windows = [padded[None, k * C:k * C + w] for k in range(n_heavy)]
        w_len = np.array([w], np.int64)

        def buffered(windows: list[np.ndarray] = windows) -> None:
            for x in windows:
                session.run(None, {"feats": x, "lengths": w_len})

        def ort_heavy(chunks: list[np.ndarray] = chunks[:n_heavy]) -> None:
            cache(chunks)

        t = time_round_robin({"cache": cache, "buffered": buffered, "ort": ort_heavy,
                              "eager": eager_steps(bm.model, chunks[:n_heavy], i)}, cfg.repeats or 1)
        audio, audio_heavy = n * C * shift_s, n_heavy * C * shift_s
        p1["ratio"][key] = t.ratio("buffered", "cache", CLOCK) * audio / audio_heavy
        p1["ratio_wall"][key] = t.ratio("buffered", "cache", "wall") * audio / audio_heavy
        p1["cache_ms_per_audio_s"][key] = {k: 1000 * t.median("cache", k) / audio for k in CLOCKS}
        p1["buffered_ms_per_audio_s"][key] = {k: 1000 * t.median("buffered", k) / audio_heavy for k in CLOCKS}
        p1["window_frames"][key] = w
        # The buffered side computes w frames per chunk of C: the ratio if both ran at the same frames/s.
        p1["work_ratio"][key] = w / C
        p1["audio_s"][key] = {"cache": audio, "buffered": audio_heavy}
        p1["raw"][key] = t.to_dict()
        p4["ratio"][key] = t.ratio("eager", "ort", CLOCK)
        p4["ratio_wall"][key] = t.ratio("eager", "ort", "wall")
        p4["ort_ms_per_step"][key] = {k: 1000 * t.median("ort", k) / n_heavy for k in CLOCKS}
        p4["eager_ms_per_step"][key] = {k: 1000 * t.median("eager", k) / n_heavy for k in CLOCKS}
        p4["steps"][key] = n_heavy
    return {"cache_vs_buffered": p1, "ort_vs_eager": p4}


# ---- P2 ----
def bench_vs_sherpa(bm: BenchModel, audio: np.ndarray, cfg: AsrBenchConfig) -> tuple[dict[str, Any] | None, str | None]:
    """Our Recognizer vs sherpa-onnx on ctc.onnx; (None, why) when sherpa-onnx or ctc.onnx is missing."""
    if bm.sherpa_dir is None:
        return None, bm.sherpa_error or "no ctc.onnx"
    try:
        import sherpa_onnx
    except ImportError as e:
        return None, f"sherpa-onnx is not installed ({e})"
    from speechstream.asr.endpoint import EndpointConfig, EndpointRule
    from speechstream.asr.recognizer import Recognizer

    # Endpoint rules off on both sides: sherpa only detects them (the app resets), so neither does that work.
    never = EndpointRule(True, 1e9, 1e9)
    rec = Recognizer(bm.graph_dir, "ctc-greedy", cfg.threads, endpoint=EndpointConfig(never, never, never),
                     int8=bm.int8)
    c = rec.encoder.contract
    la = c.lookahead_ms[c.default_att_context]
    try:
        sherpa = sherpa_onnx.OnlineRecognizer.from_nemo_ctc(
            tokens=str(bm.sherpa_dir / "tokens.txt"), model=str(bm.sherpa_ctc),
            num_threads=cfg.threads, sample_rate=rec.sample_rate, feature_dim=c.feat_dim)
    except Exception as e:  # noqa: BLE001 - sherpa raises RuntimeError or its own types
        return None, f"sherpa-onnx cannot load ctc.onnx: {type(e).__name__}: {str(e).splitlines()[0]}"
    rate = rec.sample_rate
    pieces = split(audio, int(PIECE_SECONDS * rate))
    # sherpa decodes a window only once a frame past it has arrived and pads nothing: a chunk and a bit of
    # silence gets every real frame decoded on both sides.
    chunk_s = c.chunk_frames[c.default_att_context] * c.features["frame_shift"] / rate
    tail = np.zeros(int((chunk_s + 0.05) * rate), np.float32)
    windows: dict[str, int] = {}

    def ours() -> None:
        windows["ours_encoder_frames"] = decode_all(rec, pieces, la, tail).frames_done

    def theirs() -> None:
        s, count = sherpa.create_stream(), 0
        for p in pieces:
            s.accept_waveform(rate, p)
            while sherpa.is_ready(s):
                sherpa.decode_stream(s)
                count += 1
        s.accept_waveform(rate, tail)
        s.input_finished()
        while sherpa.is_ready(s):
            sherpa.decode_stream(s)
            count += 1
        windows["sherpa_encoder_frames"] = count * c.chunk_frames[c.default_att_context] // c.subsampling_factor

    t = time_round_robin({"ours": ours, "sherpa": theirs}, cfg.repeats or 1)
    seconds = (len(audio) + len(tail)) / rate
    return {"ratio": t.ratio("ours", "sherpa", CLOCK), "ratio_wall": t.ratio("ours", "sherpa", "wall"),
            "lookahead_ms": la, "ours_ms_per_audio_s": {k: 1000 * t.median("ours", k) / seconds for k in CLOCKS},
            "sherpa_ms_per_audio_s": {k: 1000 * t.median("sherpa", k) / seconds for k in CLOCKS},
            "audio_s": seconds, "piece_s": PIECE_SECONDS, **windows, "raw": t.to_dict()}, None


# ---- P3 ----
def bench_rtf(bm: BenchModel, audio: np.ndarray, cfg: AsrBenchConfig) -> dict[str, Any]:
    from speechstream.asr.recognizer import Recognizer

    recs = {d: Recognizer(bm.graph_dir, d, cfg.threads, int8=bm.int8, allow_untrained=True)  # speed only
            for d in ("ctc-greedy", "rnnt-greedy")}
    rate = recs["ctc-greedy"].sample_rate
    pieces, tail = split(audio, int(PIECE_SECONDS * rate)), np.zeros(0, np.float32)
    tokens: dict[str, dict[str, int]] = {d: {} for d in recs}
    cases: dict[str, Callable[[], None]] = {}
    for d, rec in recs.items():
        for la in rec.lookaheads_ms:
            def case(rec: Any = rec, la: float = la, d: str = d) -> None:
                s = decode_all(rec, pieces, la, tail)
                tokens[d][ms_key(la)] = len(rec.get_result(s).tokens)  # the last segment's, a sanity count

            cases[f"{d}@{ms_key(la)}"] = case
    t = time_round_robin(cases, cfg.repeats or 1)
    seconds = len(audio) / rate
    out: dict[str, Any] = {clock: {d: {} for d in recs} for clock in CLOCKS}
    for name in cases:
        d, key = name.split("@")
        for clock in CLOCKS:
            out[clock][d][key] = t.median(name, clock) / seconds
    return {"rtf": out[CLOCK], "rtf_wall": out["wall"], "audio_s": seconds, "piece_s": PIECE_SECONDS,
            "last_segment_tokens": tokens, "raw": t.to_dict()}


# ---- P5 ----
def bench_long_stream(bm: BenchModel, clip: np.ndarray, cfg: AsrBenchConfig,
                      log: Callable[[str], None]) -> dict[str, Any]:
    """One stream, `minutes` of looped audio made piece by piece; a piece is one chunk of audio."""
    from speechstream.asr.recognizer import Recognizer

    rec = Recognizer(bm.graph_dir, "ctc-greedy", cfg.threads, int8=bm.int8)
    c = rec.encoder.contract
    la = c.lookahead_ms[c.default_att_context]
    rate = rec.sample_rate
    piece = c.chunk_frames[c.default_att_context] * c.features["frame_shift"]
    per_minute = 60 * rate // piece
    total = int(cfg.minutes * 60 * rate // piece)  # type: ignore[operator]
    times = np.empty((total, 2))  # per chunk: CPU, wall
    s = rec.create_stream(la)
    rss_start = rss_mb()
    rss_after_1 = rss_start
    segments_seen = 0
    t_all = time.perf_counter()

    def feed(stream: Any, x: np.ndarray) -> tuple[float, float]:
        w0, c0 = time.perf_counter(), time.process_time()
        stream.accept_waveform(rate, x)
        while rec.is_ready(stream):
            rec.decode_streams([stream])
        return time.process_time() - c0, time.perf_counter() - w0

    young = s
    for k, x in enumerate(looped_audio(clip, piece, total)):
        times[k] = feed(s, x)
        if k + 1 == per_minute:
            rss_after_1 = rss_mb()
            young = copy.deepcopy(s)  # a stream one minute old, kept for the round-robin comparison
        if (k + 1) % (10 * per_minute) == 0:
            log(f"  P5: {(k + 1) // per_minute} of {cfg.minutes:g} minutes")
        segments_seen = s.segment
    wall = time.perf_counter() - t_all
    rss_end = rss_mb()
    col = {clock: i for i, clock in enumerate(CLOCKS)}
    first, last = times[:per_minute], times[-per_minute:]

    def per_chunk_ms(x: np.ndarray) -> dict[str, dict[str, float]]:
        return {clock: {"median": 1000 * float(np.median(x[:, i])), "mean": 1000 * float(x[:, i].mean())}
                for clock, i in col.items()}

    # Round-robin: one more minute for the old stream and for its one-minute-old copy, a chunk each in turn.
    turns = np.empty((per_minute, 2, 2))  # chunk, (old, young), clock
    pieces = zip(looped_audio(clip, piece, per_minute, seed=1),
                 looped_audio(clip, piece, per_minute, seed=2))
    for k, (x_old, x_young) in enumerate(pieces):
        turns[k] = feed(s, x_old), feed(young, x_young)
    ratio = {clock: float(np.median(turns[:, 0, i]) / np.median(turns[:, 1, i])) for clock, i in col.items()}
    minute_medians = [1000 * float(np.median(times[m:m + per_minute, col[CLOCK]]))
                      for m in range(0, total - per_minute + 1, per_minute)]
    sequential = {clock: float(np.median(last[:, i]) / np.median(first[:, i])) for clock, i in col.items()}
    return {"late_vs_early": ratio[CLOCK], "late_vs_early_wall": ratio["wall"],
            "late_vs_early_sequential": sequential,
            "round_robin_ms_per_chunk": {clock: {"old": 1000 * float(np.median(turns[:, 0, i])),
                                                 "young": 1000 * float(np.median(turns[:, 1, i]))}
                                         for clock, i in col.items()},
            "rss_growth_mb": rss_end - rss_after_1,
            "lookahead_ms": la, "minutes": total * piece / rate / 60, "chunks": total,
            "first_minute_ms_per_chunk": per_chunk_ms(first), "last_minute_ms_per_chunk": per_chunk_ms(last),
            f"per_minute_median_{CLOCK}_ms": minute_medians,
            "mean_ratio": {clock: float(last[:, i].mean() / first[:, i].mean()) for clock, i in col.items()},
            "rtf": {CLOCK: float(times[:, col[CLOCK]].sum()) / (total * piece / rate),
                    "wall": wall / (total * piece / rate)},
            "rss_mb": {"start": rss_start, "after_minute_1": rss_after_1, "end": rss_end, "peak": peak_rss_mb()},
            "segments": segments_seen}


# ---- the run ----
def run_asr_bench(config: AsrBenchConfig, log: Callable[[str], None] = _stderr) -> dict[str, Any]:
    """Every measurement, as the JSON `speechstream bench asr --json` writes."""
    cfg = config.resolved()
    t_start = time.perf_counter()
    from speechstream.audio.fbank import Fbank
    from speechstream.bench import asr_torch

    asr_torch.set_threads(cfg.threads)
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="speechstream-bench-asr-") as tmp:
        work = Path(tmp)
        log("preparing the model")
        bm = prepare_model(cfg, work, notes)
        from speechstream.asr.graphs import EncoderGraph

        contract = EncoderGraph(bm.graph("encoder"), cfg.threads).contract
        rate = bm.features.sample_rate
        clip, audio_desc = speech_clip(work, rate)
        audio = repeat_to(clip, int(cfg.seconds * rate))  # type: ignore[operator]
        feats = Fbank(bm.features)(audio)
        log("P1 cache_vs_buffered + P4 ort_vs_eager")
        encoder = bench_encoder(bm, feats, cfg, work)
        log("P2 vs_sherpa")
        sherpa, sherpa_why = bench_vs_sherpa(bm, audio, cfg)
        log("P3 rtf")
        rtf = bench_rtf(bm, audio, cfg)
        log(f"P5 late_vs_early: one stream, {cfg.minutes:g} minutes of audio")
        long = bench_long_stream(bm, clip, cfg, log)
        model = describe(bm, contract)
    if sherpa_why:
        notes.append(f"vs_sherpa: null ({sherpa_why})")
    return {
        "cache_vs_buffered": encoder["cache_vs_buffered"]["ratio"],
        "vs_sherpa": sherpa["ratio"] if sherpa else None,
        "rtf": rtf["rtf"]["ctc-greedy"],
        "rtf_rnnt_greedy": rtf["rtf"]["rnnt-greedy"],
        "ort_vs_eager": encoder["ort_vs_eager"]["ratio"],
        "late_vs_early": long["late_vs_early"],
        "rss_growth_mb": long["rss_growth_mb"],
        "vs_sherpa_reason": sherpa_why,
        "timings": {"cache_vs_buffered": encoder["cache_vs_buffered"], "ort_vs_eager": encoder["ort_vs_eager"],
                    "vs_sherpa": sherpa, "rtf": rtf, "long_stream": long},
        "model": model,
        "goals": GOALS,
        "run": {**{k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()},
                "clock": f"headline numbers in {'process CPU' if CLOCK == 'cpu' else 'wall-clock'} time",
                "audio": audio_desc, "wall_s": time.perf_counter() - t_start, **environment()},
        "notes": notes,
    }


def environment() -> dict[str, Any]:
    import onnxruntime

    versions = {"python": platform.python_version(), "onnxruntime": onnxruntime.__version__}
    for name in ("torch", "sherpa_onnx"):
        mod = sys.modules.get(name)
        if mod is not None:
            versions[name] = getattr(mod, "__version__", "?")
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"versions": versions, "cpu_count": os.cpu_count(), "load_average": load,
            "machine": platform.machine()}
