#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""What a SIGKILL of pgclone (which nothing can catch) could leave behind
in a copy-engine clone, and for how long.  A fault-point build
(-DPGCLONE_FAULT_POINTS=ON) records when each step is passed
(PGCLONE_FAULT_TIMES).  Two windows:
  - the destination range itself changing: from 'finished' (everything
    built and filled aside) to 'committed' (moved into place, scratch
    gone): a kill there can leave some ranges in place and some not;
  - the target holding pgclone's temporary mappings (the staging
    reservation, a scratch page) away from the destination: from
    'seized' to 'committed'.
Not a test: it prints a table.

    python3 bench/kill_window.py [--build build] [--runs 5]
"""
import argparse
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "test", "integration"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    os.environ["PGCLONE"] = os.path.abspath(f"{args.build}/cmd/pgclone")
    os.environ["VICTIM"] = os.path.abspath(f"{args.build}/test/integration/pgclone-victim")
    import harness
    from harness import Victim

    print("| range | whole clone | destination range changing (finished -> committed) "
          "| temporary mappings in the target (seized -> committed) |")
    print("|---|---|---|---|")
    for size in (4096, 1 << 20, 64 << 20, 1 << 30):
        totals, windows, places = [], [], []
        for _ in range(args.runs):
            a, b = Victim(), Victim()
            addr = a.addr(f"anon {size:#x} 3")
            with tempfile.NamedTemporaryFile(delete=False) as t:
                times = t.name
            start = harness.time.monotonic_ns()
            r = subprocess.run([harness.PGCLONE, "--pid", str(a.pid), "--src", hex(addr),
                                "--len", hex(size), "--target", str(b.pid),
                                "--dst", hex(0x500000000000), "--engine", "copy", "-q"],
                               env=dict(os.environ, PGCLONE_FAULT_TIMES=times),
                               capture_output=True, text=True)
            end = harness.time.monotonic_ns()
            if r.returncode:
                sys.exit(r.stderr)
            pts = {}
            with open(times) as f:
                for line in f:
                    name, ns = line.split()
                    pts.setdefault(name, int(ns))
            os.unlink(times)
            windows.append(pts["committed"] - pts["seized"])
            places.append(pts["committed"] - pts["finished"])
            totals.append(end - start)
            a.kill()
            b.kill()
        med = lambda v: sorted(v)[len(v) // 2]
        w, t, p = med(windows), med(totals), med(places)
        print(f"| {size >> 10} KiB | {t / 1e6:.2f} ms | {p / 1e3:.0f} us | {w / 1e6:.2f} ms |")


if __name__ == "__main__":
    main()
