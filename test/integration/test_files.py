# SPDX-License-Identifier: GPL-2.0-or-later
"""What pgclone does to files and terminals: a dump never removes or
rewrites a file it did not create (issue 11, item 8), never follows a
planted symlink (item 9), no name reaches a terminal or a JSON consumer raw
(item 11), and output that could not be written is an error (item 12)."""
import contextlib
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import unittest

from harness import PAGE, PGCLONE, Snapshot, VictimTest, run, with_engine
from test_image import CRAFTED_BASE, crafted_good, make_image

MIB = 1 << 20
NOBODY = 65534
EXIT_INCOMPLETE = 3


def run_raw(*args, env=None, user=None, stdout=subprocess.PIPE, stdin=None,
            pass_fds=(), timeout=120):
    """pgclone with its output as bytes: names may be anything."""
    argv = [PGCLONE] + with_engine(args)
    if user is not None:
        argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups",
                "--"] + argv
    return subprocess.run(argv, stdout=stdout, stderr=subprocess.PIPE, stdin=stdin,
                          env=dict(os.environ, **(env or {})), timeout=timeout,
                          pass_fds=pass_fds)


def tmp_images(names):
    """The temporary files a dump leaves only if it was SIGKILLed."""
    return [n for n in names if ".pgclone-" in n]


