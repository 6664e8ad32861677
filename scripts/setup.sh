#!/usr/bin/env bash
# Installs speechstream into ./.venv.
#   bash scripts/setup.sh          runtime only (numpy + onnxruntime, no torch)
#   bash scripts/setup.sh --dev    + torch/torchaudio, training and test extras, and the Debian
#                                  packages the tests drive (PulseAudio, Chromium, voices, sox)
set -euo pipefail
cd "$(dirname "$0")/.."
dev=0
[[ "${1:-}" == "--dev" ]] && dev=1

APT_PACKAGES=(
  libsndfile1 libportaudio2 libasound2-plugins   # sounddevice reaches PulseAudio through ALSA's pulse plugin
  pulseaudio pulseaudio-utils                    # headless microphone emulation
  chromium                                       # real-browser test of the web page
  espeak-ng flite sox                            # test speech and its conversions
)

if (( dev )) && command -v apt-get >/dev/null; then
  missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  if (( ${#missing[@]} )); then
    sudo=""; [[ $(id -u) -ne 0 ]] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

[[ -x .venv/bin/python ]] || python3 -m venv .venv
py=.venv/bin/python
$py -m pip install -q --upgrade pip
if (( dev )); then
  # The one torch/torchaudio pair that loads together on this CPU-only machine.
  $py -m pip install -q torch==2.14.1 torchaudio==2.11.0
  $py -m pip install -q -e '.[train,dev]'
else
  $py -m pip install -q -e .
fi
