# SPDX-License-Identifier: GPL-2.0-or-later
"""dump --snapshot (issue 14): the source is stopped only while it forks
(or, where the kernel has process_vm_mmap(2), while the kernel copies its
page tables into a helper of pgclone's); the image is the instant of the
snapshot however long writing it takes, and nothing of the snapshot is
left in the source afterwards: no child, no zombie, no thread, no signal.
Refusals (seccomp, DONTFORK, WIPEONFORK, shared) and every failure path
leave the source exactly as it was."""
import array
import os
import shutil
import signal
import subprocess
import tempfile
import time

from harness import (VICTIM, Snapshot, Victim, VictimTest, copy_engine_only,
                     kernel_engine_only, run, run_json, start_stopped_at)
from test_privilege import children_of, status

MIB = 1 << 20
LEN = 16 * MIB


def instant_of(data):
    """The number of words written since generation 1 if @data is one
    instant of the victim's "gens" writer (word I of generation G holds
    G << 32 | I, written in order), else None."""
    words = array.array("Q", data)
    n = len(words)
    g0 = words[0] >> 32
    # the first word of an older generation: where the writer stood
    k = next((i for i in range(0, n, 512) if words[i] >> 32 != g0), n)
    if k < n:  # it stood inside the page before k
        k = max(k - 512, 0)
        while k < n and words[k] >> 32 == g0:
            k += 1
    want = array.array("Q", [g0 << 32 | i for i in range(k)] +
                       [(g0 - 1) << 32 | i for i in range(k, n)])
    if words != want:
        return None
    return (g0 - 1) * n + k


def runs_on(v, limit=10):
    """Does @v's writer finish another generation (within @limit s)?"""
    g = int(v.cmd("gen"))
    deadline = time.time() + limit
    while time.time() < deadline:
        if int(v.cmd("gen")) > g:
            return True
        time.sleep(0.02)
    return False


class NsVictim(Victim):
    """A victim in a PID namespace of its own (its init)."""

    def __init__(self):
        self.p = subprocess.Popen(["unshare", "--pid", "--fork", "--kill-child", "--", VICTIM],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                  bufsize=1)
        if self.p.stdout.readline().strip() != "ready":
            raise RuntimeError("victim did not start in a PID namespace")
        self.pid = children_of(self.p.pid)[0]
        self.ns_pid = int(status(self.pid)["NSpid"].split()[-1])


def stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


class SnapshotBase(VictimTest):
    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="pgclone-snapshot-")
        self.img = os.path.join(self.dir, "img")

    def tearDown(self):
        super().tearDown()
        shutil.rmtree(self.dir, ignore_errors=True)

    def stopped_at(self, point, *args):
        """pgclone held at fault @point; never left stopped by a failure."""
        p = start_stopped_at(point, *args)

        def end():
            if p.poll() is None:
                p.kill()
                p.communicate()
        self.addCleanup(end)
        return p

    def writing_source(self, pause_us=20):
        """A source with a writer thread, two threads blocked in read()
        and a handler counting every stray signal."""
        v = self.victim()
        v.ok("count-signals")
        v.ok("threads 2")
        addr = v.addr(f"reserve {LEN:#x}")
        v.ok(f"gens {addr:#x} {LEN:#x} {pause_us}")
        # Under ASan a new thread maps its allocator caches once it runs,
        # after "ok": a test comparing maps must start after that.
        self.assertTrue(runs_on(v), "the writer thread does not run")
        return v, addr

    def assert_instant_restored(self, v, addr, threads):
        """Nothing left in @v, its blocked threads woken as they were, and
        the image restored elsewhere one instant of its writer, an old one."""
        self.assert_no_trace(v, threads)
        self.assertEqual(v.cmd("wake"), "ok 2", "a thread blocked in read() lost its call")
        b = self.victim()
        run("restore", "--pid", b.pid, "-i", self.img, check=0)
        at = instant_of(b.read(addr, LEN))
        self.assertIsNotNone(at, "the image is not one instant of the source")
        now = instant_of(b.read(addr, LEN))
        self.assertEqual(at, now)
        self.assertLess(at // (LEN // 8) + 1, int(v.cmd("gen")),
                        "the image is not older than the source")

    def assert_interrupted(self, v, p, sig):
        """pgclone @p, stopped at a fault point, gets @sig: it fails, puts
        no image anywhere and leaves nothing in @v (4 threads)."""
        maps = v.maps()
        os.kill(p.pid, sig)
        os.kill(p.pid, signal.SIGCONT)
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 1, err)
        self.assertEqual(os.listdir(self.dir), [])
        self.assertEqual(v.maps(), maps)
        self.assert_no_trace(v, 4)

    def assert_gone(self, pid, what="the helper"):
        """@pid dead (a zombie or reaped) within 10 s."""
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                if stat_fields(pid)[0] in ("Z", "X"):
                    return
            except (FileNotFoundError, ProcessLookupError):
                return
            time.sleep(0.05)
        self.fail(f"{what} {pid} still runs")

    def assert_no_trace(self, v, threads):
        """Nothing of a snapshot in @v: no child, no zombie, no extra
        thread, no signal received or pending."""
        self.assertEqual(children_of(v.pid), [], "the source has a child left")
        self.assertEqual(len(os.listdir(f"/proc/{v.pid}/task")), threads)
        self.assertEqual(v.cmd("signals"), "0", "the source received a signal")
        st = status(v.pid)
        self.assertEqual(int(st["ShdPnd"], 16), 0)
        self.assertEqual(int(st["SigPnd"], 16), 0)


