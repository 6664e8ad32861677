"""Synthetic speakers from Debian main TTS engines: fixed seeded draws and the engine command lines.

A speaker is one draw of (engine, voice, espeak variant/accent, rate, pitch, formant shift). Several engines
reuse one recorded person (slt in flite and festival; kal in both), so every speaker also names its
``person``: splits hold out persons, not engine voices.

Rate and pitch are applied natively: espeak ``-s``/``-p``, flite ``duration_stretch``/``int_f0_target_mean``,
festival ``Duration_Stretch``/``int_lr_params`` (HTS voice: hts_engine ``-r``). sox ``pitch`` (WSOLA) is
avoided: a classic recogniser's errors rose several-fold on sox-pitched flite voices, but not with native f0
control. flite rms and festival's HTS slt ignore f0 settings, so their speakers keep pitch 0. The formant
shift is sox ``speed f`` + ``tempo 1/f`` (formants and pitch move together, like a smaller or larger
vocal tract; :func:`sox_voice_effects`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import warnings
from dataclasses import asdict, dataclass

import numpy as np

ESPEAK_ACCENTS = ("en-gb", "en-us", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd",
                  "en-029", "en-us-nyc")
# Usable espeak-ng voice variants (robotic, whisper and novelty variants left out).
ESPEAK_VARIANTS = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5",
    "klatt", "klatt2", "klatt3", "klatt4", "klatt5", "klatt6",
    "Alex", "Alicia", "Andrea", "Andy", "Annie", "Denis", "Gene", "Jacky", "Lee", "Michael", "Mike",
    "adam", "anika", "announcer", "aunty", "belinda", "benjamin", "boris", "caleb", "david", "ed",
    "edward", "grandma", "grandpa", "iven", "john", "linda", "max", "michel", "norbert", "paul", "quincy",
    "rob", "robert", "shelby", "steph", "travis", "victor", "zac",
)
# Held-out persons. Test: flite awb (Scottish male, recorded) + 6 espeak variants; dev: festival ked
# (US male diphone) + 5 espeak variants. Train keeps the recorded persons kal, slt and rms.
TEST_VARIANTS = ("m7", "f4", "klatt3", "linda", "grandpa", "shelby")
DEV_VARIANTS = ("m5", "f2", "klatt5", "belinda", "michel")

# (engine, voice) -> (person, mean F0 in Hz as measured on its output; None: the engine ignores F0 targets)
RECORDED = {
    ("flite", "slt"): ("slt", 169.0),
    ("flite", "rms"): ("rms", None),
    ("flite", "awb"): ("awb", 130.0),
    ("flite", "kal16"): ("kal", 91.0),
    ("flite", "kal"): ("kal", 87.0),
    ("festival", "kal_diphone"): ("kal", 105.0),
    ("festival", "ked_diphone"): ("ked", 105.0),
    ("festival", "cmu_us_slt_arctic_hts"): ("slt", None),
}
# Voice pools per split: recorded voices weighted up against espeak (whose weight is spread over
# accent x variant). Weights are shares of the split's speakers.
POOLS = {
    "train": {("flite", "slt"): 3.0, ("flite", "rms"): 3.0, ("flite", "kal16"): 1.5, ("flite", "kal"): 0.5,
              ("festival", "kal_diphone"): 1.0, ("festival", "cmu_us_slt_arctic_hts"): 2.0,
              ("espeak", None): 7.0},
    "dev": {("festival", "ked_diphone"): 1.0, ("espeak", None): 1.0},
    "test": {("flite", "awb"): 1.0, ("espeak", None): 1.0},
}
SPEAKERS_PER_SPLIT = {"train": 200, "dev": 20, "test": 30}
ENGINES = ("espeak", "flite", "festival")
NEURAL_ENGINES = ("kokoro", "piper")  # speakers drawn in kokoro_voices.py and piper_voices.py
_BINARIES = {"espeak": "espeak-ng", "flite": "flite", "festival": "festival"}


@dataclass(frozen=True)
class Speaker:
    id: str
    split: str
    engine: str  # espeak | flite | festival | kokoro | piper
    voice: str  # espeak: accent+variant; flite/festival/piper: voice name; kokoro: a voice or blend spec
    person: str
    rate: float  # speaking-rate factor (>1 faster)
    pitch: float  # semitones (native F0 control)
    formant: float  # sox speed factor, duration restored by tempo (1.0 = none)

    def to_dict(self) -> dict:
        return asdict(self)


def espeak_variants_for(split: str) -> tuple[str, ...]:
    if split == "test":
        return TEST_VARIANTS
    if split == "dev":
        return DEV_VARIANTS
    return tuple(v for v in ESPEAK_VARIANTS if v not in TEST_VARIANTS + DEV_VARIANTS)


def draw_speakers(seed: int = 0, per_split: dict[str, int] | None = None) -> list[Speaker]:
    """Fixed speaker draws for every split and engine (independent of which engines are installed)."""
    per_split = per_split or SPEAKERS_PER_SPLIT
    out: list[Speaker] = []
    idx = 0
    for split_no, split in enumerate(("train", "dev", "test")):
        rng = np.random.default_rng([seed, 7919, split_no])
        pool = list(POOLS[split].items())
        w = np.array([p[1] for p in pool])
        variants = espeak_variants_for(split)
        for _ in range(per_split[split]):
            engine, voice = pool[rng.choice(len(pool), p=w / w.sum())][0]
            if engine == "espeak":
                accent = ESPEAK_ACCENTS[rng.integers(len(ESPEAK_ACCENTS))]
                variant = variants[rng.integers(len(variants))]
                voice, person = f"{accent}+{variant}", f"espeak:{variant}"
            else:
                person = RECORDED[(engine, voice)][0]
            rate = float(rng.uniform(0.85, 1.2))
            pitch = float(rng.uniform(-3.0, 3.0))
            if engine != "espeak" and RECORDED[(engine, voice)][1] is None:
                pitch = 0.0
            formant = float(rng.uniform(0.94, 1.06)) if rng.random() < 0.3 else 1.0
            short = voice.replace("_diphone", "").replace("cmu_us_slt_arctic_hts", "slt-hts")
            out.append(Speaker(f"s{idx:03d}-{engine}-{short.replace('+', '-')}", split, engine, voice,
                               person, round(rate, 3), round(pitch, 2), round(formant, 3)))
            idx += 1
    return out


def available_engines(wanted: tuple[str, ...] | list[str] = ENGINES) -> list[str]:
    """The wanted engines whose program (or, for ``kokoro`` and ``piper``, packages and voice packs) is
    installed; warns about the others."""
    out = []
    for e in wanted:
        if e in NEURAL_ENGINES:
            from speechstream.data import kokoro, piper

            why = (kokoro if e == "kokoro" else piper).missing()
            if why:
                warnings.warn(f"{e} unusable: {why}; skipping its speakers")
            else:
                out.append(e)
        elif e not in _BINARIES:
            raise ValueError(f"unknown engine {e!r} (known: {', '.join(ENGINES + NEURAL_ENGINES)})")
        elif shutil.which(_BINARIES[e]):
            out.append(e)
        else:
            warnings.warn(f"{_BINARIES[e]} not found: skipping the {e} engine's speakers")
    if "festival" in out and not os.path.isdir("/usr/share/festival/voices"):
        warnings.warn("festival has no voices: skipping it")
        out.remove("festival")
    return out


def festival_voice_available(voice: str) -> bool:
    return any(os.path.isdir(os.path.join("/usr/share/festival/voices", lang, voice))
               for lang in ("english", "us"))


def sox_voice_effects(spk: Speaker) -> list[str]:
    """sox effects for the speaker's formant shift (speed scales formants, pitch and tempo; tempo undoes
    the tempo change)."""
    if spk.formant == 1.0:
        return []
    return ["speed", f"{spk.formant:.4f}", "tempo", "-s", f"{1.0 / spk.formant:.4f}"]


def f0_target(spk: Speaker) -> float | None:
    base = RECORDED.get((spk.engine, spk.voice), (None, None))[1]
    return None if base is None else base * 2.0 ** (spk.pitch / 12.0)


def run_espeak(spk: Speaker, text: str, jitter: float, wav: str, timeout: float = 60) -> None:
    wpm = int(round(175 * spk.rate * jitter))
    pitch = int(round(min(max(50 + 6.25 * spk.pitch, 0), 99)))  # -p 30/50/70 measured 91/108/130 Hz
    subprocess.run(["espeak-ng", "-v", spk.voice, "-s", str(wpm), "-p", str(pitch), "-w", wav, "--stdin"],
                   input=text,
                   text=True, check=True, capture_output=True, timeout=timeout)


def run_flite(spk: Speaker, text: str, jitter: float, wav: str, timeout: float = 60) -> None:
    stretch = 1.0 / (spk.rate * jitter)
    f0 = f0_target(spk)
    f0_args = ["--setf", f"int_f0_target_mean={f0:.1f}"] if f0 else []
    subprocess.run(["flite", "-voice", spk.voice, "--setf", f"duration_stretch={stretch:.4f}", *f0_args,
                    "-t", text, "-o", wav], check=True, capture_output=True, timeout=timeout)


def _scm_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def run_festival_batch(spk: Speaker, jobs: list[tuple[str, float, str]], workdir: str,
                       timeout: float = 600) -> None:
    """Synthesise many (text, jitter, wav) with one ``festival -b`` process (start-up dominates)."""
    lines = [f"(voice_{spk.voice})"]
    f0 = f0_target(spk)
    if f0:  # the diphone voices' linear-regression intonation, shifted to the speaker's mean F0
        lines.append(f"(set! int_lr_params '((target_f0_mean {f0:.1f}) (target_f0_std {f0 * 0.14:.1f}) "
                     f"(model_f0_mean 170) (model_f0_std 34)))")
    hts = spk.voice.endswith("_hts")
    for text, jitter, wav in jobs:
        stretch = 1.0 / (spk.rate * jitter)
        if hts:  # HTS ignores Duration_Stretch; hts_engine's -r is its speed factor
            lines.append(f'(set! hts_engine_params (append {spk.voice}::hts_engine_params '
                         f'(list (list "-r" {spk.rate * jitter:.4f}))))')
        lines.append(
            f"(unwind-protect (begin (Parameter.set 'Duration_Stretch {stretch:.4f}) "
            f"(set! u (utt.synth (Utterance Text {_scm_string(text)}))) "
            f"(utt.save.wave u {_scm_string(wav)} 'riff)) nil)")
    script = os.path.join(workdir, "batch.scm")
    with open(script, "w") as f:
        f.write("\n".join(lines) + "\n")
    subprocess.run(["festival", "-b", script], check=False, capture_output=True, timeout=timeout)


def synthesize(spk: Speaker, jobs: list[tuple[str, float, str]], workdir: str) -> None:
    """Write each job's engine output (any rate, mono WAV) to its path; failures leave no file."""
    if spk.engine == "festival":
        run_festival_batch(spk, jobs, workdir)
        return
    if spk.engine in NEURAL_ENGINES:
        from speechstream.data import kokoro_voices, piper_voices

        (kokoro_voices if spk.engine == "kokoro" else piper_voices).synthesize(spk, jobs)
        return
    run = run_espeak if spk.engine == "espeak" else run_flite
    for text, jitter, wav in jobs:
        try:
            run(spk, text, jitter, wav)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
            warnings.warn(f"{spk.id}: {spk.engine} failed on {text!r}: {e}")
