# SPDX-License-Identifier: GPL-2.0-or-later
"""Written-page tracking by uffd-wp's asynchronous mode, for real.

No emulation here (no PGCLONE_FAULT_SOFTDIRTY): on a kernel without
CONFIG_MEM_SOFT_DIRTY, dump --track arms a userfaultfd in the source and
dump --parent reads PAGEMAP_SCAN's PAGE_IS_WRITTEN.  A chain restores
exact to the byte and to the page at each dump's instant; a source that
closed the descriptor, or uses userfaultfd itself, is refused with one
line; and every failure leaves the source as it was: its maps, its
descriptors, its bytes, no mapping registered."""
import os
import shutil
import sys
import tempfile
import unittest

from harness import PAGE, Snapshot, VictimTest, run, run_json
from test_incremental import LEN, MIB, kernel_soft_dirty, populated

UFFD_LINK = "anon_inode:[userfaultfd]"


def uffd_wp_async():
    """Does this kernel have the asynchronous uffd-wp mode (6.7+)?  Asked
    the way pgclone asks, without ctypes: a dump of ourselves would need
    ptrace of the test, so look for what the mode needs instead."""
    try:
        with open("/proc/sys/vm/unprivileged_userfaultfd"):
            pass
    except OSError:
        return False
    major, minor = (int(x) for x in os.uname().release.split(".")[:2])
    return (major, minor) >= (6, 7)


SOFT_DIRTY = kernel_soft_dirty()
UFFD_WP = uffd_wp_async()


def setUpModule():
    print(f"\nsoft-dirty: {'yes' if SOFT_DIRTY else 'no'}, uffd-wp async: "
          f"{'yes' if UFFD_WP else 'no'}", file=sys.stderr)


def fds(v):
    """The victim's descriptors: number -> what it is."""
    d = f"/proc/{v.pid}/fd"
    out = {}
    for n in os.listdir(d):
        try:
            out[int(n)] = os.readlink(os.path.join(d, n))
        except FileNotFoundError:
            pass
    return out


def uffds(v):
    return sorted(n for n, link in fds(v).items() if link == UFFD_LINK)


def registered(v):
    """The victim's mappings registered with a userfaultfd (uw, um, ui)."""
    out, start = [], None
    with open(f"/proc/{v.pid}/smaps") as f:
        for line in f:
            head = line.split()[0]
            if "-" in head and not head.endswith(":"):
                start = head
            elif line.startswith("VmFlags:") and \
                    set(line.split()[1:]) & {"uw", "um", "ui"}:
                out.append(start)
    return out


class Untouched(Snapshot):
    """Snapshot plus the descriptors and the registrations."""

    def __init__(self, victim, ranges=()):
        super().__init__(victim, ranges)
        self.fds = fds(victim)
        self.reg = registered(victim)

    def assert_unchanged(self, tc):
        super().assert_unchanged(tc)
        tc.assertEqual(fds(self.v), self.fds, "descriptors changed")
        tc.assertEqual(registered(self.v), self.reg, "registrations changed")