class DumpFiles(VictimTest):
    """Item 8: a failed dump loses nothing; a complete one replaces."""

    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="pgclone-files-")
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", self.dir]))
        self.v = self.victim()
        self.addr = self.v.addr(f"anon {MIB:#x} 3")

    def p(self, name):
        return os.path.join(self.dir, name)

    def test_failed_dump_keeps_an_existing_file(self):
        with open(self.p("old.img"), "wb") as f:
            f.write(b"the user's old image")
        os.chmod(self.p("old.img"), 0o644)
        before = os.stat(self.p("old.img"))
        r = run("dump", "--pid", self.v.pid, "--src", "0x1000", "-o", self.p("old.img"))
        self.assertEqual(r.returncode, 2, r.stderr)
        with open(self.p("old.img"), "rb") as f:
            self.assertEqual(f.read(), b"the user's old image")
        after = os.stat(self.p("old.img"))
        self.assertEqual((after.st_ino, after.st_mode), (before.st_ino, before.st_mode))
        self.assertEqual(os.listdir(self.dir), ["old.img"])

    def test_failed_dump_keeps_device_nodes(self):
        # device nodes of our own, not the system's: the old code removed them
        os.mknod(self.p("full"), 0o666 | stat.S_IFCHR, os.makedev(1, 7))
        os.mknod(self.p("null"), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        r = run("dump", "--pid", self.v.pid, "--src", hex(self.addr), "-o", self.p("full"))
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("No space left on device", r.stderr)
        r = run("dump", "--pid", self.v.pid, "--src", "0x1000", "-o", self.p("null"))
        self.assertEqual(r.returncode, 2, r.stderr)
        for n in ("full", "null"):
            self.assertTrue(stat.S_ISCHR(os.lstat(self.p(n)).st_mode), n)
        self.assertEqual(sorted(os.listdir(self.dir)), ["full", "null"])
        # a device written successfully is written, not replaced
        run("dump", "--pid", self.v.pid, "--src", hex(self.addr), "-o", self.p("null"),
            check=0)
        self.assertTrue(stat.S_ISCHR(os.lstat(self.p("null")).st_mode))

    def test_fifo_is_written_directly_and_kept(self):
        os.mkfifo(self.p("fifo"))
        # the reader drains into a file: a pipe nobody reads would stall it
        with open(self.p("copy"), "wb") as copy:
            reader = subprocess.Popen(["cat", self.p("fifo")], stdout=copy)
            r = run("dump", "--pid", self.v.pid, "--src", hex(self.addr),
                    "-o", self.p("fifo"))
            reader.wait(timeout=60)
        with open(self.p("copy"), "rb") as f:
            img = f.read()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(img[:8], b"PGCLONE\0")
        self.assertTrue(stat.S_ISFIFO(os.lstat(self.p("fifo")).st_mode))

    def test_complete_dump_replaces_and_spares_hard_links(self):
        with open(self.p("a.img"), "wb") as f:
            f.write(b"old")
        os.link(self.p("a.img"), self.p("b.img"))
        run("dump", "--pid", self.v.pid, "--src", hex(self.addr), "-o", self.p("a.img"),
            check=0)
        with open(self.p("b.img"), "rb") as f:
            self.assertEqual(f.read(), b"old", "the other link was rewritten in place")
        with open(self.p("a.img"), "rb") as f:
            self.assertEqual(f.read(8), b"PGCLONE\0")
        st = os.stat(self.p("a.img"))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        self.assertEqual(st.st_nlink, 1)
        self.assertEqual(sorted(os.listdir(self.dir)), ["a.img", "b.img"])
        run("verify", self.p("a.img"), check=0)

    def test_killed_dump_leaves_only_its_temporary_file(self):
        with open(self.p("out.img"), "wb") as f:
            f.write(b"old")
        for sig, left in ((signal.SIGTERM, 0), (signal.SIGKILL, 1)):
            with self.subTest(signal=sig.name):
                env = dict(os.environ, PGCLONE_FAULT_STOP="batch")
                p = subprocess.Popen([PGCLONE, "dump", "--pid", str(self.v.pid), "--src",
                                      hex(self.addr), "-o", self.p("out.img")],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=env)
                # a stopped tracer keeps the victim from being reaped: never leave one
                self.addCleanup(lambda p=p: (p.kill(), p.wait()))
                deadline = time.time() + 30
                while time.time() < deadline:
                    with open(f"/proc/{p.pid}/stat") as f:
                        if f.read().rsplit(")", 1)[1].split()[0] == "T":
                            break
                    time.sleep(0.01)
                self.assertEqual(len(tmp_images(os.listdir(self.dir))), 1,
                                 os.listdir(self.dir))
                os.kill(p.pid, sig)
                os.kill(p.pid, signal.SIGCONT)
                p.communicate(timeout=60)
                self.assertNotEqual(p.returncode, 0)
                with open(self.p("out.img"), "rb") as f:
                    self.assertEqual(f.read(), b"old")
                tmps = tmp_images(os.listdir(self.dir))
                self.assertEqual(len(tmps), left, os.listdir(self.dir))
                for t in tmps:
                    self.assertTrue(t.startswith(".out.img.pgclone-"), t)
                    os.unlink(self.p(t))
                self.assertTrue(self.v.alive())

    def test_directory_without_write_permission(self):
        nv = self.victim(user=NOBODY)
        addr = nv.addr(f"anon {MIB:#x} 1")
        os.chmod(self.dir, 0o755)
        with open(self.p("theirs.img"), "wb") as f:
            f.write(b"old")
        os.chmod(self.p("theirs.img"), 0o666)	# writable, but in root's directory
        r = run_raw("dump", "--pid", nv.pid, "--src", hex(addr), "-o", self.p("theirs.img"),
                    user=NOBODY)
        self.assertEqual(r.returncode, 2, r.stderr)
        err = r.stderr.decode()
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertIn("Permission denied", err)
        self.assertIn("same directory", err)
        with open(self.p("theirs.img"), "rb") as f:
            self.assertEqual(f.read(), b"old")

    def test_directory_and_socket_are_refused(self):
        os.mkdir(self.p("d"))
        s = socket.socket(socket.AF_UNIX)
        s.bind(self.p("sock"))
        self.addCleanup(s.close)
        for target, needle in (("d", "Is a directory"), ("d/", "Is a directory"),
                               ("sock", "socket")):
            with self.subTest(target=target):
                r = run("dump", "--pid", self.v.pid, "--src", hex(self.addr),
                        "-o", self.p(target))
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn(needle, r.stderr)
                self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
        self.assertEqual(sorted(os.listdir(self.dir)), ["d", "sock"])

    def test_stdout_and_dev_stdout(self):
        with open(self.p("full"), "wb"):
            pass
        with open("/dev/full", "wb") as full:
            r = run_raw("dump", "--pid", self.v.pid, "--src", hex(self.addr), "-o", "-",
                        stdout=full)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertTrue(stat.S_ISCHR(os.stat("/dev/full").st_mode))
        # /dev/stdout is a link to /proc/self/fd/1: followed to the pipe
        r = run_raw("dump", "--pid", self.v.pid, "--src", hex(self.addr), "-o", "/dev/stdout")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout[:8], b"PGCLONE\0")


