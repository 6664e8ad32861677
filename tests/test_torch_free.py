"""The runtime half never needs torch: every runtime module imports, and every command that only runs models
works, in a Python where `import torch` (and every other training-only package) fails.

Which modules are the runtime half is a rule, so new modules are covered without touching this file:
everything under speechstream/ except the torch halves (any folder named `torch`, plus speechstream/nn and
speechstream/train) and the tools that may use both halves (speechstream/bench, speechstream/data).
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "speechstream"
TORCH_HALVES = ("speechstream.nn", "speechstream.train")  # besides every `torch` folder
TOOLS = ("speechstream.bench", "speechstream.data")
# The runtime's dependencies are pyproject's base list; these come only with the `train` extra.
TRAINING_ONLY = ("torch", "torchaudio", "onnx", "onnxscript", "safetensors", "sentencepiece", "lhotse")
# Runtime modules that may name torch inside a function, and why. Nothing else may, even lazily.
MAY_REACH_TORCH = {
    "speechstream.cli.export": "the `export` command runs the torch export",
    "speechstream.cli.bench": "`bench` compares against torch and says so when it is missing",
    "speechstream.vocoder.vocoder": "drives a torch generator the caller hands it (tests, training)",
}

# Run first in every subprocess: a finder ahead of all others that refuses the training-only packages and
# names the chain of speechstream modules being executed when one was asked for.
BLOCK_TRAINING_ONLY = f"""
import importlib.abc, sys

class _TrainingOnly(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] not in {TRAINING_ONLY!r}:
            return None
        chain, frame = [], sys._getframe(1)
        while frame is not None:
            module = frame.f_globals.get("__name__", "")
            if module.startswith("speechstream") and (not chain or chain[-1] != module):
                chain.append(module)
            frame = frame.f_back
        raise ModuleNotFoundError(f"{{name}} (blocked) reached by " + " -> ".join(reversed(chain)), name=name)

sys.meta_path.insert(0, _TrainingOnly())
"""


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_runtime(name: str) -> bool:
    parts = name.split(".")
    outside = TORCH_HALVES + TOOLS
    return ("torch" not in parts[1:] and name != "speechstream.__main__"
            and not any(name == p or name.startswith(p + ".") for p in outside))


def runtime_modules() -> list[str]:
    return sorted(n for n in map(module_name, PACKAGE.rglob("*.py")) if is_runtime(n))


def run_without_training_packages(code: str, *args: str, **kw) -> subprocess.CompletedProcess:  # noqa: ANN003
    return subprocess.run([sys.executable, "-c", BLOCK_TRAINING_ONLY + code, *args], cwd=REPO,
                          capture_output=True, text=True, **kw)


def test_the_rule_finds_the_runtime_and_leaves_out_the_torch_halves() -> None:
    names = runtime_modules()
    assert {"speechstream.asr.recognizer", "speechstream.vocoder.model_dir", "speechstream.server.app",
            "speechstream.cli.transcribe", "speechstream.audio.fbank"} <= set(names)
    assert not [n for n in names if ".torch" in n or n.startswith(("speechstream.nn", "speechstream.bench"))]


def test_every_runtime_module_imports_without_torch() -> None:
    code = """
import importlib, json, sys
failed = {}
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except Exception as e:
        failed[name] = f"{type(e).__name__}: {e}"
print(json.dumps(failed))
"""
    names = runtime_modules()
    result = run_without_training_packages(code, *names, timeout=300)
    assert result.returncode == 0, result.stderr
    failed = json.loads(result.stdout.strip().splitlines()[-1])
    if failed:
        pytest.fail("runtime modules that need a training-only package:\n" + "\n".join(
            f"  {name}: {why}" for name, why in failed.items()), pytrace=False)


def imported_names(path: Path, module: str) -> set[str]:
    """Every module an import statement anywhere in the file names (inside functions too), made absolute."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([node.module] if node.module else []))
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names)  # `from pkg import module`
    return out


