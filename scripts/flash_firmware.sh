#!/usr/bin/env bash
# Build the firmware for a real board and flash it:  scripts/flash_firmware.sh BOARD MODEL
#   MODEL: a .tflite (exported to AOT C first) or a folder already holding model.c/model.h.
# The build goes to ${BUILD:-build/BOARD}. Then talk to it: edgeimpro.link.Device.open("/dev/ttyACM0").
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: $0 BOARD MODEL(.tflite | exported folder)" >&2
  exit 2
fi
BOARD=$1
MODEL=$2
cd "$(dirname "$0")/.."
EI=${EI:-.venv/bin/edgeimpro}
BUILD=${BUILD:-build/$BOARD}
if [ -d "$MODEL" ]; then
  MODEL_DIR=$MODEL
else
  MODEL_DIR=$BUILD/model
  "$EI" export "$MODEL" --target aot -o "$MODEL_DIR"
fi
"$EI" build --board "$BOARD" --target hardware --model-dir "$MODEL_DIR" -o "$BUILD"
"$EI" flash --board "$BOARD" "$BUILD/firmware.elf"
