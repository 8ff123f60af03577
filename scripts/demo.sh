#!/usr/bin/env bash
# The main job, end to end: demo dataset -> train -> int8 convert -> inspect -> export (TFLM and AOT C).
# Outputs go to ${OUT:-demo-out}/. Takes a few minutes on a 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL=2
EI=.venv/bin/edgeimpro
OUT=${OUT:-demo-out}
BOARD=${BOARD:-stm32f405}
rm -rf "$OUT"
mkdir -p "$OUT"

step() { printf '\n==== %s\n' "$*"; }

step "1/5 write the 'shapes' demo dataset (96x96 RGB, 3 classes) -> $OUT/shapes"
$EI datasets demo shapes "$OUT/shapes"

step "2/5 train the seed-cnn for board $BOARD -> $OUT/run"
$EI train "$OUT/shapes" -o "$OUT/run" --arch seed-cnn --input-size 96x96 --epochs ${EPOCHS:-12} \
    --patience 4 --board "$BOARD" --seed 1

step "3/5 quantize to full int8 -> $OUT/model/model.tflite"
$EI convert "$OUT/run/model.keras" -o "$OUT/model/model.tflite"

step "4/5 inspect: per-layer MACs, flash, RAM, fit on $BOARD"
$EI inspect "$OUT/model/model.tflite" --board "$BOARD"

step "5/5 export C++ for TensorFlow Lite Micro firmware -> $OUT/tflm"
$EI export "$OUT/model/model.tflite" --target tflm -o "$OUT/tflm"

printf '\ndemo done. outputs:\n'
printf '  dataset        %s\n' "$OUT/shapes"
printf '  training run   %s (model.keras, curves.png, confusion.png, history.csv)\n' "$OUT/run"
printf '  int8 model     %s\n' "$OUT/model/model.tflite"
printf '  TFLM export    %s\n' "$OUT/tflm"