class SnapshotDump(SnapshotBase):
    @copy_engine_only("a snapshot by fork: the kernel's is KernelSnapshotDump's")
    def test_image_is_the_instant_of_the_freeze(self):
        v, addr = self.writing_source()
        threads = len(os.listdir(f"/proc/{v.pid}/task"))
        # held after the snapshot is taken, before a byte is written
        p = self.stopped_at("seized", "dump", "--snapshot", "-v", "--pid", v.pid,
                             "--src", hex(addr), "-o", self.img)
        kids = children_of(v.pid)
        self.assertEqual(len(kids), 1, "no snapshot child while the dump runs")
        self.assertEqual(stat_fields(kids[0])[0], "t", "the snapshot child is not held stopped")
        self.assertEqual(int(stat_fields(kids[0])[35]), 0, "the child's exit signal is not 0")
        with open(f"/proc/{kids[0]}/comm") as c:
            self.assertEqual(c.read().strip(), "pgclone:snap")
        self.assertTrue(runs_on(v), "the source did not run during the dump")
        os.kill(p.pid, signal.SIGCONT)
        out, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 0, err)
        self.assertIn("was stopped for", err)
        self.assertIn("page tables", err)
        self.assert_instant_restored(v, addr, threads)

    def test_another_users_source(self):
        """pgclone may not signal another user's process (no CAP_KILL
        kept): the source itself kills its snapshot, then reaps it."""
        v = self.victim(user="nobody")
        v.ok("count-signals")
        addr = v.addr(f"anon {4 * MIB:#x} 9")
        run("dump", "--snapshot", "--pid", v.pid, "--src", hex(addr), "-o", self.img, check=0)
        self.assert_no_trace(v, 1)
        b = self.victim()
        run("restore", "--pid", b.pid, "-i", self.img, check=0)
        self.assertEqual(b.sum(addr, 4 * MIB), v.sum(addr, 4 * MIB))

    def test_source_in_another_pid_namespace(self):
        """clone() answers with the child's PID in the source's namespace:
        pgclone must find and kill its own snapshot, nobody else."""
        if not shutil.which("unshare"):
            self.skipTest("unshare(1) is not installed")
        v = NsVictim()
        self.victims.append(v)
        self.assertNotEqual(v.ns_pid, v.pid)
        v.ok("count-signals")
        addr = v.addr(f"anon {4 * MIB:#x} 9")
        run("dump", "--snapshot", "--pid", v.pid, "--src", hex(addr), "-o", self.img, check=0)
        self.assert_no_trace(v, 1)
        b = self.victim()
        run("restore", "--pid", b.pid, "-i", self.img, check=0)
        self.assertEqual(b.sum(addr, 4 * MIB), v.sum(addr, 4 * MIB))

    def test_all_with_snapshot_is_the_frozen_dump(self):
        """--all --snapshot of an idle source holds what a frozen --all
        dump holds: every range, every anonymous page, checksums that
        match.  Compared image to image, because restoring a whole
        layout needs a hole as wide as its span, which a sanitizer's
        shadow and allocator regions leave nowhere."""
        v = self.victim()
        addr = v.addr(f"anon {4 * MIB:#x} 9")
        frozen = os.path.join(self.dir, "frozen")
        run("dump", "--all", "--pid", v.pid, "-o", frozen, check=0)
        run("dump", "--snapshot", "--all", "--pid", v.pid, "-o", self.img, check=0)
        self.assert_no_trace(v, 1)

        def ranges(img):
            return [(r["start"], r["end"], r["perms"], r["kind"], r["name"],
                     r["pages_stored"] if r["kind"] == "anon-private" else None)
                    for r in run_json("show", img)["ranges"]]
        snap = ranges(self.img)
        self.assertEqual(snap, ranges(frozen))
        mine = [r for r in snap if int(r[0], 16) <= addr < int(r[1], 16)]
        self.assertEqual(len(mine), 1, "the filled range is not in the image")
        self.assertGreaterEqual(mine[0][5], 4 * MIB // 4096, "its pages were not stored")
        self.assertIn("every checksum matches", run("verify", self.img, check=0).stdout)

    def refused(self, v, *args, why, code=2):
        snap = Snapshot(v)
        threads = len(os.listdir(f"/proc/{v.pid}/task"))
        r = run("dump", "--snapshot", "--pid", v.pid, *args, "-o", self.img, check=code)
        self.assertIn(why, r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertFalse(os.path.exists(self.img))
        self.assertEqual(os.listdir(self.dir), [])
        snap.assert_unchanged(self)
        self.assertEqual(children_of(v.pid), [])
        self.assertEqual(len(os.listdir(f"/proc/{v.pid}/task")), threads)

    @copy_engine_only("the seccomp filter is read by the injection layer")
    def test_seccomp_forbidding_clone_is_refused_up_front(self):
        v = self.victim()
        v.ok("count-signals")
        addr = v.addr(f"anon {MIB:#x} 3")
        v.ok("seccomp-kill-clone")
        self.refused(v, "--src", hex(addr), why="forbids clone(2)", code=1)
        self.assertEqual(v.cmd("signals"), "0")

    @copy_engine_only("the seccomp filter is read by the injection layer")
    def test_seccomp_filtered_source_that_may_fork(self):
        """The reap runs inside pgclone's own sandbox, where the source's
        filter cannot be read again: the one read at the freeze serves,
        silently, and the source is left as it was."""
        v = self.victim()
        v.ok("count-signals")
        addr = v.addr(f"anon {MIB:#x} 3")
        v.ok("seccomp-kill-mmap")
        r = run("dump", "--snapshot", "--pid", v.pid, "--src", hex(addr), "-o", self.img, check=0)
        self.assertNotIn("warning", r.stderr)
        self.assert_no_trace(v, 1)
        self.assertTrue(v.alive())

    def test_dontfork_wipeonfork_shared_refused(self):
        v = self.victim()
        for adv in ("dontfork", "wipeonfork"):
            addr = v.addr(f"anon {MIB:#x} 3")
            v.ok(f"advise {addr:#x} {MIB:#x} {adv}")
            self.refused(v, "--src", hex(addr), why=f"MADV_{adv.upper()}")
        self.refused(v, "--all", why="MADV_")
        shared = v.addr(f"shared {MIB:#x}")
        self.refused(v, "--src", hex(shared), why="is shared")

    def test_snapshot_and_no_freeze_contradict(self):
        v = self.victim()
        addr = v.addr(f"anon {MIB:#x} 3")
        r = run("dump", "--snapshot", "--no-freeze", "--pid", v.pid, "--src", hex(addr),
                "-o", self.img, check=2)
        self.assertIn("contradict", r.stderr)

    @copy_engine_only("a snapshot by fork: the kernel's is KernelSnapshotDump's")
    def test_fault_points_roll_back(self):
        v = self.victim()
        v.ok("count-signals")
        v.ok("threads 2")
        addr = v.addr(f"anon {8 * MIB:#x} 5")
        for point in ("snapshot-seized", "snapshot-cloned", "seized", "batch"):
            with self.subTest(point=point):
                snap = Snapshot(v, [(addr, 8 * MIB)])
                r = run("dump", "--snapshot", "--pid", v.pid, "--src", hex(addr),
                        "-o", self.img, env={"PGCLONE_FAULT_FAIL": point}, check=1)
                self.assertIn(f"fault injected at {point}", r.stderr)
                self.assertEqual(os.listdir(self.dir), [])
                snap.assert_unchanged(self)
                self.assert_no_trace(v, 3)
        self.assertEqual(v.cmd("wake"), "ok 2")

    @copy_engine_only("a snapshot by fork: the kernel's is KernelSnapshotDump's")
    def test_sigint_and_sigterm_roll_back(self):
        v, addr = self.writing_source()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with self.subTest(sig=sig):
                p = self.stopped_at("seized", "dump", "--snapshot", "--pid", v.pid,
                                     "--src", hex(addr), "-o", self.img)
                self.assertEqual(len(children_of(v.pid)), 1)
                self.assert_interrupted(v, p, sig)

    @copy_engine_only("a snapshot by fork: the kernel's is KernelSnapshotDump's")
    def test_source_exit_mid_dump(self):
        """The snapshot outlives its source: the image is still the
        instant of the freeze, and the child, orphaned, is killed."""
        v, addr = self.writing_source()
        p = self.stopped_at("seized", "dump", "--snapshot", "--pid", v.pid,
                             "--src", hex(addr), "-o", self.img)
        child = children_of(v.pid)[0]
        v.p.kill()
        v.p.wait()
        os.kill(p.pid, signal.SIGCONT)
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, err)
        self.assert_gone(child, "the snapshot child")
        b = self.victim()
        run("restore", "--pid", b.pid, "-i", self.img, check=0)
        self.assertIsNotNone(instant_of(b.read(addr, LEN)))

    @copy_engine_only("a snapshot by fork: the kernel's is KernelSnapshotDump's")
    def test_sigkill_of_pgclone_leaves_one_dead_child(self):
        """pgclone(1), SIGKILL: the kernel kills the snapshot child
        (PTRACE_O_EXITKILL); what is left is one zombie of exit signal 0
        named pgclone:snap, no memory, no signal, which wait() without
        __WALL never sees, and which the next snapshot of the source
        reaps."""
        v, addr = self.writing_source()
        maps = v.maps()
        p = self.stopped_at("seized", "dump", "--snapshot", "--pid", v.pid,
                             "--src", hex(addr), "-o", self.img)
        child = children_of(v.pid)[0]
        p.kill()
        p.communicate(timeout=60)
        deadline = time.time() + 10
        while stat_fields(child)[0] != "Z" and time.time() < deadline:
            time.sleep(0.05)
        f = stat_fields(child)
        self.assertEqual(f[0], "Z", "the snapshot child is not dead")
        self.assertEqual(int(f[35]), 0, "its exit signal is not 0")
        with open(f"/proc/{child}/comm") as c:
            self.assertEqual(c.read().strip(), "pgclone:snap", "the zombie is not named")
        self.assertEqual(v.maps(), maps)
        self.assertEqual(v.cmd("signals"), "0", "the source received a signal")
        self.assertTrue(runs_on(v), "the source does not run")
        self.assertTrue(v.alive())
        self.assertFalse(os.path.exists(self.img))
        # the next snapshot of the source reaps it
        r = run("dump", "--snapshot", "-v", "--pid", v.pid, "--src", hex(addr), "-o", self.img,
                check=0)
        self.assertIn(f"reaped {child}, a snapshot of PID {v.pid} that a killed pgclone left",
                      r.stderr)
        self.assert_no_trace(v, 4)
        self.assertEqual(v.maps(), maps)


def pgclone_processes():
    """PIDs of every pgclone process there is (a kernel snapshot's helper
    is a fork of pgclone, named as it is)."""
    pids = []
    for d in os.listdir("/proc"):
        try:
            with open(f"/proc/{d}/comm") as f:
                if d.isdigit() and f.read().strip() == "pgclone":
                    pids.append(int(d))
        except OSError:
            pass
    return pids


@kernel_engine_only("the kernel's snapshot needs process_vm_mmap(2)")
class KernelSnapshotDump(SnapshotBase):
    """dump --snapshot where the kernel has process_vm_mmap(2): the ranges
    are cloned into a helper, a child of pgclone; nothing runs in the
    source, which never has a child."""

    def helper_of(self, p):
        kids = children_of(p.pid)
        self.assertEqual(len(kids), 1, "pgclone does not have one helper")
        return kids[0]

    def test_image_is_the_instant_of_the_snapshot(self):
        v, addr = self.writing_source()
        threads = len(os.listdir(f"/proc/{v.pid}/task"))
        # the source runs again, the image is not begun
        p = self.stopped_at("snapshot-taken", "dump", "--snapshot", "-v", "--pid", v.pid,
                             "--src", hex(addr), "-o", self.img)
        self.assertEqual(children_of(v.pid), [], "the source has a child")
        helper = self.helper_of(p)
        with open(f"/proc/{helper}/maps") as f:
            held = [line for line in f
                    if int(line.split("-")[1].split()[0], 16) - int(line.split("-")[0], 16) == LEN]
        self.assertTrue(held, "the helper holds no copy of the range")
        self.assertTrue(runs_on(v), "the source did not run during the dump")
        os.kill(p.pid, signal.SIGCONT)
        out, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 0, err)
        self.assertIn("while process_vm_mmap(2) copied its page tables", err)
        self.assertIn("page tables", err.split("at its end it held")[1])
        self.assert_gone(helper)
        self.assert_instant_restored(v, addr, threads)

    def test_seccomp_forbidding_clone_is_no_obstacle(self):
        """Nothing is injected: a source that may not fork is dumped."""
        v = self.victim()
        v.ok("count-signals")
        addr = v.addr(f"anon {MIB:#x} 3")
        v.ok("seccomp-kill-clone")
        run("dump", "--snapshot", "--pid", v.pid, "--src", hex(addr), "-o", self.img, check=0)
        self.assert_no_trace(v, 1)
        self.assertTrue(v.alive())
        b = self.victim()
        run("restore", "--pid", b.pid, "-i", self.img, check=0)
        self.assertEqual(b.sum(addr, MIB), v.sum(addr, MIB))

    def test_fault_points_roll_back(self):
        v = self.victim()
        v.ok("count-signals")
        v.ok("threads 2")
        addr = v.addr(f"anon {8 * MIB:#x} 5")
        other = v.addr(f"anon {MIB:#x} 6")
        for point in ("seized", "snapshot-mapped", "snapshot-taken", "batch"):
            with self.subTest(point=point):
                snap = Snapshot(v, [(addr, 8 * MIB), (other, MIB)])
                r = run("dump", "--snapshot", "--all", "--pid", v.pid, "-o", self.img,
                        env={"PGCLONE_FAULT_FAIL": point}, check=1)
                self.assertIn(f"fault injected at {point}", r.stderr)
                self.assertEqual(os.listdir(self.dir), [])
                snap.assert_unchanged(self)
                self.assert_no_trace(v, 3)
                self.assertEqual(pgclone_processes(), [], "a helper is left")
        self.assertEqual(v.cmd("wake"), "ok 2")

    def test_sigint_and_sigterm_roll_back(self):
        v, addr = self.writing_source()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with self.subTest(sig=sig):
                p = self.stopped_at("snapshot-taken", "dump", "--snapshot", "--pid", v.pid,
                                     "--src", hex(addr), "-o", self.img)
                helper = self.helper_of(p)
                self.assert_interrupted(v, p, sig)
                self.assert_gone(helper)

    def test_source_exit_mid_dump(self):
        """The helper holds the instant: the image is still written."""
        v, addr = self.writing_source()
        p = self.stopped_at("snapshot-taken", "dump", "--snapshot", "--pid", v.pid,
                             "--src", hex(addr), "-o", self.img)
        v.p.kill()
        v.p.wait()
        os.kill(p.pid, signal.SIGCONT)
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, err)
        b = self.victim()
        run("restore", "--pid", b.pid, "-i", self.img, check=0)
        self.assertIsNotNone(instant_of(b.read(addr, LEN)))

    def test_sigkill_of_pgclone_leaves_nothing(self):
        """The kernel kills the helper with pgclone (PR_SET_PDEATHSIG);
        the source never had anything of the snapshot."""
        v, addr = self.writing_source()
        maps = v.maps()
        p = self.stopped_at("snapshot-taken", "dump", "--snapshot", "--pid", v.pid,
                             "--src", hex(addr), "-o", self.img)
        helper = self.helper_of(p)
        p.kill()
        p.communicate(timeout=60)
        self.assert_gone(helper)
        self.assertEqual(v.maps(), maps)
        self.assert_no_trace(v, 4)
        self.assertTrue(runs_on(v), "the source does not run")
        self.assertFalse(os.path.exists(self.img))

    def test_engine_copy_still_forks(self):
        v = self.victim()
        addr = v.addr(f"anon {MIB:#x} 3")
        r = run("dump", "--snapshot", "--engine", "copy", "-v", "--pid", v.pid,
                "--src", hex(addr), "-o", self.img, check=0)
        self.assertIn("its child", r.stderr)
        self.assertNotIn("process_vm_mmap", r.stderr)
        self.assert_no_trace(v, 1)


