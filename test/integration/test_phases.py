# SPDX-License-Identifier: GPL-2.0-or-later
"""-v says where the time goes (issue 13): one line per phase of a clone,
a dump and a restore, each with its wall time, in the order the phases
run, then the elapsed time they add up to.  Without -v, not a word."""
import os
import re
import shutil
import tempfile
import time

from harness import VictimTest, run

MIB = 1 << 20
PHASE_RE = re.compile(r"^pgclone: info: phase (\S+): (\d+\.\d{3}) ms$")
ELAPSED_RE = re.compile(r"^pgclone: info: elapsed: (\d+\.\d{3}) ms$")
ENGINE_RE = re.compile(r"\((\w+) engine\)")

# What each operation does, in order (pgclone(1), -v).
PHASES = {
    "copy": ["seize", "plan", "scan", "map", "copy", "place", "detach"],
    "kernel": ["plan", "scan", "map"],
    "dump": ["seize", "plan", "scan", "write", "detach"],
    "restore": ["parse", "seize", "map", "copy", "place", "detach"],
}


class Phases(VictimTest):
    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="pgclone-phases-")
        self.addCleanup(shutil.rmtree, self.dir)

    def timed(self, *args):
        t0 = time.monotonic()
        r = run(*args, check=0)
        return r, (time.monotonic() - t0) * 1e3

    def check_phases(self, what, r, wall_ms):
        lines = r.stderr.splitlines()
        phases = [m.groups() for m in map(PHASE_RE.match, lines) if m]
        totals = [float(m[1]) for m in map(ELAPSED_RE.match, lines) if m]
        names = [n for n, _ in phases]
        ms = [float(t) for _, t in phases]
        print(f"\n{what}: " + ", ".join(f"{n} {t:.3f}" for n, t in zip(names, ms))
              + f"; elapsed {totals}, {wall_ms:.1f} ms as the test saw it")
        self.assertEqual(names, PHASES[what], r.stderr)
        self.assertEqual(len(totals), 1, r.stderr)
        # each printed to the microsecond: allow each its rounding
        self.assertLessEqual(sum(ms), totals[0] + 0.0005 * len(ms), r.stderr)
        self.assertLessEqual(totals[0], wall_ms, r.stderr)

    def test_clone(self):
        a, b = self.victim(), self.victim()
        addr = a.addr(f"anon {4 * MIB:#x} 3")
        dst = self.free_addr(a, b)
        r, wall = self.timed("--pid", a.pid, "--src", hex(addr), "--len", "4M",
                             "--target", b.pid, "--dst", hex(dst), "-v")
        engine = ENGINE_RE.search(r.stdout)[1]
        self.check_phases(engine, r, wall)
        self.assertEqual(b.sum(dst, 4 * MIB), a.sum(addr, 4 * MIB))

    def test_dump_and_restore(self):
        a, b = self.victim(), self.victim()
        addr = a.addr(f"anon {4 * MIB:#x} 5")
        img = os.path.join(self.dir, "img")
        r, wall = self.timed("dump", "--pid", a.pid, "--src", hex(addr), "--len", "4M",
                             "-o", img, "-v")
        self.check_phases("dump", r, wall)
        dst = self.free_addr(a, b)
        r, wall = self.timed("restore", "--pid", b.pid, "-i", img, "--dst", hex(dst), "-v")
        self.check_phases("restore", r, wall)
        self.assertEqual(b.sum(dst, 4 * MIB), a.sum(addr, 4 * MIB))

    def test_quiet_without_v(self):
        a, b = self.victim(), self.victim()
        addr = a.addr(f"anon {MIB:#x} 7")
        dst = self.free_addr(a, b)
        r = run("--pid", a.pid, "--src", hex(addr), "--len", "1M",
                "--target", b.pid, "--dst", hex(dst), check=0)
        self.assertEqual(r.stderr, "")
