# SPDX-License-Identifier: GPL-2.0-or-later
"""Many VMAs (issue 13): the pages of ranges that follow one another go
over in one iovec, in a clone (both ways of copying) and in a restore,
and their advice in one madvise; the destination gets the source's
bytes, layout and advice all the same; a failure in the middle of
placing many VMAs leaves the target as it was."""
import re
import resource

from harness import PAGE, Snapshot, VictimTest, copy_engine_only, run

VMAS = 600
HOLE_EVERY = 97         # pages left untouched: they end an iovec
STOPS_RE = re.compile(r"ran (\d+) syscall\(s\) for pgclone in \d+ ptrace stop\(s\)")


def present_runs():
    """How many runs of present pages the source holds."""
    runs, prev = 0, False
    for k in range(VMAS):
        cur = k % HOLE_EVERY != HOLE_EVERY - 1
        runs += cur and not prev
        prev = cur
    return runs


@copy_engine_only("the copy engine's and the restore's own transfers")
class ManyVmas(VictimTest):
    def source(self):
        """VMAS one-page VMAs of alternating protections, some pages never
        touched."""
        a = self.victim()
        addr = a.addr(f"reserve {VMAS * PAGE:#x}")
        # small pages only: a huge one would fill the holes
        a.ok(f"advise {addr:#x} {VMAS * PAGE:#x} nohugepage")
        for k in range(VMAS):
            if k % HOLE_EVERY != HOLE_EVERY - 1:
                a.ok(f"fill {addr + k * PAGE:#x} {PAGE:#x} {k % 250 + 1}")
        a.ok(f"stripes {addr:#x} {VMAS * PAGE:#x} r--")
        return a, addr

    def layout(self, v, addr):
        """The VMAs of [addr, addr + VMAS pages), relative to addr."""
        return [(x["start"] - addr, x["end"] - addr, x["perms"]) for x in v.vmas()
                if addr <= x["start"] < addr + VMAS * PAGE]

    def assert_same(self, a, addr, b, dst):
        self.assertEqual(self.layout(b, dst), self.layout(a, addr))
        self.assertEqual(len(self.layout(b, dst)), VMAS)
        # the holes stay untouched (before a read through /proc maps them)
        present = b.present(dst, VMAS)
        self.assertEqual([k for k in range(VMAS) if not present[k]],
                         list(range(HOLE_EVERY - 1, VMAS, HOLE_EVERY)))
        self.assertEqual(b.read(dst, VMAS * PAGE), a.read(addr, VMAS * PAGE))
        # the source's advice reached every VMA, the first and the last too
        for k in (0, 1, VMAS // 2, VMAS - 1):
            self.assertIn("nh", b.smaps_flags(dst + k * PAGE))

    def assert_few_iovecs(self, r, what):
        m = re.search(what + r" in (\d+) iovec\(s\) in (\d+) (?:transfer|write)\(s\)",
                      r.stderr)
        self.assertIsNotNone(m, f"no count of the iovecs in:\n{r.stderr[-2000:]}")
        iovs, calls = int(m[1]), int(m[2])
        print(f"\n{VMAS} VMAs, {present_runs()} runs of present pages: {m[0]}")
        # one iovec per run of pages, plus one where a batch cuts a run
        self.assertLessEqual(iovs, present_runs() + calls - 1)

    def test_clone(self):
        for way in ("inject", "bounce"):
            with self.subTest(way=way):
                # a source of its own: reading one maps pages at its holes
                a, addr = self.source()
                b = self.victim()
                dst = self.free_addr(a, b)
                r = run("--pid", a.pid, "--src", hex(addr), "--len", hex(VMAS * PAGE),
                        "--target", b.pid, "--dst", hex(dst), "--engine", "copy", "-vv",
                        env={"PGCLONE_FAULT_XFER": way})
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assert_few_iovecs(r, "pages queued")
                self.assert_same(a, addr, b, dst)

    def test_plan_said_in_brief(self):
        """-v says the first ranges a request takes and counts the rest,
        which -vv says each: 600 lines cost the plan phase -v times."""
        a, addr = self.source()
        b = self.victim()
        dst = self.free_addr(a, b)
        for verbose, each in (("-v", 16), ("-vv", VMAS)):
            r = run("--pid", a.pid, "--src", hex(addr), "--len", hex(VMAS * PAGE),
                    "--target", b.pid, "--dst", hex(dst), "--dry-run", verbose)
            lines = r.stderr.splitlines()
            self.assertEqual(len([x for x in lines if "taking 0x" in x]), each, verbose)
            self.assertIn(f"pgclone: info: taking {VMAS} ranges; the first 16:", lines)
            self.assertIn(f"pgclone: info: and {VMAS - 16} more, each said at debug level",
                          lines)

    def test_restore(self):
        a, addr = self.source()
        img = self.dump_image(a, addr, VMAS * PAGE)
        b = self.victim()
        dst = self.free_addr(a, b)
        r = run("restore", "--pid", b.pid, "-i", img, "--dst", hex(dst), "-vv")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_few_iovecs(r, "data written")
        # an mmap and an mremap each, an mprotect for half: the advice
        # is one madvise for them all, not one each
        calls = int(STOPS_RE.search(r.stderr)[1])
        print(f"restore of {VMAS} VMAs: {calls} syscalls in the target")
        self.assertLessEqual(calls, 2.5 * VMAS + 50)
        self.assert_same(a, addr, b, dst)

    def test_failure_while_placing(self):
        """A syscall that fails among the mremaps of the place phase: the
        VMAs moved already go back, and the target is as it was."""
        a, addr = self.source()
        b, c = self.victim(), self.victim()
        dst = self.free_addr(a, b, c)

        def clone(target, op):
            return run("--pid", a.pid, "--src", hex(addr), "--len", hex(VMAS * PAGE),
                       "--target", target.pid, "--dst", hex(dst), "--engine", "copy",
                       "-v", env={"PGCLONE_FAULT_OP": str(op)})
        r = clone(b, 0)
        self.assertEqual(r.returncode, 0, r.stderr)
        calls = int(STOPS_RE.search(r.stderr)[1])
        sa = Snapshot(a, [(addr, VMAS * PAGE)])
        sc = Snapshot(c)
        # the place phase's mremaps, one per VMA, come last but for a few
        r = clone(c, calls - VMAS // 2)
        self.assertNotEqual(r.returncode, 0, r.stderr)
        self.assertIn("cannot move", r.stderr)
        sa.assert_unchanged(self)
        sc.assert_unchanged(self)


GIB = 1 << 30
STAGE_RE = re.compile(r"building aside at 0x([0-9a-f]+)")


@copy_engine_only("where the copy engine builds a clone before placing it")
class LargeRange(VictimTest):
    """A range of a gigabyte or more is built where mremap() can move it
    into place a PUD entry at a time: at the destination's offset within
    a gigabyte.  A target without the address space for that still gets
    its clone, aligned within a huge page only."""
    LEN = 2 * GIB
    OFFS = (0, 5 * PAGE, GIB - PAGE, GIB + 123 * PAGE, 2 * GIB - PAGE)

    def clone(self, b, dst):
        a = self.victim()
        addr = a.addr(f"reserve {self.LEN:#x} noreserve")
        for k, off in enumerate(self.OFFS):
            a.ok(f"fill {addr + off:#x} {PAGE:#x} {k + 1}")
        r = run("--pid", a.pid, "--src", hex(addr), "--len", hex(self.LEN),
                "--target", b.pid, "--dst", hex(dst), "--engine", "copy", "-vv")
        self.assertEqual(r.returncode, 0, r.stderr)
        for off in self.OFFS:
            self.assertEqual(b.read(dst + off, PAGE), a.read(addr + off, PAGE))
        [v] = [x for x in b.vmas() if x["start"] <= dst < x["end"]]
        self.assertEqual((v["start"], v["end"]), (dst, dst + self.LEN))
        m = STAGE_RE.search(r.stderr)
        self.assertIsNotNone(m, r.stderr[-2000:])
        return int(m[1], 16)

    def test_built_at_the_destinations_offset_within_a_gib(self):
        b = self.victim()
        # neither end on a gigabyte: only the offset within one can match
        dst = self.free_addr(b, size=4 * GIB) + 3 * (2 << 20)
        stage = self.clone(b, dst)
        print(f"\ndestination 0x{dst:x}, built at 0x{stage:x}")
        self.assertEqual((stage - dst) % GIB, 0)

    def test_tight_address_space_aligns_within_a_huge_page(self):
        b = self.victim()
        dst = self.free_addr(b, size=4 * GIB) + 3 * (2 << 20)
        with open(f"/proc/{b.pid}/status") as f:
            vmsize = int(re.search(r"VmSize:\s+(\d+) kB", f.read())[1]) << 10
        # room for the stage and a little, not for a gigabyte more
        limit = vmsize + self.LEN + 256 * (1 << 20)
        resource.prlimit(b.pid, resource.RLIMIT_AS, (limit, limit))
        stage = self.clone(b, dst)
        print(f"\nRLIMIT_AS {limit >> 20} MiB: destination 0x{dst:x}, built at 0x{stage:x}")
        self.assertEqual((stage - dst) % (2 << 20), 0)