class SnapshotEngineChoice(VictimTest):
    """--engine on a dump names who takes its snapshot, nothing else."""

    def test_engine_without_snapshot_refused(self):
        v = self.victim()
        addr = v.addr(f"anon {MIB:#x} 3")
        with tempfile.TemporaryDirectory() as d:
            r = run("dump", "--engine", "copy", "--pid", v.pid, "--src", hex(addr),
                    "-o", os.path.join(d, "img"), check=2)
            self.assertIn("--engine chooses who takes a --snapshot", r.stderr)
            self.assertEqual(os.listdir(d), [])

    @copy_engine_only("the guest's kernel has process_vm_mmap(2)")
    def test_engine_kernel_without_the_call_refused(self):
        with open("/proc/kallsyms") as f:
            if any(line.rstrip().endswith(" __x64_sys_process_vm_mmap") for line in f):
                self.skipTest("this kernel has process_vm_mmap(2)")
        v = self.victim()
        addr = v.addr(f"anon {MIB:#x} 3")
        snap = Snapshot(v, [(addr, MIB)])
        with tempfile.TemporaryDirectory() as d:
            r = run("dump", "--snapshot", "--engine", "kernel", "--pid", v.pid,
                    "--src", hex(addr), "-o", os.path.join(d, "img"), check=1)
            self.assertIn("no process_vm_mmap(2)", r.stderr)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
            self.assertEqual(os.listdir(d), [])
        snap.assert_unchanged(self)
        self.assertEqual(children_of(v.pid), [])


