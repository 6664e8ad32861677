#!/usr/bin/env bash
# Installs everything the tests need (Debian and PyPI packages) and runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
exec .venv/bin/python -m pytest -q "$@"
