# SPDX-License-Identifier: GPL-2.0-or-later
"""What the benchmarks of bench/ share: the programs they run (the build
tree's unless PGCLONE and VICTIM say otherwise), victims from the
integration suite's harness, timing, warm-ups, sizes, and the line that
says when, where and how a run was measured."""
import os
import subprocess
import sys
import time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(root, "test", "integration"))
os.environ.setdefault("PGCLONE", os.path.join(root, "build", "cmd", "pgclone"))
os.environ.setdefault("VICTIM", os.path.join(root, "build", "test", "integration",
                                             "pgclone-victim"))
from harness import PGCLONE, VICTIM, Victim  # noqa: E402,F401

PVCOPY = os.path.join(root, "build", "bench", "pvcopy")
PAGE = 4096
DST = 0x500000000000


def timed(argv):
    """Seconds @argv takes, which must succeed."""
    t = time.perf_counter()
    subprocess.run([str(x) for x in argv], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)
    return time.perf_counter() - t


def sh(cmd):
    """Seconds the shell command @cmd takes, which must succeed."""
    t = time.perf_counter()
    subprocess.run(cmd, shell=True, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def warm(size):
    """Touch and free 2x size first: on a virtual machine the first touch
    of guest memory costs host page faults, which would otherwise land on
    whichever method happens to run first."""
    v = Victim()
    v.addr(f"anon {2 * size:#x}")
    v.kill()


def parse_size(s):
    """1G, 512M, 64K or a number of bytes."""
    shift = {"K": 10, "M": 20, "G": 30, "T": 40}.get(s[-1:].upper())
    return int(s[:-1]) << shift if shift else int(s)


def header(what):
    print(f"# {time.strftime('%Y-%m-%d')} {os.uname().nodename} {os.uname().release} "
          f"{os.cpu_count()} CPUs; {what}", flush=True)


def twin_sum(make, kind, size):
    """The checksum of the bytes make(kind, size) builds, read from a twin:
    reading a sparse source itself would populate every page it left
    untouched (a kernel without the shared zero page gives each read fault
    a page), and every later pass over it would then move the whole range."""
    twin, addr = make(kind, size)
    try:
        return twin.sum(addr, size)
    finally:
        twin.kill()


def clone_time(src, addr, size, check=None, want=None):
    """Seconds `pgclone --engine copy` takes to clone [addr, addr + size)
    of @src into a new victim at DST.  @check: the offsets of the pages to
    compare afterwards (None: every byte, against @want, or, if None, the
    source's bytes, which reading populates)."""
    dst = Victim()
    try:
        t = timed([PGCLONE, "-q", "--engine", "copy", "--pid", src.pid, "--src",
                   hex(addr), "--len", hex(size), "--target", dst.pid, "--dst", hex(DST)])
        if check is None:
            assert dst.sum(DST, size) == (want or src.sum(addr, size))
        for off in check or ():
            assert dst.sum(DST + off, PAGE) == src.sum(addr + off, PAGE)
        return t
    finally:
        dst.kill()
