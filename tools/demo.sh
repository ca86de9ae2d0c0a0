#!/usr/bin/env bash
# Install dependencies, build, and clone a populated range between two live
# processes, verifying it byte for byte.  Needs root (ptrace, apt-get).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
tools/build.sh
exec python3 tools/demo.py
