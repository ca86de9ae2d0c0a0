# SPDX-License-Identifier: GPL-2.0-or-later
"""The command line as a user meets it (issue 11, items 16, 18, 19):
--src by the name /proc/PID/maps gives a mapping, what a request takes
shown before it is taken (--dry-run, -v, JSON), numbers with suffixes in
either case, text without trailing blanks, and the vm.mmap_min_addr
refusal named.  Every refusal leaves the processes as they were."""
import json
import os
import re
import subprocess

from harness import PAGE, Snapshot, VictimTest, run, run_json

MIB = 1 << 20
MIN_ADDR = "/proc/sys/vm/mmap_min_addr"


def write_file(path, text):
    with open(path, "w") as f:
        f.write(text)


def one_line(tc, r, code, regex):
    tc.assertEqual(r.returncode, code, r.stderr)
    lines = r.stderr.strip().splitlines()
    tc.assertEqual(len(lines), 1, r.stderr)
    tc.assertRegex(lines[0], regex)
    tc.assertEqual(r.stdout, "")


class SourceByName(VictimTest):
    def vma_named(self, v, name):
        found = [x for x in v.vmas() if x["name"] == name]
        self.assertEqual(len(found), 1, f"{name} in {v.maps()}")
        return found[0]

    def test_heap_clone(self):
        a, b = self.victim(), self.victim()
        # a [heap] in every build (an ASan build's malloc does not use
        # brk); the heap stays as it is while the victim waits
        grown = a.addr(f"heap {8 * PAGE:#x} 7")
        heap = self.vma_named(a, "[heap]")
        self.assertTrue(heap["start"] <= grown < heap["end"])
        dst = self.free_addr(a, b)
        # the victim's stdio lives in its heap: read it while the victim
        # waits for its next command, not through it
        before = a.read(heap["start"], heap["end"] - heap["start"])
        out = run_json("--pid", a.pid, "--src", "[heap]", "--target", b.pid, "--dst", hex(dst))
        print(f"\n--src '[heap]' of {a.pid}: {out['src']}-{int(out['src'], 16) + out['len']:#x}, "
              f"/proc says {heap['start']:#x}-{heap['end']:#x}")
        self.assertEqual(int(out["src"], 16), heap["start"])
        self.assertEqual(out["len"], heap["end"] - heap["start"])
        self.assertEqual(b.read(dst, out["len"]), before)

    def test_stack_dump(self):
        a = self.victim()
        stack = self.vma_named(a, "[stack]")
        img = f"/tmp/pgclone-stack-{os.getpid()}.img"
        self.addCleanup(lambda: os.path.exists(img) and os.unlink(img))
        run("dump", "--pid", a.pid, "--src", "[stack]", "-o", img, check=0)
        info = run_json("show", img)
        self.assertEqual(len(info["ranges"]), 1)
        self.assertEqual(int(info["ranges"][0]["start"], 16), stack["start"])
        self.assertEqual(info["ranges"][0]["name"], "[stack]")

    def test_anon_name(self):
        """Runs everywhere: where the kernel names anonymous mappings the
        named one is cloned; where it cannot (no CONFIG_ANON_VMA_NAME, as
        on the host) the refusal says exactly that."""
        a, b = self.victim(), self.victim()
        addr = a.addr(f"anon {MIB:#x} 9")
        dst = self.free_addr(a, b)
        named = a.cmd(f"name {addr:#x} {MIB:#x} pgclone-t18") == "ok"
        sa, sb = Snapshot(a, [(addr, MIB)]), Snapshot(b)
        r = run("--pid", a.pid, "--src", "[anon:pgclone-t18]", "--target", b.pid, "--dst", hex(dst),
                "--len", hex(MIB), "--json")
        if named:
            print("\nthe kernel names anonymous mappings: cloned by name")
            self.assertEqual(r.returncode, 0, r.stderr)
            out = json.loads(r.stdout)
            self.assertEqual(int(out["src"], 16), addr)
            self.assertEqual(out["ranges"][0]["name"], "[anon:pgclone-t18]")
            self.assertEqual(b.sum(dst, MIB), a.sum(addr, MIB))
        else:
            print("\nthe kernel cannot name anonymous mappings: refused, saying so")
            one_line(self, r, 2, r"^pgclone: --src '\[anon:pgclone-t18\]': no mapping of PID \d+ has that name, "
                                 r"and this kernel cannot name anonymous mappings \(it lacks CONFIG_ANON_VMA_NAME\)$")
            sb.assert_unchanged(self)
        sa.assert_unchanged(self)

    def test_file(self):
        a, b = self.victim(), self.victim()
        path = f"/tmp/pgclone-byname-{os.getpid()}.dat"
        link = path + ".link"
        with open(path, "wb") as f:
            f.write(os.urandom(2 * PAGE))
        os.symlink(path, link)
        self.addCleanup(os.unlink, path)
        self.addCleanup(os.unlink, link)
        first = a.addr(f"file {path} {2 * PAGE:#x} private")
        dst = self.free_addr(a, b)
        for name in (path, link):
            out = run_json("--pid", a.pid, "--src", name, "--target", b.pid, "--dst", hex(dst), "--dry-run")
            self.assertEqual(int(out["src"], 16), first, name)
            self.assertEqual(out["len"], 2 * PAGE)
        # mapped twice: which one is meant is the user's to say
        second = a.addr(f"file {path} {PAGE:#x} private")
        sa, sb = Snapshot(a), Snapshot(b)
        for argv in (["--pid", a.pid, "--src", path, "--target", b.pid, "--dst", hex(dst)],
                     ["dump", "--pid", a.pid, "--src", path, "-o", "/dev/null"]):
            r = run(*argv)
            lo, hi = sorted([first, second])
            one_line(self, r, 2, rf"^pgclone: --src '{re.escape(path)}' names 2 mappings of PID {a.pid}: "
                                 rf"0x{lo:x}-0x[0-9a-f]+ rw?-p, 0x{hi:x}-0x[0-9a-f]+ rw?-p; give the address of one$")
        sa.assert_unchanged(self)
        sb.assert_unchanged(self)

    def test_no_such_name(self):
        a = self.victim()
        sa = Snapshot(a)
        for name in ("[nothing]", "/nonexistent/file"):
            r = run("--pid", a.pid, "--src", name, "--dst", hex(self.free_addr(a)))
            one_line(self, r, 2, rf"^pgclone: --src '{re.escape(name)}': no mapping of PID {a.pid} has that name")
        sa.assert_unchanged(self)


