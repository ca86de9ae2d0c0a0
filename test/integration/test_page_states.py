# SPDX-License-Identifier: GPL-2.0-or-later
"""Page states the copy engine keeps (design.md, "Page states both engines
keep"): the zero page stays untouched, huge pages stay huge.

What the source holds is read from the kernel (PAGEMAP_SCAN, or pfns where
the kernel lacks it) before each assertion: a 6.12 kernel maps the shared
zero page on a read fault, the 6.18 host gives each read fault a page of
its own, and the test asserts what follows in either case."""
import array
import fcntl
import re
import struct
import unittest
from collections import Counter

from harness import PAGE, VictimTest, copy_engine_only, run

MIB = 1 << 20
HUGE = 2 * MIB
PFN_MASK = (1 << 55) - 1
# PAGEMAP_SCAN (<linux/fs.h>, 6.7+): _IOWR('f', 16, struct pm_scan_arg)
PAGEMAP_SCAN = (3 << 30) | (96 << 16) | (ord("f") << 8) | 16
IS_PRESENT, IS_SWAPPED, IS_PFNZERO, IS_HUGE = 1 << 3, 1 << 4, 1 << 5, 1 << 6
# how pgclone reads page states; forced in fault-point builds
WALKS = {"PAGEMAP_SCAN": "", "the zero page's pfn": "pfn", "pagemap, compared": "pagemap"}


