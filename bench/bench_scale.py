#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Scale benchmark (not a test): the cases of issue 13, each set beside its
baseline in one run, best of --runs interleaved rounds after a warm-up,
and whether its target is met.

  sparse reservation  clone of 1000 pages spread over a 1 TiB MAP_NORESERVE
                      reservation  vs  the same 1000 pages over 1 GiB
  many VMAs           clone, and restore from an image, of 30,000 one-page
                      VMAs of alternating protections (117 MiB)
                      vs  the same bytes as one VMA
  images              dump, restore, dump | restore of --image-size touched
                      and of 1 GiB with 1% touched (bench_image.py's cases)
                      vs  dd and cat moving the same bytes
  copy engine         pgclone --engine copy of --copy-size touched, 4 KiB
                      pages and THP  vs  process_vm_readv + process_vm_writev

Usage: bench/bench_scale.py [--runs 3] [--image-size 512M] [--copy-size 1G]
                           [--only sparse,vmas,images,copy]
"""
import argparse
import os

from bench_copy import make_source, run_bare
from bench_image import IMG, measure_kind
from benchlib import (DST, PAGE, PGCLONE, PVCOPY, VICTIM, Victim, clone_time,
                      header, parse_size, timed, warm)
from needs import need_built

GIB = 1 << 30
TIB = 1 << 40
PAGES = 1000
VMAS = 30000


def best(runs, *fns, before=None):
    """Each of @fns once to warm up, then @runs interleaved rounds; the
    best time of each.  @before, if any, runs untimed before every call."""
    times = [[] for _ in fns]
    for r in range(runs + 1):
        for t, fn in zip(times, fns):
            if before:
                before()
            s = fn()
            if r:
                t.append(s)
    return [min(t) for t in times]


def row(case, mine, base, base_name, target, higher_is_better=False):
    """One line: @mine / @base against @target (at most, or for a
    bandwidth, at least)."""
    if higher_is_better:    # bandwidth: base's time over ours
        ratio = base / mine
        met, cmp, off = ratio >= target, ">=", target / ratio
    else:
        ratio = mine / max(base, 1e-6)
        met, cmp, off = ratio <= target, "<=", ratio / target
    verdict = "met" if met else f"MISSED ({off:.2f}x off)"
    print(f"| {case} | {mine:.3f} s | {base:.3f} s ({base_name}) | {ratio:.2f}x | "
          f"{cmp} {target}x | {verdict} |", flush=True)


def pages_over(v, length, noreserve=False):
    """A reservation of @length in @v with PAGES pages spread evenly over
    it, written; their offsets."""
    addr = v.addr(f"reserve {length:#x}" + (" noreserve" if noreserve else ""))
    offs = [(k * (length // PAGES)) & ~(PAGE - 1) for k in range(PAGES)]
    for k, off in enumerate(offs):
        v.ok(f"fill {addr + off:#x} {PAGE:#x} {k + 1}")
    return addr, offs


def sparse_reservation(runs):
    big, small = Victim(), Victim()
    try:
        a_big, o_big = pages_over(big, TIB, noreserve=True)
        a_small, o_small = pages_over(small, GIB)
        mine, base = best(runs, lambda: clone_time(big, a_big, TIB, o_big),
                          lambda: clone_time(small, a_small, GIB, o_small))
    finally:
        big.kill()
        small.kill()
    row(f"clone, {PAGES} pages in 1 TiB MAP_NORESERVE", mine, base,
        f"{PAGES} pages in 1 GiB", 1.5)


def restore_time(img, src, addr, size):
    dst = Victim()
    try:
        t = timed([PGCLONE, "restore", "-q", "--pid", dst.pid, "-i", img,
                   "--dst", hex(DST)])
        assert dst.sum(DST, size) == src.sum(addr, size)
        return t
    finally:
        dst.kill()


def vmas_in(v, addr, size):
    return sum(1 for x in v.vmas() if addr <= x["start"] < addr + size)


def many_vmas(runs):
    size = VMAS * PAGE
    frag, dense = Victim(), Victim()
    imgs = [f"{IMG}.frag", f"{IMG}.dense"]
    try:
        a_frag = frag.addr(f"anon {size:#x} 3")
        a_dense = dense.addr(f"anon {size:#x} 3")
        # 4 KiB pages in both: the stripes would split huge ones anyway
        for v, a in ((frag, a_frag), (dense, a_dense)):
            v.ok(f"advise {a:#x} {size:#x} nohugepage")
        frag.ok(f"stripes {a_frag:#x} {size:#x} r--")
        assert vmas_in(frag, a_frag, size) == VMAS and vmas_in(dense, a_dense, size) == 1
        mine, base = best(runs, lambda: clone_time(frag, a_frag, size),
                          lambda: clone_time(dense, a_dense, size))
        row(f"clone, {VMAS} VMAs ({size >> 20} MiB)", mine, base, "1 VMA", 3)
        for v, a, img in ((frag, a_frag, imgs[0]), (dense, a_dense, imgs[1])):
            timed([PGCLONE, "dump", "-q", "--pid", v.pid, "--src", hex(a),
                   "--len", hex(size), "-o", img])
        mine, base = best(runs, lambda: restore_time(imgs[0], frag, a_frag, size),
                          lambda: restore_time(imgs[1], dense, a_dense, size))
        row(f"restore, {VMAS} VMAs ({size >> 20} MiB)", mine, base, "1 VMA", 3)
    finally:
        frag.kill()
        dense.kill()
        for p in imgs:
            if os.path.exists(p):
                os.unlink(p)


def images(runs, size):
    _, r = measure_kind("anon", size, runs)
    what = f"{size >> 20} MiB touched"
    row(f"restore from tmpfs, {what}", r["restore"], r["cat"], "cat", 1.2)
    row(f"dump \\| restore, {what}", r["pipe"], r["catpipe"], "cat \\| cat", 1.3)
    row(f"dump to tmpfs, {what}", r["dump"], r["dd"], "dd /proc/PID/mem", 1.1)
    _, r = measure_kind("sparse", GIB, runs)
    what = "1 GiB, 1% touched"
    row(f"dump to tmpfs, {what}", r["dump"], r["cat"], "cat", 2)
    row(f"restore from tmpfs, {what}", r["restore"], r["cat"], "cat", 2)
    row(f"dump \\| restore, {what}", r["pipe"], r["catpipe"], "cat \\| cat", 2)
    if os.path.exists(IMG):
        os.unlink(IMG)


def copy_engine(runs, size):
    """pgclone keeps a THP source's huge pages, which the bare copy does
    not: its THP case is also set beside a bare copy into huge pages.  On
    a VM that hands free memory back to its host (free page reporting),
    every new huge page costs the host's faults, and that is most of it."""
    for kind, label in (("4k", "4 KiB pages"), ("thp", "THP")):
        src, addr = make_source(kind, size)
        fns = [lambda: clone_time(src, addr, size), lambda: run_bare(src, addr, size)]
        if kind == "thp":
            fns.append(lambda: run_bare(src, addr, size, huge=True))
        try:
            mine, *base = best(runs, *fns, before=lambda: warm(size))
        finally:
            src.kill()
        row(f"copy engine, {size >> 20} MiB touched, {label}", mine, base[0],
            "readv+writev", 1.0, higher_is_better=True)
        if kind == "thp":
            row(f"copy engine, {size >> 20} MiB touched, {label}", mine, base[1],
                "readv+writev into huge pages", 1.0, higher_is_better=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--image-size", default="512M")
    ap.add_argument("--copy-size", default="1G")
    ap.add_argument("--only", default="sparse,vmas,images,copy",
                    help="the groups of rows to run, comma separated")
    a = ap.parse_args()
    only = set(a.only.split(","))
    if only - {"sparse", "vmas", "images", "copy"}:
        ap.error("--only: unknown group(s) " + ", ".join(sorted(only - {"sparse", "vmas", "images", "copy"})))
    need_built(PGCLONE, VICTIM, PVCOPY)
    header(f"best of {a.runs} after a warm-up; ratio: pgclone / baseline "
           "(copy engine: bandwidth, baseline's time / pgclone's)")
    print("| case | pgclone | baseline | ratio | target | |")
    print("|---|---|---|---|---|---|")
    if "sparse" in only:
        sparse_reservation(a.runs)
    if "vmas" in only:
        many_vmas(a.runs)
    if "images" in only:
        images(a.runs, parse_size(a.image_size))
    if "copy" in only:
        copy_engine(a.runs, parse_size(a.copy_size))


if __name__ == "__main__":
    main()
