#!/usr/bin/env bash
# Set up a fresh Debian machine (as root) for edgeimpro: the Arm toolchain, QEMU, and a venv in .venv.
# Idempotent: a second run with nothing changed takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm gcc g++ make cmake ninja-build)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]} (apt)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PYTHON" -m venv .venv
  .venv/bin/pip install -q --upgrade pip
fi

# Reinstall only when the dependency list changed.
stamp=.venv/.edgeimpro-deps
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing edgeimpro[train,pi,dev] into .venv"
  if ! .venv/bin/pip install -q --pre -e ".[train,pi,dev]" > .venv/pip-install.log 2>&1; then
    tail -n 30 .venv/pip-install.log
    echo "setup: pip install failed (full log: .venv/pip-install.log)" >&2
    exit 1
  fi
  echo "$want" > "$stamp"
fi
echo "setup: ready (.venv/bin/edgeimpro)"