@contextlib.contextmanager
def protected_symlinks(value):
    path = "/proc/sys/fs/protected_symlinks"
    with open(path) as f:
        old = f.read().strip()
    with open(path, "w") as f:
        f.write(str(value))
    try:
        yield
    finally:
        with open(path, "w") as f:
            f.write(old)


class PlantedLinks(VictimTest):
    """Item 9: with fs.protected_symlinks=0, nobody plants links in a
    sticky world-writable directory; root's dump must not follow them."""

    def setUp(self):
        super().setUp()
        self.v = self.victim()
        self.addr = self.v.addr(f"anon {MIB:#x} 3")
        self.secret_dir = tempfile.mkdtemp(prefix="pgclone-secret-")	# 0700, root
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", self.secret_dir]))
        self.secret = os.path.join(self.secret_dir, "shadow")
        with open(self.secret, "wb") as f:
            f.write(b"root only")
        os.chmod(self.secret, 0o600)
        self.sticky = tempfile.mkdtemp(prefix="pgclone-sticky-")
        os.chmod(self.sticky, 0o1777)
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", self.sticky]))
        cm = protected_symlinks(0)
        cm.__enter__()
        self.addCleanup(cm.__exit__, None, None, None)

    def plant(self, name, target):
        """A link made by nobody, as an attacker would."""
        link = os.path.join(self.sticky, name)
        subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}",
                        "--clear-groups", "ln", "-s", target, link], check=True)
        self.assertEqual(os.lstat(link).st_uid, NOBODY)
        return link

    def assert_secret_intact(self):
        with open(self.secret, "rb") as f:
            self.assertEqual(f.read(), b"root only")
        self.assertEqual(os.listdir(self.secret_dir), ["shadow"])

    def test_planted_link_as_the_file(self):
        link = self.plant("out.img", self.secret)
        r = run("dump", "--pid", self.v.pid, "--src", hex(self.addr), "-o", link)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("refusing to follow a symbolic link", r.stderr)
        self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
        self.assert_secret_intact()
        self.assertEqual(os.readlink(link), self.secret)

    def test_planted_link_as_a_directory(self):
        link = self.plant("d", self.secret_dir)
        r = run("dump", "--pid", self.v.pid, "--src", hex(self.addr),
                "-o", os.path.join(link, "shadow"))
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("refusing to follow a symbolic link", r.stderr)
        self.assert_secret_intact()

    def test_planted_link_to_a_new_name(self):
        link = self.plant("new.img", os.path.join(self.secret_dir, "planted"))
        r = run("dump", "--pid", self.v.pid, "--src", hex(self.addr), "-o", link)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assert_secret_intact()

    def test_own_links_are_followed(self):
        # root's own link in the sticky directory, and a link in a plain one
        own = os.path.join(self.sticky, "mine.img")
        os.symlink(self.secret, own)
        run("dump", "--pid", self.v.pid, "--src", hex(self.addr), "-o", own, check=0)
        self.assertTrue(os.path.islink(own))
        with open(self.secret, "rb") as f:
            self.assertEqual(f.read(8), b"PGCLONE\0")
        self.assertEqual(os.listdir(self.secret_dir), ["shadow"])


HOLDER = r"""
import ctypes, mmap, os, sys
keep = []
for hexname in sys.argv[1:]:
    path = bytes.fromhex(hexname)
    with open(path, "wb") as f:
        f.write(b"\x5a" * 8192)
    fd = os.open(path, os.O_RDWR)
    m = mmap.mmap(fd, 8192, flags=mmap.MAP_PRIVATE)
    m[0] = 0x41                      # one copied-on-write page
    keep.append(m)
    print(hex(ctypes.addressof(ctypes.c_char.from_buffer(m))))
print("ready", flush=True)
sys.stdin.read()
"""

