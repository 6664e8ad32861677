"""The TTS benchmark (`speechstream bench tts`): first-packet latency and real-time factor of our streaming
synthesizer, chunked and whole, beside Piper (joe) and Kokoro-82M int8 on the same sentences, voices and
thread count, in one run.

  first packet  text given -> the first non-empty audio packet, text normalisation and G2P included. Ours,
                chunked: stream(voice), accept_text(the whole sentence), input_finished(), then pull(1) until a
                pull returns samples. The others return the whole utterance, so their first packet is all of it.
  rtf           total synthesis time / audio duration, over all utterances (chunked: pulled to the end).
  computed      the latency the model's config implies (decoder chunk + look-ahead, the vocoder's chunk +
                look-ahead + ISTFT overlap, in audio time, plus the text look-ahead in phonemes), beside the
                measured one; speechstream.tts.config and speechstream.vocoder.config derive it.

Utterances: SENTENCES (held-out style: written here, never in a corpus; 1 to 25 words, with numbers, times,
money and abbreviations for the normaliser; the first two short, for quick runs), `repeats` passes, the voices
rotated so that pass r speaks sentence i in voice (i + r) % len(voices). Each utterance is spoken by every
system in turn, the order rotated, so a burst of load hits all of them (as speechstream.bench.common's
round-robin timing). Every system speaks a warm-up sentence in every voice first (sessions allocate on first
run, the UK lexicon loads on first use).
Headline numbers use process CPU time plus reaped children's (espeak-ng), as the other benchmarks; wall-clock
figures are kept beside them.
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

from speechstream.bench import tts_systems as systems
from speechstream.errors import SpeechstreamError

CLOCK = "cpu"
SYSTEMS = ("speechstream_chunked", "speechstream_whole", "piper", "kokoro")
BASELINES = ("piper", "kokoro")
VOICES = ("af_heart", "am_michael", "bf_emma", "bm_george")
WARMUP = "Hello, Zorbleth."  # short; an unknown word loads the G2P's OOV model
SENTENCES = (
    "Turn left at the second roundabout.",
    "She counted 347 paper cranes before giving up.",
    "The kettle clicked off just as the rain began to drum on the kitchen window.",
    "Could you move the meeting with Dr. Patel to Thursday at 2:45 p.m.?",
    "Stop.",
    "Our small boat drifted past the lighthouse, its beam sweeping slowly over the dark and restless water.",
    "The museum reopens on March 3rd, 2026, after a renovation that cost nearly $4.5 million.",
    "Honestly, I never expected the old radio to work again.",
    "Please keep your ticket until the end of the journey, because inspectors may ask to see it at any station "
    "between here and the coast.",
    "Why is the cat asleep on my keyboard?",
    "Fresh bread, two lemons and a jar of honey.",
    "At 6 a.m. the market was already loud with traders setting out crates of apples, onions and bright green "
    "peppers.",
    "He whistled.",
    "The bridge, which opened in 1932, carries roughly 80,000 vehicles every single day.",
    "If the battery drops below 15%, the lamp dims to save power.",
    "A quiet afternoon in the library is sometimes all it takes to finish a chapter.",
    "We'll meet at the corner of 5th Avenue and Pine St. around noon.",
    "Thunder rolled across the valley while the hikers hurried down the narrow trail toward the shelter, their "
    "boots slipping on wet stones.",
    "Mr. Okafor won the chess tournament for the third year in a row.",
    "Is it too late to order the blue one?",
)


@dataclass(frozen=True)
class TtsBenchConfig:
    """What to run. model_dir None: models/tts_en (or $SPEECHSTREAM_TTS_MODEL) if present, else models/tts_en_wip."""

    model_dir: Path | None = None
    vocoder_dir: Path | None = None
    threads: int = 1
    voices: tuple[str, ...] = VOICES
    sentences: int = len(SENTENCES)  # the first N of SENTENCES
    repeats: int = 2
    baselines: tuple[str, ...] = BASELINES

    def checked(self) -> TtsBenchConfig:
        if self.threads < 1:
            raise SpeechstreamError(f"--num-threads must be >= 1, got {self.threads}")
        if not 1 <= self.sentences <= len(SENTENCES):
            raise SpeechstreamError(f"--sentences must be in 1..{len(SENTENCES)}, got {self.sentences}")
        if self.repeats < 1:
            raise SpeechstreamError(f"--repeats must be >= 1, got {self.repeats}")
        if not self.voices:
            raise SpeechstreamError("--voices needs at least one voice")
        unknown = set(self.baselines) - set(BASELINES)
        if unknown:
            raise SpeechstreamError(f"unknown baselines {sorted(unknown)}; choose from {', '.join(BASELINES)}")
        for flag, d in (("--model", self.model_dir), ("--vocoder", self.vocoder_dir)):
            if d is not None and not Path(d).is_dir():
                raise SpeechstreamError(f"{flag}: model directory not found: {d}")
        return self


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def default_model() -> Path:
    """models/tts_en (or $SPEECHSTREAM_TTS_MODEL) if present, else the work in progress, models/tts_en_wip."""
    from speechstream.errors import ModelError
    from speechstream.runtime.models import MODELS_DIR
    from speechstream.tts.model_dir import default_tts_model

    try:
        return default_tts_model()
    except ModelError:
        wip = MODELS_DIR / "tts_en_wip"
        if wip.is_dir():
            return wip
        raise ModelError(f"no TTS model at {MODELS_DIR / 'tts_en'} or {wip}; pass --model DIR") from None


def utterances(n_sentences: int, voices: tuple[str, ...], repeats: int) -> list[tuple[int, str]]:
    """(sentence index, voice): pass r speaks sentence i in voice (i + r) % len(voices)."""
    return [(i, voices[(i + r) % len(voices)]) for r in range(repeats) for i in range(n_sentences)]


def summary(samples: list[systems.Sample]) -> dict[str, Any]:
    """Percentiles of the first packet and the RTF over all utterances, on both clocks."""
    audio_s = sum(s.samples for s in samples) / systems.SAMPLE_RATE

    def pct(xs: list[float]) -> dict[str, float]:
        return {"p50": 1000 * float(np.percentile(xs, 50)), "p95": 1000 * float(np.percentile(xs, 95))}

    return {
        "first_packet_ms": pct([s.first_cpu for s in samples]),
        "rtf": sum(s.total_cpu for s in samples) / audio_s if audio_s else None,
        "audio_s": audio_s,
        "utterances": len(samples),
        # the first packet's share of the utterance's own time (1 when the system is not streaming)
        "first_packet_ratio": float(np.median([s.first_cpu / s.total_cpu for s in samples])),
        "first_packet_audio_ms": float(np.median([1000 * s.first_samples / systems.SAMPLE_RATE for s in samples])),
        "wall": {"first_packet_ms": pct([s.first_wall for s in samples]),
                 "rtf": sum(s.total_wall for s in samples) / audio_s if audio_s else None,
                 "first_packet_ratio": float(np.median([s.first_wall / s.total_wall for s in samples]))},
    }


def computed_latency(synth: Any) -> dict[str, Any]:
    """What the configs say a first packet waits for, in audio time (the decoder's chunk and look-ahead, then
    the vocoder's chunk, look-ahead and ISTFT overlap: a chain of real-time stages adds them) and in text."""
    a, v = synth.config.latency(), synth.vocoder.config
    return {**a, "vocoder_latency_ms": v.latency_ms, "vocoder_chunk_frames": v.chunk_frames,
            "vocoder_lookahead_frames": v.lookahead_frames, "total_ms": a["decoder_latency_ms"] + v.latency_ms}


def run_tts_bench(config: TtsBenchConfig, log: Callable[[str], None] = _stderr) -> dict[str, Any]:
    """Every measurement, as the JSON `speechstream bench tts --json` writes."""
    cfg = config.checked()
    t_start = time.perf_counter()
    from speechstream.bench.asr import environment
    from speechstream.tts.model_dir import read_config, vocoder_dir
    from speechstream.tts.synthesizer import Synthesizer

    source = Path(cfg.model_dir) if cfg.model_dir is not None else default_model()
    model_config = read_config(source)  # a clear ModelError for a directory that is not a TTS model
    unknown = [v for v in cfg.voices if not _voice_ok(v, model_config.speakers)]
    if unknown:
        raise SpeechstreamError(f"--voices: unknown to the model: {', '.join(unknown)}")
    notes: list[str] = []
    skipped: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="speechstream-bench-tts-") as tmp:
        model_dir, exported = source, not systems.graphs_present(source)
        if exported:
            log(f"{source} has no ONNX graphs: exporting them to a temporary directory")
            model_dir = systems.exported_copy(source, Path(tmp) / "model", cfg.threads)
            notes.append(f"{source} ships no ONNX graphs: exported for this run (speechstream.tts.torch.export)")
        synth = Synthesizer.from_dir(model_dir, vocoder=vocoder_dir(source, cfg.vocoder_dir), num_threads=cfg.threads)
        speak: dict[str, systems.Speak] = {"speechstream_chunked": systems.speak_chunked(synth),
                                           "speechstream_whole": systems.speak_whole(synth)}
        for name in BASELINES:
            if name not in cfg.baselines:
                skipped[name] = "not asked for (--baselines)"
                continue
            log(f"loading {name}")
            b = systems.piper(cfg.threads) if name == "piper" else systems.kokoro(cfg.threads, cfg.voices)
            if b.speak is None:
                skipped[name] = f"not installed: {b.skipped}"
                continue
            speak[name] = b.speak
            if b.note:
                notes.append(b.note)
        log(f"warming up {len(speak)} systems in {len(cfg.voices)} voices")
        for fn in speak.values():
            for v in cfg.voices:
                fn(WARMUP, v)
        plan = utterances(cfg.sentences, cfg.voices, cfg.repeats)
        names = list(speak)
        timed: dict[str, list[systems.Sample]] = {n: [] for n in names}
        log(f"timing {len(plan)} utterances x {len(names)} systems")
        for k, (i, v) in enumerate(plan):
            for name in names[k % len(names):] + names[:k % len(names)]:
                timed[name].append(speak[name](SENTENCES[i], v))
    results: dict[str, Any] = {n: summary(timed[n]) if n in timed else {"skipped": skipped[n]} for n in SYSTEMS}
    latency = computed_latency(synth)
    return {
        "systems": results,
        "computed_latency": latency,
        "model": {"source": str(source), "exported_for_run": exported, "config": model_config.to_dict(),
                  "vocoder": str(vocoder_dir(source, cfg.vocoder_dir)),
                  "vocoder_config": synth.vocoder.config.to_dict()},
        "utterances": [{"sentence": i, "text": SENTENCES[i], "voice": v} for i, v in plan],
        "timings": {n: [s.to_dict() for s in timed[n]] for n in names},
        "run": {**{k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()},
                "clock": "headline numbers in process CPU time (children included); wall-clock under 'wall'",
                "wall_s": time.perf_counter() - t_start, **environment()},
        "notes": notes,
    }


def _voice_ok(spec: str, speakers: tuple[str, ...]) -> bool:
    from speechstream.tts.voices import VoiceSpec

    try:
        VoiceSpec.parse(spec, speakers)
    except ValueError:
        return False
    return True
