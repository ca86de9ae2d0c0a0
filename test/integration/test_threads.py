# SPDX-License-Identifier: GPL-2.0-or-later
"""--replace never replaces what a thread of the target keeps in memory
(its stack pointer, the rseq area it registered, its TLS, its robust-futex
list head) unless --force is given; --dry-run says so too.  Victims are
real multi-threaded processes: glibc registers rseq and a robust list for
every thread."""
import os
import re
import tempfile
import time
import unittest

from harness import PAGE, Snapshot, VictimTest, run

KINDS = {"tls": "TLS (fs_base)", "rseq": "rseq area",
         "robust": "robust-futex list head", "sp": "stack pointer"}


class ReplaceThreadAreas(VictimTest):
    def target(self):
        """A victim with reader threads blocked in read(); the areas of its
        first reader thread, by kind."""
        b = self.victim()
        b.ok("threads 2")
        f = b.cmd("areas 0").split()
        areas = dict(zip(["tls", "rseq", "robust", "sp"], (int(x, 16) for x in f[1:])))
        self.rseq_areas = [areas["rseq"], int(b.cmd("areas main").split()[2], 16),
                           int(b.cmd("areas 1").split()[2], 16)]
        return b, int(f[0]), areas

    def page_bytes(self, b, page):
        """The page as the process has it, but for the rseq areas in it,
        which the kernel rewrites whenever their thread runs."""
        data = bytearray(b.read(page, PAGE))
        for r in self.rseq_areas:
            if page <= r < page + PAGE:
                data[r - page:r - page + 32] = bytes(32)
        return bytes(data)

    def source_page(self):
        a = self.victim()
        # its own mapping, not merged with a neighbour: one page exactly
        return a, a.addr(f"anon {PAGE:#x} 9")

    def assert_refused(self, r, b, tid, kind, addr):
        self.assertEqual(r.returncode, 1, r.stderr)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn(f"in PID {b.pid}: it holds", lines[0])
        if kind == "sp":	# the victim knows only roughly where its sp is
            m = re.search(rf"thread {tid}'s stack pointer at (0x[0-9a-f]+)", lines[0])
            self.assertTrue(m, lines[0])
            self.assertEqual(int(m[1], 16) & ~(PAGE - 1), addr & ~(PAGE - 1))
        else:
            self.assertIn(f"thread {tid}'s {KINDS[kind]} at {addr:#x}", lines[0])
        self.assertIn("--force", lines[0])

    def assert_threads_fine(self, b):
        self.assertTrue(b.alive())
        self.assertEqual(b.cmd("wake"), "ok 2")

    def test_clone_refuses_each_kind(self):
        for kind in KINDS:
            for dry in (False, True):
                with self.subTest(kind=kind, dry_run=dry):
                    a, src = self.source_page()
                    b, tid, areas = self.target()
                    page = areas[kind] & ~(PAGE - 1)
                    snap, before = Snapshot(b), self.page_bytes(b, page)
                    r = run("--pid", a.pid, "--src", hex(src), "--len", hex(PAGE),
                            "--target", b.pid, "--dst", hex(page), "--replace",
                            *(["--dry-run"] if dry else []))
                    self.assert_refused(r, b, tid, kind, areas[kind])
                    snap.assert_unchanged(self)
                    self.assertEqual(self.page_bytes(b, page), before)
                    self.assert_threads_fine(b)

    def test_clone_refuses_live_stack(self):
        """The main thread's stack pointer, in [stack], read from /proc."""
        for dry in (False, True):
            with self.subTest(dry_run=dry):
                a, src = self.source_page()
                b = self.victim()
                b.ok("threads 1")
                for _ in range(500):	# "running" until it blocks in read()
                    with open(f"/proc/{b.pid}/task/{b.pid}/syscall") as f:
                        fields = f.read().split()
                    if len(fields) > 2:
                        break
                    time.sleep(0.01)
                sp = int(fields[-2], 16)
                self.assertEqual(b.vma_at(sp)["name"], "[stack]")
                page = sp & ~(PAGE - 1)
                snap = Snapshot(b, [(page, PAGE)])
                r = run("--pid", a.pid, "--src", hex(src), "--len", hex(PAGE),
                        "--target", b.pid, "--dst", hex(page), "--replace",
                        *(["--dry-run"] if dry else []))
                self.assertEqual(r.returncode, 1, r.stderr)
                self.assertIn(f"thread {b.pid}'s stack pointer at {sp:#x}", r.stderr)
                snap.assert_unchanged(self)

    def test_restore_refuses_rseq(self):
        """The trial's case: an image restored with --replace over the page
        a thread registered with rseq(2)."""
        a, src = self.source_page()
        b, tid, areas = self.target()
        page = areas["rseq"] & ~(PAGE - 1)
        with tempfile.TemporaryDirectory() as d:
            img = os.path.join(d, "img")
            run("dump", "--pid", a.pid, "--src", hex(src), "--len", hex(PAGE), "-o", img,
                check=0)
            for dry in (False, True):
                with self.subTest(dry_run=dry):
                    snap = Snapshot(b)
                    r = run("restore", "--pid", b.pid, "-i", img, "--dst", hex(page),
                            "--replace", *(["--dry-run"] if dry else []))
                    self.assert_refused(r, b, tid, "rseq", areas["rseq"])
                    snap.assert_unchanged(self)
            self.assert_threads_fine(b)

    def test_force(self):
        """--force replaces it, with a warning naming what it replaced.  The
        page of a reader thread's stack: that thread stays blocked in the
        kernel, so the process lives on until it is woken."""
        a, src = self.source_page()
        want = a.read(src, PAGE)
        b, tid, areas = self.target()
        page = areas["sp"] & ~(PAGE - 1)
        r = run("--pid", a.pid, "--src", hex(src), "--len", hex(PAGE), "--target", b.pid,
                "--dst", hex(page), "--replace", "--force")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"warning: replacing {page:#x}-{page + PAGE:#x} in PID {b.pid} "
                      f"although it holds thread {tid}'s stack pointer", r.stderr)
        # through /proc/PID/mem: another thread's stack is poisoned for ASan
        self.assertEqual(b.read(page, PAGE), want)
        self.assertTrue(b.alive())

    def test_force_needs_replace(self):
        a, src = self.source_page()
        r = run("--pid", a.pid, "--src", hex(src), "--dst", hex(self.free_addr(a)),
                "--force")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--force applies only with --replace", r.stderr)


if __name__ == "__main__":
    unittest.main()
