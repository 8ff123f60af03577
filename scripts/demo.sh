#!/usr/bin/env bash
# The main job, end to end: demo dataset -> train -> int8 -> inspect -> export (TFLM and AOT C) ->
# firmware for an emulated Cortex-M4 -> benchmark -> compare the board with the desktop, image by image.
# Outputs go to ${OUT:-demo-out}/. Takes a few minutes on a 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL=2
EI=.venv/bin/edgeimpro
OUT=${OUT:-demo-out}
BOARD=${BOARD:-stm32f405}        # the board the model is sized for (1 MB flash, 128 KB RAM)
EMU=${EMU:-qemu-m4}              # the emulated board the firmware runs on
rm -rf "$OUT"
mkdir -p "$OUT"

step() { printf '\n==== %s\n' "$*"; }

step "1/8 write the 'shapes' demo dataset (96x96 RGB, 3 classes) -> $OUT/shapes"
$EI datasets demo shapes "$OUT/shapes" --count ${COUNT:-300}

step "2/8 train the seed-cnn, sized for $BOARD -> $OUT/run"
$EI train "$OUT/shapes" -o "$OUT/run" --arch seed-cnn --input-size 64x64 --epochs ${EPOCHS:-30} \
    --patience 8 --board "$BOARD" --seed 0

step "3/8 quantize to full int8 -> $OUT/model/model.tflite"
$EI convert "$OUT/run/model.keras" -o "$OUT/model/model.tflite"

step "4/8 inspect: per-layer MACs, flash, RAM, fit on $BOARD"
$EI inspect "$OUT/model/model.tflite" --board "$BOARD"

step "5/8 export C++ for TensorFlow Lite Micro firmware -> $OUT/tflm, and AOT C -> $OUT/aot"
$EI export "$OUT/model/model.tflite" --target tflm -o "$OUT/tflm"
$EI export "$OUT/model/model.tflite" --target aot -o "$OUT/aot"

step "6/8 build the firmware for $EMU -> $OUT/firmware"
$EI build --board "$EMU" --model-dir "$OUT/aot" -o "$OUT/firmware"

step "7/8 benchmark on the emulated $EMU: flash, RAM, instructions per inference, link"
$EI bench "$OUT/model/model.tflite" --board "$EMU" --inputs 3

step "8/8 compare the emulated board with the desktop on unseen images (the test split) -> $OUT/compare"
$EI datasets demo shapes "$OUT/test-shapes" --count ${TEST_COUNT:-20} --split test
$EI compare --model "$OUT/model/model.tflite" --emulate "$EMU" "$OUT/test-shapes" --layers --report "$OUT/compare"

printf '\ndemo done. outputs:\n'
printf '  datasets       %s (training), %s (compare)\n' "$OUT/shapes" "$OUT/test-shapes"
printf '  training run   %s (model.keras, curves.png, confusion.png, history.csv)\n' "$OUT/run"
printf '  int8 model     %s (model.json beside it)\n' "$OUT/model/model.tflite"
printf '  TFLM export    %s\n' "$OUT/tflm"
printf '  AOT C export   %s\n' "$OUT/aot"
printf '  firmware       %s/firmware.elf\n' "$OUT/firmware"
printf '  compare report %s/report.html\n' "$OUT/compare"
