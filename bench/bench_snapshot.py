#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Snapshot benchmark (not a test), issue 14: how long is the source
stopped?  A source holding SIZE bytes, rewritten at 10 MB/s, measures its
own longest stall with a ticker thread (bench/stallvictim.c) while, side
by side in one run, best and worst of --runs each:

  dump        pgclone dump (frozen for the whole dump)
  snapshot    pgclone dump --snapshot (frozen while it forks, and for the
              reap at the end); with --engines, one row per engine:
              snapshot-copy (that fork) and snapshot-kernel (frozen while
              process_vm_mmap(2) copies the page tables to a helper, on
              the patched kernel: kernel/bench.sh snapshot)
  fork        one fork() of the source, made by its ticker thread

The image goes to --out (default /dev/shm; "null": stdout to /dev/null).
Target (issue 14): the snapshot's stall at most 2x the fork's.

Usage: bench/bench_snapshot.py [--size 1G] [--runs 5] [--out DIR|null]
                               [--engines copy,kernel]
"""
import argparse
import os
import re
import statistics
import subprocess
import time

from benchlib import PGCLONE, header, parse_size, root, warm
from needs import need_built

STALLVICTIM = os.environ.get("STALLVICTIM", os.path.join(root, "build", "bench", "stallvictim"))
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


def dump(src, size, out, engine):
    """The stall of one dump, and (with a snapshot @engine) the freeze -v
    reports."""
    img = "-" if out == "null" else os.path.join(out, "pgclone-bench-snap.img")
    argv = [PGCLONE, "dump", "-v", "--pid", str(src.pid), "--src", hex(src.addr),
            "--len", hex(size), "-o", img]
    if engine:
        argv += ["--snapshot"] + (["--engine", engine] if engine != "default" else [])
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
    ap.add_argument("--engines", default="default",
                    help="snapshot engines, comma-separated: copy, kernel (default: "
                         "pgclone's choice)")
    args = ap.parse_args()
    engines = args.engines.split(",")
    need_built(PGCLONE, STALLVICTIM)
    size = parse_size(args.size)
    header(f"{args.size} rewritten at 10 MB/s, image to {args.out}, "
           f"{args.runs} runs each, interleaved")
    # warm() touches twice the size: beyond 2 GiB, as much as the source
    warm(size if size <= 2 << 30 else size // 2)
    src = Source(size)
    name = {e: "snapshot" if e == "default" else f"snapshot-{e}" for e in engines}
    rows = {"dump": [], **{name[e]: [] for e in engines}, "fork": []}
    freeze = {e: [] for e in engines}
    held = {e: [] for e in engines}
    fork_call = []
    try:
        for _ in range(args.runs):
            rows["dump"].append(dump(src, size, args.out, None)[0])
            for e in engines:
                s, f, h = dump(src, size, args.out, e)
                rows[name[e]].append(s)
                freeze[e].append(f)
                held[e].append(h)
            s, f = fork(src)
            rows["fork"].append(s)
            fork_call.append(f)
    finally:
        src.kill()
    base = min(rows["fork"])
    med = statistics.median(rows["fork"])
    print(f"{'case':<16} {'best stall ms':>14} {'median':>8} {'worst':>8} "
          f"{'best / fork':>12} {'median / fork':>14}")
    for case, v in rows.items():
        print(f"{case:<16} {min(v):>14.1f} {statistics.median(v):>8.1f} {max(v):>8.1f} "
              f"{min(v) / base:>12.2f} {statistics.median(v) / med:>14.2f}")
    for e in engines:
        fr = [x for x in freeze[e] if x is not None]
        hd = [x for x in held[e] if x is not None]
        if fr and hd:
            print(f"# {name[e]}: pgclone -v says the source was stopped "
                  f"{min(fr):.1f}-{max(fr):.1f} ms for the snapshot; it held "
                  f"{min(hd):.1f}-{max(hd):.1f} MiB the source rewrote meanwhile")
    print(f"# fork(): the call took {min(fork_call):.1f}-{max(fork_call):.1f} ms in the ticker")


if __name__ == "__main__":
    main()
