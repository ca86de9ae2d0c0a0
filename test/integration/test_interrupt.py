# SPDX-License-Identifier: GPL-2.0-or-later
"""Reading an image can be interrupted: restore, show and verify on a FIFO
whose writer never comes or stalls end on SIGINT, SIGTERM and SIGHUP with
one line and exit status 1, the target exactly as it was and no parser
child left behind; restore --timeout bounds each wait for input."""
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time

from harness import PAGE, PGCLONE, Snapshot, VictimTest, run
from test_privilege import children_of, status

MIB = 1 << 20
HEADER = 64


def in_open(pid):
    """Is PID blocked in open(2) of a FIFO (openat: 257 on x86_64)?"""
    try:
        with open(f"/proc/{pid}/wchan") as f:
            wchan = f.read()
        with open(f"/proc/{pid}/syscall") as f:
            nr = f.read().split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return "partner" in wchan or "fifo" in wchan or nr == "257"


class Writer:
    """Opens FIFO for writing (in a thread: that blocks until a reader
    comes), writes the first @count bytes of @data, then holds the FIFO
    open without writing until stop()."""

    def __init__(self, fifo, data, count):
        self.fifo, self.data, self.count = fifo, data, count
        self.fd = None
        self.done = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        try:
            self.fd = os.open(self.fifo, os.O_WRONLY)
            view = memoryview(self.data)[:self.count]
            while view:
                n = os.write(self.fd, view)
                view = view[n:]
            self.done.set()
        except OSError:
            self.done.set()         # the reader went away: fine

    def finish(self):
        """Write the rest and close: the image ends normally."""
        self.t.join(10)
        if self.fd is None:
            raise AssertionError("nobody opened the FIFO to read it")
        view = memoryview(self.data)[self.count:]
        while view:
            view = view[os.write(self.fd, view):]
        os.close(self.fd)
        self.fd = None

    def stop(self):
        if self.fd is None:
            # nobody ever opened the other end: let the thread go
            try:
                fd = os.open(self.fifo, os.O_RDONLY | os.O_NONBLOCK)
                time.sleep(0.05)
                os.close(fd)
            except OSError:
                pass
        self.t.join(10)
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class Interrupt(VictimTest):
    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="pgclone-interrupt-")
        self.fifo = os.path.join(self.dir, "fifo")
        os.mkfifo(self.fifo)
        self.writers = []
        # an image of 8 MiB of data: two batches of the parser's 4 MiB
        src = self.victim()
        self.src_addr = src.addr(f"anon {8 * MIB:#x} 7")
        img = os.path.join(self.dir, "img")
        run("dump", "--pid", src.pid, "--src", hex(self.src_addr), "--len", hex(8 * MIB),
            "-o", img, check=0)
        with open(img, "rb") as f:
            self.image = f.read()
        self.src = src

    def tearDown(self):
        for w in self.writers:
            w.stop()
        super().tearDown()
        shutil.rmtree(self.dir, ignore_errors=True)

    def writer(self, count):
        w = Writer(self.fifo, self.image, count)
        self.writers.append(w)
        return w

    def start(self, *args):
        return subprocess.Popen([PGCLONE, *[str(a) for a in args]], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def target(self):
        b = self.victim()
        dst = self.free_addr(self.src, b)
        here = b.addr(f"anon {MIB:#x} 3")
        return b, dst, Snapshot(b, [(here, MIB)])

    def wait_for(self, cond, what, limit=20):
        deadline = time.time() + limit
        while time.time() < deadline:
            if cond():
                return
            time.sleep(0.02)
        self.fail(f"never saw: {what}")

    def ended(self, p, after, limit=10):
        """p's exit status and stderr; fails if it outlives @limit seconds."""
        try:
            out, err = p.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            self.fail(f"pgclone still running {limit} s after {after}; stderr: {err!r}")
        return p.returncode, err

    def one_line(self, code, err, want_code, regex):
        self.assertEqual(code, want_code, err)
        lines = err.strip().splitlines()
        self.assertEqual(len(lines), 1, err)
        self.assertRegex(lines[0], regex)

    def assert_gone(self, pids):
        deadline = time.time() + 2
        while time.time() < deadline and any(os.path.exists(f"/proc/{c}") for c in pids):
            time.sleep(0.02)
        for c in pids:
            self.assertFalse(os.path.exists(f"/proc/{c}"), f"parser child {c} left behind")

    def assert_untraced(self, b):
        self.assertEqual(status(b.pid)["TracerPid"].strip(), "0")

    def test_signal_while_the_writer_stalls_mid_image(self):
        """The target is seized and its ranges built aside when the data
        stops coming: each signal cancels, and all of that is undone."""
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            with self.subTest(sig=sig.name):
                b, dst, snap = self.target()
                self.writer(len(self.image) - 5 * MIB)
                p = self.start("restore", "--pid", b.pid, "-i", self.fifo, "--dst", hex(dst))
                self.wait_for(lambda: status(b.pid)["TracerPid"].strip() == str(p.pid),
                              "the target seized")
                time.sleep(0.3)
                kids = children_of(p.pid)
                self.assertEqual(len(kids), 1, "no parser child")
                p.send_signal(sig)
                code, err = self.ended(p, sig.name)
                self.one_line(code, err, 1, r"^pgclone: interrupted")
                snap.assert_unchanged(self)
                self.assert_untraced(b)
                self.assertIsNone(b.vma_at(dst))
                self.assert_gone(kids)

    def test_signal_before_the_data(self):
        """A writer that opened the FIFO and wrote nothing, or stalls
        inside the header: the parser child waits, and the library for it."""
        for count in (0, 100):
            with self.subTest(bytes_written=count):
                b, dst, snap = self.target()
                self.writer(count)
                p = self.start("restore", "--pid", b.pid, "-i", self.fifo, "--dst", hex(dst))
                self.wait_for(lambda: children_of(p.pid), "the parser child")
                time.sleep(0.3)
                kids = children_of(p.pid)
                self.assertEqual(len(kids), 1, "no parser child")
                p.send_signal(signal.SIGINT)
                code, err = self.ended(p, "SIGINT")
                self.one_line(code, err, 1, r"^pgclone: interrupted")
                snap.assert_unchanged(self)
                self.assert_untraced(b)
                self.assert_gone(kids)

    def test_signal_while_no_writer_comes(self):
        """open(2) of a FIFO nobody writes to: restore, show and verify."""
        b, dst, snap = self.target()
        cases = [("restore", "--pid", b.pid, "-i", self.fifo, "--dst", hex(dst)),
                 ("show", self.fifo), ("verify", self.fifo)]
        for argv in cases:
            with self.subTest(cmd=argv[0]):
                p = self.start(*argv)
                self.wait_for(lambda: in_open(p.pid), "pgclone waiting in open(2)")
                time.sleep(0.2)
                p.send_signal(signal.SIGINT)
                code, err = self.ended(p, "SIGINT")
                self.one_line(code, err, 1, r"^pgclone: interrupted")
                snap.assert_unchanged(self)

    def test_timeout_with_a_stalled_writer(self):
        b, dst, snap = self.target()
        self.writer(len(self.image) - 5 * MIB)
        t0 = time.time()
        p = self.start("restore", "--pid", b.pid, "-i", self.fifo, "--dst", hex(dst),
                       "--timeout", "2")
        self.wait_for(lambda: status(b.pid)["TracerPid"].strip() == str(p.pid),
                      "the target seized")
        kids = children_of(p.pid)
        code, err = self.ended(p, "its --timeout of 2 s", limit=30)
        took = time.time() - t0
        self.one_line(code, err, 1, r"^pgclone: no image data arrived for 2 seconds")
        self.assertGreaterEqual(took, 1.9)
        self.assertLess(took, 20)
        snap.assert_unchanged(self)
        self.assert_untraced(b)
        self.assert_gone(kids)

    def test_timeout_without_a_writer(self):
        b, dst, snap = self.target()
        t0 = time.time()
        p = self.start("restore", "--pid", b.pid, "-i", self.fifo, "--dst", hex(dst),
                       "--timeout", "1")
        code, err = self.ended(p, "its --timeout of 1 s", limit=30)
        took = time.time() - t0
        self.one_line(code, err, 1, rf"^pgclone: no writer opened {self.fifo} for 1 seconds \(--timeout\)")
        self.assertGreaterEqual(took, 0.9)
        snap.assert_unchanged(self)

    def test_restore_through_a_fifo_still_works(self):
        for timeout in ([], ["--timeout", "30"]):
            with self.subTest(timeout=timeout):
                b, dst, snap = self.target()
                w = self.writer(len(self.image) // 2)
                p = self.start("restore", "--pid", b.pid, "-i", self.fifo, "--dst", hex(dst),
                               *timeout)
                w.done.wait(20)
                time.sleep(0.3)         # a pause in the middle: no harm
                w.finish()
                code, err = self.ended(p, "the whole image", limit=60)
                self.assertEqual(code, 0, err)
                self.assertEqual(b.sum(dst, 8 * MIB), self.src.sum(self.src_addr, 8 * MIB))