class RangesShown(VictimTest):
    def two_vmas(self, a):
        addr = a.addr(f"anon {4 * PAGE:#x} 3")
        a.ok(f"prot {addr + 2 * PAGE:#x} {2 * PAGE:#x} r")
        self.assertEqual(a.vma_at(addr)["end"], addr + 2 * PAGE)
        return addr

    def test_each_vma_shown(self):
        a = self.victim()
        addr = self.two_vmas(a)
        dst = self.free_addr(a)
        sa = Snapshot(a, [(addr, 4 * PAGE)])
        r = run("--pid", a.pid, "--src", hex(addr), "--len", hex(4 * PAGE), "--dst", hex(dst), "--dry-run", "-v",
                check=0)
        taking = [l for l in r.stderr.splitlines() if "taking" in l]
        print("\n" + r.stderr + r.stdout)
        self.assertEqual(taking, [
            f"pgclone: info: taking {addr:#x}-{addr + 2 * PAGE:#x} rw-p anon-private (2 pages, the whole mapping)",
            f"pgclone: info: taking {addr + 2 * PAGE:#x}-{addr + 4 * PAGE:#x} r--p anon-private "
            f"(2 pages, the whole mapping)"])
        rows = [l for l in r.stdout.splitlines() if l.startswith("  0x")]
        self.assertEqual(len(rows), 2)
        self.assertTrue(rows[0].startswith(f"  {addr:#x}-{addr + 2 * PAGE:#x} rw-p anon-private"))
        self.assertTrue(rows[1].startswith(f"  {addr + 2 * PAGE:#x}-{addr + 4 * PAGE:#x} r--p anon-private"))
        self.assertNotIn("no --len", r.stdout)
        out = run_json("--pid", a.pid, "--src", hex(addr), "--len", hex(4 * PAGE), "--dst", hex(dst), "--dry-run")
        self.assertFalse(out["to_end_of_mapping"])
        self.assertEqual([(x["src"], x["end"], x["perms"], x["kind"]) for x in out["ranges"]],
                         [(hex(addr), hex(addr + 2 * PAGE), "rw-p", "anon-private"),
                          (hex(addr + 2 * PAGE), hex(addr + 4 * PAGE), "r--p", "anon-private")])
        sa.assert_unchanged(self)

    def test_no_len_takes_the_merged_mapping(self):
        """Two mmaps the kernel merged: --src at the second, no --len, takes
        it to the end of the mapping, and --dry-run, -v and JSON say so."""
        a = self.victim()
        a.addr(f"anon {MIB:#x} 1")
        second = a.addr(f"anon {MIB:#x} 2")
        vma = a.vma_at(second)
        dst = self.free_addr(a)
        r = run("--pid", a.pid, "--src", hex(second), "--dst", hex(dst), "--dry-run", "-v", check=0)
        print(f"\nvictim mapped 0x{second:x}+1MiB, the kernel keeps {vma['start']:#x}-{vma['end']:#x}\n"
              + r.stderr + r.stdout)
        self.assertIn(f"pgclone: info: taking {second:#x}-{vma['end']:#x} rw-p anon-private", r.stderr)
        self.assertIn("no length given, so up to the end of the mapping", r.stderr)
        self.assertIn("  (no --len: up to the end of the mapping that holds --src, as the kernel keeps it)",
                      r.stdout.splitlines())
        out = run_json("--pid", a.pid, "--src", hex(second), "--dst", hex(dst), "--dry-run")
        self.assertTrue(out["to_end_of_mapping"])
        self.assertEqual(out["ranges"][-1]["end"], hex(vma["end"]))

    def test_no_trailing_blanks(self):
        a, b = self.victim(), self.victim()
        addr = a.addr(f"anon {MIB:#x} 4")
        dst = self.free_addr(a, b)
        img = f"/tmp/pgclone-blanks-{os.getpid()}.img"
        self.addCleanup(lambda: os.path.exists(img) and os.unlink(img))
        outs = {
            "maps": run("maps", "--pid", a.pid, check=0).stdout,
            "clone --dry-run": run("--pid", a.pid, "--src", hex(addr), "--target", b.pid, "--dst", hex(dst),
                                   "--dry-run", check=0).stdout,
            "clone": run("--pid", a.pid, "--src", hex(addr), "--target", b.pid, "--dst", hex(dst),
                         check=0).stdout,
            "dump": run("dump", "--pid", a.pid, "--src", hex(addr), "-o", img, check=0).stdout,
            "show": run("show", img, check=0).stdout,
            "restore --dry-run": run("restore", "--pid", b.pid, "-i", img, "--dst", hex(dst + (1 << 30)),
                                     "--dry-run", check=0).stdout,
            "--help": run("--help", check=0).stdout,
        }
        for what, text in outs.items():
            blank = [l for l in text.splitlines() if l != l.rstrip()]
            self.assertEqual(blank, [], f"{what}: lines ending in blanks")

    def test_suffixes_either_case(self):
        a = self.victim()
        addr = a.addr(f"anon {2 * MIB:#x} 5")
        dst = self.free_addr(a)
        for word, want in (("1mb", MIB), ("1MiB", MIB), ("1mib", MIB), ("1M", MIB), ("1m", MIB),
                           ("64kb", 64 << 10), ("64KB", 64 << 10), ("64Kib", 64 << 10)):
            out = run_json("--pid", a.pid, "--src", hex(addr), "--dst", hex(dst), "--len", word, "--dry-run")
            self.assertEqual(out["len"], want, word)
        r = run("--pid", a.pid, "--src", hex(addr), "--dst", hex(dst), "--len", "1mbb")
        one_line(self, r, 2, r"^pgclone: --len '1mbb': not a number")


class MinAddr(VictimTest):
    def test_below_mmap_min_addr(self):
        """A destination under vm.mmap_min_addr, for a target without
        CAP_SYS_RAWIO: the error names the sysctl and its value."""
        with open(MIN_ADDR) as f:
            old = f.read().strip()
        if int(old) < 0x10000:
            # the host runs with 4096: only page 0 would be below it
            with open(MIN_ADDR, "w") as f:
                f.write("65536")
            self.addCleanup(write_file, MIN_ADDR, old)
        with open(MIN_ADDR) as f:
            limit = int(f.read())
        a = self.victim(user="nobody")
        addr = a.addr(f"anon {2 * PAGE:#x} 6")
        sa = Snapshot(a, [(addr, 2 * PAGE)])
        r = run("--pid", a.pid, "--src", hex(addr), "--len", hex(2 * PAGE), "--dst", "0x2000", "--engine", "copy")
        print("\n" + r.stderr)
        one_line(self, r, 1, rf"0x2000 is below vm\.mmap_min_addr \({limit}\), "
                             r"which only a process with CAP_SYS_RAWIO may map$")
        sa.assert_unchanged(self)
