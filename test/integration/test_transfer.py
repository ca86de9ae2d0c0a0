# SPDX-License-Identifier: GPL-2.0-or-later
"""The copy engine moves data two ways, the target's own process_vm_readv
or pgclone's buffer, times both on the first few MiB and keeps the faster
(lib/engine/transfer.c, issue 13).  Whichever it keeps, the destination
must come out the same: every byte, and never-touched pages untouched.
PGCLONE_FAULT_XFER forces each way, so both are tested whatever this
machine prefers."""
import re

from harness import PAGE, VictimTest, copy_engine_only, run

MIB = 1 << 20
CHOSEN_RE = re.compile(r"^pgclone: info: copying (.+): (\d+) MiB/s, against (\d+) MiB/s (.+)$",
                       re.M)


@copy_engine_only("how the copy engine moves data")
class Transfer(VictimTest):
    def clone(self, a, addr, length, *args, env=None):
        b = self.victim()
        dst = self.free_addr(a, b)
        r = run("--pid", a.pid, "--src", hex(addr), "--len", hex(length),
                "--target", b.pid, "--dst", hex(dst), "-v", *args, env=env, check=0)
        self.assertEqual(b.read(dst, length), a.read(addr, length))
        self.assertEqual(b.present(dst, length // PAGE), a.present(addr, length // PAGE))
        return r

    def test_each_way_alike(self):
        a = self.victim()
        dense = a.addr(f"anon {24 * MIB:#x} 3")
        sparse = a.addr(f"sparse {24 * MIB:#x} {5 * PAGE:#x}")
        for way in ("inject", "bounce"):
            for addr in (dense, sparse):
                # -v -v: every injected syscall is logged
                r = self.clone(a, addr, 24 * MIB, "-v", env={"PGCLONE_FAULT_XFER": way})
                injected = re.search(r"^pgclone: debug: remote \d+: process_vm_readv/",
                                     r.stderr, re.M)
                self.assertEqual(bool(injected), way == "inject", r.stderr[-2000:])
                # forced: nothing timed, nothing chosen
                self.assertNotRegex(r.stderr, CHOSEN_RE)

    def test_faster_way_chosen(self):
        a = self.victim()
        addr = a.addr(f"anon {32 * MIB:#x} 5")
        r = self.clone(a, addr, 32 * MIB)
        m = CHOSEN_RE.search(r.stderr)
        self.assertIsNotNone(m, r.stderr)
        print(f"\n{m[0]}")
        self.assertNotEqual(m[1], m[4])
        self.assertGreaterEqual(int(m[2]), int(m[3]))
