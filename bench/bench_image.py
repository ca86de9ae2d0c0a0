#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Dump/restore benchmark (not a test): pgclone against cat/dd moving the
same number of bytes, side by side in one run, best of --runs, each after a
warm-up (see bench_copy.py for why).

  dump to tmpfs      pgclone dump -o /dev/shm/img    vs  dd of the same range from /proc/PID/mem
  restore from tmpfs pgclone restore -i /dev/shm/img vs  cat /dev/shm/img > /dev/shm/copy
  through a pipe     pgclone dump -o - | pgclone restore -i -
                                                     vs  cat /dev/shm/img | cat > /dev/shm/copy
Usage: bench/bench_image.py [--size 1G] [--runs 3]
"""
import argparse
import os
import subprocess
import sys
import time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(root, "test", "integration"))
os.environ.setdefault("PGCLONE", os.path.join(root, "build", "cmd", "pgclone"))
os.environ.setdefault("VICTIM", os.path.join(root, "build", "test", "integration",
                                             "pgclone-victim"))
from harness import PGCLONE, VICTIM, Victim  # noqa: E402
from needs import need_built  # noqa: E402

PAGE = 4096
IMG = "/dev/shm/pgclone-bench.img"
COPY = "/dev/shm/pgclone-bench.copy"
DST = 0x500000000000


def sh(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, shell=True, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def warm(size):
    v = Victim()
    v.addr(f"anon {2 * size:#x}")
    v.kill()


def clean():
    for p in (COPY,):
        if os.path.exists(p):
            os.unlink(p)


def measure(src, addr, size, runs):
    nbytes = None
    res = {k: [] for k in ("dump", "dd", "restore", "cat", "pipe", "catpipe")}
    for _ in range(runs):
        warm(size)
        res["dump"].append(sh(f"{PGCLONE} dump -q --pid {src.pid} --src {addr:#x} "
                              f"--len {size:#x} -o {IMG}"))
        nbytes = os.path.getsize(IMG)
        warm(size)
        # dd reads the range's populated bytes from the process, as dump does
        res["dd"].append(sh(f"dd if=/proc/{src.pid}/mem of={COPY} bs=4M skip={addr} "
                            f"count={min(nbytes, size)} iflag=skip_bytes,count_bytes status=none"))
        clean()
        for key, cmd in (("restore", None), ("pipe", None)):
            dst = Victim()
            warm(size)
            if key == "restore":
                cmd = f"{PGCLONE} restore -q --pid {dst.pid} -i {IMG} --dst {DST:#x}"
            else:
                cmd = (f"{PGCLONE} dump -q --pid {src.pid} --src {addr:#x} --len {size:#x} -o - | "
                       f"{PGCLONE} restore -q --pid {dst.pid} -i - --dst {DST:#x}")
            res[key].append(sh(cmd))
            assert dst.sum(DST, size) == src.sum(addr, size)
            dst.kill()
        warm(size)
        res["cat"].append(sh(f"cat {IMG} > {COPY}"))
        clean()
        warm(size)
        res["catpipe"].append(sh(f"cat {IMG} | cat > {COPY}"))
        clean()
    return nbytes, {k: min(v) for k, v in res.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="1G")
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    need_built(PGCLONE, VICTIM)
    size = int(a.size[:-1]) << {"K": 10, "M": 20, "G": 30}[a.size[-1]]
    print(f"# {time.strftime('%Y-%m-%d')} {os.uname().nodename} {os.uname().release} "
          f"{os.cpu_count()} CPUs; {size >> 20} MiB; best of {a.runs}")
    print("| range | image bytes | operation | pgclone | cat/dd, same bytes | ratio |")
    print("|---|---|---|---|---|---|")
    for kind, label in (("anon", "touched"), ("sparse", "1% touched")):
        src = Victim()
        addr = (src.addr(f"anon {size:#x} 3") if kind == "anon" else
                src.addr(f"sparse {size:#x} {100 * PAGE:#x}"))
        try:
            nbytes, r = measure(src, addr, size, a.runs)
        finally:
            src.kill()
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