def scan(pid, addr, length):
    """{page index: PAGEMAP_SCAN categories} of the populated pages of
    [addr, addr + length) of pid, or None on a kernel without it."""
    nvec = 4096
    vec = array.array("Q", bytes(24 * nvec))     # no ctypes: the guest lacks libffi
    vec_addr = vec.buffer_info()[0]
    pages, start, end = {}, addr, addr + length
    with open(f"/proc/{pid}/pagemap", "rb") as f:
        while start < end:
            arg = bytearray(struct.pack("<12Q", 96, 0, start, end, 0,
                                        vec_addr, nvec, 0, 0, 0,
                                        IS_PRESENT | IS_SWAPPED,
                                        IS_PRESENT | IS_SWAPPED | IS_PFNZERO | IS_HUGE))
            try:
                n = fcntl.ioctl(f.fileno(), PAGEMAP_SCAN, arg, True)
            except OSError:
                return None
            for i in range(n):
                s, e, cats = vec[3 * i:3 * i + 3]
                for p in range(s, e, PAGE):
                    pages[(p - addr) // PAGE] = cats
            start = struct.unpack_from("<Q", arg, 32)[0]
    return pages


def zero_pages(v, addr, length):
    """Indexes of the pages of v that map the zero page (the huge one too)."""
    cats = scan(v.pid, addr, length)
    if cats is not None:
        return {i for i, c in cats.items() if c & IS_PFNZERO}
    # no PAGEMAP_SCAN: private anonymous pages are the process's own, so a
    # pfn mapped twice is a zero page (pfns need root, which the tests are)
    entries = v.pagemap(addr, length // PAGE)
    pfn = [e & PFN_MASK if e >> 63 & 1 else None for e in entries]
    # the huge zero page shows as one pfn per subpage: fold by position
    seen = Counter((p - i % 512) if p is not None else None for i, p in enumerate(pfn))
    small = Counter(pfn)
    return {i for i, p in enumerate(pfn) if p is not None and
            (small[p] > 1 or seen[p - i % 512] > 512)}


def smaps_field(v, addr, field):
    with open(f"/proc/{v.pid}/smaps") as f:
        inside = False
        for line in f:
            m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) ", line)
            if m:
                inside = int(m[1], 16) <= addr < int(m[2], 16)
            elif inside and line.startswith(field + ":"):
                return int(line.split()[1])
    return None


class ZeroPages(VictimTest):
    def check(self, setup, length, walk, written):
        """Clone what setup(a) made, read in full, with pgclone reading
        page states the way walk names; written: indexes of the pages the
        victim wrote (data whatever the kernel)."""
        a, b = self.victim(), self.victim()
        addr = setup(a)
        a.sum(addr, length)                  # read faults on every page
        present = {i for i, p in enumerate(a.present(addr, length // PAGE)) if p}
        zero = zero_pages(a, addr, length)
        data = present - zero
        self.assertTrue(written <= data)
        dst = self.free_addr(a, b)
        r = run("--pid", a.pid, "--src", hex(addr), "--len", hex(length),
                "--target", b.pid, "--dst", hex(dst), "-v", "-v",
                env={"PGCLONE_FAULT_PAGEWALK": WALKS[walk]}, check=0)
        got = {i for i, p in enumerate(b.present(dst, length // PAGE)) if p}
        # without a way to tell the zero page, pgclone compares: pages of
        # zeroes the source owns are left out too, and read the same
        want = written if WALKS[walk] == "pagemap" else data
        print(f"\n{walk}: source {len(present)} pages present, {len(zero)} the "
              f"zero page, Rss {smaps_field(a, addr, 'Rss')} kB; destination "
              f"{len(got)} present, Rss {smaps_field(b, dst, 'Rss')} kB")
        self.assertEqual(len(got), len(want))
        self.assertEqual(got, want)
        self.assertEqual(smaps_field(b, dst, "Rss"), len(want) * PAGE // 1024)
        self.assertEqual(b.sum(dst, length), a.sum(addr, length))
        self.assertEqual(b.read(dst, length), a.read(addr, length))
        self.assertIn(f"page states of PID {a.pid} from {walk}", r.stderr)

    def sparse_read(self, walk):
        length, step = 64 * MIB, 100 * PAGE            # 1% of the pages written
        self.check(lambda a: a.addr(f"sparse {length:#x} {step:#x}"), length,
                   walk, {i * step // PAGE for i in range(-(-length // step))})

    @copy_engine_only("zero-page detection of the copy engine's page walk")
    def test_zero_pages_untouched_scan(self):
        self.sparse_read("PAGEMAP_SCAN")

    @copy_engine_only("zero-page detection of the copy engine's page walk")
    def test_zero_pages_untouched_pfn(self):
        self.sparse_read("the zero page's pfn")

    @copy_engine_only("zero-page detection of the copy engine's page walk")
    def test_zero_pages_untouched_compared(self):
        self.sparse_read("pagemap, compared")

    def huge_read(self, walk):
        length = 8 * MIB

        def setup(a):
            addr = a.addr(f"reserve {length:#x}")
            a.ok(f"advise {addr:#x} {length:#x} hugepage")
            a.ok(f"poke {addr:#x} 1")
            return addr
        self.check(setup, length, walk, {0})

    @copy_engine_only("zero-page detection of the copy engine's page walk")
    def test_huge_zero_page_untouched_scan(self):
        self.huge_read("PAGEMAP_SCAN")

    @copy_engine_only("zero-page detection of the copy engine's page walk")
    def test_huge_zero_page_untouched_pfn(self):
        self.huge_read("the zero page's pfn")


THP_ENABLED = "/sys/kernel/mm/transparent_hugepage/enabled"


class HugePages(VictimTest):
    def setUp(self):
        super().setUp()
        # MADV_HUGEPAGE needs "madvise" or "always"; put back what was there
        with open(THP_ENABLED) as f:
            was = re.search(r"\[(\w+)\]", f.read())[1]
        if was == "never":
            with open(THP_ENABLED, "w") as f:
                f.write("madvise")
            self.addCleanup(lambda: open(THP_ENABLED, "w").write(was))

    def clone_thp(self, misalign, walk="PAGEMAP_SCAN"):
        a, b = self.victim(), self.victim()
        length = 64 * MIB
        addr = a.addr(f"thp {length:#x}")                # 2 MiB aligned, filled
        src_huge = smaps_field(a, addr, "AnonHugePages")
        self.assertGreater(src_huge, 0, "the source got no huge pages to keep")
        dst = self.free_addr(a, b) + misalign
        run("--pid", a.pid, "--src", hex(addr), "--len", hex(length),
            "--target", b.pid, "--dst", hex(dst), check=0,
            env={"PGCLONE_FAULT_PAGEWALK": WALKS[walk]})
        dst_huge = smaps_field(b, dst, "AnonHugePages")
        print(f"\n{walk}: source AnonHugePages {src_huge} kB, destination "
              f"{'misaligned ' if misalign else ''}{dst_huge} kB")
        self.assertEqual(b.sum(dst, length), a.sum(addr, length))
        self.assertEqual(b.read(dst, length), a.read(addr, length))
        self.assertIn("hg", b.smaps_flags(dst))
        return src_huge, dst_huge

    def test_huge_pages_kept_when_aligned_alike(self):
        # a fresh 64 MiB: the kernel has huge pages to give unless memory
        # is fragmented, which would show in the source first
        src_huge, dst_huge = self.clone_thp(0)
        self.assertEqual(dst_huge, src_huge)

    @copy_engine_only("the copy engine's page walk")
    def test_huge_pages_kept_by_pagemap_walk(self):
        # no PAGE_IS_HUGE: every whole block the source populates is one
        src_huge, dst_huge = self.clone_thp(0, "pagemap, compared")
        self.assertEqual(dst_huge, src_huge)

    def test_misaligned_destination_works(self):
        # no huge page of the source fits one of the destination: small
        # pages (or what "always" gives), the same bytes
        self.clone_thp(PAGE)


if __name__ == "__main__":
    unittest.main()
