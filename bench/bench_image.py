#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Dump/restore benchmark (not a test): pgclone against cat/dd moving the
same number of bytes, side by side in one run, best of --runs, each after a
warm-up (see bench_copy.py for why).

  dump to tmpfs      pgclone dump -o /dev/shm/img    vs  dd of as many bytes from /proc/PID/mem
                                                         (the range itself when all touched)
  restore from tmpfs pgclone restore -i /dev/shm/img vs  cat /dev/shm/img > /dev/shm/copy
  through a pipe     pgclone dump -o - | pgclone restore -i -
                                                     vs  cat /dev/shm/img | cat > /dev/shm/copy
Usage: bench/bench_image.py [--size 1G] [--runs 3]
"""
import argparse
import os

from benchlib import (DST, PAGE, PGCLONE, VICTIM, Victim, header, parse_size, sh,
                      twin_sum, warm)
from needs import need_built

IMG = "/dev/shm/pgclone-bench.img"
COPY = "/dev/shm/pgclone-bench.copy"


def clean():
    for p in (COPY,):
        if os.path.exists(p):
            os.unlink(p)


def make_source(kind, size):
    """A victim holding @size bytes, every page touched ("anon") or one in
    a hundred ("sparse"): the victim and the address."""
    v = Victim()
    cmd = f"anon {size:#x} 3" if kind == "anon" else f"sparse {size:#x} {100 * PAGE:#x}"
    return v, v.addr(cmd)


def measure(src, addr, size, runs, want):
    """Best of @runs for each operation on [addr, addr + size) of @src,
    whose bytes sum to @want; the image's size too."""
    nbytes = None
    dd_src = None
    res = {k: [] for k in ("dump", "dd", "restore", "cat", "pipe", "catpipe")}
    try:
        for _ in range(runs):
            warm(size)
            res["dump"].append(sh(f"{PGCLONE} dump -q --pid {src.pid} --src {addr:#x} "
                                  f"--len {size:#x} -o {IMG}"))
            nbytes = os.path.getsize(IMG)
            # dd reads as many populated bytes from a process as dump
            # stores; not from a sparse source, whose holes it would fill
            if dd_src is None:
                dd_src = ((src, addr) if nbytes >= size else
                          make_source("anon", (nbytes + PAGE - 1) // PAGE * PAGE))
            warm(size)
            res["dd"].append(sh(f"dd if=/proc/{dd_src[0].pid}/mem of={COPY} bs=4M "
                                f"skip={dd_src[1]} count={min(nbytes, size)} "
                                "iflag=skip_bytes,count_bytes status=none"))
            clean()
            for key in ("restore", "pipe"):
                dst = Victim()
                warm(size)
                if key == "restore":
                    cmd = f"{PGCLONE} restore -q --pid {dst.pid} -i {IMG} --dst {DST:#x}"
                else:
                    cmd = (f"{PGCLONE} dump -q --pid {src.pid} --src {addr:#x} "
                           f"--len {size:#x} -o - | "
                           f"{PGCLONE} restore -q --pid {dst.pid} -i - --dst {DST:#x}")
                res[key].append(sh(cmd))
                assert dst.sum(DST, size) == want
                dst.kill()
            warm(size)
            res["cat"].append(sh(f"cat {IMG} > {COPY}"))
            clean()
            warm(size)
            res["catpipe"].append(sh(f"cat {IMG} | cat > {COPY}"))
            clean()
    finally:
        if dd_src and dd_src[0] is not src:
            dd_src[0].kill()
    return nbytes, {k: min(v) for k, v in res.items()}


def measure_kind(kind, size, runs):
    """measure() on a new make_source()."""
    want = twin_sum(make_source, kind, size)
    src, addr = make_source(kind, size)
    try:
        return measure(src, addr, size, runs, want)
    finally:
        src.kill()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="1G")
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    need_built(PGCLONE, VICTIM)
    size = parse_size(a.size)
    header(f"{size >> 20} MiB; best of {a.runs}")
    print("| range | image bytes | operation | pgclone | cat/dd, same bytes | ratio |")
    print("|---|---|---|---|---|---|")
    for kind, label in (("anon", "touched"), ("sparse", "1% touched")):
        nbytes, r = measure_kind(kind, size, a.runs)
        for op, mine, base, what in (("dump to tmpfs", "dump", "dd", "dd"),
                                     ("restore from tmpfs", "restore", "cat", "cat"),
                                     ("dump \\| restore pipe", "pipe", "catpipe", "cat \\| cat")):
            print(f"| {label} | {nbytes >> 20} MiB | {op} | {r[mine]:.3f} s | "
                  f"{r[base]:.3f} s ({what}) | {r[mine] / max(r[base], 1e-6):.2f}x |", flush=True)
    for p in (IMG, COPY):
        if os.path.exists(p):
            os.unlink(p)


if __name__ == "__main__":
    main()