@copy_engine_only("the kernel engine's clone is an instant by itself: --snapshot changes nothing")
class SnapshotClone(SnapshotBase):
    """clone --snapshot: the copy engine reads the snapshot, not the
    frozen source."""

    def test_clone_is_the_instant_of_the_freeze(self):
        v, addr = self.writing_source()
        threads = len(os.listdir(f"/proc/{v.pid}/task"))
        b = self.victim()
        dst = self.free_addr(v, b)
        p = self.stopped_at("snapshot", "--snapshot", "-v", "--engine", "copy",
                             "--pid", v.pid, "--src", hex(addr), "--len", hex(LEN),
                             "--target", b.pid, "--dst", hex(dst))
        self.assertEqual(len(children_of(v.pid)), 1)
        self.assertTrue(runs_on(v), "the source did not run during the clone")
        os.kill(p.pid, signal.SIGCONT)
        out, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 0, err)
        self.assertIn("was stopped for", err)
        self.assert_no_trace(v, threads)
        self.assertIsNotNone(instant_of(b.read(dst, LEN)), "the clone is not one instant")
        self.assertEqual(v.cmd("wake"), "ok 2")

    def test_clone_into_the_source_itself(self):
        v, addr = self.writing_source()
        dst = self.free_addr(v)
        run("--snapshot", "--engine", "copy", "--pid", v.pid, "--src", hex(addr),
            "--len", hex(LEN), "--dst", hex(dst), check=0)
        self.assertIsNotNone(instant_of(v.read(dst, LEN)))
        self.assert_no_trace(v, 4)

    def test_clone_fault_points_roll_back(self):
        v = self.victim()
        v.ok("count-signals")
        addr = v.addr(f"anon {8 * MIB:#x} 5")
        b = self.victim()
        dst = self.free_addr(v, b)
        for point in ("snapshot-seized", "snapshot-cloned", "snapshot", "mapped",
                      "batch", "copied", "finished"):
            with self.subTest(point=point):
                sv, sb = Snapshot(v, [(addr, 8 * MIB)]), Snapshot(b)
                r = run("--snapshot", "--engine", "copy", "--pid", v.pid, "--src", hex(addr),
                        "--target", b.pid, "--dst", hex(dst),
                        env={"PGCLONE_FAULT_FAIL": point}, check=1)
                self.assertIn(f"fault injected at {point}", r.stderr)
                sv.assert_unchanged(self)
                sb.assert_unchanged(self)
                self.assert_no_trace(v, 1)

    def test_dry_run_checks_and_takes_no_snapshot(self):
        v = self.victim()
        addr = v.addr(f"anon {MIB:#x} 3")
        b = self.victim()
        dst = self.free_addr(v, b)
        run("--snapshot", "--dry-run", "--engine", "copy", "--pid", v.pid, "--src", hex(addr),
            "--target", b.pid, "--dst", hex(dst), check=0)
        v.ok(f"advise {addr:#x} {MIB:#x} wipeonfork")
        sv = Snapshot(v, [(addr, MIB)])
        r = run("--snapshot", "--dry-run", "--engine", "copy", "--pid", v.pid, "--src", hex(addr),
                "--target", b.pid, "--dst", hex(dst), check=2)
        self.assertIn("MADV_WIPEONFORK", r.stderr)
        sv.assert_unchanged(self)
        self.assertEqual(children_of(v.pid), [])
        self.assertIsNone(b.vma_at(dst))

    def test_clone_refusals(self):
        v = self.victim()
        addr = v.addr(f"anon {MIB:#x} 3")
        v.ok(f"advise {addr:#x} {MIB:#x} dontfork")
        b = self.victim()
        dst = self.free_addr(v, b)
        sv, sb = Snapshot(v), Snapshot(b)
        r = run("--snapshot", "--engine", "copy", "--pid", v.pid, "--src", hex(addr),
                "--target", b.pid, "--dst", hex(dst), check=2)
        self.assertIn("MADV_DONTFORK", r.stderr)
        r = run("--snapshot", "--move", "--pid", v.pid, "--src", hex(addr),
                "--target", b.pid, "--dst", hex(dst), check=2)
        self.assertIn("contradict", r.stderr)
        sv.assert_unchanged(self)
        sb.assert_unchanged(self)
        self.assertEqual(children_of(v.pid), [])
