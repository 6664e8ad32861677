#!/usr/bin/env bash
# Rebuilds everything the ASR recipe trains and scores on, on a fresh build machine, in one command:
#   the Debian-voice corpus (30 h + dev/test), the held-out Kokoro dev/test voices, and the Fbank features of
#   both plus the Kokoro training corpus (the shared kokoro_en_v1 when present; else the recipe makes one).
# Niced and resumable: every step skips what exists, so a rerun after a kill continues.
#
#   setsid nohup bash recipes/asr/synth_en/rebuild.sh > /work/data/rebuild.log 2>&1 < /dev/null &
#
# Environment: DATA (default /work/data), KOKORO_CORPUS (default /work/shared/corpora/kokoro_en_v1),
# KOKORO_HOURS (hours of Kokoro training speech to make when KOKORO_CORPUS is absent; default 4),
# WORKERS (default 4). Measured on the 2-core build machine beside a 1-thread training job: corpus 24 min
# (76x real time), held-out Kokoro 31 min (2.2x real time, one onnxruntime thread), features ~15 min.
set -euo pipefail
cd "$(dirname "$0")/../../.."
DATA=${DATA:-/work/data}
KOKORO_CORPUS=${KOKORO_CORPUS:-/work/shared/corpora/kokoro_en_v1}
KOKORO_HOURS=${KOKORO_HOURS:-4}
WORKERS=${WORKERS:-4}
export OMP_WAIT_POLICY=PASSIVE   # never spin against the training job on the other core
py="nice -n 10 .venv/bin/python"
recipe=recipes/asr/synth_en
mkdir -p "$DATA"

debian=(festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts libsox-fmt-all
        wordnet-base fortunes fortunes-min sword-text-web diatheke wamerican)
if command -v apt-get >/dev/null && ! dpkg-query -W "${debian[@]}" >/dev/null 2>&1; then
  sudo=""; [[ $(id -u) -ne 0 ]] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${debian[@]}" >/dev/null
fi

# 1. speech
$py $recipe/prepare.py --out "$DATA/synth_en" --hours 30 --dev-hours 0.5 --test-hours 0.75 --workers "$WORKERS"
$py $recipe/prepare.py --out "$DATA/kokoro_heldout" --engines kokoro --hours 0.65 --dev-hours 0.25 \
    --test-hours 0.4 --workers 1
if [[ ! -f "$KOKORO_CORPUS/cuts_train.jsonl.gz" ]]; then
  KOKORO_CORPUS="$DATA/kokoro_train"
  $py $recipe/prepare.py --out "$KOKORO_CORPUS" --engines kokoro --hours "$KOKORO_HOURS" --dev-hours 0 \
      --test-hours 0 --workers 2
fi

# 2. features: Debian train without speed copies (Kokoro's 0.9x/1.1x copies carry the rate variety)
$py $recipe/compute_features.py --corpus "$DATA/synth_en" --out "$DATA/synth_en_fbank" --jobs 2 --speed-perturb ''
$py $recipe/compute_features.py --corpus "$KOKORO_CORPUS" --out "$DATA/kokoro_fbank" --splits train \
    --speed-perturb 0.9,1.1 --jobs 2
$py $recipe/compute_features.py --corpus "$DATA/kokoro_heldout" --out "$DATA/kokoro_fbank" \
    --splits dev,test,test_aug --speed-perturb '' --jobs 2

# 3. one dev set for training-time scoring: the Debian dev voices and the held-out Kokoro dev voices
$py - "$DATA" <<'EOF'
import sys
from pathlib import Path
from lhotse import CutSet
data = Path(sys.argv[1])
out = data / "dev_mix.jsonl.gz"
if not out.is_file():
    cuts = CutSet.from_file(data / "synth_en_fbank/cuts_dev.jsonl.gz") + \
        CutSet.from_file(data / "kokoro_fbank/cuts_dev.jsonl.gz")
    cuts.to_file(out.with_name("tmp-" + out.name))
    out.with_name("tmp-" + out.name).rename(out)
print(f"rebuild: done; dev mix {out}")
EOF
