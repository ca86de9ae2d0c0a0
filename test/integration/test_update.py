# SPDX-License-Identifier: GPL-2.0-or-later
"""restore --update: a delta written into the live clone of its parent.

A source writes pages, a base is dumped and restored into a destination,
the source writes more (new data, a page dropped, a protection changed),
a delta is dumped and applied with --update: every page of the
destination range is then the source's at the delta's instant (the same
pages populated, the same bytes), and /proc/PID/maps of both processes is
unchanged but for the protection the delta carries.  A delta that is not
the clone's (another chain, a skipped link, a clone written to since, a
wrong address or layout) is refused with one line and the destination
unchanged; so is a failure at every fault point, a SIGINT, and the
destination exiting.

On a kernel without CONFIG_MEM_SOFT_DIRTY the tests run with the
fault-point build's stand-in for it (PGCLONE_FAULT_SOFTDIRTY=emulate), as
test_incremental.py does."""
import json
import os
import shutil
import signal
import subprocess
import tempfile

from harness import PAGE, PGCLONE, Snapshot, VictimTest, run, run_json, start_stopped_at
from test_incremental import EMULATED, LEN, MIB, populated


class Update(VictimTest):
    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="pgclone-update-")
        self.addCleanup(lambda: shutil.rmtree(self.dir, ignore_errors=True))

    def path(self, name):
        return os.path.join(self.dir, name)

    def env(self):
        return {"PGCLONE_RUNTIME_DIR": self.path("run"),
                "PGCLONE_FAULT_SOFTDIRTY": "emulate" if EMULATED else ""}

    def dump(self, v, addr, name, *extra):
        return run("dump", "--pid", v.pid, "--src", hex(addr), "--len", hex(LEN),
                   *extra, "-o", self.path(name), env=self.env(), check=0)

    def update(self, v, dst, *names, env=None, check=None):
        args = []
        for n in names:
            args += ["-i", self.path(n)]
        return run("restore", "--update", "--pid", v.pid, *args, "--dst", hex(dst),
                   env=dict(self.env(), **(env or {})), check=check)

    def assert_refused(self, r, needle, code=2):
        self.assertEqual(r.returncode, code, r.stderr)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn(needle, lines[0])

    def setup_clone(self):
        """A source with a sparse 8 MiB mapping, its base restored into a
        destination, then written: new data over pages the base holds and
        pages it never saw, a page dropped, the range made read-only.
        Returns the processes, addresses, and the source's state at the
        delta's instant."""
        a = self.victim()
        addr = a.addr(f"sparse {LEN:#x} {32 * PAGE:#x}")
        self.dump(a, addr, "base", "--track")
        b = self.victim()
        dst = self.free_addr(a, b)
        run("restore", "--pid", b.pid, "-i", self.path("base"), "--dst", hex(dst),
            env=self.env(), check=0)
        self.assertEqual(populated(b, dst), populated(a, addr))
        a.ok(f"fill {addr + 64 * PAGE:#x} {PAGE:#x} {1 << 30:#x}")
        a.ok(f"fill {addr + 65 * PAGE:#x} {3 * PAGE:#x} {2 << 30:#x}")
        a.ok(f"fill {addr + 2 * MIB:#x} {MIB:#x} {3 << 30:#x}")
        a.ok(f"poke {addr + 7 * MIB + 5 * PAGE:#x} 7")
        a.ok(f"advise {addr + 32 * PAGE:#x} {PAGE:#x} dontneed")
        a.ok(f"prot {addr:#x} {LEN:#x} r")
        self.dump(a, addr, "d1", "--parent", self.path("base"))
        return a, addr, b, dst, populated(a, addr)

    def test_update_is_the_delta_instant_exactly(self):
        a, addr, b, dst, want = self.setup_clone()
        maps_a, maps_b = a.maps(), b.maps()
        before = populated(b, dst)
        # a dry run checks the live clone too, and writes nothing
        r = run("restore", "--update", "--dry-run", "--pid", b.pid, "-i", self.path("base"),
                "-i", self.path("d1"), "--dst", hex(dst), env=self.env(), check=0)
        self.assertIn("would update 1 range(s)", r.stdout)
        self.assertEqual((a.maps(), b.maps()), (maps_a, maps_b))
        self.assertEqual(populated(b, dst), before)
        d1 = run_json("show", self.path("d1"))
        r = run("restore", "--update", "--pid", b.pid, "-i", self.path("base"),
                "-i", self.path("d1"), "--dst", hex(dst), "--json",
                env=self.env(), check=0)
        out = json.loads(r.stdout)
        self.assertEqual(out["command"], "updated")
        self.assertTrue(out["committed"])
        self.assertEqual(out["dst"], hex(dst))
        # only the delta's pages were written
        self.assertEqual(out["pages_written"], d1["pages_data"])
        # every page: the same ones populated, with the same bytes
        got = populated(b, dst)
        self.assertEqual(got, want)
        self.assertNotEqual(got, before)
        self.assertEqual(b.read(dst + 32 * PAGE, PAGE), bytes(PAGE))
        # the source untouched; the destination's maps changed only by the
        # protection the delta carries
        self.assertEqual(a.maps(), maps_a)
        self.assertEqual(b.maps(), maps_b.replace(f"{dst:x}-{dst + LEN:x} rw-p",
                                                  f"{dst:x}-{dst + LEN:x} r--p"))
        self.assertEqual(b.vma_at(dst)["perms"], "r--p")
        self.assertEqual(b.sum(dst, LEN), a.sum(addr, LEN))
        self.assertTrue(a.alive() and b.alive())
        # and the next delta applies on top of this one
        a.ok(f"prot {addr:#x} {LEN:#x} rw")
        a.ok(f"fill {addr + 5 * MIB:#x} {2 * PAGE:#x} {5 << 30:#x}")
        self.dump(a, addr, "d2", "--parent", self.path("d1"))
        self.update(b, dst, "base", "d1", "d2", check=0)
        self.assertEqual(populated(b, dst), populated(a, addr))
        self.assertEqual(b.vma_at(dst)["perms"], "rw-p")

    def test_a_compressed_delta_through_a_pipe(self):
        """The delta from standard input, compressed, as a migration hook
        would send it."""
        a, addr, b, dst, _ = self.setup_clone()
        a.ok(f"prot {addr:#x} {LEN:#x} rw")
        a.ok(f"fill {addr + 4 * MIB:#x} {MIB:#x} {6 << 30:#x}")
        self.dump(a, addr, "d2", "--parent", self.path("d1"), "--compress")
        run("restore", "--update", "--pid", b.pid, "-i", self.path("base"),
            "-i", self.path("d1"), "--dst", hex(dst), env=self.env(), check=0)
        with open(self.path("d2"), "rb") as f:
            p = subprocess.run([PGCLONE, "restore", "--update", "--pid", str(b.pid),
                                "-i", self.path("base"), "-i", self.path("d1"), "-i", "-",
                                "--dst", hex(dst)], stdin=f, capture_output=True,
                               text=True, env=dict(os.environ, **self.env()))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(populated(b, dst), populated(a, addr))
        self.assertEqual(b.vma_at(dst)["perms"], "rw-p")

    def test_several_ranges_and_the_zero_page(self):
        """A range of three mappings (the middle one read-only), its middle
        made executable, a page dropped and read again (the zero page),
        and a delta whose layout is not its parent's, refused."""
        a = self.victim()
        addr = a.addr(f"sparse {LEN:#x} {32 * PAGE:#x}")
        a.ok(f"prot {addr + 3 * MIB:#x} {MIB:#x} r")
        self.dump(a, addr, "base", "--track")
        self.assertEqual(len(run_json("show", self.path("base"))["ranges"]), 3)
        b = self.victim()
        dst = self.free_addr(a, b)
        run("restore", "--pid", b.pid, "-i", self.path("base"), "--dst", hex(dst),
            env=self.env(), check=0)
        a.ok(f"fill {addr + PAGE:#x} {PAGE:#x} {1 << 30:#x}")
        a.ok(f"fill {addr + 5 * MIB:#x} {4 * PAGE:#x} {2 << 30:#x}")
        a.ok(f"prot {addr + 3 * MIB:#x} {MIB:#x} rx")
        zero = 64 * PAGE
        a.ok(f"advise {addr + zero:#x} {PAGE:#x} dontneed")
        self.assertEqual(a.cmd(f"peek {addr + zero:#x}"), "0")
        self.dump(a, addr, "d1", "--parent", self.path("base"))
        maps_b = b.maps()
        self.update(b, dst, "base", "d1", check=0)
        want, got = populated(a, addr), populated(b, dst)
        # the zero page: mapped in the source, untouched here (as a
        # restore of the chain leaves it); both read zeroes
        self.assertEqual(b.read(dst + zero, PAGE), bytes(PAGE))
        for state in (want, got):
            state[0][zero // PAGE] = False
            state[1].pop(zero // PAGE, None)
        self.assertEqual(got, want)
        mid = f"{dst + 3 * MIB:x}-{dst + 4 * MIB:x} "
        self.assertEqual(b.maps(), maps_b.replace(mid + "r--p", mid + "r-xp"))
        self.assertEqual(b.sum(dst, LEN), a.sum(addr, LEN))
        # the middle made writable again: one mapping in the source now,
        # three in the clone
        a.ok(f"prot {addr + 3 * MIB:#x} {MIB:#x} rw")
        self.dump(a, addr, "d2", "--parent", self.path("d1"))
        snap = Snapshot(b)
        state = populated(b, dst)
        self.assert_refused(self.update(b, dst, "base", "d1", "d2"),
                            "the delta's mappings are not its parent's")
        snap.assert_unchanged(self)
        self.assertEqual(populated(b, dst), state)
        # a restore of the whole chain is the way
        c = self.victim()
        run("restore", "--pid", c.pid, "-i", self.path("base"), "-i", self.path("d1"),
            "-i", self.path("d2"), "--dst", hex(dst), env=self.env(), check=0)

    def test_a_delta_that_is_not_the_clones_is_refused(self):
        a, addr, b, dst, want = self.setup_clone()
        a.ok(f"prot {addr:#x} {LEN:#x} rw")
        a.ok(f"poke {addr + 3 * MIB:#x} 3")
        self.dump(a, addr, "d2", "--parent", self.path("d1"))
        # a delta of another process's chain: its pages are not the clone's
        # (pages equal to the clone's would pass: the check is of contents)
        o = self.victim()
        oaddr = o.addr(f"sparse {LEN:#x} {32 * PAGE:#x}")
        o.ok(f"fill {oaddr + 6 * MIB:#x} {PAGE:#x} {7 << 30:#x}")
        self.dump(o, oaddr, "other", "--track")
        o.ok(f"poke {oaddr:#x} 9")
        self.dump(o, oaddr, "other-d1", "--parent", self.path("other"))
        # a full image the size of the range, mapped elsewhere in b
        elsewhere = b.addr(f"anon {LEN:#x} 5")
        snap = Snapshot(b, [(elsewhere, LEN)])
        state = populated(b, dst)
        cases = {
            "a delta alone": (["d1"], dst, "needs the images the clone was restored from"),
            "a foreign delta": (["base", "other-d1"], dst,
                                "image 2 of the chain is a delta of image"),
            "another chain": (["other", "other-d1"], dst, "is not the page the chain holds"),
            "a link skipped": (["base", "d2"], dst, "image 2 of the chain is a delta of image"),
            # the chain is right, but the clone holds only the base (and
            # d1, d2's parent, made the range read-only)
            "a delta not applied yet": (["base", "d1", "d2"], dst,
                                        "holds no clone of the delta's parent at"),
            "not a delta": (["base", "other"], dst, "is not a delta"),
            "nothing there": (["base", "d1"], dst + 2 * LEN, "nothing is mapped at"),
            "another mapping": (["base", "d1"], elsewhere, "is not the page the chain holds"),
        }
        for name, (names, at, needle) in cases.items():
            with self.subTest(case=name):
                self.assert_refused(self.update(b, at, *names), needle)
                snap.assert_unchanged(self)
                self.assertEqual(populated(b, dst), state)
        # a protection that is not the parent's
        b.ok(f"prot {dst:#x} {LEN:#x} r")
        snap = Snapshot(b)
        self.assert_refused(self.update(b, dst, "base", "d1"),
                            "holds no clone of the delta's parent at")
        snap.assert_unchanged(self)
        # a clone written to since it was restored, at a page the delta
        # leaves to its parent
        b.ok(f"prot {dst:#x} {LEN:#x} rw")
        b.ok(f"poke {dst + 10 * 32 * PAGE + 8:#x} 1")
        snap = Snapshot(b)
        state = populated(b, dst)
        needle = f"{dst + 10 * 32 * PAGE:#x} in PID {b.pid} is not the page the chain holds"
        self.assert_refused(self.update(b, dst, "base", "d1"), needle)
        snap.assert_unchanged(self)
        r = run("restore", "--update", "--dry-run", "--pid", b.pid, "-i", self.path("base"),
                "-i", self.path("d1"), "--dst", hex(dst), env=self.env())
        self.assert_refused(r, needle)
        snap.assert_unchanged(self)
        self.assertEqual(populated(b, dst), state)

    def test_every_fault_point_rolls_back(self):
        for point in ("seized", "verified", "written", "dropped", "finished"):
            with self.subTest(point=point):
                a, addr, b, dst, want = self.setup_clone()
                snap = Snapshot(b)
                state = populated(b, dst)
                maps_a = a.maps()
                r = self.update(b, dst, "base", "d1", env={"PGCLONE_FAULT_FAIL": point})
                self.assert_refused(r, f"fault injected at {point}", code=1)
                snap.assert_unchanged(self)
                # the very pages populated, not only the bytes
                self.assertEqual(populated(b, dst), state)
                self.assertEqual(a.maps(), maps_a)
                # and the same update then works
                self.update(b, dst, "base", "d1", check=0)
                self.assertEqual(populated(b, dst), want)
        # after the commit point: done, and said so
        a, addr, b, dst, want = self.setup_clone()
        r = self.update(b, dst, "base", "d1", env={"PGCLONE_FAULT_FAIL": "committed"})
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertEqual(populated(b, dst), want)

    def test_sigint_and_a_destination_exiting(self):
        for point in ("verified", "written", "dropped"):
            with self.subTest(point=point, what="SIGINT"):
                a, addr, b, dst, want = self.setup_clone()
                snap = Snapshot(b)
                state = populated(b, dst)
                p = start_stopped_at(point, "restore", "--update", "--pid", str(b.pid),
                                     "-i", self.path("base"), "-i", self.path("d1"),
                                     "--dst", hex(dst), extra_env=self.env())
                os.kill(p.pid, signal.SIGINT)
                os.kill(p.pid, signal.SIGCONT)
                out, err = p.communicate(timeout=60)
                self.assertEqual(p.returncode, 1, err)
                self.assertIn("interrupted", err)
                snap.assert_unchanged(self)
                self.assertEqual(populated(b, dst), state)
        with self.subTest(what="the destination exits"):
            a, addr, b, dst, want = self.setup_clone()
            p = start_stopped_at("written", "restore", "--update", "--pid", str(b.pid),
                                 "-i", self.path("base"), "-i", self.path("d1"),
                                 "--dst", hex(dst), extra_env=self.env())
            # pgclone, its tracer, reaps it first: waited for after
            b.p.kill()
            os.kill(p.pid, signal.SIGCONT)
            out, err = p.communicate(timeout=60)
            b.p.wait()
            self.assertEqual(p.returncode, 1, err)
            self.assertEqual(len(err.strip().splitlines()), 1, err)
            self.assertTrue(a.alive())

    def test_usage(self):
        b = self.victim()
        for argv, needle in (
                (["-i", "x"], "--update needs the images the clone was restored from"),
                (["-i", "x", "-i", "y", "--replace"], "--replace does not apply"),
                (["-i", "x", "-i", "y", "--dst", "auto"], "not auto")):
            with self.subTest(argv=argv):
                r = run("restore", "--update", "--pid", b.pid, *argv)
                self.assert_refused(r, needle)
        h = run("--help", check=0).stdout
        self.assertIn("restore --update", h)


if __name__ == "__main__":
    import unittest
    unittest.main()
