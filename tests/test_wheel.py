"""The wheel users install: `pip wheel .` packs the package and its web page and nothing else (no tests,
recipes or models), and installed into a fresh venv (no torch) the CLI and the Recognizer run.

The wheel is built from a copy of the checkout so that setuptools' build/ folder never lands in the
repository (a stale build/lib would also pack modules that have since moved).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGE = ("speechstream/server/static/index.html", "speechstream/server/static/app.js",
        "speechstream/server/static/worklet.js")


def run(*args: object, **kw) -> subprocess.CompletedProcess:  # noqa: ANN003
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=300, **kw)
    assert result.returncode == 0, f"{' '.join(map(str, args))}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                                capture_output=True, check=True).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("needs a git checkout")
    src = tmp / "src"
    for name in filter(None, listed):
        if (REPO / name).is_file():  # not deleted in the working tree
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, src / name)
    # No build isolation: this venv's setuptools builds it, so nothing is downloaded.
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", tmp / "dist", src)
    (path,) = (tmp / "dist").glob("speechstream-*.whl")
    return path


def test_the_wheel_holds_the_package_and_its_page_and_nothing_else(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    outside = [n for n in names if not n.startswith(("speechstream/", "speechstream-"))]
    assert not outside, f"files outside the package: {outside}"
    assert not [n for n in names if n.startswith("speechstream-") and ".dist-info/" not in n]
    assert set(PAGE) <= set(names)
    sources = {p.relative_to(REPO).as_posix() for p in (REPO / "speechstream").rglob("*.py")}
    assert not sources - set(names), f"modules missing from the wheel (a folder without __init__.py?): " \
                                     f"{sorted(sources - set(names))}"


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheel and the runtime's dependencies only (pyproject's base list)."""
    env = tmp_path_factory.mktemp("venv") / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", env)  # this pip installs into it: no ensurepip wait
    run(sys.executable, "-m", "pip", "--python", env / "bin" / "python", "install", "-q", "--no-compile", wheel)
    return env


def test_the_installed_wheel_runs_without_torch(venv: Path, tmp_path: Path) -> None:
    from asr_helpers import make_model_dir

    # Outside the checkout and with no PYTHONPATH: only the installed package can be imported.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    python, cli = venv / "bin" / "python", venv / "bin" / "speechstream"
    probe = subprocess.run([python, "-c", "import torch"], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert probe.returncode != 0 and "No module named 'torch'" in probe.stderr
    assert "--lookahead-ms" in run(cli, "transcribe", "--help", cwd=tmp_path, env=env).stdout
    where = run(python, "-c", "from speechstream import Recognizer; import speechstream; print(speechstream.__file__)",
                cwd=tmp_path, env=env).stdout.strip()
    assert Path(where).is_relative_to(venv), where
    page = run(python, "-c", "import importlib.resources as r; print((r.files('speechstream.server') / 'static' / "
                             "'index.html').is_file())", cwd=tmp_path, env=env).stdout.strip()
    assert page == "True"
    model = make_model_dir(tmp_path / "model")  # with this venv's torch; the installed one runs it without
    out = run(cli, "transcribe", REPO / "samples" / "hello.wav", "--model", model, "--json", cwd=tmp_path, env=env)
    assert '"is_final": true' in out.stdout