# ESC sequences (a colour, a window title, a clear screen), a newline that
# would forge a row, bytes that are not UTF-8, a C1 CSI, a backslash
HOSTILE = [b"esc\x1b[31mRED\x1b]0;pwned\x07\x1b[2J",
           b"nl\n7f0000000000 7f0000001000 rw-p FORGED",
           b"bad\xff\xfeutf8\xc0\xaf",
           b"c1\xc2\x9b31m\\back"]
RAW = [b"\x1b", b"\x07", b"\xff", b"\xfe", b"\xc0", b"\xc2\x9b"]


def kernel_name(path):
    """/proc/PID/maps shows a newline in a path as \\012."""
    return path.replace(b"\n", b"\\012")


def text_escaped(name):
    """The documented text escape of a name (pgclone(1), ESCAPING)."""
    out = b""
    i = 0
    while i < len(name):
        for n in (4, 3, 2, 1):
            chunk = name[i:i + n]
            try:
                ch = chunk.decode("utf-8")
            except UnicodeDecodeError:
                continue
            if len(ch) == 1:
                break
        else:
            ch, chunk = None, name[i:i + 1]
        if ch is None or ord(ch) < 0x20 or 0x7f <= ord(ch) < 0xa0:
            out += b"".join(b"\\x%02x" % b for b in chunk)
        elif ch == "\\":
            out += b"\\\\"
        else:
            out += chunk
        i += len(chunk)
    return out


def json_escaped(name):
    """What json.loads() gives for a name (pgclone(1), ESCAPING)."""
    out = ""
    i = 0
    while i < len(name):
        for n in (4, 3, 2, 1):
            try:
                ch = name[i:i + n].decode("utf-8")
            except UnicodeDecodeError:
                continue
            if len(ch) == 1:
                out += ch
                i += n
                break
        else:
            out += chr(name[i])
            i += 1
    return out


