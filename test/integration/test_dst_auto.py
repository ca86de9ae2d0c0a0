# SPDX-License-Identifier: GPL-2.0-or-later
"""--dst auto: a cross-process clone or restore lands at a free address the
destination's kernel picks, at the source's offset within a 2 MiB huge
page, and pgclone prints where (text and JSON)."""
import json
import os
import re
import tempfile
import unittest

from harness import PAGE, Snapshot, VictimTest, copy_engine_only, run

MIB = 1 << 20
HPAGE = 2 * MIB


class DstAuto(VictimTest):
    def source(self, length=MIB):
        """A range whose offset within a huge page is not 0 (and not the
        first page of its mapping): what must be kept is visible."""
        a = self.victim()
        base = a.addr(f"anon {length + 8 * PAGE:#x} 7")
        src = base + 5 * PAGE
        return a, src, a.sum(src, length)

    def assert_landed(self, a, src, b, dst, length, want, before):
        self.assertEqual(dst % HPAGE, src % HPAGE, f"{dst:#x} vs {src:#x}")
        self.assertEqual(b.sum(dst, length), want)
        v = b.vma_at(dst)
        self.assertEqual(v["perms"], "rw-p")
        # nothing else appeared: no reservation left behind
        new = [x for x in b.vmas() if (x["start"], x["end"]) not in before]
        self.assertTrue(all(dst <= x["start"] and x["end"] <= dst + length for x in new), new)
        self.assertTrue(b.alive())

    def spans(self, v):
        return {(x["start"], x["end"]) for x in v.vmas()}

    def test_clone_text(self):
        a, src, want = self.source()
        b = self.victim()
        before = self.spans(b)
        r = run("--pid", a.pid, "--src", hex(src), "--len", hex(MIB), "--target", b.pid,
                "--dst", "auto", check=0)
        m = re.search(rf"^cloned {src:#x}-{src + MIB:#x} of PID {a.pid} to (0x[0-9a-f]+) in PID "
                      rf"{b.pid}", r.stdout, re.M)
        self.assertTrue(m, r.stdout)
        self.assert_landed(a, src, b, int(m[1], 16), MIB, want, before)

    def test_clone_json(self):
        a, src, want = self.source()
        b = self.victim()
        before = self.spans(b)
        out = json.loads(run("--pid", a.pid, "--src", hex(src), "--len", hex(MIB),
                             "--target", b.pid, "--dst", "auto", "--json", check=0).stdout)
        self.assertTrue(out["dst_auto"])
        dst = int(out["dst"], 16)
        self.assertEqual(int(out["ranges"][0]["dst"], 16), dst)
        self.assert_landed(a, src, b, dst, MIB, want, before)

    def test_clone_dry_run_and_replace(self):
        a, src, _ = self.source()
        b = self.victim()
        snap = Snapshot(b)
        r = run("--pid", a.pid, "--src", hex(src), "--len", hex(MIB), "--target", b.pid,
                "--dst", "auto", "--dry-run", check=0)
        self.assertIn(f"to an address PID {b.pid} picks (--dst auto)", r.stdout)
        r = run("--pid", a.pid, "--src", hex(src), "--len", hex(MIB), "--target", b.pid,
                "--dst", "auto", "--replace")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--dst auto picks a free address: --replace does not apply", r.stderr)
        snap.assert_unchanged(self)

    @copy_engine_only("its fault points")
    def test_failure_leaves_no_reservation(self):
        a, src, _ = self.source()
        b = self.victim()
        snap = Snapshot(b)
        for point in ("seized", "mapped", "finished"):
            with self.subTest(point=point):
                r = run("--pid", a.pid, "--src", hex(src), "--len", hex(MIB),
                        "--target", b.pid, "--dst", "auto",
                        env={"PGCLONE_FAULT_FAIL": point})
                self.assertEqual(r.returncode, 1, r.stderr)
                snap.assert_unchanged(self)

    def test_restore_keeps_layout(self):
        """Three ranges (the middle one read-only), text and JSON."""
        a, src, _ = self.source(2 * MIB)
        a.ok(f"prot {src + 4 * PAGE:#x} {PAGE:#x} r")
        sums = [a.sum(src, 4 * PAGE), a.sum(src + 4 * PAGE, PAGE),
                a.sum(src + 5 * PAGE, 2 * MIB - 5 * PAGE)]
        with tempfile.TemporaryDirectory() as d:
            img = os.path.join(d, "img")
            run("dump", "--pid", a.pid, "--src", hex(src), "--len", hex(2 * MIB), "-o", img,
                check=0)
            for as_json in (False, True):
                with self.subTest(json=as_json):
                    b = self.victim()
                    before = self.spans(b)
                    r = run("restore", "--pid", b.pid, "-i", img, "--dst", "auto",
                            *(["--json"] if as_json else []), check=0)
                    if as_json:
                        out = json.loads(r.stdout)
                        self.assertTrue(out["dst_auto"])
                        dsts = [int(x["dst"], 16) for x in out["ranges"]]
                        self.assertEqual(int(out["dst"], 16), dsts[0])
                    else:
                        dsts = [int(x, 16) for x in re.findall(r"-> (0x[0-9a-f]+)", r.stdout)]
                    self.assertEqual(dsts, [dsts[0], dsts[0] + 4 * PAGE, dsts[0] + 5 * PAGE])
                    dst = dsts[0]
                    self.assertEqual(dst % HPAGE, src % HPAGE)
                    self.assertEqual([b.sum(dst, 4 * PAGE), b.sum(dst + 4 * PAGE, PAGE),
                                      b.sum(dst + 5 * PAGE, 2 * MIB - 5 * PAGE)], sums)
                    self.assertEqual(b.vma_at(dst + 4 * PAGE)["perms"], "r--p")
                    new = [x for x in b.vmas() if (x["start"], x["end"]) not in before]
                    self.assertTrue(all(dst <= x["start"] and x["end"] <= dst + 2 * MIB
                                        for x in new), new)


if __name__ == "__main__":
    unittest.main()
