# SPDX-License-Identifier: GPL-2.0-or-later
"""After the commit point (the clone or restore moved into place) a failure
is never reported as "failed, both processes unchanged": exit status 3, a
message that says what was done and what was not, and the destination
really holds the clone (maps and contents)."""
import json
import os
import subprocess
import tempfile
import unittest

from harness import (ENGINE, PGCLONE, PAGE, Snapshot, VictimTest, copy_engine_only,
                     run, with_engine)

MIB = 1 << 20
EXIT_INCOMPLETE = 3


class AfterCommit(VictimTest):
    def one_line(self, r):
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertTrue(lines[0].startswith("pgclone: "), lines[0])
        return lines[0]

    def assert_holds_clone(self, b, dst, length, want_sum, perms="rw-p"):
        v = b.vma_at(dst)
        self.assertIsNotNone(v, f"nothing at {dst:#x} in PID {b.pid}")
        self.assertLessEqual(v["start"], dst)
        self.assertGreaterEqual(v["end"], dst + length)
        self.assertEqual(v["perms"], perms)
        self.assertEqual(b.sum(dst, length), want_sum)
        self.assertTrue(b.alive())

    def pair(self, length=4 * MIB):
        a, b = self.victim(), self.victim()
        addr = a.addr(f"anon {length:#x} 6")
        return a, b, addr, self.free_addr(a, b), a.sum(addr, length)

    def test_fault_after_commit_clone(self):
        """Both engines have a "committed" point right after the commit."""
        a, b, addr, dst, want = self.pair()
        sa = Snapshot(a, [(addr, 4 * MIB)])
        r = run("--pid", a.pid, "--src", hex(addr), "--len", hex(4 * MIB),
                "--target", b.pid, "--dst", hex(dst),
                env={"PGCLONE_FAULT_FAIL": "committed"})
        self.assertEqual(r.returncode, EXIT_INCOMPLETE, r.stderr)
        line = self.one_line(r)
        self.assertIn(f"cloned {addr:#x}-{addr + 4 * MIB:#x} of PID {a.pid} to "
                      f"{dst:#x} in PID {b.pid} (that stays), but", line)
        self.assertIn("fault injected at committed", line)
        self.assert_holds_clone(b, dst, 4 * MIB, want)
        sa.assert_unchanged(self)
        # the report still says what was done
        self.assertIn(f"to {dst:#x} in PID {b.pid}", r.stdout)

    @copy_engine_only("--move unmaps the source in its own step; the kernel moves atomically")
    def test_move_cannot_unmap_source(self):
        a, b, addr, dst, want = self.pair()
        r = run("--pid", a.pid, "--src", hex(addr), "--len", hex(4 * MIB),
                "--target", b.pid, "--dst", hex(dst), "--move",
                env={"PGCLONE_FAULT_FAIL": "move"})
        self.assertEqual(r.returncode, EXIT_INCOMPLETE, r.stderr)
        line = self.one_line(r)
        self.assertIn(f"to {dst:#x} in PID {b.pid} (that stays), but the source was NOT "
                      "unmapped (--move): fault injected at move", line)
        self.assert_holds_clone(b, dst, 4 * MIB, want)
        # the source is still there, as it was
        self.assertEqual(a.sum(addr, 4 * MIB), want)

    @copy_engine_only("--move unmaps the source in its own step; the kernel moves atomically")
    def test_move_same_process_json(self):
        a = self.victim()
        addr = a.addr(f"anon {MIB:#x} 3")
        want = a.sum(addr, MIB)
        dst = self.free_addr(a)
        r = run("--pid", a.pid, "--src", hex(addr), "--len", hex(MIB), "--dst", hex(dst),
                "--move", "--json", env={"PGCLONE_FAULT_FAIL": "move"})
        self.assertEqual(r.returncode, EXIT_INCOMPLETE, r.stderr)
        out = json.loads(r.stdout)
        self.assertTrue(out["committed"])
        self.assertIn("the source was NOT unmapped", out["error"])
        self.assertEqual(int(out["dst"], 16), dst)
        self.assertIn("the source was NOT unmapped", self.one_line(r))
        self.assert_holds_clone(a, dst, MIB, want)
        self.assertEqual(a.sum(addr, MIB), want)

    def test_report_lost_after_commit(self):
        """The clone is done even when its report cannot be written."""
        a, b, addr, dst, want = self.pair(MIB)
        for extra in ([], ["--json"]):
            with self.subTest(extra=extra):
                with open("/dev/full", "w") as full:
                    r = subprocess.run([PGCLONE] + with_engine(
                        ["--pid", a.pid, "--src", hex(addr), "--len", hex(MIB),
                         "--target", b.pid, "--dst", hex(dst), *extra]),
                        stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
                self.assertEqual(r.returncode, EXIT_INCOMPLETE, r.stderr)
                self.assertIn(f"cloned {addr:#x}-{addr + MIB:#x} of PID {a.pid} to {dst:#x} "
                              f"in PID {b.pid} (that stays), but its report could not be "
                              "written", self.one_line(r))
                self.assert_holds_clone(b, dst, MIB, want)
                b.ok(f"unmap {dst:#x} {MIB:#x}")

    def test_dry_run_report_lost(self):
        a, b, addr, dst, _ = self.pair(MIB)
        sb = Snapshot(b)
        with open("/dev/full", "w") as full:
            r = subprocess.run([PGCLONE] + with_engine(
                ["--pid", a.pid, "--src", hex(addr), "--target", b.pid, "--dst", hex(dst),
                 "--dry-run"]), stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("cannot write the report", self.one_line(r))
        sb.assert_unchanged(self)

    def test_fault_after_commit_restore(self):
        a, b = self.victim(), self.victim()
        addr = a.addr(f"anon {2 * MIB:#x} 5")
        want = a.sum(addr, 2 * MIB)
        with tempfile.TemporaryDirectory() as d:
            img = os.path.join(d, "img")
            run("dump", "--pid", a.pid, "--src", hex(addr), "--len", hex(2 * MIB), "-o", img,
                check=0)
            dst = self.free_addr(b)
            r = run("restore", "--pid", b.pid, "-i", img, "--dst", hex(dst), "--json",
                    env={"PGCLONE_FAULT_FAIL": "committed"})
        self.assertEqual(r.returncode, EXIT_INCOMPLETE, r.stderr)
        self.assertIn(f"restored 1 range(s) to {dst:#x}-{dst + 2 * MIB:#x} in PID {b.pid} "
                      "(that stays), but a step after the commit failed: fault injected "
                      "at committed", self.one_line(r))
        self.assertTrue(json.loads(r.stdout)["committed"])
        self.assert_holds_clone(b, dst, 2 * MIB, want)


if __name__ == "__main__":
    unittest.main()
