# SPDX-License-Identifier: GPL-2.0-or-later
"""Many syscalls per ptrace stop (issue 13, inject/batch.c): a clone or
restore of many VMAs takes a handful of stops, not several per VMA; a
batch that fails at any of its syscalls leaves both processes exactly as
they were; a target the executor cannot serve (it catches SIGTRAP) gets
one syscall per stop and keeps its handler."""
import json
import os
import re

from harness import PAGE, Snapshot, VictimTest, copy_engine_only, run

VMAS = 400
STOPS_RE = re.compile(r"ran (\d+) syscall\(s\) for pgclone in (\d+) ptrace stop\(s\)")


def signal_sets(pid):
    with open(f"/proc/{pid}/status") as f:
        return [l for l in f if l.startswith(("SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt"))]


@copy_engine_only("the executor runs in copy-engine targets")
class Batch(VictimTest):
    def striped(self, v, n=VMAS):
        addr = v.addr(f"anon {n * PAGE:#x} 5")
        v.ok(f"stripes {addr:#x} {n * PAGE:#x} r--")
        return addr

    def stops(self, r):
        m = STOPS_RE.search(r.stderr)
        self.assertIsNotNone(m, r.stderr)
        return int(m[1]), int(m[2])

    def test_few_stops_per_vma(self):
        a, b = self.victim(), self.victim()
        addr = self.striped(a)
        a.ok(f"advise {addr:#x} {VMAS * PAGE:#x} nohugepage")
        dst = self.free_addr(a, b)
        r = run("--pid", a.pid, "--src", hex(addr), "--len", hex(VMAS * PAGE),
                "--target", b.pid, "--dst", hex(dst), "--engine", "copy", "-v")
        self.assertEqual(r.returncode, 0, r.stderr)
        calls, stops = self.stops(r)
        print(f"\nclone of {VMAS} VMAs: {calls} syscalls in {stops} stops")
        self.assertEqual(b.sum(dst, VMAS * PAGE), a.sum(addr, VMAS * PAGE))
        self.assertLessEqual(stops * 10, VMAS, "more than one stop per 10 VMAs")
        # mmap, mremap, half of them an mprotect, and the advice once:
        # none again in the place phase, no mprotect to what they have
        self.assertLessEqual(calls, 4 * VMAS, "syscalls run twice")
        img = self.dump_image(a, addr, VMAS * PAGE)
        c = self.victim()
        r = run("restore", "--pid", c.pid, "-i", img, "--dst", hex(dst), "-v")
        self.assertEqual(r.returncode, 0, r.stderr)
        calls, stops = self.stops(r)
        print(f"restore of {VMAS} VMAs: {calls} syscalls in {stops} stops")
        self.assertEqual(c.sum(dst, VMAS * PAGE), a.sum(addr, VMAS * PAGE))
        self.assertLessEqual(stops * 10, VMAS, "more than one stop per 10 VMAs")

    def fail_at(self, n, env, replace):
        """Clone 40 VMAs with syscall @n made to fail (0: none): either
        done right, or everything as it was."""
        a, b = self.victim(), self.victim()
        addr = self.striped(a, 40)
        dst = self.free_addr(a, b)
        old = None
        if replace:     # the destination is taken: set aside, then put back
            old = b.addr(f"anon {64 * PAGE:#x} 9")
            dst = old + 8 * PAGE
        sa = Snapshot(a, [(addr, 40 * PAGE)])
        sb = Snapshot(b, [(old, 64 * PAGE)] if replace else [])
        sigs = signal_sets(b.pid)
        r = run("--pid", a.pid, "--src", hex(addr), "--len", hex(40 * PAGE),
                "--target", b.pid, "--dst", hex(dst), "--engine", "copy", "-v",
                *(["--replace"] if replace else []),
                env=dict(env, PGCLONE_FAULT_OP=str(n)))
        sa.assert_unchanged(self)
        self.assertEqual(signal_sets(b.pid), sigs)
        if r.returncode == 0:   # it hit one whose failure costs nothing
            self.assertEqual(b.sum(dst, 40 * PAGE), a.sum(addr, 40 * PAGE))
        else:
            sb.assert_unchanged(self)
        return r

    def check_every_failure(self, env):
        for replace in (False, True):
            r = self.fail_at(0, env, replace)
            self.assertEqual(r.returncode, 0, r.stderr)
            calls, _ = self.stops(r)
            failed = 0
            for n in range(1, calls + 1, max(1, calls // 30)):
                with self.subTest(replace=replace, syscall=n, of=calls):
                    r = self.fail_at(n, env, replace)
                    errors = [l for l in r.stderr.splitlines()
                              if not l.startswith(("pgclone: info", "pgclone: warning"))]
                    if r.returncode:
                        failed += 1
                        # the errno of the syscall that failed decides
                        self.assertIn(r.returncode, (1, 2), r.stderr)
                        self.assertEqual(len(errors), 1, r.stderr)
                        self.assertTrue(errors[0].startswith("pgclone: "), r.stderr)
            print(f"\n{env or 'executor'}, replace={replace}: {calls} syscalls, "
                  f"{failed} failures injected, all rolled back")
            self.assertGreater(failed, 5)

    def test_failing_syscall_rolls_back(self):
        self.check_every_failure({})

    def test_failing_syscall_rolls_back_one_per_stop(self):
        self.check_every_failure({"PGCLONE_FAULT_EXEC": "off"})

    def test_target_catching_sigtrap(self):
        """The executor's trap would reset a caught SIGTRAP: such a target
        gets one syscall per stop, and keeps its handler."""
        a, b = self.victim(), self.victim()
        addr = self.striped(a, 40)
        dst = self.free_addr(a, b)
        b.ok("catch-sigtrap")
        sigs = signal_sets(b.pid)
        r = run("--pid", a.pid, "--src", hex(addr), "--len", hex(40 * PAGE),
                "--target", b.pid, "--dst", hex(dst), "--engine", "copy", "-v")
        self.assertEqual(r.returncode, 0, r.stderr)
        calls, stops = self.stops(r)
        self.assertEqual(stops, 2 * calls)
        self.assertEqual(signal_sets(b.pid), sigs)
        self.assertEqual(b.sum(dst, 40 * PAGE), a.sum(addr, 40 * PAGE))
        os.kill(b.pid, 5)
        self.assertEqual(b.cmd("sigtraps"), "1")


@copy_engine_only("the copy engine's own page walk")
class Scan(VictimTest):
    def test_one_walk_for_many_vmas(self):
        """The page states of ranges that follow one another come from one
        walk over all of them, not one per VMA, and are the same."""
        a, b = self.victim(), self.victim()
        addr = a.addr(f"reserve {VMAS * PAGE:#x}")
        for k in range(0, VMAS, 3):     # some pages present, some not
            a.ok(f"fill {addr + k * PAGE:#x} {PAGE:#x} {k % 250 + 1}")
        a.ok(f"stripes {addr:#x} {VMAS * PAGE:#x} r--")
        dst = self.free_addr(a, b)
        r = run("--pid", a.pid, "--src", hex(addr), "--len", hex(VMAS * PAGE),
                "--target", b.pid, "--dst", hex(dst), "--engine", "copy", "-vv", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        m = re.search(r"page states of (\d+) range\(s\) in (\d+) walk\(s\)", r.stderr)
        self.assertIsNotNone(m, "no count of the walks")
        print(f"\n{m[0]}")
        self.assertEqual((int(m[1]), int(m[2])), (VMAS, 1))
        self.assertEqual(b.sum(dst, VMAS * PAGE), a.sum(addr, VMAS * PAGE))
        rep = json.loads(r.stdout)
        present = sum(x["pages_present"] for x in rep["ranges"])
        self.assertEqual(present, len(range(0, VMAS, 3)))
