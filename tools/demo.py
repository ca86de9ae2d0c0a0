#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""pgclone demo: start two live processes, fill 64 MiB in the first with a
pattern, clone that mapping into the second with pgclone, and verify the
copy byte for byte, both through /proc/PID/mem and as the process reads it.
"""
import hashlib
import json
import os
import subprocess
import sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(root, "test", "integration"))
os.environ.setdefault("PGCLONE", os.path.join(root, "build", "cmd", "pgclone"))
os.environ.setdefault("VICTIM", os.path.join(root, "build", "test", "integration",
                                             "pgclone-victim"))
from harness import PGCLONE, Victim  # noqa: E402

LEN = 64 << 20


def main():
    src, dst = Victim(), Victim()
    try:
        addr = src.addr(f"anon {LEN:#x} 42")
        print(f"source      PID {src.pid}: 64 MiB of private anonymous memory at {addr:#x}, filled")
        print(f"destination PID {dst.pid}: a separate process, nothing mapped there yet")
        target = 0x500000000000
        argv = [PGCLONE, "--pid", str(src.pid), "--src", hex(addr), "--len", "64M",
                "--target", str(dst.pid), "--dst", hex(target)]
        print("$ " + " ".join(argv))
        r = subprocess.run(argv, capture_output=True, text=True)
        sys.stdout.write(r.stdout)
        if r.returncode:
            sys.stderr.write(r.stderr)
            return 1
        a, b = src.read(addr, LEN), dst.read(target, LEN)
        same = a == b
        print(f"verify: /proc/{src.pid}/mem sha256 {hashlib.sha256(a).hexdigest()[:16]}, "
              f"/proc/{dst.pid}/mem sha256 {hashlib.sha256(b).hexdigest()[:16]}: "
              f"{'identical' if same else 'DIFFERENT'} ({LEN} bytes)")
        sa, sb = src.sum(addr, LEN), dst.sum(target, LEN)
        print(f"verify: the processes themselves read checksums {sa} and {sb}")
        print(f"both processes alive: {src.alive() and dst.alive()}")
        print(f"destination mapping: {dst.vma_at(target)}")
        return 0 if same and sa == sb else 1
    finally:
        src.kill()
        dst.kill()


if __name__ == "__main__":
    sys.exit(main())
