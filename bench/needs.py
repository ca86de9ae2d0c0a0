# SPDX-License-Identifier: GPL-2.0-or-later
"""What a benchmark needs before it starts: one line naming what is
missing and how to get it, instead of a traceback halfway through a run."""
import os
import shutil
import sys


def _die(msg):
    sys.exit(f"{os.path.basename(sys.argv[0])}: {msg}")


def need_built(*paths):
    missing = [p for p in paths if not os.access(p, os.X_OK)]
    if missing:
        _die(f"not built: {' '.join(missing)} (run tools/install-deps.sh && tools/build.sh)")


def need_command(cmd, package, otherwise=""):
    if not shutil.which(cmd):
        _die(f"{cmd} missing: apt-get install {package}{otherwise}")
