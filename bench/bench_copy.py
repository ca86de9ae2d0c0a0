#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Copy-engine benchmark (not a test): the same ranges cloned three ways in
one run, best of --runs, with the ratio to the bare copy.

  pgclone      pgclone --engine copy (creates the mapping, copies present pages)
  bare         pvcopy: process_vm_readv + process_vm_writev into fresh pages
               the destination already has (mapping creation not counted)
  gdb          gdb -p SRC 'dump memory' to tmpfs, gdb -p DST 'call mmap' + 'restore'

Usage: bench/bench_copy.py [--size 1G] [--runs 3] [--no-gdb]
"""
import argparse
import subprocess
import tempfile
import time

from benchlib import (DST, PAGE, PGCLONE, PVCOPY, VICTIM, Victim, clone_time,
                      header, parse_size, timed, twin_sum, warm)
from needs import need_built, need_command

HPAGE = 2 << 20


def make_source(kind, size):
    v = Victim()
    if kind == "4k":
        addr = v.addr(f"anon {size:#x} 3")
        v.ok(f"advise {addr:#x} {size:#x} nohugepage")
    elif kind == "thp":
        addr = v.addr(f"thp {size:#x}")
    else:   # 1% of the pages touched
        addr = v.addr(f"sparse {size:#x} {100 * PAGE:#x}")
    return v, addr


def run_bare(src, addr, size, want=None, huge=False):
    """Seconds pvcopy takes; @want as clone_time()'s.  It reads every page
    of the range, so it fills a sparse source's holes: give it a source of
    its own.  With @huge, into huge pages (MADV_HUGEPAGE, 2 MiB-aligned),
    as pgclone clones a THP source."""
    dst = Victim()
    try:
        # fresh, never touched pages; with no pagemap it copies every page
        daddr = dst.addr(f"reserve {size + HPAGE:#x}")
        if huge:
            daddr = (daddr + HPAGE - 1) & ~(HPAGE - 1)
            dst.ok(f"advise {daddr:#x} {size:#x} hugepage")
        t = timed([PVCOPY, src.pid, hex(addr), dst.pid, hex(daddr), size])
        assert dst.sum(daddr, size) == (want or src.sum(addr, size))
        return t
    finally:
        dst.kill()


def run_bare_fresh(kind, size, want):
    """run_bare() on a new make_source(kind, size), which it fills."""
    src, addr = make_source(kind, size)
    try:
        return run_bare(src, addr, size, want)
    finally:
        src.kill()


def run_gdb(src, addr, size):
    dst = Victim()
    try:
        with tempfile.NamedTemporaryFile(dir="/dev/shm") as f:
            t = time.perf_counter()
            subprocess.run(["gdb", "-nx", "-batch", "-p", str(src.pid), "-ex",
                            f"dump binary memory {f.name} {addr:#x} {addr + size:#x}"],
                           check=True, capture_output=True)
            subprocess.run(["gdb", "-nx", "-batch", "-p", str(dst.pid), "-ex",
                            f"call (long)mmap({DST:#x}, {size}, 3, 0x100022, -1, 0)",
                            "-ex", f"restore {f.name} binary {DST:#x}"],
                           check=True, capture_output=True)
            t = time.perf_counter() - t
        assert dst.sum(DST, size) == src.sum(addr, size)
        return t
    finally:
        dst.kill()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="1G")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-gdb", action="store_true")
    a = ap.parse_args()
    need_built(PGCLONE, VICTIM, PVCOPY)
    if not a.no_gdb:
        need_command("gdb", "gdb", " (or run with --no-gdb)")
    size = parse_size(a.size)
    header(f"{size >> 20} MiB; best of {a.runs}")
    print("| range | pgclone copy | bare readv+writev | gdb | pgclone / bare bandwidth |")
    print("|---|---|---|---|---|")
    for kind, label in (("4k", "touched, 4 KiB pages"), ("thp", "touched, THP"),
                        ("sparse", "1% touched")):
        # a sparse source stays sparse: nothing but pgclone reads it (gdb
        # last), or every round after the first would copy the whole range
        want = twin_sum(make_source, kind, size) if kind == "sparse" else None
        src, addr = make_source(kind, size)
        try:
            pg, bare = [], []
            for _ in range(a.runs):     # interleaved, each after a warm-up
                warm(size)
                pg.append(clone_time(src, addr, size, want=want))
                warm(size)
                bare.append(run_bare_fresh(kind, size, want) if want else
                            run_bare(src, addr, size))
            pg, bare = min(pg), min(bare)
            if not a.no_gdb:
                warm(size)
            gdb = "-" if a.no_gdb else f"{run_gdb(src, addr, size):.3f} s"
        finally:
            src.kill()
        print(f"| {label} | {pg:.3f} s | {bare:.3f} s | {gdb} | {bare / pg:.2f}x |",
              flush=True)


if __name__ == "__main__":
    main()
