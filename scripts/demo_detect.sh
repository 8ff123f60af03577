#!/usr/bin/env bash
# Object detection and counting end to end: the crowd demo set (faces in real photos, COCO boxes) -> train
# a FOMO-style centroid detector -> int8 -> firmware on an emulated Cortex-M4 -> compare the board with the
# desktop on unseen images (device == tflite_micro exactly; F1 and count error against the boxes) -> infer.
# Outputs go to ${OUT:-demo-out/detect}/. Takes a few minutes on a 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL=2
EI=.venv/bin/edgeimpro
OUT=${OUT:-demo-out/detect}      # beside demo.sh's outputs (ignored by git)
BOARD=${BOARD:-stm32f405}        # the board the detector is sized for (1 MB flash, 128 KB RAM)
EMU=${EMU:-qemu-m4}              # the emulated board the firmware runs on
rm -rf "$OUT"
mkdir -p "$OUT"

step() { printf '\n==== %s\n' "$*"; }

step "1/5 write the 'crowd' demo set: training split -> $OUT/crowd, unseen test split -> $OUT/crowd-test"
$EI datasets demo crowd "$OUT/crowd" --count ${COUNT:-800} --seed 0
$EI datasets demo crowd "$OUT/crowd-test" --split test --count ${TEST_COUNT:-20} --seed 1

step "2/5 train a FOMO-style detector (96x96 in, 12x12 grid), sized for $BOARD -> $OUT/run"
$EI train "$OUT/crowd" -o "$OUT/run" --task detect --arch fomo --epochs ${EPOCHS:-20} --board "$BOARD" --seed 0 -q

step "3/5 quantize to full int8, measured on the unseen test split -> $OUT/model/model.tflite"
$EI convert "$OUT/run/model.keras" -o "$OUT/model/model.tflite" --eval-data "$OUT/crowd-test"

step "4/5 build, emulate on $EMU and compare with tflite_micro (exact), LiteRT and Keras -> $OUT/compare"
$EI compare --model "$OUT/model/model.tflite" --emulate "$EMU" "$OUT/crowd-test" --keras "$OUT/run/model.keras" \
    --report "$OUT/compare"

step "5/5 infer on the desktop: counts and centroids per image, annotated frames -> $OUT/annotated"
$EI infer "$OUT/model/model.tflite" "$OUT"/crowd-test/crowd_000[0-4].png --save-annotated "$OUT/annotated"
mkdir -p "$OUT/no-card" && cp "$OUT/model/model.tflite" "$OUT/no-card/fomo.tflite"
printf '\na third-party FOMO model without model.json: --task detect reads the grid from its output\n'
$EI infer "$OUT/no-card/fomo.tflite" "$OUT/crowd-test/crowd_0000.png" --task detect --class-names face --json

printf '\ndemo done. outputs:\n'
printf '  datasets       %s (training), %s (compare)\n' "$OUT/crowd" "$OUT/crowd-test"
printf '  training run   %s (model.keras, curves.png, predictions.png, history.csv)\n' "$OUT/run"
printf '  int8 model     %s (model.json beside it)\n' "$OUT/model/model.tflite"
printf '  compare report %s/report.html\n' "$OUT/compare"
printf '  annotated      %s\n' "$OUT/annotated"
