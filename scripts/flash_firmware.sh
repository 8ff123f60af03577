#!/usr/bin/env bash
# Build the firmware for a real board and flash it:  scripts/flash_firmware.sh BOARD MODEL
#   MODEL: a .tflite (exported to AOT C first) or a folder already holding model.c/model.h.
# The build goes to ${BUILD:-build/BOARD} (relative to where you run it). Then talk to the board:
# edgeimpro.link.Device.open("/dev/ttyACM0").
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: $0 BOARD MODEL(.tflite | exported folder)" >&2
  exit 2
fi
BOARD=$1
MODEL=$2
REPO=$(cd "$(dirname "$0")/.." && pwd)
EI=${EI:-$REPO/.venv/bin/edgeimpro}
BUILD=${BUILD:-build/$BOARD}
if [ -d "$MODEL" ]; then
  "$EI" build --board "$BOARD" --target hardware --model-dir "$MODEL" -o "$BUILD"
else
  "$EI" build --board "$BOARD" --target hardware --model "$MODEL" -o "$BUILD"
fi
"$EI" flash --board "$BOARD" "$BUILD/firmware.elf"
