# SPDX-License-Identifier: GPL-2.0-or-later
"""Incremental images: dump --track, dump --parent and restore of a chain.

A chain restores exact to the byte and to the page (both processes read
back, every page), through both ways of reading written pages
(PAGEMAP_SCAN and pagemap bit 55); a chain out of order, with a link
missing or with a foreign delta, and a parent that does not fit, are
refused with one line, the destination's maps and bytes unchanged.

On a kernel without CONFIG_MEM_SOFT_DIRTY the tests run with the
fault-point build's stand-in for it (PGCLONE_FAULT_SOFTDIRTY=emulate):
everything but the kernel's bit itself is the same code."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from harness import PAGE, PGCLONE, Snapshot, VictimTest, run, run_json
from test_compress import old_reader

MIB = 1 << 20
LEN = 8 * MIB


def populated(v, addr):
    """(which pages of [addr, addr + LEN) are populated, and their
    bytes): read only where populated, for a read of an untouched page
    would populate it."""
    present = v.present(addr, LEN // PAGE)
    with open(f"/proc/{v.pid}/mem", "rb") as f:
        data = {}
        for i, p in enumerate(present):
            if p:
                f.seek(addr + i * PAGE)
                data[i] = f.read(PAGE)
    return present, data


def kernel_soft_dirty():
    """Does this kernel keep soft-dirty bits?  Asked of a page of ours
    just written, without ctypes (the guest's python3 has no libffi):
    CPython's id() is an object's address, and a bytes object holds its
    data inline, so the page after its header is data."""
    data = b"x" * (4 * PAGE)
    page = (id(data) // PAGE + 1) * PAGE
    with open("/proc/self/pagemap", "rb") as f:
        f.seek(page // PAGE * 8)
        e = int.from_bytes(f.read(8), "little")
    return bool(e >> 55 & 1)


EMULATED = not kernel_soft_dirty()


def setUpModule():
    print("\nwritten pages tracked by " +
          ("the fault-point build's stand-in" if EMULATED else "the kernel's soft-dirty bit"),
          file=sys.stderr)


# the two ways of reading written pages, and what -v -v says of each
PATHS = {"PAGEMAP_SCAN": "", "pagemap bit 55": "pagemap"}


class Incremental(VictimTest):
    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="pgclone-incr-")
        self.addCleanup(lambda: shutil.rmtree(self.dir, ignore_errors=True))
        self.path_how = ""
        self.walk_how = ""      # PGCLONE_FAULT_PAGEWALK

    def path(self, name):
        return os.path.join(self.dir, name)

    def env(self):
        how = ",".join(x for x in ("emulate" if EMULATED else "", self.path_how) if x)
        return {"PGCLONE_RUNTIME_DIR": self.path("run"),
                "PGCLONE_FAULT_SOFTDIRTY": how,
                "PGCLONE_FAULT_PAGEWALK": self.walk_how}

    def dump(self, v, addr, name, *extra, check=0, length=LEN):
        return run("dump", "--pid", v.pid, "--src", hex(addr), "--len", hex(length),
                   *extra, "-o", self.path(name), env=self.env(), check=check)

    def restore(self, v, dst, *names, check=None):
        args = []
        for n in names:
            args += ["-i", self.path(n)]
        return run("restore", "--pid", v.pid, *args, "--dst", hex(dst),
                   env=self.env(), check=check)

    def assert_refused(self, r, needle):
        self.assertEqual(r.returncode, 2, r.stderr)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn(needle, lines[0])

    def source(self):
        """A victim with a sparse 8 MiB mapping: one page in 32 written."""
        a = self.victim()
        return a, a.addr(f"sparse {LEN:#x} {32 * PAGE:#x}")

    def chain(self, a, addr, verbose=()):
        """base, d1, d2 of @a with writes between them; returns what each
        image holds, as the source's bytes and present pages."""
        states = []

        def state():
            return populated(a, addr)

        self.dump(a, addr, "base", "--track")
        states.append(state())
        # written: a page the base holds, and pages it never saw (seeds
        # 2 << 29 apart: other bytes, which the emulation needs)
        a.ok(f"fill {addr + 64 * PAGE:#x} {PAGE:#x} {1 << 30:#x}")
        a.ok(f"fill {addr + 65 * PAGE:#x} {3 * PAGE:#x} {2 << 30:#x}")
        a.ok(f"fill {addr + 2 * MIB:#x} {MIB:#x} {3 << 30:#x}")
        before = state()
        r = self.dump(a, addr, "d1", "--parent", self.path("base"), *verbose)
        self.assertEqual(state(), before, "the dump changed the source")
        states.append(before)
        a.ok(f"fill {addr + 2 * MIB:#x} {PAGE:#x} {1 << 30:#x}")
        a.ok(f"poke {addr + 7 * MIB + 5 * PAGE:#x} 7")
        self.dump(a, addr, "d2", "--parent", self.path("d1"))
        states.append(state())
        return states, r

    def test_chain_restores_exact_both_tracking_paths(self):
        for name, how in PATHS.items():
            with self.subTest(path=name):
                self.path_how = how
                shutil.rmtree(self.path("run"), ignore_errors=True)
                a, addr = self.source()
                states, r = self.chain(a, addr, verbose=("-v", "-v"))
                self.assertIn(f"written pages from {name}", r.stderr)
                d1 = run_json("show", self.path("d1"))
                # 1 + 3 pages, and 1 MiB of which 1 page in 32 was there
                self.assertEqual(d1["pages_data"], 4 + MIB // PAGE)
                # what the base held, but the page and the 1 MiB rewritten
                self.assertEqual(d1["lineage"]["pages_parent"],
                                 LEN // PAGE // 32 - 1 - MIB // PAGE // 32)
                d2 = run_json("show", self.path("d2"))
                self.assertEqual(d2["pages_data"], 2)
                # every prefix of the chain is the instant of its last image
                for n, names in enumerate((["base"], ["base", "d1"],
                                           ["base", "d1", "d2"])):
                    b = self.victim()
                    dst = self.free_addr(a, b)
                    self.restore(b, dst, *names, check=0)
                    # every page: the same ones populated, with the same bytes
                    self.assertEqual(populated(b, dst), states[n], names)
                    self.assertEqual(b.vma_at(dst)["perms"], "rw-p")
                    self.assertTrue(a.alive() and b.alive())
                self.assertEqual(populated(a, addr), states[2])
                # and as the processes themselves read them (which populates)
                self.assertEqual(b.sum(dst, LEN), a.sum(addr, LEN))

    def test_show_and_verify_name_the_parent(self):
        a, addr = self.source()
        self.chain(a, addr)
        base = run_json("show", self.path("base"))["lineage"]
        d1 = run_json("show", self.path("d1"))
        self.assertTrue(base["tracking"])
        self.assertFalse(base["delta"])
        self.assertEqual(d1["header"]["incompat"], "0x2")
        self.assertEqual(d1["lineage"]["parent_id"], base["id"])
        text = run("show", self.path("d1"), check=0).stdout
        self.assertIn(f"a delta of image {base['id']}", text)
        self.assertIn("pages left to the parent", text)
        v = run("verify", self.path("d1"), check=0).stdout
        self.assertIn("every checksum matches", v)
        self.assertIn(f"a delta of image {base['id']}", v)

    def test_bad_chains_change_nothing(self):
        a, addr = self.source()
        self.chain(a, addr)
        # a delta of another process: a foreign link
        o, oaddr = self.source()
        self.dump(o, oaddr, "other", "--track")
        o.ok(f"poke {oaddr:#x} 9")
        self.dump(o, oaddr, "other-d1", "--parent", self.path("other"))
        b = self.victim()
        dst = self.free_addr(a, b)
        mine = b.addr(f"anon {PAGE:#x} 1")
        snap = Snapshot(b, [(mine, PAGE)])
        cases = {
            "a delta alone": (["d1"], "restore it after its chain"),
            "wrong order": (["d1", "base"], "image 1 of the chain is a delta"),
            "a link missing": (["base", "d2"], "image 2 of the chain is a delta of image"),
            "deltas swapped": (["base", "d2", "d1"], "image 2 of the chain is a delta of image"),
            "a foreign delta": (["base", "d1", "other-d1"],
                                "image 3 of the chain is a delta of image"),
            "a full image after the base": (["base", "other"], "is not a delta"),
        }
        for name, (names, needle) in cases.items():
            with self.subTest(case=name):
                self.assert_refused(self.restore(b, dst, *names), needle)
                snap.assert_unchanged(self)
        self.restore(b, dst, "base", "d1", "d2", check=0)
        self.assertEqual(populated(b, dst), populated(a, addr))

    def test_parent_that_does_not_fit_is_refused(self):
        a, addr = self.source()
        self.dump(a, addr, "plain")
        self.dump(a, addr, "base", "--track")
        self.dump(a, addr, "d1", "--parent", self.path("base"))
        o, oaddr = self.source()
        with open(self.path("junk"), "wb") as f:
            f.write(b"not an image" * 100)
        cases = {
            "not tracked": ((a, addr, "--parent", self.path("plain")), "without --track"),
            "another process": ((o, oaddr, "--parent", self.path("d1")), "not of PID"),
            "not the newest": ((a, addr, "--parent", self.path("base")),
                               "not the last dump that armed tracking"),
            "another range": ((a, addr + MIB, "--parent", self.path("d1")),
                              "a delta covers what its parent covers"),
            "not an image": ((a, addr, "--parent", self.path("junk")), "--parent: not a pgclone"),
            "no such file": ((a, addr, "--parent", self.path("none")), "No such file"),
            "--no-freeze": ((a, addr, "--parent", self.path("d1"), "--no-freeze"),
                            "needs the source frozen"),
            "--snapshot": ((a, addr, "--track", "--snapshot"), "not supported with --snapshot"),
        }
        for name, ((v, at, *extra), needle) in cases.items():
            with self.subTest(case=name):
                length = LEN - MIB if at != addr and v is a else LEN
                r = self.dump(v, at, "never", *extra, check=None, length=length)
                self.assert_refused(r, needle)
                self.assertFalse(os.path.exists(self.path("never")))
        r = run("dump", "--pid", a.pid, "--all", "--parent", self.path("d1"),
                "-o", self.path("never"), env=self.env())
        self.assert_refused(r, "a dump of a range, this one of every mapping (--all)")
        self.assertFalse(os.path.exists(self.path("never")))
        # d1 is still the newest: a delta of it works
        a.ok(f"poke {addr:#x} 3")
        self.dump(a, addr, "d2", "--parent", self.path("d1"))
        self.assertEqual(run_json("show", self.path("d2"))["pages_data"], 1)

    def test_a_page_dropped_and_read_again_is_not_the_parents(self):
        """MADV_DONTNEED, then a read: the zero page, which takes no write
        fault.  Every walk, also one that cannot tell the zero page from
        data, must not leave it to the parent, which holds other bytes."""
        for walk in ("", "pfn", "pagemap"):
            with self.subTest(walk=walk or "PAGEMAP_SCAN"):
                self.walk_how = walk
                shutil.rmtree(self.path("run"), ignore_errors=True)
                a, addr = self.source()
                page = addr + 32 * PAGE
                self.dump(a, addr, "base", "--track")
                a.ok(f"advise {page:#x} {PAGE:#x} dontneed")
                self.assertEqual(a.cmd(f"peek {page:#x}"), "0")
                self.dump(a, addr, "d1", "--parent", self.path("base"))
                b = self.victim()
                dst = self.free_addr(a, b)
                self.restore(b, dst, "base", "d1", check=0)
                self.assertEqual(b.read(dst + 32 * PAGE, PAGE), bytes(PAGE))
                self.assertEqual(b.sum(dst, LEN), a.sum(addr, LEN))

    def test_compressed_delta_through_a_pipe(self):
        """A compressed delta, its chain's last image from standard input."""
        a, addr = self.source()
        self.dump(a, addr, "base", "--track", "--compress")
        a.ok(f"fill {addr + 3 * MIB:#x} {MIB:#x} {1 << 30:#x}")
        self.dump(a, addr, "d1", "--parent", self.path("base"), "--compress")
        self.assertEqual(run_json("show", self.path("d1"))["header"]["incompat"], "0x3")
        b = self.victim()
        dst = self.free_addr(a, b)
        env = " ".join(f"{k}={v}" for k, v in self.env().items() if v)
        p = subprocess.run(f"{env} {PGCLONE} restore --pid {b.pid} -i {self.path('base')} "
                           f"-i - --dst {dst:#x} < {self.path('d1')}",
                           shell=True, capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(populated(b, dst), populated(a, addr))

    def test_a_dump_that_fails_after_arming_orphans_its_parent(self):
        """Arming records the new generation before it clears the bits: a
        dump that fails after that leaves no image, and its parent is no
        parent any more -- refused, not wrong."""
        a, addr = self.source()
        self.dump(a, addr, "base", "--track")
        r = run("dump", "--pid", a.pid, "--src", hex(addr), "--len", hex(LEN),
                "--parent", self.path("base"), "-o", self.path("lost"),
                env=dict(self.env(), PGCLONE_FAULT_FAIL="armed"))
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("fault injected at armed", r.stderr)
        self.assertFalse(os.path.exists(self.path("lost")))
        r = self.dump(a, addr, "never", "--parent", self.path("base"), check=None)
        self.assert_refused(r, "not the last dump that armed tracking")
        # a full dump with --track starts a chain again
        self.dump(a, addr, "base2", "--track")
        a.ok(f"poke {addr + PAGE:#x} 5")
        self.dump(a, addr, "d1", "--parent", self.path("base2"))
        self.assertEqual(run_json("show", self.path("d1"))["pages_data"], 1)

    def test_old_reader_refuses_a_delta(self):
        old, why = old_reader()
        if not old:
            self.skipTest(why)
        a, addr = self.source()
        self.chain(a, addr)
        b = self.victim()
        snap = Snapshot(b)
        dst = self.free_addr(a, b)
        for argv in ([old, "restore", "--pid", str(b.pid), "-i", self.path("d1"),
                      "--dst", hex(dst)],
                     [old, "verify", self.path("d1")], [old, "show", self.path("d1")]):
            with self.subTest(cmd=argv[1]):
                r = subprocess.run(argv, capture_output=True, text=True)
                self.assert_refused(r, "unknown incompatible features 0x2")
                snap.assert_unchanged(self)


if __name__ == "__main__":
    unittest.main()
