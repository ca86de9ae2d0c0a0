#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Live migration benchmark (not a test), issue 15: how long is the
source stopped when it is moved through ssh?  A source holding SIZE
bytes, rewritten at 10 MB/s, measures its own longest stall with a
ticker thread (bench/stallvictim.c) while, side by side in one run,
best and worst of --runs each:

  frozen   pgclone dump -o - | ssh ... pgclone restore -i -
           (the source stopped for the whole dump)
  live     pgclone dump --live -o - | ssh ... pgclone restore -i -
           (stopped per round to read and re-arm tracking, then for the
           final round)

ssh is an sshd of the benchmark's own on 127.0.0.1 (test/integration/
sshd.py).  Each restore goes into a fresh process.  Target (issue 15): the
live stall at most 0.05x the frozen one.

Tracking is what the library chooses (--track-method auto): the
kernel's soft-dirty bits where it keeps them, else uffd-wp's asynchronous
mode; --track-method asks for one.  --emulate uses the fault-point
build's stand-in for soft-dirty instead (PGCLONE_FAULT_SOFTDIRTY=emulate,
tools/build.sh builds with fault points), as before uffd-wp: it hashes
every page of the range in each stop, so its stalls say what the
emulation costs, not what tracking costs.  The output says which one ran,
and splits the final round's stop into its scan (finding the written
pages) and its write.  uffd-wp tracking ends after the stream, in short
stops of their own (the source's stall measures them too): the output
says how many and the longest.

Usage: bench/bench_live.py [--size 1G] [--runs 3] [--max-downtime MS]
                           [--track-method HOW | --emulate]
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time

from benchlib import PGCLONE, Victim, header, parse_size, root, warm
from bench_snapshot import STALLVICTIM, Source
from needs import need_built
from sshd import Sshd
from test_uffdwp import SOFT_DIRTY, UFFD_WP

DST = 0x500000000000


def move(src, size, sshd, env, live, extra):
    """One dump | ssh restore: the source's longest stall in ms, and the
    dump's --json (live: its rounds)."""
    dst = Victim()
    try:
        dump = (f"{PGCLONE} dump -v --json --pid {src.pid} --src {src.addr:#x} --len {size:#x}"
                + (" --live " + " ".join(extra) if live else "") + " -o -")
        cmd = (f"{dump} 2>{sshd.dir}/dump.json | {sshd.ssh} {PGCLONE} restore -q "
               f"--pid {dst.pid} -i - --dst {DST:#x}")
        src.stall_ms()
        t = time.perf_counter()
        subprocess.run(["bash", "-o", "pipefail", "-c", cmd], check=True,
                       env=dict(os.environ, **env))
        wall = time.perf_counter() - t
        time.sleep(0.02)  # the ticker notes the gap at its next tick
        stall = src.stall_ms()
        with open(f"{sshd.dir}/dump.json") as f:
            err = f.read()
        j = json.loads(err.strip().splitlines()[-1])
        walk = re.search(r"phase scan: ([0-9.]+) ms", err)
        j["walk_ms"] = float(walk[1]) if walk else None
        untrack = re.search(r"after the stream in (\d+) stops, the longest ([0-9.]+) ms", err)
        j["untrack"] = (int(untrack[1]), float(untrack[2])) if untrack else None
        return stall, wall, j
    finally:
        dst.kill()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="1G")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--max-downtime", default=None)
    ap.add_argument("--track-method", choices=("auto", "soft-dirty", "uffd-wp"),
                    default="auto")
    ap.add_argument("--emulate", action="store_true",
                    help="the fault-point build's stand-in for soft-dirty")
    args = ap.parse_args()
    need_built(PGCLONE, STALLVICTIM)
    size = parse_size(args.size)
    method = args.track_method
    if args.emulate:
        method = "soft-dirty"
    elif method == "auto":
        method = "soft-dirty" if SOFT_DIRTY else "uffd-wp" if UFFD_WP else "none"
    how = ("the fault-point build's EMULATED soft-dirty" if args.emulate else
           {"soft-dirty": "the kernel's soft-dirty bits",
            "uffd-wp": "the kernel's uffd-wp (asynchronous mode)"}.get(method, method))
    header(f"{args.size} rewritten at 10 MB/s, through ssh on 127.0.0.1, "
           f"{args.runs} runs each, interleaved; tracking: {how}")
    warm(size if size <= 2 << 30 else size // 2)
    work = tempfile.mkdtemp(prefix="pgclone-bench-live-")
    env = {"PGCLONE_RUNTIME_DIR": os.path.join(work, "run"),
           "PGCLONE_FAULT_SOFTDIRTY": "emulate" if args.emulate else ""}
    extra = ["--max-downtime", args.max_downtime] if args.max_downtime else []
    if args.emulate or args.track_method != "auto":
        extra += ["--track-method", method]
    sshd = Sshd(work, env)
    src = Source(size)
    rows = {"frozen": [], "live": []}
    walls = {"frozen": [], "live": []}
    rounds, finals, walks = [], [], []
    try:
        for _ in range(args.runs):
            s, w, fj = move(src, size, sshd, env, False, extra)
            walks.append(fj["walk_ms"])
            rows["frozen"].append(s)
            walls["frozen"].append(w)
            s, w, j = move(src, size, sshd, env, True, extra)
            rows["live"].append(s)
            walls["live"].append(w)
            rounds.append(j["rounds"])
            finals.append(dict(j["rounds"][-1], untrack=j["untrack"]))
    finally:
        src.kill()
        sshd.stop()
        shutil.rmtree(work, ignore_errors=True)
    base = min(rows["frozen"])
    med = statistics.median(rows["frozen"])
    print(f"{'case':<8} {'best stall ms':>14} {'median':>8} {'worst':>8} "
          f"{'best / frozen':>14} {'median / frozen':>16} {'wall s':>7}")
    for name, v in rows.items():
        print(f"{name:<8} {min(v):>14.1f} {statistics.median(v):>8.1f} {max(v):>8.1f} "
              f"{min(v) / base:>14.3f} {statistics.median(v) / med:>16.3f} "
              f"{statistics.median(walls[name]):>7.1f}")
    for i, r in enumerate(rounds):
        stops = ", ".join(f"{x['stopped_ms']:.0f}" for x in r)
        print(f"# live run {i + 1}: {len(r)} rounds, {sum(x['bytes'] for x in r) >> 20} MiB "
              f"sent; stopped per round (ms): {stops}; final round {finals[i]['pages']} "
              f"pages; dirty rate {r[-1]['dirty_rate_mbs']:.1f} MB/s"
              + (f"; tracking ended after the stream in {finals[i]['untrack'][0]} stops, "
                 f"the longest {finals[i]['untrack'][1]:.1f} ms" if finals[i]["untrack"] else ""))
    # the final round's stop: finding the written pages, then writing them
    scan = [f["scan_ms"] for f in finals]
    write = [f["stopped_ms"] - f["scan_ms"] for f in finals]
    print(f"# final round stop = finding written pages {min(scan):.0f}-{max(scan):.0f} ms "
          f"+ writing them {min(write):.0f}-{max(write):.0f} ms; the write alone is "
          f"{min(write) / base:.3f}x the frozen stall")
    if args.emulate and None not in walks:
        # what a kernel's tracking would stop the source for: its page
        # walk (a frozen dump's scan phase, -v) and the final write
        proj = min(walks) + min(write)
        print(f"# NOT MEASURED, a projection for real tracking: page walk of the range "
              f"{min(walks):.0f} ms (the frozen dump's scan phase) + final write "
              f"{min(write):.0f} ms = {proj:.0f} ms, {proj / base:.3f}x the frozen stall")


if __name__ == "__main__":
    main()
