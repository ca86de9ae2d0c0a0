# SPDX-License-Identifier: GPL-2.0-or-later
"""Objects handed to a process: a restore or a clone run by root gives a
process a file (or any shared object) only if that process could have
opened it itself with the access its mapping needs.  Checked on what the
process ends up holding: /proc/PID/maps and /proc/PID/map_files."""
import os
import shutil
import tempfile

from harness import ENGINE, PAGE, Snapshot, VictimTest, run
from test_image import make_image

FILE_SHARED, PROT_RW = 3, 3


def mapped_inodes(pid):
    """(dev, ino) of every object PID maps, through map_files."""
    out = set()
    d = f"/proc/{pid}/map_files"
    for e in os.listdir(d):
        try:
            st = os.stat(os.path.join(d, e))
        except FileNotFoundError:
            continue
        out.add((st.st_dev, st.st_ino))
    return out


class Objects(VictimTest):
    def setUp(self):
        super().setUp()
        # a root-only file: 0600 in a 0700 directory
        self.root_dir, self.secret = self.two_page_file("secret", b"S", 0o700, 0o600)
        # and one nobody may open for writing: 0666 in a 0755 directory
        self.open_dir, self.public = self.two_page_file("public", b"P", 0o755, 0o666)

    @staticmethod
    def two_page_file(name, byte, dir_mode, file_mode):
        d = tempfile.mkdtemp(prefix=f"pgclone-objects-{name}-")
        os.chmod(d, dir_mode)
        path = os.path.join(d, name)
        with open(path, "wb") as f:
            f.write(byte * 2 * PAGE)
        os.chmod(path, file_mode)
        return d, path

    def tearDown(self):
        super().tearDown()
        shutil.rmtree(self.root_dir, ignore_errors=True)
        shutil.rmtree(self.open_dir, ignore_errors=True)

    def ident(self, path):
        st = os.stat(path)
        return (st.st_dev, st.st_ino)

    def assert_not_given(self, b, path, dst):
        v = b.vma_at(dst)
        self.assertFalse(v and v["name"] == path, f"{path} is mapped in PID {b.pid}: {v}")
        self.assertNotIn(self.ident(path), mapped_inodes(b.pid),
                         f"PID {b.pid} maps {path} (map_files)")

    def one_line(self, r, code, regex):
        self.assertEqual(r.returncode, code, r.stderr)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertRegex(lines[0], regex)

    def dump_shared(self, path):
        a = self.victim()
        addr = a.addr(f"file {path} {2 * PAGE:#x} shared")
        img = os.path.join(self.root_dir, os.path.basename(path) + ".img")
        run("dump", "--pid", a.pid, "--src", hex(addr), "--len", hex(2 * PAGE), "-o", img,
            check=0)
        return a, img

    def check_refused_then_copied(self, img):
        b = self.victim(user="nobody")
        dst = self.free_addr(b)
        snap = Snapshot(b)
        r = run("restore", "--pid", b.pid, "-i", img, "--dst", hex(dst), "--strict")
        self.one_line(r, 1, rf"PID {b.pid} could not open {self.secret} .* itself "
                            r"\(Permission denied\): not attaching it \(--strict\)")
        snap.assert_unchanged(self)
        self.assert_not_given(b, self.secret, dst)
        # without --strict: a private copy, and a warning that says why
        r = run("restore", "--pid", b.pid, "-i", img, "--dst", hex(dst))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stderr, rf"PID {b.pid} could not open {self.secret} .* itself "
                                   r"\(Permission denied\): restoring a private copy")
        self.assert_not_given(b, self.secret, dst)
        v = b.vma_at(dst)
        self.assertIsNotNone(v)
        self.assertFalse(v["perms"].endswith("s"), v)
        b.ok(f"poke {dst:#x} 0")
        with open(self.secret, "rb") as f:
            self.assertEqual(f.read(), b"S" * 2 * PAGE, "nobody's write reached the file")

    def test_restore_as_root_does_not_hand_out_a_root_only_file(self):
        a, img = self.dump_shared(self.secret)
        self.check_refused_then_copied(img)

    def test_crafted_image_naming_a_root_only_file(self):
        """The right device and inode of a file nobody cannot read, in an
        image made by hand."""
        dev, ino = self.ident(self.secret)
        base = 0x4c0000000000
        rng = {1: base, 2: base + 2 * PAGE, 3: PROT_RW, 4: FILE_SHARED, 6: self.secret,
               7: {1: self.secret, 2: dev, 3: ino, 4: 0}}
        img = os.path.join(self.root_dir, "crafted.img")
        with open(img, "wb") as f:
            f.write(make_image([rng], []))
        self.check_refused_then_copied(img)

    def test_a_file_nobody_may_open_still_attaches_shared(self):
        a, img = self.dump_shared(self.public)
        b = self.victim(user="nobody")
        dst = self.free_addr(b)
        r = run("restore", "--pid", b.pid, "-i", img, "--dst", hex(dst), "--strict")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")
        v = b.vma_at(dst)
        self.assertEqual(v["name"], self.public)
        self.assertEqual(v["perms"], "rw-s")
        self.assertIn(self.ident(self.public), mapped_inodes(b.pid))
        b.ok(f"poke {dst:#x} 81")        # 'Q', through the shared mapping
        with open(self.public, "rb") as f:
            self.assertEqual(f.read(1), b"Q")

    def test_read_only_file_attaches_read_only_for_good(self):
        """A shared mapping that is not writable, of a file nobody may only
        read: attached without write access, so mprotect cannot add it."""
        os.chmod(self.public, 0o644)
        a = self.victim()
        addr = a.addr(f"file {self.public} {2 * PAGE:#x} shared")
        a.ok(f"prot {addr:#x} {2 * PAGE:#x} r--")
        img = os.path.join(self.root_dir, "ro.img")
        run("dump", "--pid", a.pid, "--src", hex(addr), "--len", hex(2 * PAGE), "-o", img,
            check=0)
        b = self.victim(user="nobody")
        dst = self.free_addr(b)
        r = run("restore", "--pid", b.pid, "-i", img, "--dst", hex(dst), "--strict")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("mapping it read-only", r.stderr)
        self.assertEqual(b.vma_at(dst)["perms"], "r--s")
        self.assertNotIn("mw", b.smaps_flags(dst), "VM_MAYWRITE kept")
        self.assertTrue(b.cmd(f"prot {dst:#x} {2 * PAGE:#x} rw-").startswith("err"))

    def test_clone_as_root_does_not_hand_out_a_root_only_file(self):
        a = self.victim()
        addr = a.addr(f"file {self.secret} {2 * PAGE:#x} shared")
        b = self.victim(user="nobody")
        dst = self.free_addr(a, b)
        snap = Snapshot(b)
        r = run("--pid", a.pid, "--src", hex(addr), "--len", hex(2 * PAGE), "--target", b.pid,
                "--dst", hex(dst))
        if ENGINE == "kernel":
            # process_vm_mmap(2) cannot ask nobody whether it could open
            # the file: nobody may not ptrace root's process, so no object
            self.one_line(r, 1, rf"PID {b.pid} may not ptrace PID {a.pid}, and "
                                rf"process_vm_mmap\(2\) cannot ask it whether it could "
                                rf"open {self.secret} .* not giving it the mapping")
        else:
            self.one_line(r, 1, rf"PID {b.pid} could not open {self.secret} .* itself "
                                r"\(Permission denied\): not giving it the mapping")
        snap.assert_unchanged(self)
        self.assert_not_given(b, self.secret, dst)
        # a file it may open: shared, as before, by the copy engine, which
        # asks it; the kernel engine refuses every object to it
        addr = a.addr(f"file {self.public} {2 * PAGE:#x} shared")
        r = run("--pid", a.pid, "--src", hex(addr), "--len", hex(2 * PAGE), "--target", b.pid,
                "--dst", hex(dst))
        if ENGINE == "kernel":
            self.assertEqual(r.returncode, 1, r.stderr)
            snap.assert_unchanged(self)
            # --engine auto takes the copy engine for it, which asks nobody
            r = run("--pid", a.pid, "--src", hex(addr), "--len", hex(2 * PAGE),
                    "--target", b.pid, "--dst", hex(dst), "--engine", "auto")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(b.vma_at(dst)["perms"], "rw-s")
        self.assertEqual(b.vma_at(dst)["name"], self.public)
