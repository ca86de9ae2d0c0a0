#!/usr/bin/env bash
# Configure and build pgclone in build/ (warnings are errors; fault points
# on, because the test suite drives them).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DPGCLONE_WERROR=ON -DPGCLONE_FAULT_POINTS=ON "$@" >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
echo "built: build/cmd/pgclone, build/lib/libpgclone.so"
