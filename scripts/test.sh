#!/usr/bin/env bash
# Install what the tests need, then run the whole suite (all tiers but `hardware`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PYTHONDONTWRITEBYTECODE=1 TF_CPP_MIN_LOG_LEVEL=2
.venv/bin/ruff check edgeimpro tests
.venv/bin/python -m pytest -n 2 --dist loadgroup "$@"
