#!/usr/bin/env bash
# make demo: real captured clips converted and rendered (when ../shared is present), then the
# ROS 2 graph live: text and speech in, 25 fps frames received in another process, GIF and stats.
set -euo pipefail
VENV=${1:-.venv}
FACELM="$VENV/bin/facelm"
OUT=${DEMO_OUT:-out/demo}
SHARED=${FACELM_SHARED:-../shared}
mkdir -p "$OUT"

if [ -d "$SHARED/realdata" ]; then
  BEAT2="$SHARED/realdata/beat2/2_scott_0_1_1.npz"
  ROM="$SHARED/realdata/livelinkface/alex_rom_3.csv"
else
  echo "demo: ../shared/realdata is absent; using a composed clip instead"
  BEAT2=""; ROM=""
fi

run() { echo "+ $*"; "$@"; }

if [ -n "$BEAT2" ]; then
  run "$FACELM" convert "$BEAT2" -o "$OUT/beat2.npz"
  run "$FACELM" preprocess "$OUT/beat2.npz" -o "$OUT/beat2_clean.npz"
  run "$FACELM" render "$OUT/beat2_clean.npz" -o "$OUT/beat2.gif" --seconds 8
  run "$FACELM" render "$OUT/beat2_clean.npz" -o "$OUT/beat2.png"
  run "$FACELM" convert "$ROM" -o "$OUT/livelink_rom.npz"
  run "$FACELM" render "$OUT/livelink_rom.npz" -o "$OUT/livelink_rom.gif" --seconds 20
  run "$FACELM" render "$OUT/livelink_rom.npz" -o "$OUT/livelink_rom.png"
fi
# The live part: facelm launch + facelm record + a text command and a speech file (facelm/live_demo.py).
run "$FACELM" demo --out "$OUT/live" --shared "$SHARED"
echo "demo: outputs in $OUT"
ls -la "$OUT"
