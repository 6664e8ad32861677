#!/usr/bin/env bash
# Installs speechstream into ./.venv (Debian/Ubuntu; apt steps run only where apt-get exists).
#   bash scripts/setup.sh          the runtime: numpy + onnxruntime, no torch
#   bash scripts/setup.sh --dev    + torch/torchaudio, the training and test extras, and the Debian
#                                  packages the tests drive (PulseAudio, Chromium, voices, sox)
set -euo pipefail
cd "$(dirname "$0")/.."
dev=0
[[ "${1:-}" == "--dev" ]] && dev=1

apt_packages=(libportaudio2 libasound2-plugins)   # sounddevice; ALSA's pulse plugin reaches PulseAudio
(( dev )) && apt_packages+=(
  pulseaudio pulseaudio-utils   # headless microphone emulation
  chromium                      # real-browser test of the web page
  espeak-ng flite sox           # test speech and its conversions
  nginx-light                   # the load-balancer test (scripts/nginx)
)
python3 -m venv --help >/dev/null 2>&1 || apt_packages+=(python3-venv)

if command -v apt-get >/dev/null; then
  missing=()
  for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  if (( ${#missing[@]} )); then
    sudo=""; [[ $(id -u) -ne 0 ]] && sudo="sudo"
    echo "setup: apt-get install ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

[[ -x .venv/bin/python ]] || python3 -m venv .venv
py=.venv/bin/python
$py -m pip install -q --upgrade pip
if (( dev )); then
  # The torch/torchaudio pair that loads together on CPU-only machines here (see README).
  $py -m pip install -q torch==2.14.1 torchaudio==2.11.0
  $py -m pip install -q -e '.[train,dev]'
  $py -m pip install -q --no-deps 'resemblyzer>=0.1.4'   # see pyproject's train extra
  # Kokoro's English voice packs (npm kokoro-js, Apache-2.0) for the corpus engine and its tests; without
  # npm the Kokoro tests skip. Fetched once into ~/.cache/speechstream/kokoro-js/voices.
  if command -v npm >/dev/null && ! $py -m speechstream.data.kokoro check >/dev/null 2>&1; then
    $py -m speechstream.data.kokoro fetch-voices || echo "setup: Kokoro voices not fetched (tests will skip)"
  fi
else
  $py -m pip install -q -e '.[plot]'
fi
