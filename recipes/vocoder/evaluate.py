#!/usr/bin/env python3
"""Score a vocoder model directory at several solvers / NFEs against the ground truth and a Griffin-Lim floor.

    python recipes/vocoder/evaluate.py --model models/vocoder_en --cuts /work/data/synth_en/cuts_test.jsonl.gz \
        --out recipes/vocoder/results
    python recipes/vocoder/evaluate.py --wav-dir my_wavs --systems euler/1,midpoint/4 --out /tmp/vocoder_eval

Every utterance (16 kHz; its reference text from the cut's supervisions, or NAME.txt beside NAME.wav) is
resynthesised by each system and scored against the original:

  mr_stft   multi-resolution STFT distance (speechstream.vocoder.metrics: spectral convergence + log-magnitude
            L1, averaged over three resolutions; 0 = the original's spectra)
  mel_l1    mean |log-mel difference| on the toolkit's Fbank (the frames every system is given)
  dnsmos    DNSMOS OVRL / SIG / BAK (speechmos; reference free, 1 bad - 5 excellent)
  wer       word error rate of our ASR model (speechstream Recognizer, ctc-greedy) on the audio, against the
            normalised reference (speechstream.data.text.normalize)
  rtf       process CPU time / audio seconds of the streaming path `speechstream vocode` runs
            (resynthesis.resynthesize: streaming Fbank -> Vocoder.step chunk by chunk -> ISTFT stream)
  latency   the model's algorithmic latency (chunk + look-ahead + ISTFT overlap), from its config

A system "solver/nfe" runs the directory's generator.onnx where that is the model's own sampler, else the step
exported from model.safetensors at that sampler (model_dir.export_sampler, as `bench vocoder` does). Two rows
frame them: the ground truth (the ceiling for DNSMOS and WER) and Griffin-Lim from the same log-mel frames
(the floor: torchaudio InverseMelScale + GriffinLim with the Fbank's geometry, then de-emphasis).
Writes OUT/results.json (every number, per system and per utterance) and OUT/RESULTS.md (the table).
Needs the `train` extra (torch, torchaudio, lhotse, jiwer, speechmos): scripts/setup.sh --dev.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from speechstream.errors import SpeechstreamError  # noqa: E402

RATE = 16000
MIN_SAMPLES = 1600  # 0.1 s: shorter clips are skipped (the 1024-point STFT needs more than 512 samples)
DNSMOS_KEYS = ("ovrl", "sig", "bak", "p808")
DISTANCES = ("mr_stft", "spectral_convergence", "log_magnitude", "mel_l1")


@dataclass(frozen=True)
class Utterance:
    id: str
    samples: np.ndarray  # (N,) float32 at 16 kHz
    text: str | None  # normalised reference; None when there is none


def get_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, metavar="DIR",
                   help="vocoder model directory (default: models/vocoder_en or $SPEECHSTREAM_VOCODER_MODEL)")
    data = p.add_mutually_exclusive_group(required=True)
    data.add_argument("--cuts", type=Path, metavar="MANIFEST", help="lhotse cuts or recordings (.jsonl.gz) with audio")
    data.add_argument("--wav-dir", type=Path, metavar="DIR", help="*.wav / *.flac below DIR, NAME.txt the reference")
    p.add_argument("--max-utts", type=int, default=50, help="an evenly spaced subset of this many (0: all; default 50)")
    p.add_argument("--asr-model", default="auto", metavar="DIR",
                   help="ASR model directory for the WER column; 'none' skips it "
                        "(default: models/asr_en when it has its encoder graph, fp32 or int8)")
    p.add_argument("--systems", help="comma-separated solver/nfe, e.g. euler/1,midpoint/2 "
                                     "(default: every sampler the model can run at NFE 1, 2 and 4)")
    p.add_argument("--gl-iters", type=int, default=64, help="Griffin-Lim iterations (default 64)")
    p.add_argument("--num-threads", type=int, default=1, help="onnxruntime and torch threads (default 1)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="where results.json and RESULTS.md go")
    return p.parse_args(argv)


# ---- data ----
def evenly(items: list, n: int) -> list:
    """At most n items, evenly spaced (all when n is 0)."""
    if not n or len(items) <= n:
        return items
    return [items[i] for i in np.linspace(0, len(items) - 1, n).astype(int)]


def load_manifest_utts(path: Path, max_utts: int) -> list[Utterance]:
    from lhotse import CutSet, RecordingSet, load_manifest

    from speechstream.data.text import normalize

    if not path.is_file():
        raise SpeechstreamError(f"manifest not found: {path}")
    try:
        manifest = load_manifest(path)
    except Exception as e:  # lhotse raises many kinds for a file that is not one of its manifests
        raise SpeechstreamError(f"cannot read {path} as a lhotse manifest: {e}") from None
    if not isinstance(manifest, (CutSet, RecordingSet)):
        raise SpeechstreamError(f"{path} is a {type(manifest).__name__}: give cuts or recordings, which have audio")
    out = []
    for item in evenly(list(manifest), max_utts):
        text = " ".join(s.text or "" for s in item.supervisions) if isinstance(manifest, CutSet) else None
        try:
            audio = item.resample(RATE).load_audio()
        except Exception as e:  # missing or unreadable audio file
            raise SpeechstreamError(f"{path}: cannot load the audio of {item.id}: {e}") from None
        out.append(Utterance(item.id, audio.mean(axis=0).astype(np.float32), normalize(text) if text else None))
    return out


def load_wav_dir_utts(root: Path, max_utts: int) -> list[Utterance]:
    from speechstream.audio.io import read_audio
    from speechstream.data.text import normalize

    if not root.is_dir():
        raise SpeechstreamError(f"--wav-dir not found: {root}")
    files = evenly(sorted(f for f in root.rglob("*") if f.suffix.lower() in (".wav", ".flac")), max_utts)
    out = []
    for f in files:
        txt = f.with_suffix(".txt")
        text = normalize(txt.read_text(encoding="utf-8")) if txt.is_file() else None
        out.append(Utterance(str(f.relative_to(root)), read_audio(f, RATE)[0], text or None))
    return out


def load_utterances(args: argparse.Namespace, notes: list[str]) -> tuple[list[Utterance], str]:
    """(the utterances long enough to score, a description of where they came from)."""
    source = args.cuts if args.cuts is not None else args.wav_dir
    utts = load_manifest_utts(args.cuts, args.max_utts) if args.cuts is not None else \
        load_wav_dir_utts(args.wav_dir, args.max_utts)
    kept = [u for u in utts if len(u.samples) >= MIN_SAMPLES]
    if len(kept) < len(utts):
        notes.append(f"skipped {len(utts) - len(kept)} utterance(s) shorter than {MIN_SAMPLES / RATE:g} s")
    if not kept:
        raise SpeechstreamError(f"no utterances to score in {source}" + (" (all too short)" if utts else ""))
    return kept, str(source)


# ---- systems ----
def parse_systems(spec: str | None, config: Any) -> list[tuple[str, int]]:
    """(solver, nfe) pairs; each checked against the model (midpoint needs an even NFE and a flow-matching model)."""
    from speechstream.bench.vocoder import samplers

    if spec is None:
        return samplers(config)
    out = []
    for item in spec.replace(",", " ").split():
        solver, _, nfe = item.partition("/")
        try:
            config.with_solver(name=solver, nfe=int(nfe))
        except ValueError as e:
            raise SpeechstreamError(f"--systems {item}: {e} (write solver/nfe, e.g. euler/1,midpoint/2)") from None
        out.append((solver, int(nfe)))
    if not out:
        raise SpeechstreamError("--systems is empty")
    return out


def load_systems(model_dir: Path, pairs: list[tuple[str, int]], work: Path, num_threads: int) -> dict[str, Any]:
    """case key ("euler-nfe2") -> Vocoder: the directory's generator.onnx, or the step exported at that sampler."""
    from speechstream.bench.vocoder import case_key
    from speechstream.vocoder.model_dir import load_vocoder, read_config
    from speechstream.vocoder.torch.checkpoint import load_generator
    from speechstream.vocoder.torch.export import export_sampler

    solver = read_config(model_dir).solver
    generator, out = None, {}
    for name, nfe in pairs:
        key = case_key(name, nfe)
        if (name, nfe) == (solver.name, solver.nfe):
            out[key] = load_vocoder(model_dir, num_threads)
        else:
            generator = generator if generator is not None else load_generator(model_dir)
            out[key] = export_sampler(generator, name, nfe, work / f"{key}.onnx", num_threads)
    return out


