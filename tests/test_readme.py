"""Every code block of README.md runs as written: the Python ones in a folder laid out like the checkout
(samples/, models/asr_en as a tiny random model, a PulseAudio null sink as the microphone), the shell ones
from the repository root, except the two scripts that are CI itself (setup.sh installs, test.sh runs this
suite). The quick start writes nothing into the checkout."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from asr_helpers import make_model_dir

from tests.pulse import pulse_fixture

ROOT = Path(__file__).resolve().parents[1]
CI_SCRIPTS = ("bash scripts/setup.sh", "bash scripts/test.sh")
pulse_server = pulse_fixture()


def blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", (ROOT / "README.md").read_text(), re.M | re.S)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> Path:  # noqa: ANN001
    d = tmp_path_factory.mktemp("readme")
    (d / "samples").symlink_to(ROOT / "samples")
    make_model_dir(d / "models" / "asr_en")
    return d


def test_the_readme_has_code_blocks() -> None:
    assert len(blocks("python")) >= 3 and len(blocks("bash")) >= 1
    assert set(re.findall(r"^```(\w+)", (ROOT / "README.md").read_text(), re.M)) <= {"python", "bash"}


@pytest.mark.parametrize("index", range(len(blocks("python"))))
def test_python_block_runs(index: int, sandbox: Path, pulse_server) -> None:  # noqa: ANN001
    code = blocks("python")[index]
    env = {**pulse_server.env, "PYTHONPATH": str(ROOT)}
    p = subprocess.run([sys.executable, "-c", code], cwd=sandbox, env=env, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, f"README python block {index + 1} failed:\n{code}\n{p.stderr}"


def test_shell_blocks_run_and_write_nothing_into_the_checkout() -> None:
    before = set(os.listdir(ROOT))
    for block in blocks("bash"):
        for line in block.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            parts = [part.strip() for part in line.split("&&")]
            commands = [part for part in parts if part not in CI_SCRIPTS]
            if not commands:
                continue
            p = subprocess.run(["bash", "-c", " && ".join(commands)], cwd=ROOT, capture_output=True, text=True,
                               timeout=120)
            assert p.returncode == 0, f"README: {line}\n{p.stderr}"
    assert set(os.listdir(ROOT)) <= before