@unittest.skipUnless(UFFD_WP, "the kernel has no asynchronous uffd-wp mode")
class UffdWp(VictimTest):
    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="pgclone-uffdwp-")
        self.addCleanup(lambda: shutil.rmtree(self.dir, ignore_errors=True))
        self.method = () if not SOFT_DIRTY else ("--track-method", "uffd-wp")

    def path(self, name):
        return os.path.join(self.dir, name)

    def env(self, **extra):
        # no PGCLONE_FAULT_SOFTDIRTY: the kernel's own tracking or nothing
        return {"PGCLONE_RUNTIME_DIR": self.path("run"), **extra}

    def dump(self, v, addr, name, *extra, check=0, env=None, length=LEN):
        return run("dump", "--pid", v.pid, "--src", hex(addr), "--len", hex(length),
                   *extra, "-o", self.path(name), env=env or self.env(), check=check)

    def track(self, v, addr, name, *extra, **kw):
        return self.dump(v, addr, name, "--track", *self.method, *extra, **kw)

    def delta(self, v, addr, name, parent, *extra, **kw):
        return self.dump(v, addr, name, "--parent", self.path(parent), *self.method,
                         *extra, **kw)

    def assert_refused(self, r, needle):
        self.assertNotEqual(r.returncode, 0, r.stderr)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn(needle, lines[0])

    def source(self):
        a = self.victim()
        return a, a.addr(f"sparse {LEN:#x} {32 * PAGE:#x}")

    def test_chain_captures_exactly_the_written_pages(self):
        a, addr = self.source()
        states = []
        r = self.track(a, addr, "base", "-v")
        self.assertEqual(r.stderr.count("error"), 0, r.stderr)
        states.append(populated(a, addr))
        self.assertEqual(len(uffds(a)), 1, "no userfaultfd in the source")
        self.assertTrue(registered(a), "nothing registered")
        # a page the base holds, pages it never saw, 1 MiB of both
        a.ok(f"fill {addr + 64 * PAGE:#x} {PAGE:#x} {1 << 30:#x}")
        a.ok(f"fill {addr + 65 * PAGE:#x} {3 * PAGE:#x} {2 << 30:#x}")
        a.ok(f"fill {addr + 2 * MIB:#x} {MIB:#x} {3 << 30:#x}")
        # the same bytes again: a write all the same
        a.ok(f"poke {addr + 5 * MIB:#x} {a.cmd(f'peek {addr + 5 * MIB:#x}')}")
        # a read of an untouched page, and of one the base holds: no write
        a.cmd(f"peek {addr + 6 * MIB + PAGE:#x}")
        a.cmd(f"peek {addr + 6 * MIB:#x}")
        before = populated(a, addr)
        r = self.delta(a, addr, "d1", "base", "-v", "-v")
        self.assertIn("written pages from PAGEMAP_SCAN, uffd-wp", r.stderr)
        self.assertEqual(populated(a, addr), before, "the dump changed the source")
        states.append(before)
        d1 = run_json("show", self.path("d1"))
        # 1 + 3 + 256 + 1 written pages, the page only read: exactly those
        read_only = 1 if before[0][6 * MIB // PAGE + 1] else 0
        self.assertEqual(d1["pages_data"], 4 + MIB // PAGE + 1 + read_only)
        self.assertEqual(d1["lineage"]["pages_parent"],
                         LEN // PAGE // 32 - 1 - MIB // PAGE // 32 - 1)
        a.ok(f"fill {addr + 2 * MIB:#x} {PAGE:#x} {1 << 30:#x}")
        a.ok(f"poke {addr + 7 * MIB + 5 * PAGE:#x} 7")
        self.delta(a, addr, "d2", "d1")
        states.append(populated(a, addr))
        self.assertEqual(run_json("show", self.path("d2"))["pages_data"], 2)
        # every prefix of the chain is the instant of its last image
        for n, names in enumerate((["base"], ["base", "d1"], ["base", "d1", "d2"])):
            b = self.victim()
            dst = self.free_addr(a, b)
            args = []
            for name in names:
                args += ["-i", self.path(name)]
            run("restore", "--pid", b.pid, *args, "--dst", hex(dst), env=self.env(),
                check=0)
            self.assertEqual(populated(b, dst), states[n], names)
        self.assertEqual(b.sum(dst, LEN), a.sum(addr, LEN))
        self.assertEqual(len(uffds(a)), 1, "one userfaultfd, reused")

    def test_a_page_dropped_and_written_again(self):
        """MADV_DONTNEED drops the protection with the page: what comes
        back, read or written, is not the parent's."""
        a, addr = self.source()
        self.track(a, addr, "base")
        a.ok(f"advise {addr + 32 * PAGE:#x} {2 * PAGE:#x} dontneed")
        self.assertEqual(a.cmd(f"peek {addr + 32 * PAGE:#x}"), "0")
        a.ok(f"poke {addr + 33 * PAGE:#x} 9")
        self.delta(a, addr, "d1", "base")
        b = self.victim()
        dst = self.free_addr(a, b)
        run("restore", "--pid", b.pid, "-i", self.path("base"), "-i", self.path("d1"),
            "--dst", hex(dst), env=self.env(), check=0)
        self.assertEqual(populated(b, dst)[1], populated(a, addr)[1])
        self.assertEqual(b.sum(dst, LEN), a.sum(addr, LEN))

    def test_closed_descriptor_is_detected(self):
        """A source that closed the userfaultfd (or exec'd) is tracked no
        more: a delta is refused, not taken as clean."""
        a, addr = self.source()
        self.track(a, addr, "base")
        (fd,) = uffds(a)
        a.ok(f"close {fd}")
        a.ok(f"poke {addr:#x} 1")
        snap = Untouched(a, [(addr, LEN)])
        r = self.delta(a, addr, "d1", "base", check=None)
        self.assert_refused(r, f"no longer holds the userfaultfd (descriptor {fd})")
        self.assertFalse(os.path.exists(self.path("d1")))
        snap.assert_unchanged(self)
        # a new descriptor in its place is not ours either
        self.assertEqual(a.cmd("userfaultfd"), str(fd))
        r = self.delta(a, addr, "d1", "base", check=None)
        self.assert_refused(r, f"uses userfaultfd itself (descriptor {fd})")

    def test_source_using_userfaultfd_is_refused(self):
        a, addr = self.source()
        fd = int(a.cmd("userfaultfd"))
        snap = Untouched(a, [(addr, LEN)])
        r = self.track(a, addr, "base", check=None)
        self.assert_refused(r, f"uses userfaultfd itself (descriptor {fd})")
        self.assertFalse(os.path.exists(self.path("base")))
        snap.assert_unchanged(self)

    def test_forcing_soft_dirty_without_it_is_one_line(self):
        if SOFT_DIRTY:
            self.skipTest("the kernel keeps soft-dirty bits")
        a, addr = self.source()
        snap = Untouched(a, [(addr, LEN)])
        r = self.dump(a, addr, "base", "--track", "--track-method", "soft-dirty",
                      check=None)
        self.assert_refused(r, "no CONFIG_MEM_SOFT_DIRTY")
        snap.assert_unchanged(self)
        r = self.dump(a, addr, "base", "--track-method", "uffd-wp", check=None)
        self.assert_refused(r, "--track-method chooses how --track, --parent or --live")

    def test_a_delta_reads_the_way_its_parent_armed(self):
        """The tests' stand-in for soft-dirty (fault-point builds) against
        a parent uffd-wp armed, and the other way round: one line each,
        nothing changed."""
        emulated = self.env(PGCLONE_FAULT_SOFTDIRTY="emulate")
        a, addr = self.source()
        self.track(a, addr, "base")
        snap = Untouched(a, [(addr, LEN)])
        r = self.dump(a, addr, "never", "--parent", self.path("base"), check=None,
                      env=emulated)
        self.assert_refused(r, "armed uffd-wp tracking of PID")
        snap.assert_unchanged(self)
        o, oaddr = self.source()
        self.dump(o, oaddr, "sd", "--track", env=emulated)
        self.assertEqual(uffds(o), [])
        r = self.dump(o, oaddr, "never", "--parent", self.path("sd"),
                      "--track-method", "uffd-wp", check=None)
        self.assert_refused(r, "armed soft-dirty tracking of PID")
        self.assertEqual((uffds(o), registered(o)), ([], []))
        # forcing what auto chooses here works the same
        r = self.dump(o, oaddr, "forced", "--track", "--track-method", "uffd-wp", "-v")
        self.assertIn("with uffd-wp", r.stderr)

    def test_failures_leave_the_source_as_it_was(self):
        """At every fault point of arming, for a first --track and for a
        delta: maps, descriptors, registrations and bytes as before."""
        for point in ("uffd-created", "uffd-registered", "armed"):
            with self.subTest(point=point, first=True):
                a, addr = self.source()
                snap = Untouched(a, [(addr, LEN)])
                r = self.track(a, addr, f"failed-{point}", check=None,
                               env=self.env(PGCLONE_FAULT_FAIL=point))
                self.assertEqual(r.returncode, 1, r.stderr)
                self.assertIn(f"fault injected at {point}", r.stderr)
                self.assertFalse(os.path.exists(self.path(f"failed-{point}")))
                snap.assert_unchanged(self)
                # and tracking works after it
                self.track(a, addr, "base")
                a.ok(f"poke {addr + PAGE:#x} 5")
                self.delta(a, addr, "d1", "base")
                self.assertEqual(run_json("show", self.path("d1"))["pages_data"], 1)
        # a delta failing after arming keeps the descriptor it found
        a, addr = self.source()
        self.track(a, addr, "base")
        a.ok(f"poke {addr:#x} 3")
        snap = Untouched(a, [(addr, LEN)])
        r = self.delta(a, addr, "lost", "base", check=None,
                       env=self.env(PGCLONE_FAULT_FAIL="armed"))
        self.assertEqual(r.returncode, 1, r.stderr)
        snap.assert_unchanged(self)
        r = self.delta(a, addr, "never", "base", check=None)
        self.assert_refused(r, "not the last dump that armed tracking")

    def test_a_dump_without_track_ends_tracking(self):
        """It reads the tracked range like any other, then unregisters it
        and closes the descriptor: the source is as before --track, and
        the images are parents no more."""
        a, addr = self.source()
        before = Untouched(a)
        self.track(a, addr, "base")
        self.assertTrue(uffds(a) and registered(a))
        a.ok(f"poke {addr + 3 * PAGE:#x} 4")
        r = self.dump(a, addr, "plain", "-v")
        self.assertIn("ended uffd-wp tracking", r.stderr)
        self.assertEqual(uffds(a), [])
        before.assert_unchanged(self)
        b = self.victim()
        dst = self.free_addr(a, b)
        run("restore", "--pid", b.pid, "-i", self.path("plain"), "--dst", hex(dst),
            env=self.env(), check=0)
        self.assertEqual(populated(b, dst), populated(a, addr))
        r = self.delta(a, addr, "never", "base", check=None)
        self.assert_refused(r, "not the last dump that armed tracking")
        self.assertEqual(uffds(a), [])

    def test_fork_keeps_the_parent_tracked(self):
        """A child gets the descriptor but neither the registration nor
        the protection; the parent's writes, to pages it now shares with
        the child too, are still seen, and ending tracking unregisters the
        parent although the child keeps the file open."""
        a, addr = self.source()
        self.track(a, addr, "base")
        child = int(a.cmd("fork"))
        self.addCleanup(lambda: os.kill(child, 9))
        a.ok(f"poke {addr + 32 * PAGE:#x} 7")
        a.ok(f"poke {addr + 7 * PAGE:#x} 8")
        state = populated(a, addr)
        self.delta(a, addr, "d1", "base")
        self.assertEqual(run_json("show", self.path("d1"))["pages_data"], 2)
        b = self.victim()
        dst = self.free_addr(a, b)
        run("restore", "--pid", b.pid, "-i", self.path("base"), "-i", self.path("d1"),
            "--dst", hex(dst), env=self.env(), check=0)
        self.assertEqual(populated(b, dst), state)
        with open(f"/proc/{child}/smaps") as f:
            self.assertNotIn(" uw", "".join(x for x in f if x.startswith("VmFlags")))
        self.dump(a, addr, "plain")
        self.assertEqual((uffds(a), registered(a)), ([], []))

    def test_unprivileged(self):
        """A user's own process, dumped by the user with no capability:
        UFFD_USER_MODE_ONLY needs none, and the markers are told apart
        with swap types hidden (nothing is swapped)."""
        a = self.victim(user="nobody")
        addr = a.addr(f"sparse {LEN:#x} {32 * PAGE:#x}")
        run_dir = self.path("nobody")
        os.mkdir(run_dir, 0o700)
        os.chown(run_dir, 65534, 65534)
        img = self.path("img")
        os.mkdir(img, 0o755)
        os.chown(img, 65534, 65534)
        os.chmod(self.dir, 0o755)
        env = {"PGCLONE_RUNTIME_DIR": run_dir}

        def dump(name, *extra):
            run("dump", "--pid", a.pid, "--src", hex(addr), "--len", hex(LEN),
                *extra, "-o", os.path.join(img, name), env=env,
                user="nobody", check=0)
            # for root's show and restore, which hold no DAC override
            os.chmod(os.path.join(img, name), 0o644)

        dump("base", "--track", *self.method)
        a.ok(f"fill {addr + MIB:#x} {4 * PAGE:#x} {1 << 30:#x}")
        state = populated(a, addr)
        dump("d1", "--parent", os.path.join(img, "base"), *self.method)
        self.assertEqual(populated(a, addr), state, "the dump changed the source")
        self.assertEqual(run_json("show", os.path.join(img, "d1"))["pages_data"], 4)
        b = self.victim()
        dst = self.free_addr(a, b)
        run("restore", "--pid", b.pid, "-i", os.path.join(img, "base"),
            "-i", os.path.join(img, "d1"), "--dst", hex(dst), check=0)
        self.assertEqual(populated(b, dst), state)

    def test_moved_mapping_is_stored_whole(self):
        """mremap takes the mapping out of the registration (no
        UFFD_FEATURE_EVENT_REMAP): a --all delta stores its pages, it never
        leaves them to the parent."""
        a, addr = self.source()
        self.dump(a, addr, "x", "--track", *self.method, check=0)
        r = run("dump", "--pid", a.pid, "--all", "--track", *self.method,
                "-o", self.path("base"), env=self.env(), check=0)
        self.assertEqual(r.returncode, 0)
        moved = a.addr(f"mremap {addr:#x} {LEN:#x}")
        # out of the registration: its pages read as written
        self.assertNotIn(f"{moved:x}-{moved + LEN:x}", registered(a))
        r = run("dump", "--pid", a.pid, "--all", "--parent", self.path("base"),
                *self.method, "-o", self.path("d1"), env=self.env(), check=0)
        # the moved range's pages are data in d1
        show = run_json("show", self.path("d1"))
        ranges = [x for x in show["ranges"] if int(x["start"], 16) == moved]
        self.assertEqual(len(ranges), 1, show["ranges"])
        self.assertGreaterEqual(show["pages_data"], LEN // PAGE // 32)


if __name__ == "__main__":
    unittest.main()