def test_no_runtime_module_imports_the_torch_half_even_lazily() -> None:
    """The import test cannot see an import inside a function; this reads the source instead."""
    offenders = {}
    for path in PACKAGE.rglob("*.py"):
        name = module_name(path)
        if not is_runtime(name) or name in MAY_REACH_TORCH:
            continue
        reached = sorted(n for n in imported_names(path, name)
                         if n.split(".")[0] in ("torch", "torchaudio")
                         or (n.startswith("speechstream.") and not is_runtime(n) and not n.startswith(TOOLS)))
        if reached:
            offenders[name] = reached
    if offenders:
        pytest.fail("runtime modules that import torch or a torch half (add a reason to MAY_REACH_TORCH only "
                    "if it cannot be helped):\n" + "\n".join(f"  {k}: {', '.join(v)}" for k, v in offenders.items()),
                    pytrace=False)


# ---- the commands that only run models, as a user without torch runs them ----
CLI = "import sys; from speechstream.cli import main; sys.exit(main(sys.argv[1:]))"
NO_PULSE = {"PULSE_SERVER": "unix:/nonexistent"}


def speechstream(*args: object, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    result = run_without_training_packages(CLI, *map(str, args), env={**os.environ, **(env or {})},
                                           timeout=timeout)
    assert "blocked" not in result.stderr, result.stderr
    return result


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny ASR model with its runtime graphs and a tiny vocoder directory (made here, with torch)."""
    from asr_helpers import make_model_dir
    from vocoder_helpers import make_generator

    from speechstream.vocoder.torch.checkpoint import save_vocoder_dir

    root = tmp_path_factory.mktemp("models")
    return make_model_dir(root / "asr"), save_vocoder_dir(make_generator(), root / "vocoder")


def test_devices_features_and_transcribe_without_torch(models: tuple[Path, Path], tmp_path: Path) -> None:
    asr, _ = models
    assert speechstream("devices", "--json", env=NO_PULSE).returncode == 0
    result = speechstream("features", REPO / "samples/hello.wav", "--out", tmp_path / "f.npy")
    assert result.returncode == 0, result.stderr
    assert np.load(tmp_path / "f.npy").shape[1] == 80
    result = speechstream("transcribe", REPO / "samples/hello.wav", "--model", asr, "--json",
                          "--decoding", "rnnt-beam")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1])["is_final"]


def test_vocode_without_torch(models: tuple[Path, Path], tmp_path: Path) -> None:
    _, vocoder = models
    result = speechstream("vocode", REPO / "samples/hello.wav", "--out", tmp_path / "v.wav", "--model", vocoder)
    assert result.returncode == 0, result.stderr
    assert sf.info(str(tmp_path / "v.wav")).frames == sf.info(str(REPO / "samples/hello.wav")).frames


def test_mic_loads_its_model_without_torch(models: tuple[Path, Path]) -> None:
    # No input device here: the command gets as far as opening one, with the recognizer loaded.
    result = speechstream("mic", "--model", models[0], "--device", "pulse", env=NO_PULSE)
    assert result.returncode == 2 and "input device" in result.stderr, result.stderr


def test_serve_and_client_without_torch(models: tuple[Path, Path]) -> None:
    server = subprocess.Popen([sys.executable, "-c", BLOCK_TRAINING_ONLY + CLI, "serve", "--model", str(models[0]),
                               "--port", "0"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url, seen = None, []
        for line in server.stdout:  # type: ignore[union-attr]
            seen.append(line)
            if m := re.search(r"listening on (ws://\S+)", line):
                url = m.group(1)
                break
        assert url, "".join(seen)
        result = speechstream("client", REPO / "samples/hello.wav", "--url", url, "--no-realtime", "--json")
        assert result.returncode == 0, result.stderr
        messages = [json.loads(line) for line in result.stdout.splitlines()]
        assert any(isinstance(m, dict) and m.get("is_final") for m in messages), result.stdout
    finally:
        server.terminate()
        server.wait(timeout=30)
