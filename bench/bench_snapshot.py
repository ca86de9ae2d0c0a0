#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Snapshot benchmark (not a test), issue 14: how long is the source
stopped?  A source holding SIZE bytes, rewritten at 10 MB/s, measures its
own longest stall with a ticker thread (bench/stallvictim.c) while, side
by side in one run, best and worst of --runs each:

  dump        pgclone dump (frozen for the whole dump)
  snapshot    pgclone dump --snapshot (frozen while it forks, and for the
              reap at the end)
  fork        one fork() of the source, made by its ticker thread

The image goes to --out (default /dev/shm; "null": stdout to /dev/null).
Target (issue 14): the snapshot's stall at most 2x the fork's.

Usage: bench/bench_snapshot.py [--size 1G] [--runs 5] [--out DIR|null]
"""
import argparse
import os
import re
import statistics
import subprocess
import time

from benchlib import PGCLONE, header, parse_size, root, warm
from needs import need_built

STALLVICTIM = os.path.join(root, "build", "bench", "stallvictim")
RATE = 10 * 1000 * 1000


class Source:
    def __init__(self, size):
        self.p = subprocess.Popen([STALLVICTIM, str(size), str(RATE)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, bufsize=1)
        if self.p.stdout.readline().strip() != "ready":
            raise SystemExit("stallvictim did not start")
        self.pid = self.p.pid
        self.addr = int(self.cmd("addr"), 16)

    def cmd(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        return self.p.stdout.readline().strip()

    def stall_ms(self):
        """The longest stall since the last call, in ms (less the ticker's
        own 1 ms sleep)."""
        return max(int(self.cmd("stall")) - 1000, 0) / 1000

    def kill(self):
        self.p.kill()
        self.p.wait()


def dump(src, size, out, snapshot):
    """The stall of one dump, and (--snapshot) the freeze -v reports."""
    img = "-" if out == "null" else os.path.join(out, "pgclone-bench-snap.img")
    argv = [PGCLONE, "dump", "-v", "--pid", str(src.pid), "--src", hex(src.addr),
            "--len", hex(size), "-o", img] + (["--snapshot"] if snapshot else [])
    src.stall_ms()
    r = subprocess.run(argv, stdout=subprocess.DEVNULL if out == "null" else subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, check=True)
    time.sleep(0.02)  # the ticker notes the gap at its next tick
    stall = src.stall_ms()
    if img != "-":
        os.unlink(img)
    m = re.search(r"stopped for ([0-9.]+) ms", r.stderr)
    held = re.search(r"it held ([0-9.]+) MiB", r.stderr)
    return stall, float(m[1]) if m else None, float(held[1]) if held else None


def fork(src):
    src.stall_ms()
    us = int(src.cmd("fork"))
    time.sleep(0.02)  # the ticker notes the gap at its next tick
    return src.stall_ms(), us / 1000


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="1G")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", default="/dev/shm")
    args = ap.parse_args()
    need_built(PGCLONE, STALLVICTIM)
    size = parse_size(args.size)
    header(f"{args.size} rewritten at 10 MB/s, image to {args.out}, "
           f"{args.runs} runs each, interleaved")
    # warm() touches twice the size: beyond 2 GiB, as much as the source
    warm(size if size <= 2 << 30 else size // 2)
    src = Source(size)
    rows = {"dump": [], "snapshot": [], "fork": []}
    freeze, held, fork_call = [], [], []
    try:
        for _ in range(args.runs):
            rows["dump"].append(dump(src, size, args.out, False)[0])
            s, f, h = dump(src, size, args.out, True)
            rows["snapshot"].append(s)
            freeze.append(f)
            held.append(h)
            s, f = fork(src)
            rows["fork"].append(s)
            fork_call.append(f)
    finally:
        src.kill()
    base = min(rows["fork"])
    med = statistics.median(rows["fork"])
    print(f"{'case':<10} {'best stall ms':>14} {'median':>8} {'worst':>8} "
          f"{'best / fork':>12} {'median / fork':>14}")
    for name, v in rows.items():
        print(f"{name:<10} {min(v):>14.1f} {statistics.median(v):>8.1f} {max(v):>8.1f} "
              f"{min(v) / base:>12.2f} {statistics.median(v) / med:>14.2f}")
    print(f"# snapshot: pgclone -v says the source was stopped {min(freeze):.1f}-{max(freeze):.1f} ms "
          f"for the fork; the snapshot held {min(held):.1f}-{max(held):.1f} MiB the source "
          f"rewrote meanwhile")
    print(f"# fork(): the call took {min(fork_call):.1f}-{max(fork_call):.1f} ms in the ticker")


if __name__ == "__main__":
    main()