def griffin_lim(mel: np.ndarray, num_samples: int, fbank: Any, n_iter: int) -> np.ndarray:
    """mel (T, M) Fbank log-mel -> (num_samples,) float32: least-squares inverse mel, Griffin-Lim, de-emphasis.

    The Fbank is the power spectrum of pre-emphasised, Hann(frame_length)-windowed frames zero-padded to n_fft,
    through Slaney mel filters: torchaudio's transforms with the same numbers invert it. Fbank frame j is
    centred on sample j * shift + shift // 2, GriffinLim's on j * shift, so the result is delayed by shift // 2.
    """
    import torch
    import torchaudio

    from speechstream.vocoder.resynthesis import fit_length

    c = fbank
    inverse_mel = torchaudio.transforms.InverseMelScale(
        n_stft=c.n_fft // 2 + 1, n_mels=c.num_mel_bins, sample_rate=c.sample_rate, f_min=c.low_freq,
        f_max=c.nyquist_high_freq, norm=c.mel_norm, mel_scale=c.mel_scale)
    gl = torchaudio.transforms.GriffinLim(n_fft=c.n_fft, n_iter=n_iter, win_length=c.frame_length,
                                          hop_length=c.frame_shift, power=2.0, rand_init=False)
    with torch.inference_mode():
        power = inverse_mel(torch.from_numpy(np.exp(mel.T.astype(np.float32))))  # (F, T)
        y = torchaudio.functional.deemphasis(gl(power)[None], c.preemphasis)[0].numpy()
    return fit_length(np.concatenate([np.zeros(c.frame_shift // 2, np.float32), y]), num_samples)


# ---- scoring ----
def transcribe(recognizer: Any, samples: np.ndarray) -> str:
    from speechstream.data.text import normalize

    finals = [r.text for r in recognizer.transcribe([samples], sample_rate=RATE) if r.is_final and r.text]
    return normalize(" ".join(finals))


class Scorer:
    """One output against its utterance: distances (not for the ground truth itself), DNSMOS, ASR transcript."""

    def __init__(self, asr_dir: Path | None, num_threads: int) -> None:
        from speechstream.asr.recognizer import Recognizer
        from speechstream.audio.fbank import Fbank
        from speechstream.vocoder.metrics import DnsMos

        self.fbank = Fbank()
        self.dnsmos = DnsMos(num_threads)
        self.recognizer = Recognizer(asr_dir, num_threads=num_threads) if asr_dir is not None else None

    def __call__(self, utt: Utterance, out: np.ndarray, distances: bool) -> dict[str, Any]:
        from speechstream.vocoder.metrics import mel_l1, mr_stft_distance

        r: dict[str, Any] = {"id": utt.id, "seconds": len(utt.samples) / RATE, "ref": utt.text}
        if distances:
            d = mr_stft_distance(utt.samples, out)
            r.update(mr_stft=d.mr_stft, spectral_convergence=d.spectral_convergence, log_magnitude=d.log_magnitude,
                     mel_l1=mel_l1(utt.samples, out, self.fbank))
        r.update({f"dnsmos_{k}": v for k, v in self.dnsmos(out).items()})
        if self.recognizer is not None:
            r["hyp"] = transcribe(self.recognizer, out)
        return r


def word_error_rate(records: list[dict[str, Any]]) -> float | None:
    """Corpus WER in % over the utterances with a reference; None without a transcript or a reference."""
    import jiwer

    pairs = [(r["ref"], r["hyp"]) for r in records if r.get("ref")]
    if not pairs:
        return None
    return 100.0 * jiwer.wer([p[0] for p in pairs], [p[1] for p in pairs])


def run_system(utts: list[Utterance], make: Callable[[Utterance], np.ndarray], scorer: Scorer, distances: bool,
               timed: bool) -> dict[str, Any]:
    """Every utterance through `make` (timed in process CPU time), clipped to [-1, 1] as a file would be, scored."""
    records = []
    for u in utts:
        t = time.process_time()
        out = make(u)
        cpu = time.process_time() - t
        clipped = int(np.count_nonzero(np.abs(out) > 1.0))
        r = scorer(u, np.clip(out, -1.0, 1.0).astype(np.float32), distances)
        records.append({**r, "cpu_s": cpu if timed else None, "clipped_samples": clipped})
    seconds = sum(r["seconds"] for r in records)
    summary: dict[str, Any] = {"utterances": len(records), "audio_s": seconds}
    for k in (*DISTANCES, *(f"dnsmos_{k}" for k in DNSMOS_KEYS)):
        summary[k] = float(np.mean([r[k] for r in records])) if k in records[0] else None
    summary["wer"] = word_error_rate(records) if scorer.recognizer is not None else None
    summary["rtf"] = sum(r["cpu_s"] for r in records) / seconds if timed else None
    summary["clipped_samples"] = sum(r["clipped_samples"] for r in records)
    return {"summary": summary, "utterances": records}


# ---- the run ----
def asr_model(arg: str) -> tuple[Path | None, str | None]:
    """(ASR model directory or None, why there is none)."""
    from speechstream.asr.model_dir import DEFAULT_ASR
    from speechstream.runtime.models import MODELS_DIR

    if arg == "none":
        return None, "WER not scored: --asr-model none"
    if arg == "auto":
        d = MODELS_DIR / DEFAULT_ASR
        if any((d / f).is_file() for f in ("encoder.onnx", "encoder.int8.onnx")):  # it may ship int8 only
            return d, None
        return None, f"WER not scored: no ASR model at {d} (it has no encoder graph); pass --asr-model DIR"
    return Path(arg), None


def check_args(args: argparse.Namespace) -> None:
    for name, low in (("max_utts", 0), ("num_threads", 1), ("gl_iters", 1)):
        if getattr(args, name) < low:
            raise SpeechstreamError(f"--{name.replace('_', '-')} must be >= {low}, got {getattr(args, name)}")
    for module in ("torch", "torchaudio", "lhotse", "jiwer", "speechmos"):
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise SpeechstreamError(f"the vocoder evaluation needs the train extra (scripts/setup.sh --dev, or "
                                    f"pip install 'speechstream[train]'): {e}") from None


def evaluate(args: argparse.Namespace, log: Callable[[str], None]) -> dict[str, Any]:
    """Every number, as results.json holds them."""
    check_args(args)
    import torch

    from speechstream.audio.fbank import Fbank
    from speechstream.bench.vocoder import case_key
    from speechstream.vocoder.model_dir import default_vocoder_model, read_config
    from speechstream.vocoder.resynthesis import feature_config, resynthesize

    torch.set_num_threads(args.num_threads)
    model_dir = args.model if args.model is not None else default_vocoder_model()
    config = read_config(model_dir)
    fb = feature_config(config)
    pairs = parse_systems(args.systems, config)
    asr_dir, wer_note = asr_model(args.asr_model)
    scorer = Scorer(asr_dir, args.num_threads)  # before the audio: a broken ASR model directory fails fast
    notes: list[str] = []
    utts, source = load_utterances(args, notes)
    if asr_dir is not None and not any(u.text for u in utts):
        wer_note = "WER not scored: no utterance has a reference text (for --wav-dir: NAME.txt beside NAME.wav)"
    if wer_note:
        notes.append(wer_note)
    fbank = Fbank(fb)
    log(f"{len(utts)} utterances, {sum(len(u.samples) for u in utts) / RATE:.1f} s, from {source}")
    systems: list[dict[str, Any]] = []

    def add(name: str, kind: str, make: Callable[[Utterance], np.ndarray], solver: str | None = None,
            nfe: int | None = None, latency_ms: float | None = None) -> None:
        log(f"scoring {name}")
        truth = kind == "reference"
        result = run_system(utts, make, scorer, distances=not truth, timed=not truth)
        systems.append({"name": name, "kind": kind, "solver": solver, "nfe": nfe, "latency_ms": latency_ms, **result})

    with tempfile.TemporaryDirectory(prefix="speechstream-vocoder-eval-") as tmp:
        vocoders = load_systems(model_dir, pairs, Path(tmp), args.num_threads)  # a broken model fails first
        add("ground truth", "reference", lambda u: u.samples)
        add("griffin-lim", "baseline", lambda u: griffin_lim(fbank(u.samples), len(u.samples), fb, args.gl_iters))
        for solver, nfe in pairs:
            vocoder = vocoders[case_key(solver, nfe)]
            resynthesize(vocoder, utts[0].samples[:RATE // 2])  # warm-up: onnxruntime's first run is slower
            add(case_key(solver, nfe), "vocoder", lambda u, v=vocoder: resynthesize(v, u.samples), solver, nfe,
                vocoder.latency_ms)
    from speechstream.vocoder.metrics import RESOLUTIONS

    return {
        "model": str(model_dir), "config": config.to_dict(),
        "default_sampler": case_key(config.solver.name, config.solver.nfe),
        "data": source, "utterances": len(utts), "audio_s": sum(len(u.samples) for u in utts) / RATE,
        "asr_model": None if asr_dir is None else str(asr_dir), "wer_note": wer_note,
        "num_threads": args.num_threads, "gl_iters": args.gl_iters,
        "stft_resolutions": [list(r) for r in RESOLUTIONS], "notes": notes, "systems": systems,
    }


# ---- the report ----
def _num(v: float | None, fmt: str) -> str:
    return "—" if v is None else format(v, fmt)


def results_table(r: dict[str, Any]) -> str:
    """One row per system: the ground truth, Griffin-Lim, then the vocoder's samplers."""
    header = ["system", "NFE", "MR-STFT ↓", "mel L1 ↓", "DNSMOS OVRL ↑", "SIG ↑", "BAK ↑", "WER % ↓", "RTF",
              "latency ms"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for s in r["systems"]:
        m = s["summary"]
        cells = [s["solver"] if s["kind"] == "vocoder" else s["name"], _num(s["nfe"], "d"),
                 _num(m["mr_stft"], ".3f"), _num(m["mel_l1"], ".3f"),
                 *(_num(m[f"dnsmos_{k}"], ".2f") for k in ("ovrl", "sig", "bak")),
                 _num(m["wer"], ".1f"), _num(m["rtf"], ".4f"),
                 "offline" if s["kind"] == "baseline" else _num(s["latency_ms"], "g")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_report(r: dict[str, Any], out: Path) -> None:
    res = ", ".join(f"({a}, {b}, {c})" for a, b, c in r["stft_resolutions"])
    asr = f"`{r['asr_model']}`" if r["asr_model"] else "none (see below)"
    md = [f"# Vocoder evaluation of `{r['model']}`", "",
          f"{r['utterances']} utterances ({r['audio_s']:.1f} s) from `{r['data']}`; ASR model: {asr}; "
          f"{r['num_threads']} thread(s). Produced by `recipes/vocoder/evaluate.py`.", "",
          results_table(r), "",
          f"- MR-STFT: spectral convergence + log-magnitude L1 against the original, averaged over (n_fft, hop, "
          f"win) = {res}; mel L1: mean |log-mel difference| on the toolkit's Fbank. 0 for the original itself.",
          "- DNSMOS (speechmos, P.835): overall, signal and background quality, 1-5, without a reference.",
          "- WER: our ASR model (ctc-greedy) on the audio against the normalised reference text.",
          "- RTF: process CPU time / audio seconds of the streaming path (`speechstream vocode`: streaming Fbank,"
          " Vocoder.step per chunk, ISTFT stream); Griffin-Lim's is offline (torch).",
          "- latency: the model's algorithmic latency (chunk + look-ahead + ISTFT overlap).",
          f"- ground truth: the ceiling for DNSMOS and WER; griffin-lim ({r['gl_iters']} iterations from the same "
          "log-mel frames): the floor.",
          *(f"- {n}" for n in r["notes"])]
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(r, indent=1) + "\n", encoding="utf-8")
        (out / "RESULTS.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    except OSError as e:
        raise SpeechstreamError(f"cannot write to {out}: {e.strerror or e}") from None


def main(argv: list[str] | None = None) -> int:
    args = get_args(argv)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    try:
        result = evaluate(args, log)
        write_report(result, args.out)
    except SpeechstreamError as e:
        print(f"evaluate.py: error: {e}", file=sys.stderr)
        return 2
    print(results_table(result))
    log(f"wrote {args.out / 'RESULTS.md'} and {args.out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
