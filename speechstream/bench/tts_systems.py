"""What `speechstream bench tts` times: our model directory (exported to ONNX for the run when it ships weights
only) and the two neural baselines of the corpus engines, each behind one call that speaks one utterance and
reports when its first samples came out.

    speechstream chunked   Synthesizer.stream(voice): accept_text(sentence), input_finished(), pull(1) until done
    speechstream whole     Synthesizer.synthesize(sentence, voice): the first packet is the whole utterance
    piper                  speechstream.data.piper.Piper (joe, VITS): whole utterance, espeak-ng phonemes
    kokoro                 speechstream.data.kokoro.Kokoro (82M int8): whole utterance, hibari G2P

Every system delivers 16 kHz audio (the baselines resample from 22.05 / 24 kHz, as the corpus does) and
none is levelled afterwards.
"""

from __future__ import annotations

import resource
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from speechstream.errors import ModelError

SAMPLE_RATE = 16000
EXPORT_HINT = ("export it once with: python -c \"from speechstream.tts.torch.checkpoint import load_acoustic, "
               "save_tts_dir; save_tts_dir(load_acoustic('{src}'), 'OUT_DIR')\" and pass --model OUT_DIR")


def clocks() -> tuple[float, float]:
    """(wall, CPU) seconds now. CPU counts this process and its reaped children: Piper's espeak-ng runs as one."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.perf_counter(), time.process_time() + children.ru_utime + children.ru_stime


@dataclass(frozen=True)
class Sample:
    """One utterance: seconds to the first non-empty packet and to the end, on both clocks, and its audio."""

    first_cpu: float
    first_wall: float
    total_cpu: float
    total_wall: float
    samples: int
    first_samples: int

    def to_dict(self) -> dict[str, float]:
        return {"first_packet_ms": 1000 * self.first_cpu, "first_packet_wall_ms": 1000 * self.first_wall,
                "total_ms": 1000 * self.total_cpu, "total_wall_ms": 1000 * self.total_wall,
                "audio_s": self.samples / SAMPLE_RATE, "first_packet_audio_ms": 1000 * self.first_samples / SAMPLE_RATE}


Speak = Callable[[str, str], Sample]  # (sentence, voice) -> Sample


@dataclass(frozen=True)
class Baseline:
    """A baseline ready to time (speak), or why it is skipped; a note on what its time includes."""

    speak: Speak | None
    skipped: str | None = None
    note: str | None = None


def timed_whole(fn: Callable[[], Any]) -> Sample:
    """A system that returns the whole utterance at once: its first packet is all of it."""
    w0, c0 = clocks()
    audio = fn()
    w1, c1 = clocks()
    return Sample(c1 - c0, w1 - w0, c1 - c0, w1 - w0, len(audio), len(audio))


# ---------------------------------------------------------------- ours


def graphs_present(model_dir: Path) -> bool:
    from speechstream.tts.model_dir import DECODER, ENCODER

    return (model_dir / ENCODER).is_file() and (model_dir / DECODER).is_file()


def exported_copy(src: Path, out: Path, threads: int) -> Path:
    """src (config.json + model.safetensors) with encoder.onnx and decoder.onnx exported into `out`, through
    the export the training recipe uses (speechstream.tts.torch); a ModelError saying how when torch is missing."""
    from speechstream.tts.model_dir import CONFIG

    try:
        import onnx  # noqa: F401
        import torch
    except ImportError as e:
        raise ModelError(f"{src} has no ONNX graphs (encoder.onnx, decoder.onnx), and exporting them for this run "
                         f"needs torch and onnx (pip install 'speechstream[train]'): {e}; or "
                         + EXPORT_HINT.format(src=src)) from None
    from speechstream.tts.torch.checkpoint import load_acoustic
    from speechstream.tts.torch.export import export_acoustic

    torch.set_num_threads(threads)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src / CONFIG, out / CONFIG)
    try:
        export_acoustic(load_acoustic(src), out)
    except (OSError, ValueError, RuntimeError, KeyError) as e:
        raise ModelError(f"exporting {src} failed ({e}); " + EXPORT_HINT.format(src=src)) from None
    return out


def speak_chunked(synth: Any) -> Speak:
    def speak(text: str, voice: str) -> Sample:
        w0, c0 = clocks()
        stream = synth.stream(voice)
        stream.accept_text(text)
        stream.input_finished()
        first: tuple[float, float, int] | None = None
        n = 0
        while not stream.done:
            y = stream.pull(1)  # one chunk per pull: what a player asks for
            if first is None and len(y):
                w, c = clocks()
                first = (c - c0, w - w0, len(y))
            n += len(y)
        w1, c1 = clocks()
        if first is None:  # no audio at all: the end is the first packet
            first = (c1 - c0, w1 - w0, 0)
        return Sample(first[0], first[1], c1 - c0, w1 - w0, n, first[2])

    return speak


def speak_whole(synth: Any) -> Speak:
    return lambda text, voice: timed_whole(lambda: synth.synthesize(text, voice))


# ---------------------------------------------------------------- baselines


def piper(threads: int) -> Baseline:
    """Piper has one voice: every utterance is joe's."""
    from speechstream.data import piper as p

    why = p.missing()
    if why is not None:
        return Baseline(None, why)
    try:
        engine = p.Piper(threads)
    except ImportError as e:  # the seeded graph is rewritten with onnx (the train extra)
        return Baseline(None, f"{e} (pip install 'speechstream[train]')")
    except (p.PiperMissing, OSError) as e:
        return Baseline(None, str(e))
    n = len(engine.noise_inputs)
    note = (f"piper: one voice (joe) for every utterance; its time includes drawing the seeded noise our engine "
            f"feeds the graph ({n} x {'x'.join(map(str, p.NOISE_SHAPE))} floats, {n * noise_ms():.0f} ms CPU per "
            f"utterance; Piper's own runtime draws in the graph only what it needs) and espeak-ng's process")
    return Baseline(lambda text, voice: timed_whole(lambda: engine.synthesize(text, sr=SAMPLE_RATE, peak_db=None)),
                    note=note)


def kokoro(threads: int, voices: tuple[str, ...]) -> Baseline:
    """Each utterance in the same voice (or blend) as ours."""
    from speechstream.data import kokoro as k
    from speechstream.tts.voices import VoiceSpec

    why = k.missing()
    if why is not None:
        return Baseline(None, why)
    specs = {v: VoiceSpec.parse(v) for v in voices}
    absent = sorted({n for s in specs.values() for n in s.names} - set(k.list_voices()))
    if absent:
        return Baseline(None, f"no Kokoro voice pack for {', '.join(absent)} in {k.default_voice_dir()}")
    try:
        engine = k.Kokoro(threads=threads)
    except (k.KokoroMissing, OSError) as e:
        return Baseline(None, str(e))
    kv = {v: k.Voice(s.names, s.weights) for v, s in specs.items()}
    return Baseline(lambda text, voice: timed_whole(lambda: engine.synthesize(text, kv[voice], sr=SAMPLE_RATE,
                                                                             peak_db=None)),
                    note="kokoro: 24 kHz output resampled to 16 kHz (soxr) inside its time")


def noise_ms(repeats: int = 5) -> float:
    """CPU ms to draw one of Piper's seeded noise inputs (sized for ~95 s of frames)."""
    import numpy as np

    from speechstream.data.piper import NOISE_SHAPE

    rng = np.random.default_rng(0)
    times = []
    for _ in range(repeats):
        c0 = time.process_time()
        rng.standard_normal(NOISE_SHAPE, dtype=np.float32)
        times.append(time.process_time() - c0)
    return 1000 * float(np.median(times))