class HostileNames(VictimTest):
    """Item 11: real mappings of files with hostile names, and crafted
    images, through every command that prints names."""

    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="pgclone-names-")
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", self.dir]))
        self.paths = [os.fsencode(self.dir) + b"/" + n for n in HOSTILE]
        self.holder = subprocess.Popen([sys.executable, "-c", HOLDER] +
                                       [p.hex() for p in self.paths],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.addCleanup(self.stop_holder)
        self.addrs = []
        for line in iter(self.holder.stdout.readline, b""):
            if line.strip() == b"ready":
                break
            self.addrs.append(int(line, 16))
        self.assertEqual(len(self.addrs), len(HOSTILE))
        self.pid = self.holder.pid

    def stop_holder(self):
        self.holder.stdin.close()
        self.holder.wait()
        self.holder.stdout.close()

    def assert_clean(self, r, what):
        """Neither stream carries a raw byte of a hostile name, nor a row
        forged by a newline in one."""
        for stream in (r.stdout or b"", r.stderr):
            for raw in RAW:
                self.assertNotIn(raw, stream, f"{what}: raw {raw!r} in {stream!r}")
            for line in stream.splitlines():
                self.assertFalse(line.startswith(b"7f0000000000"), f"{what}: forged row")

    def assert_text_names(self, r, what, names=None):
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_clean(r, what)
        for p in names or [kernel_name(p) for p in self.paths]:
            self.assertIn(text_escaped(p), r.stdout, what)

    def assert_json(self, r, what):
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_clean(r, what)
        doc = json.loads(r.stdout.decode("utf-8"))     # strict UTF-8 too
        return doc

    def free_dst(self):
        return 0x520000000000

    def test_maps(self):
        r = run_raw("maps", "--pid", self.pid)
        self.assert_text_names(r, "maps")
        # one line per mapping: the newline forged no row
        with open(f"/proc/{self.pid}/maps", "rb") as f:
            nmaps = len(f.read().splitlines())
        self.assertEqual(len(r.stdout.splitlines()), nmaps + 1)
        doc = self.assert_json(run_raw("maps", "--pid", self.pid, "--json"), "maps --json")
        names = [m["name"] for m in doc["mappings"]]
        for p in self.paths:
            self.assertIn(json_escaped(kernel_name(p)), names)

    def test_clone_dump_show_verify_restore(self):
        for i, (addr, path) in enumerate(zip(self.addrs, self.paths)):
            path = kernel_name(path)
            with self.subTest(name=HOSTILE[i]):
                dst = self.free_dst() + i * (1 << 32)
                args = ("--pid", self.pid, "--src", hex(addr), "--len", hex(2 * PAGE))
                r = run_raw(*args, "--dst", hex(dst), "--dry-run")
                self.assert_text_names(r, "clone --dry-run", [path])
                doc = self.assert_json(run_raw(*args, "--dst", hex(dst), "--dry-run",
                                               "--json"), "clone --dry-run --json")
                self.assertEqual(doc["ranges"][0]["name"], json_escaped(path))
                r = run_raw(*args, "--dst", hex(dst))
                self.assert_text_names(r, "clone", [path])
                doc = self.assert_json(run_raw(*args, "--dst", hex(dst + PAGE * 16),
                                               "--json"), "clone --json")
                self.assertEqual(doc["ranges"][0]["name"], json_escaped(path))
                img = os.path.join(self.dir, f"img{i}")
                r = run_raw("dump", *args, "-o", img)
                self.assert_text_names(r, "dump", [path])
                self.assert_text_names(run_raw("show", img), "show", [path])
                doc = self.assert_json(run_raw("show", img, "--json"), "show --json")
                self.assertEqual(doc["ranges"][0]["name"], json_escaped(path))
                self.assert_clean(run_raw("verify", img), "verify")
                v = self.victim()
                rdst = hex(self.free_dst() + (1 << 40))
                r = run_raw("restore", "--pid", v.pid, "-i", img, "--dst", rdst, "--dry-run")
                self.assert_text_names(r, "restore --dry-run", [path])
                self.assert_json(run_raw("restore", "--pid", v.pid, "-i", img, "--dst", rdst,
                                         "--dry-run", "--json"), "restore --dry-run --json")
                r = run_raw("restore", "--pid", v.pid, "-i", img, "--dst", rdst)
                self.assert_text_names(r, "restore", [path])

    def test_crafted_image_names(self):
        v = self.victim()
        for i, name in enumerate(HOSTILE):
            with self.subTest(name=name):
                rng = {1: CRAFTED_BASE, 2: CRAFTED_BASE + 4 * PAGE, 3: 3, 4: 0, 6: name}
                ext = {1: 0, 2: 0, 3: 1, 4: 0, 5: 0, 6: True}
                img = os.path.join(self.dir, f"crafted{i}")
                with open(img, "wb") as f:
                    f.write(make_image([rng], [ext], bytes([0xAB]) * PAGE))
                r = run_raw("show", img)
                self.assert_text_names(r, "show", [name])
                self.assertEqual(len(r.stdout.splitlines()), 7, r.stdout)
                doc = self.assert_json(run_raw("show", img, "--json"), "show --json")
                self.assertEqual(doc["ranges"][0]["name"], json_escaped(name))
                dst = hex(CRAFTED_BASE + (i + 1) * (1 << 32))
                r = run_raw("restore", "--pid", v.pid, "-i", img, "--dst", dst, "--dry-run")
                self.assert_text_names(r, "restore --dry-run", [name])
                self.assert_json(run_raw("restore", "--pid", v.pid, "-i", img, "--dst", dst,
                                         "--json"), "restore --json")

    def test_library_messages(self):
        # the library's error text embeds the image's architecture
        img = os.path.join(self.dir, "arch")
        rng = {1: CRAFTED_BASE, 2: CRAFTED_BASE + PAGE, 3: 3, 4: 0}
        ext = {1: 0, 2: 0, 3: 1, 4: 0, 5: 0, 6: True}
        with open(img, "wb") as f:
            f.write(make_image([rng], [ext], bytes(PAGE), arch="x\x1b[2J\n\x1b]0;t\x07"))
        v = self.victim()
        r = run_raw("restore", "--pid", v.pid, "-i", img)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assert_clean(r, "restore")
        self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
        self.assertIn(b"x\\x1b[2J\\x0a\\x1b]0;t\\x07", r.stderr)
        r = run_raw("show", img)
        self.assert_clean(r, "show")
        # a path the user names is escaped in messages too
        bad = os.path.join(self.dir, "no\x1b[31such")
        r = run_raw("show", bad)
        self.assertEqual(r.returncode, 2)
        self.assert_clean(r, "show")


class LostOutput(VictimTest):
    """Item 12: output that could not be written is an error."""

    def run_to(self, target, *args, **kw):
        with open(target, "wb") as out:
            return run_raw(*args, stdout=out, **kw)

    def test_read_only_commands(self):
        v = self.victim()
        for args in (("maps", "--pid", v.pid), ("maps", "--pid", v.pid, "--json"),
                     ("--help",), ("--version",), ("maps", "--help")):
            with self.subTest(args=args):
                r = self.run_to("/dev/full", *args)
                self.assertEqual(r.returncode, 1, r.stderr)
                self.assertIn(b"write error on standard output: No space left on device",
                              r.stderr)
                self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)

    def test_closed_stdout(self):
        v = self.victim()
        addr = v.addr(f"anon {MIB:#x} 1")
        dst = self.free_addr(v)
        snap = Snapshot(v, [(addr, MIB)])
        r = subprocess.run(f"exec {PGCLONE} clone --pid {v.pid} --src {addr:#x} "
                           f"--dst {dst:#x} --dry-run --json >&-", shell=True,
                           stderr=subprocess.PIPE)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(b"Bad file descriptor", r.stderr)
        self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
        snap.assert_unchanged(self)
        # a closed stdout is not taken by the image: the report cannot land in it
        d = tempfile.mkdtemp(prefix="pgclone-closed-")
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", d]))
        r = subprocess.run(f"exec {PGCLONE} dump --pid {v.pid} --src {addr:#x} "
                           f"-o {d}/img >&-", shell=True, stderr=subprocess.PIPE)
        self.assertEqual(r.returncode, EXIT_INCOMPLETE, r.stderr)
        run("verify", f"{d}/img", check=0)

    def test_committed_clone_and_restore(self):
        v = self.victim()
        addr = v.addr(f"anon {MIB:#x} 1")
        dst = self.free_addr(v)
        r = self.run_to("/dev/full", "clone", "--pid", v.pid, "--src", hex(addr),
                        "--dst", hex(dst), "--json")
        self.assertEqual(r.returncode, EXIT_INCOMPLETE, r.stderr)
        self.assertEqual(v.read(dst, MIB), v.read(addr, MIB), "the clone was committed")
        d = tempfile.mkdtemp(prefix="pgclone-lost-")
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", d]))
        run("dump", "--pid", v.pid, "--src", hex(addr), "-o", f"{d}/img", check=0)
        b = self.victim()
        r = self.run_to("/dev/full", "restore", "--pid", b.pid, "-i", f"{d}/img")
        self.assertEqual(r.returncode, EXIT_INCOMPLETE, r.stderr)
        self.assertEqual(b.read(addr, MIB), v.read(addr, MIB))
        # a dry run changed nothing: its lost output is a plain failure
        snap = Snapshot(b)
        r = self.run_to("/dev/full", "restore", "--pid", b.pid, "-i", f"{d}/img",
                        "--dst", hex(self.free_addr(b)), "--dry-run")
        self.assertEqual(r.returncode, 1, r.stderr)
        snap.assert_unchanged(self)

    def test_broken_pipe(self):
        v = self.victim()
        rfd, wfd = os.pipe()
        os.close(rfd)
        r = run_raw("maps", "--pid", v.pid, stdout=wfd)
        os.close(wfd)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(r.stderr, b"", "EPIPE fails quietly")


if __name__ == "__main__":
    unittest.main()
