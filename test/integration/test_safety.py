# SPDX-License-Identifier: GPL-2.0-or-later
"""Nothing lost: every failure leaves both processes exactly as they were
(/proc/PID/maps and contents compared), and every bad input gets one clear
line and a non-zero exit."""
import os
import re
import signal
import time
import unittest

from harness import (PAGE, Snapshot, VictimTest, run, run_json,
                     start_stopped_at)

MIB = 1 << 20
FAULT_POINTS = ["seized", "mapped", "batch", "copied", "finished", "move"]


class Rollback(VictimTest):
    def setup_pair(self, length=4 * MIB):
        a, b = self.victim(), self.victim()
        addr = a.addr(f"anon {length:#x} 6")
        dst = self.free_addr(a, b)
        return a, b, addr, dst, Snapshot(a, [(addr, length)]), Snapshot(b)

    def assert_one_line_error(self, r, code, needle):
        self.assertEqual(r.returncode, code, r.stderr)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn(needle, lines[0])
        self.assertTrue(lines[0].startswith("pgclone: "))

    def test_failure_at_every_point_rolls_back(self):
        for point in FAULT_POINTS:
            with self.subTest(point=point):
                a, b, addr, dst, sa, sb = self.setup_pair()
                r = run("--pid", a.pid, "--src", hex(addr), "--len", hex(4 * MIB),
                        "--target", b.pid, "--dst", hex(dst), "--move",
                        env={"PGCLONE_FAULT_FAIL": point})
                self.assert_one_line_error(r, 1, f"fault injected at {point}")
                sa.assert_unchanged(self)
                sb.assert_unchanged(self)

    def test_failure_same_process_rolls_back(self):
        for point in ["mapped", "batch", "finished", "move"]:
            with self.subTest(point=point):
                a = self.victim()
                addr = a.addr(f"anon {MIB:#x} 6")
                sa = Snapshot(a, [(addr, MIB)])
                r = run("--pid", a.pid, "--src", hex(addr), "--len", hex(MIB),
                        "--dst", hex(self.free_addr(a)), "--move",
                        env={"PGCLONE_FAULT_FAIL": point})
                self.assert_one_line_error(r, 1, "fault injected")
                sa.assert_unchanged(self)

    def test_replace_failure_restores_replaced_mapping(self):
        for point in ["mapped", "batch", "finished"]:
            with self.subTest(point=point):
                a, b = self.victim(), self.victim()
                addr = a.addr(f"anon {MIB:#x} 1")
                old = b.addr(f"anon {2 * MIB:#x} 2")
                b.cmd(f"name {old:#x} {2 * MIB:#x} precious")   # where supported
                sb = Snapshot(b, [(old, 2 * MIB)])
                r = run("--pid", a.pid, "--src", hex(addr), "--len", hex(MIB),
                        "--target", b.pid, "--dst", hex(old + MIB // 2), "--replace",
                        env={"PGCLONE_FAULT_FAIL": point})
                self.assert_one_line_error(r, 1, "fault injected")
                sb.assert_unchanged(self)

    def test_signals_roll_back(self):
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            for point in ("mapped", "batch"):
                with self.subTest(sig=sig.name, point=point):
                    a, b, addr, dst, sa, sb = self.setup_pair()
                    p = start_stopped_at(point, "--pid", a.pid, "--src", hex(addr),
                                         "--len", hex(4 * MIB), "--target", b.pid,
                                         "--dst", hex(dst))
                    os.kill(p.pid, sig)
                    os.kill(p.pid, signal.SIGCONT)
                    out, err = p.communicate(timeout=60)
                    self.assertEqual(p.returncode, 1, err)
                    self.assertIn("interrupted", err)
                    sa.assert_unchanged(self)
                    sb.assert_unchanged(self)

    def kill_mid_clone(self, victim_index):
        """Kill one process while pgclone is stopped after mapping; the
        other must come out intact and pgclone must say what happened."""
        a, b, addr, dst, sa, sb = self.setup_pair()
        dead, survivor = ((a, sb), (b, sa))[victim_index]
        p = start_stopped_at("mapped", "--pid", a.pid, "--src", hex(addr),
                             "--len", hex(4 * MIB), "--target", b.pid, "--dst", hex(dst))
        dead.p.kill()
        # the victim is traced by the stopped pgclone: it can be reaped
        # only once pgclone runs again and notices
        os.kill(p.pid, signal.SIGCONT)
        dead.p.wait(timeout=60)
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 1, err)
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        survivor.assert_unchanged(self)
        return err

    def test_source_dies_mid_clone(self):
        self.kill_mid_clone(0)

    def test_target_dies_mid_clone(self):
        err = self.kill_mid_clone(1)
        self.assertIn("exited", err)

    def test_target_seccomp_kills_on_mmap(self):
        a, b, addr, dst, sa, _ = self.setup_pair(MIB)
        b.ok("seccomp-kill-mmap")
        sb = Snapshot(b)
        r = run("--pid", a.pid, "--src", hex(addr), "--target", b.pid, "--dst", hex(dst))
        self.assert_one_line_error(r, 1, "seccomp")
        sb.assert_unchanged(self)
        sa.assert_unchanged(self)

    def test_overlap_refused_without_replace(self):
        a, b = self.victim(), self.victim()
        addr = a.addr(f"anon {MIB:#x}")
        taken = b.addr(f"anon {MIB:#x}")
        sa, sb = Snapshot(a, [(addr, MIB)]), Snapshot(b, [(taken, MIB)])
        r = run("--pid", a.pid, "--src", hex(addr), "--target", b.pid,
                "--dst", hex(taken - PAGE), "--len", hex(MIB))
        self.assert_one_line_error(r, 2, "overlaps")
        # it names the mapping in the way, which holds what we mapped there
        m = re.search(r"overlaps 0x([0-9a-f]+)-0x([0-9a-f]+)", r.stderr)
        self.assertTrue(int(m[1], 16) <= taken < int(m[2], 16), r.stderr)
        sa.assert_unchanged(self)
        sb.assert_unchanged(self)

    def test_unprivileged_user_gets_eperm(self):
        a, b = self.victim(), self.victim()
        addr = a.addr(f"anon {MIB:#x}")
        sa, sb = Snapshot(a, [(addr, MIB)]), Snapshot(b)
        r = run("--pid", a.pid, "--src", hex(addr), "--target", b.pid,
                "--dst", hex(self.free_addr(a, b)), user="nobody")
        self.assert_one_line_error(r, 1, "not permitted")
        sa.assert_unchanged(self)
        sb.assert_unchanged(self)

    def test_same_user_unprivileged_works(self):
        a, b = self.victim(user="nobody"), self.victim(user="nobody")
        addr = a.addr(f"anon {MIB:#x} 3")
        dst = self.free_addr(a, b)
        r = run("--pid", a.pid, "--src", hex(addr), "--target", b.pid,
                "--dst", hex(dst), user="nobody", check=0)
        self.assertIn("cloned", r.stdout)
        self.assertEqual(b.sum(dst, MIB), a.sum(addr, MIB))

    def test_root_into_unprivileged_target_shares_objects(self):
        # the target may not pull an fd from root pgclone: a helper with
        # the target's credentials holds it out instead
        for kind in ("memfd", "shared"):
            with self.subTest(kind=kind):
                a, b = self.victim(user="nobody"), self.victim(user="nobody")
                addr = a.addr(f"{kind} {MIB:#x}")
                dst = self.free_addr(a, b)
                run("--pid", a.pid, "--src", hex(addr), "--target", b.pid,
                    "--dst", hex(dst), check=0)
                b.ok(f"poke {dst + 9:#x} 0")
                self.assertEqual(a.cmd(f"peek {addr + 9:#x}"), "0")

    def test_traced_target_refused(self):
        a, b = self.victim(), self.victim()
        addr = a.addr(f"anon {MIB:#x}")
        import subprocess
        tracer = subprocess.Popen(["strace", "-qq", "-o", "/dev/null", "-p", str(b.pid)])
        self.addCleanup(lambda: (tracer.terminate(), tracer.wait()))
        deadline = time.time() + 10
        while time.time() < deadline:
            with open(f"/proc/{b.pid}/status") as f:
                if f"TracerPid:\t{tracer.pid}" in f.read():
                    break
            time.sleep(0.05)
        r = run("--pid", a.pid, "--src", hex(addr), "--target", b.pid,
                "--dst", hex(self.free_addr(a, b)))
        self.assert_one_line_error(r, 1, "already traced")


class BadInput(VictimTest):
    def test_help_and_version(self):
        r = run("--help", check=0)
        self.assertIn("--target", r.stdout)
        r = run("--version", check=0)
        self.assertRegex(r.stdout, r"pgclone \d+\.\d+")


if __name__ == "__main__":
    unittest.main()
