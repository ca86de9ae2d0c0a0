# SPDX-License-Identifier: GPL-2.0-or-later
"""What a clone means, row by row of design.md's table, same-process and
cross-process, checked against /proc and the processes themselves."""
import os
import subprocess
import tempfile
import time
import unittest

from harness import ENGINE, PAGE, Snapshot, VictimTest, run, run_json

MIB = 1 << 20


class Semantics(VictimTest):
    def clone(self, src, addr, dst_victim, dst, *extra):
        args = ["--pid", src.pid, "--src", hex(addr), "--dst", hex(dst)]
        if dst_victim is not src:
            args += ["--target", dst_victim.pid]
        return run_json(*args, *extra)

    def check_private_anon(self, same_process):
        a = self.victim()
        b = a if same_process else self.victim()
        addr = a.addr(f"anon {MIB:#x} 5")
        src_snap = Snapshot(a, [(addr, MIB)])
        dst = self.free_addr(a, b)
        out = self.clone(a, addr, b, dst, "--len", hex(MIB))
        self.assertEqual(out["engine"], ENGINE or "copy")
        self.assertEqual(out["ranges"][0]["kind"], "anon-private")
        self.assertEqual(b.sum(dst, MIB), a.sum(addr, MIB))
        self.assertEqual(b.read(dst, MIB), a.read(addr, MIB))
        self.assertEqual(b.vma_at(dst)["perms"], "rw-p")
        self.assertEqual(b.vma_at(dst)["inode"], 0)
        # private: a write on one side is not seen on the other
        b.ok(f"poke {dst:#x} 0")
        self.assertNotEqual(a.cmd(f"peek {addr:#x}"), "0")
        if not same_process:
            src_snap.assert_unchanged(self)
        self.assertTrue(a.alive() and b.alive())

    def test_private_anon_cross_process(self):
        self.check_private_anon(False)

    def test_private_anon_same_process(self):
        self.check_private_anon(True)

    def test_untouched_pages_stay_untouched(self):
        a, b = self.victim(), self.victim()
        length = 64 * MIB
        addr = a.addr(f"sparse {length:#x} {MIB:#x}")   # one page in 256
        dst = self.free_addr(a, b)
        out = self.clone(a, addr, b, dst, "--len", hex(length))
        # the copy engine copies the 64 touched pages; the kernel engine
        # shares them; neither touches the others
        self.assertEqual(out["pages_shared" if ENGINE == "kernel" else "pages_copied"], 64)
        if ENGINE != "kernel":
            self.assertEqual(out["pages_skipped"], length // PAGE - 64)
        present = b.present(dst, length // PAGE)
        self.assertEqual([i for i, p in enumerate(present) if p],
                         [i * (MIB // PAGE) for i in range(64)])
        self.assertEqual(b.sum(dst, length), a.sum(addr, length))

    def check_shared(self, kind, same_process=False):
        a = self.victim()
        b = a if same_process else self.victim()
        addr = a.addr(f"{kind} {MIB:#x}")
        dst = self.free_addr(a, b)
        out = self.clone(a, addr, b, dst, "--len", hex(MIB))
        self.assertEqual(out["ranges"][0]["kind"], "anon-shared")
        self.assertEqual(out["pages_copied"], 0)
        self.assertEqual(b.sum(dst, MIB), a.sum(addr, MIB))
        self.assertEqual(b.vma_at(dst)["perms"][3], "s")
        self.assertEqual(b.vma_at(dst)["inode"], a.vma_at(addr)["inode"])
        # the same object: writes are visible both ways
        b.ok(f"poke {dst + 100:#x} 0")
        self.assertEqual(a.cmd(f"peek {addr + 100:#x}"), "0")
        a.ok(f"poke {addr + 200:#x} 42")
        self.assertEqual(b.cmd(f"peek {dst + 200:#x}"), "42")

    def test_shared_anon(self):
        self.check_shared("shared")

    def test_shared_anon_same_process(self):
        self.check_shared("shared", same_process=True)

    def test_memfd(self):
        self.check_shared("memfd")

    def test_sysv_shm(self):
        self.check_shared("sysv")

    def make_file(self, length):
        fd, path = tempfile.mkstemp(prefix="pgclone-test-")
        os.write(fd, bytes((i * 7 + 3) & 0xff for i in range(length)))
        os.close(fd)
        self.addCleanup(os.unlink, path)
        return path

    def test_private_file_keeps_file_and_dirty_pages(self):
        a, b = self.victim(), self.victim()
        path = self.make_file(4 * PAGE)
        addr = a.addr(f"file {path} {4 * PAGE:#x} private")
        a.ok(f"poke {addr + PAGE + 5:#x} 99")      # COW one page
        dst = self.free_addr(a, b)
        out = self.clone(a, addr, b, dst)
        r = out["ranges"][0]
        self.assertEqual(r["kind"], "file-private")
        # the copy engine copies the one COW'd page and maps the file for
        # the rest; the kernel engine copies nothing
        self.assertEqual(r["pages_copied"], 0 if ENGINE == "kernel" else 1)
        self.assertEqual(b.read(dst, 4 * PAGE), a.read(addr, 4 * PAGE))
        self.assertEqual(b.cmd(f"peek {dst + PAGE + 5:#x}"), "99")
        v = b.vma_at(dst)
        self.assertEqual((v["name"], v["offset"], v["perms"]), (path, 0, "rw-p"))
        with open(path, "rb") as f:
            self.assertNotEqual(f.read()[PAGE + 5], 99, "the file was written")

    def test_shared_file(self):
        a, b = self.victim(), self.victim()
        path = self.make_file(4 * PAGE)
        addr = a.addr(f"file {path} {4 * PAGE:#x} shared")
        dst = self.free_addr(a, b)
        out = self.clone(a, addr, b, dst)
        self.assertEqual(out["ranges"][0]["kind"], "file-shared")
        self.assertEqual(b.vma_at(dst)["perms"], "rw-s")
        b.ok(f"poke {dst + 3:#x} 77")
        self.assertEqual(a.cmd(f"peek {addr + 3:#x}"), "77")
        with open(path, "rb") as f:
            self.assertEqual(f.read()[3], 77)

    def test_file_offset_follows_src_inside_mapping(self):
        a, b = self.victim(), self.victim()
        path = self.make_file(8 * PAGE)
        addr = a.addr(f"file {path} {8 * PAGE:#x} private")
        dst = self.free_addr(a, b)
        # --src in the middle of a page inside the mapping: rounded down,
        # and the range runs to the end of the mapping
        out = self.clone(a, addr + 3 * PAGE + 17, b, dst)
        self.assertEqual(out["len"], 5 * PAGE)
        self.assertEqual(b.vma_at(dst)["offset"], 3 * PAGE)
        self.assertEqual(b.read(dst, 5 * PAGE), a.read(addr + 3 * PAGE, 5 * PAGE))

    def test_protections_follow(self):
        a, b = self.victim(), self.victim()
        addr = a.addr(f"anon {5 * PAGE:#x} 9")
        a.ok(f"prot {addr:#x} {PAGE:#x} ---")
        a.ok(f"prot {addr + PAGE:#x} {PAGE:#x} r--")
        a.ok(f"prot {addr + 2 * PAGE:#x} {PAGE:#x} --x")
        a.ok(f"prot {addr + 3 * PAGE:#x} {PAGE:#x} -w-")
        dst = self.free_addr(a, b)
        out = self.clone(a, addr, b, dst, "--len", hex(5 * PAGE))
        self.assertEqual(len(out["ranges"]), 5)
        self.assertEqual([b.vma_at(dst + i * PAGE)["perms"] for i in range(5)],
                         ["---p", "r--p", "--xp", "-w-p", "rw-p"])
        # PROT_NONE, exec-only and write-only pages still carry their data
        self.assertEqual(b.read(dst, 5 * PAGE), a.read(addr, 5 * PAGE))

    def test_advice_follows(self):
        a, b = self.victim(), self.victim()
        addr = a.addr(f"anon {2 * MIB:#x}")
        a.ok(f"advise {addr:#x} {2 * MIB:#x} dontdump")
        a.ok(f"advise {addr:#x} {2 * MIB:#x} hugepage")
        a.ok(f"advise {addr:#x} {2 * MIB:#x} wipeonfork")
        dst = self.free_addr(a, b)
        self.clone(a, addr, b, dst, "--len", hex(2 * MIB))
        flags = b.smaps_flags(dst)
        for f in ("dd", "hg", "wf"):
            self.assertIn(f, flags)

    def test_anon_name_follows(self):
        a, b = self.victim(), self.victim()
        addr = a.addr(f"anon {2 * MIB:#x}")
        if a.cmd(f"name {addr:#x} {2 * MIB:#x} my-arena") != "ok":
            self.skipTest("this kernel has no CONFIG_ANON_VMA_NAME")
        dst = self.free_addr(a, b)
        self.clone(a, addr, b, dst, "--len", hex(2 * MIB))
        self.assertEqual(b.vma_at(dst)["name"], "[anon:my-arena]")

    def test_thp_source(self):
        a, b = self.victim(), self.victim()
        addr = a.addr(f"thp {8 * MIB:#x}")
        dst = self.free_addr(a, b)
        self.clone(a, addr, b, dst, "--len", hex(8 * MIB))
        self.assertEqual(b.sum(dst, 8 * MIB), a.sum(addr, 8 * MIB))
        self.assertIn("hg", b.smaps_flags(dst))

    def test_span_of_adjacent_mappings(self):
        a, b = self.victim(), self.victim()
        addr = a.addr(f"anon {6 * PAGE:#x} 3")
        a.ok(f"prot {addr + 2 * PAGE:#x} {2 * PAGE:#x} r--")
        dst = self.free_addr(a, b)
        out = self.clone(a, addr, b, dst, "--len", hex(6 * PAGE))
        self.assertEqual([r["perms"] for r in out["ranges"]], ["rw-p", "r--p", "rw-p"])
        self.assertEqual(b.read(dst, 6 * PAGE), a.read(addr, 6 * PAGE))

    def test_move_unmaps_source(self):
        a, b = self.victim(), self.victim()
        addr = a.addr(f"anon {MIB:#x} 8")
        want = a.sum(addr, MIB)
        dst = self.free_addr(a, b)
        self.clone(a, addr, b, dst, "--len", hex(MIB), "--move")
        self.assertEqual(b.sum(dst, MIB), want)
        self.assertIsNone(a.vma_at(addr))
        self.assertTrue(a.alive())

    def test_move_same_process(self):
        a = self.victim()
        addr = a.addr(f"anon {MIB:#x} 8")
        want = a.sum(addr, MIB)
        dst = self.free_addr(a)
        self.clone(a, addr, a, dst, "--len", hex(MIB), "--move")
        self.assertEqual(a.sum(dst, MIB), want)
        self.assertIsNone(a.vma_at(addr))

    def test_replace(self):
        a, b = self.victim(), self.victim()
        addr = a.addr(f"anon {MIB:#x} 1")
        old = b.addr(f"anon {2 * MIB:#x} 2")
        head, tail = b.read(old, MIB // 2), b.read(old + 3 * MIB // 2, MIB // 2)
        nr_vmas = len(b.vmas())
        guards = [v for v in b.vmas() if v["perms"] == "---p"]
        out = self.clone(a, addr, b, old + MIB // 2, "--len", hex(MIB), "--replace")
        self.assertEqual(out["dst"], hex(old + MIB // 2))
        self.assertEqual(b.sum(old + MIB // 2, MIB), a.sum(addr, MIB))
        # what was not replaced is intact, and nothing was left behind
        self.assertEqual(b.read(old, MIB // 2), head)
        self.assertEqual(b.read(old + 3 * MIB // 2, MIB // 2), tail)
        self.assertLessEqual(len(b.vmas()), nr_vmas + 2)
        # the set-aside reservation is gone
        self.assertEqual([v for v in b.vmas() if v["perms"] == "---p"], guards)
        self.assertTrue(b.alive())

    def test_no_freeze(self):
        a, b = self.victim(), self.victim()
        addr = a.addr(f"anon {MIB:#x} 4")
        dst = self.free_addr(a, b)
        self.clone(a, addr, b, dst, "--len", hex(MIB), "--no-freeze")
        self.assertEqual(b.sum(dst, MIB), a.sum(addr, MIB))

    def test_dry_run_changes_nothing(self):
        a, b = self.victim(), self.victim()
        addr = a.addr(f"anon {MIB:#x}")
        sa, sb = Snapshot(a, [(addr, MIB)]), Snapshot(b)
        dst = self.free_addr(a, b)
        out = self.clone(a, addr, b, dst, "--len", hex(MIB), "--dry-run")
        self.assertTrue(out["dry_run"])
        self.assertEqual(out["ranges"][0]["dst"], hex(dst))
        sa.assert_unchanged(self)
        sb.assert_unchanged(self)

    def test_multithreaded_target_blocked_in_read(self):
        a, b = self.victim(), self.victim()
        b.ok("threads 4")
        addr = a.addr(f"anon {MIB:#x}")
        dst = self.free_addr(a, b)
        self.clone(a, addr, b, dst, "--len", hex(MIB))
        self.assertEqual(b.sum(dst, MIB), a.sum(addr, MIB))
        # every read() the clone interrupted resumed: none saw EINTR
        self.assertEqual(b.cmd("wake"), "ok 4")

    def test_multithreaded_source(self):
        a, b = self.victim(), self.victim()
        a.ok("threads 3")
        addr = a.addr(f"anon {MIB:#x}")
        dst = self.free_addr(a, b)
        self.clone(a, addr, b, dst, "--len", hex(MIB))
        self.assertEqual(b.sum(dst, MIB), a.sum(addr, MIB))
        self.assertEqual(a.cmd("wake"), "ok 3")

    def test_stopped_target_stays_stopped(self):
        import signal
        a, b = self.victim(), self.victim()
        addr = a.addr(f"anon {MIB:#x}")
        dst = self.free_addr(a, b)
        os.kill(b.pid, signal.SIGSTOP)
        while b.state() != "T":
            time.sleep(0.01)
        self.clone(a, addr, b, dst, "--len", hex(MIB))
        # just after the detach the task is briefly runnable on its way
        # back into the group stop; a task let go would block in read (S)
        deadline = time.time() + 5
        while b.state() != "T" and time.time() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)
        self.assertEqual(b.state(), "T")
        os.kill(b.pid, signal.SIGCONT)
        self.assertEqual(b.sum(dst, MIB), a.sum(addr, MIB))

    def test_target_seccomp_forbids_process_vm_readv(self):
        # the fast path is refused by the target's filter: pgclone copies
        # through its own buffer instead, and the filter is never tripped.
        # 16 MiB: the buffer is timed on the first 8, then the target's
        # own read is tried (lib/engine/transfer.c)
        a, b = self.victim(), self.victim()
        b.ok("seccomp-errno-pvr")
        addr = a.addr(f"anon {16 * MIB:#x}")
        dst = self.free_addr(a, b)
        r = run("--pid", a.pid, "--src", hex(addr), "--len", hex(16 * MIB),
                "--target", b.pid, "--dst", hex(dst), "-v")
        if ENGINE != "kernel":      # which copies nothing
            self.assertIn("the target cannot read the source itself", r.stderr)
        self.assertEqual(b.sum(dst, 16 * MIB), a.sum(addr, 16 * MIB))
        self.assertTrue(b.alive())

    def test_progress_only_on_a_terminal(self):
        a, b = self.victim(), self.victim()
        addr = a.addr(f"anon {128 * MIB:#x} 2")
        dst = self.free_addr(a, b)
        args = ["--pid", a.pid, "--src", hex(addr), "--len", "128M", "--target", b.pid,
                "--dst", hex(dst)]
        r = run(*args, check=0)
        self.assertEqual(r.stderr, "")       # not a terminal: no progress
        b.ok(f"unmap {dst:#x} {128 * MIB:#x}")
        cmd = " ".join([os.environ["PGCLONE"]] + [str(x) for x in args])
        r = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True,
                           text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("pgclone: copying", r.stdout)
        self.assertIn("MiB (", r.stdout)
        self.assertIn("\033[K", r.stdout)       # the line is cleared when done
        self.assertEqual(r.stdout.count("128/128 MiB"), 1)
        self.assertEqual(b.sum(dst, 128 * MIB), a.sum(addr, 128 * MIB))

    def test_maps_command(self):
        a = self.victim()
        out = run_json("maps", "--pid", a.pid)
        names = {m["name"]: m for m in out["mappings"]}
        self.assertFalse(names["[vdso]"]["clonable"])
        self.assertIn("vdso", names["[vdso]"]["reason"])
        self.assertTrue(names["[heap]"]["clonable"] if "[heap]" in names else True)
        text = run("maps", "--pid", a.pid, check=0).stdout
        self.assertIn("[vdso]", text)


if __name__ == "__main__":
    unittest.main()
