# SPDX-License-Identifier: GPL-2.0-or-later
"""Least privilege and the sandbox, checked on the running pgclone: which
capabilities it holds while it works, that parsing an image happens with
none and under the narrowest seccomp filter, that a forbidden system call
is really refused, that a setuid pgclone refuses to run, and that file
capabilities are enough for an unprivileged user."""
import os
import shutil
import signal
import subprocess
import tempfile
import time

from harness import (PAGE, PGCLONE, Snapshot, VictimTest, continue_to_exit, run,
                     start_stopped_at)

MIB = 1 << 20
CAP_SYS_PTRACE, CAP_SYS_ADMIN, CAP_DAC_READ_SEARCH = 19, 21, 2
CAP_SETUID, CAP_SETGID, CAP_CHECKPOINT_RESTORE = 7, 6, 40
PROCESS_CAPS = sum(1 << c for c in (CAP_SYS_PTRACE, CAP_SYS_ADMIN, CAP_DAC_READ_SEARCH,
                                    CAP_SETUID, CAP_SETGID, CAP_CHECKPOINT_RESTORE))


def status(pid):
    with open(f"/proc/{pid}/status") as f:
        return dict(l.rstrip("\n").split(":\t", 1) for l in f if ":\t" in l)


def children_of(pid):
    """The PIDs whose parent is PID (without CONFIG_PROC_CHILDREN, which the
    guest kernel lacks)."""
    kids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        kids.append(int(d))
            except (FileNotFoundError, ProcessLookupError):
                pass
    return kids


class Privilege(VictimTest):
    def setUp(self):
        super().setUp()
        # not /tmp: it may be mounted nosuid, which would hide setuid
        self.dir = tempfile.mkdtemp(dir=os.path.dirname(os.path.abspath(PGCLONE)))
        os.chmod(self.dir, 0o755)

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)
        super().tearDown()

    def copy_of_pgclone(self):
        path = os.path.join(self.dir, "pgclone")
        shutil.copy(PGCLONE, path)
        os.chmod(path, 0o755)
        return path

    def test_working_capabilities_are_the_process_set_and_not_in_effect(self):
        """Between the calls that need one, pgclone has no capability in
        effect: it may raise them (permitted), it does not hold them."""
        a, b = self.victim(), self.victim()
        addr = a.addr(f"anon {MIB:#x}")
        p = start_stopped_at("mapped", "--pid", a.pid, "--src", hex(addr), "--target", b.pid,
                             "--dst", hex(self.free_addr(a, b)), "--engine", "copy")
        st = status(p.pid)
        os.kill(p.pid, signal.SIGCONT)
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, err)
        prm, eff = int(st["CapPrm"], 16), int(st["CapEff"], 16)
        self.assertEqual(prm & ~PROCESS_CAPS, 0, f"kept more than it needs: {prm:#x}")
        self.assertNotEqual(prm, 0, "root's pgclone kept nothing: it could not work")
        self.assertEqual(eff, 0, f"capabilities in effect between calls: {eff:#x}")
        self.assertEqual(int(st["CapInh"], 16) | int(st.get("CapAmb", "0"), 16), 0)
        self.assertEqual(st["NoNewPrivs"].strip(), "1")
        # and by then (the library has inspected both processes) the
        # allow-list filter is in place
        self.assertEqual(st["Seccomp"].strip(), "2")

    def assert_refused(self, r, regex):
        self.assertEqual(r.returncode, 1, r.stderr)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertRegex(lines[0], regex)

    def test_refusal_says_what_is_missing(self):
        """The ptrace check names what the user lacks, before anything is
        touched: another user, a non-dumpable process, one holding more
        capabilities than pgclone."""
        root = self.victim()
        mine = self.victim(user="nobody")
        undumpable = self.victim(user="nobody")
        undumpable.ok("undumpable")
        capable = self.victim(user="nobody", caps="sys_nice")
        addr = mine.addr(f"anon {MIB:#x} 2")
        raddr = root.addr(f"anon {MIB:#x} 2")
        dst = self.free_addr(root, mine, undumpable, capable)
        snaps = [Snapshot(v) for v in (root, mine, undumpable, capable)]
        pid = r"PID (\d+)"
        cases = [
            (["--pid", root.pid, "--src", hex(raddr), "--target", mine.pid, "--dst", hex(dst)],
             rf"not permitted to ptrace PID {root.pid}: PID {root.pid} runs as uid 0/0/0 gid 0/0/0, "
             r"you are uid 65534 gid 65534, and you lack CAP_SYS_PTRACE"),
            (["--pid", mine.pid, "--src", hex(addr), "--target", undumpable.pid, "--dst", hex(dst)],
             rf"PID {undumpable.pid} is not dumpable .* and you lack CAP_SYS_PTRACE"),
            (["--pid", mine.pid, "--src", hex(addr), "--target", capable.pid, "--dst", hex(dst)],
             rf"PID {capable.pid} holds capabilities you do not \(cap_sys_nice\) "
             r"and you lack CAP_SYS_PTRACE"),
            (["dump", "--pid", root.pid, "--all", "-o", "/dev/null"],
             rf"not permitted to ptrace PID {root.pid}: .* runs as uid 0/0/0"),
        ]
        for argv, regex in cases:
            with self.subTest(argv=argv[:2]):
                self.assert_refused(run(*argv, user="nobody"), regex)
                for s in snaps:
                    s.assert_unchanged(self)
        # the same user, nothing more privileged: allowed
        r = run("--pid", mine.pid, "--src", hex(addr), "--len", hex(MIB), "--dst", hex(dst),
                user="nobody")
        self.assertEqual(r.returncode, 0, r.stderr)
        del pid

    def test_sigstop_during_the_clone_is_kept(self):
        """A SIGSTOP that reaches the target while pgclone runs syscalls in
        it is held back, then handed back at detach: the target ends up
        stopped, as it would have without pgclone.  Root's pgclone holds no
        CAP_KILL, so for another user's target this must not need kill()."""
        for user in (None, "nobody"):
            with self.subTest(user=user):
                a, b = self.victim(), self.victim(user=user)
                addr = a.addr(f"anon {4 * MIB:#x} 5")
                dst = self.free_addr(a, b)
                p = start_stopped_at("mapped", "--pid", a.pid, "--src", hex(addr), "--len",
                                     hex(4 * MIB), "--target", b.pid, "--dst", hex(dst),
                                     "--engine", "copy")
                os.kill(b.pid, signal.SIGSTOP)     # queued: b sits in a ptrace stop
                os.kill(p.pid, signal.SIGCONT)
                out, err = p.communicate(timeout=60)
                self.assertEqual(p.returncode, 0, err)
                deadline = time.time() + 5
                while b.state() != "T" and time.time() < deadline:
                    time.sleep(0.01)
                time.sleep(0.2)
                self.assertEqual(b.state(), "T", "the SIGSTOP sent during the clone was lost")
                os.kill(b.pid, signal.SIGCONT)
                self.assertEqual(b.sum(dst, 4 * MIB), a.sum(addr, 4 * MIB))

    def capable_copy(self, caps="cap_sys_ptrace,cap_dac_read_search,cap_sys_admin,"
                               "cap_checkpoint_restore,cap_setuid,cap_setgid+p"):
        path = self.copy_of_pgclone()
        subprocess.run(["setcap", caps, path], check=True)
        return path

    def as_nobody(self, path, *args):
        return subprocess.run(["setpriv", "--reuid=nobody", "--regid=65534", "--clear-groups",
                               path, *[str(a) for a in args]], capture_output=True, text=True)

    def test_image_cannot_name_a_file_the_user_cannot_open(self):
        """An image names the files its ranges map.  Restored by a user
        through a pgclone with file capabilities, a root-only file named in
        it must not be opened with pgclone's capabilities and handed to the
        user's process."""
        from test_image import make_image
        secret = os.path.join(self.dir, "secret")
        with open(secret, "wb") as f:
            f.write(b"S" * 2 * PAGE)
        os.chmod(secret, 0o600)
        st = os.stat(secret)
        base = 0x4a0000000000
        rng = {1: base, 2: base + 2 * PAGE, 3: 1, 4: 2, 6: secret,
               7: {1: secret, 2: st.st_dev, 3: st.st_ino, 4: 0}}
        img = os.path.join(self.dir, "names-secret.img")
        with open(img, "wb") as f:
            f.write(make_image([rng], []))
        os.chmod(img, 0o644)
        path = self.capable_copy()
        b = self.victim(user="nobody")
        r = self.as_nobody(path, "restore", "--pid", b.pid, "-i", img)
        v = b.vma_at(base)
        if r.returncode == 0:
            self.assertIn("private copy", r.stderr)
        self.assertFalse(v and v["name"] == secret, f"{secret} was mapped into the user's process")
        if v:
            self.assertNotEqual(b.read(base, 2 * PAGE), b"S" * 2 * PAGE)
        # --strict refuses instead of copying
        r = self.as_nobody(path, "restore", "--pid", b.pid, "-i", img, "--strict", "--dst",
                           hex(base + (1 << 30)))
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("is gone", r.stderr)

    def test_image_cannot_name_another_users_memfd(self):
        """The same through /proc/PID/map_files: an image that names a
        root process's memfd as its source must not reattach it for a user
        who may not ptrace that process."""
        from test_image import make_image
        root = self.victim()
        addr = root.addr(f"memfd {2 * PAGE:#x}")
        st = os.stat(f"/proc/{root.pid}/map_files/{addr:x}-{addr + 2 * PAGE:x}")
        base = 0x4b0000000000
        rng = {1: base, 2: base + 2 * PAGE, 3: 3, 4: 1, 6: "/memfd:victim (deleted)",
               7: {1: "/memfd:victim (deleted)", 2: st.st_dev, 3: st.st_ino, 4: 0},
               8: addr, 9: addr + 2 * PAGE}
        img = os.path.join(self.dir, "names-memfd.img")
        with open(img, "wb") as f:
            f.write(make_image([rng], [], pid=root.pid))
        os.chmod(img, 0o644)
        path = self.capable_copy()
        b = self.victim(user="nobody")
        want = root.read(addr, 2 * PAGE)
        r = self.as_nobody(path, "restore", "--pid", b.pid, "-i", img, "--strict")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("is gone", r.stderr)
        self.assertIsNone(b.vma_at(base))
        r = self.as_nobody(path, "restore", "--pid", b.pid, "-i", img)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotEqual(b.read(base, 2 * PAGE), want)
        b.ok(f"poke {base:#x} 0")
        self.assertEqual(root.read(addr, 2 * PAGE), want, "the user's write reached root's memfd")
        # root itself may: the object is its own to reattach
        c = self.victim()
        run("restore", "--pid", c.pid, "-i", img, check=0)
        self.assertEqual(c.read(base, 2 * PAGE), want)

    def test_image_parsing_runs_with_nothing_under_the_narrow_filter(self):
        a = self.victim()
        addr = a.addr(f"anon {MIB:#x}")
        img = os.path.join(self.dir, "img")
        run("dump", "--pid", a.pid, "--src", hex(addr), "-o", img, check=0)
        for cmd in ("show", "verify"):
            with self.subTest(cmd=cmd):
                # fed through a pipe that stays open: pgclone waits in read()
                p = subprocess.Popen([PGCLONE, cmd, "-"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                deadline = time.time() + 10
                while time.time() < deadline and status(p.pid)["Seccomp"].strip() != "2":
                    time.sleep(0.01)
                st = status(p.pid)
                with open(img, "rb") as f:
                    out, err = p.communicate(f.read(), timeout=60)
                self.assertEqual(p.returncode, 0, err)
                self.assertEqual(st["Seccomp"].strip(), "2", "no seccomp filter while parsing")
                for k in ("CapPrm", "CapEff", "CapInh", "CapAmb"):
                    self.assertEqual(int(st[k], 16), 0, f"{k} while parsing: {st[k]}")

    def test_dump_reads_the_process_with_no_capability(self):
        """A dump opens smaps, pagemap and mem before its ready callback
        and then drops every capability: the data is read with none, from
        a process of another user too, and the image is still whole."""
        a = self.victim(user="nobody")
        addr = a.addr(f"anon {4 * MIB:#x}")
        img = os.path.join(self.dir, "img")
        # stopped at its first batch of data (the mapping may be larger
        # than the 1 MiB dumped, as next to ASan's heap)
        p = start_stopped_at("batch", "dump", "--pid", a.pid, "--src", hex(addr),
                             "--len", hex(MIB), "-o", img)
        st = status(p.pid)
        err = continue_to_exit(p)
        self.assertEqual(p.returncode, 0, err)
        for k in ("CapPrm", "CapEff", "CapInh", "CapAmb"):
            self.assertEqual(int(st[k], 16), 0, f"{k} while reading the source: {st[k]}")
        self.assertEqual(st["Seccomp"].strip(), "2")
        b = self.victim()
        dst = self.free_addr(a, b)
        run("restore", "--pid", b.pid, "-i", img, "--dst", hex(dst), check=0)
        self.assertEqual(b.sum(dst, MIB), a.sum(addr, MIB))

    def test_restore_parses_in_a_confined_child(self):
        """restore needs capabilities and a broad filter to change the
        target, so it does not parse: a child holding only the image, two
        pipes and the data ring's socket does, with nothing, under the
        narrow filter."""
        a, b = self.victim(), self.victim()
        addr = a.addr(f"anon {MIB:#x}")
        img = os.path.join(self.dir, "img")
        run("dump", "--pid", a.pid, "--src", hex(addr), "-o", img, check=0)
        dst = self.free_addr(a, b)
        p = subprocess.Popen([PGCLONE, "restore", "--pid", str(b.pid), "-i", "-",
                              "--dst", hex(dst)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        child, st = None, None
        deadline = time.time() + 10
        while time.time() < deadline:
            kids = children_of(p.pid)
            if kids:
                child = int(kids[0])
                st = status(child)
                if st["Seccomp"].strip() == "2":
                    break
            time.sleep(0.01)
        self.assertIsNotNone(child, "no parser child")
        fds = sorted(os.readlink(f"/proc/{child}/fd/{fd}").split(":")[0]
                     for fd in os.listdir(f"/proc/{child}/fd"))
        parent_seccomp = status(p.pid)["Seccomp"].strip()
        with open(img, "rb") as f:
            out, err = p.communicate(f.read(), timeout=60)
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(b.sum(dst, MIB), a.sum(addr, MIB))
        self.assertEqual(st["Seccomp"].strip(), "2", "parser not under a filter")
        for k in ("CapPrm", "CapEff", "CapInh", "CapAmb"):
            self.assertEqual(int(st[k], 16), 0, f"parser {k}: {st[k]}")
        self.assertEqual(st["NoNewPrivs"].strip(), "1")
        # the image (standard input, a pipe) and its two pipes back, and
        # where the data ring could be made (AF_UNIX), the socket that
        # hears what the restorer took out of it
        self.assertIn(fds, (["pipe", "pipe", "pipe"], ["pipe", "pipe", "pipe", "socket"]), fds)
        # the parent is still waiting for the plan: no target seized yet,
        # and its own filter not yet needed
        self.assertEqual(parent_seccomp, "0")

    def test_forbidden_syscall_is_refused(self):
        a = self.victim()
        addr = a.addr(f"anon {MIB:#x}")
        img = os.path.join(self.dir, "img")
        run("dump", "--pid", a.pid, "--src", hex(addr), "-o", img, check=0)
        env = {"PGCLONE_FAULT_SANDBOX": "1"}
        # image parsing: the narrow filter kills
        r = run("verify", img, env=env)
        self.assertEqual(r.returncode, -signal.SIGSYS, r.stderr)
        # process work: the allow-list refuses with EPERM (exit 3 from the hook)
        r = run("maps", "--pid", a.pid, env=env)
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn("socket() returned -1 (Operation not permitted)", r.stderr)
        r = run("dump", "--pid", a.pid, "--src", hex(addr), "-o", img + "2", env=env)
        self.assertEqual(r.returncode, 3, r.stderr)
        # a clone and a restore install it once both sides are inspected,
        # before anything changed: the target is left as it was
        b = self.victim()
        sb = Snapshot(b)
        restore = ["restore", "--pid", b.pid, "-i", img, "--dst", hex(self.free_addr(a, b))]
        for argv in (["--pid", a.pid, "--src", hex(addr), "--target", b.pid,
                      "--dst", hex(self.free_addr(a, b)), "--engine", "copy"], restore):
            r = run(*argv, env={"PGCLONE_FAULT_SANDBOX": "process"})
            self.assertEqual(r.returncode, 3, r.stderr)
            sb.assert_unchanged(self)
        # restore's image parser, a child, is under the narrow filter: it
        # is killed, and pgclone reports it in one line, target unchanged
        r = run(*restore, env={"PGCLONE_FAULT_SANDBOX": "image"})
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(r.stderr.strip(), "pgclone: the image parser was killed by signal "
                         f"{int(signal.SIGSYS)} (Bad system call): its sandbox stopped it")
        sb.assert_unchanged(self)

    def test_setuid_is_refused(self):
        path = self.copy_of_pgclone()
        os.chmod(path, 0o4755)
        r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=65534", "--clear-groups",
                            path, "maps", "--pid", "1"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("refusing to run setuid", r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1)

    def test_file_capabilities_let_an_unprivileged_user_clone(self):
        path = self.copy_of_pgclone()
        subprocess.run(["setcap", "cap_sys_ptrace,cap_dac_read_search+p", path], check=True)
        a, b = self.victim(), self.victim()
        addr = a.addr(f"anon {MIB:#x} 4")
        dst = self.free_addr(a, b)
        argv = ["setpriv", "--reuid=nobody", "--regid=65534", "--clear-groups", path,
                "--pid", str(a.pid), "--src", hex(addr), "--target", str(b.pid),
                "--dst", hex(dst), "--engine", "copy"]
        r = subprocess.run(argv, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(b.sum(dst, MIB), a.sum(addr, MIB))
        # without the capability, the same user is refused and nothing changes
        plain = self.copy_of_pgclone()
        sb = Snapshot(b)
        argv[argv.index(path)] = plain
        argv[argv.index(hex(dst))] = hex(dst + 2 * MIB)
        r = subprocess.run(argv, capture_output=True, text=True)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("not permitted", r.stderr)
        sb.assert_unchanged(self)

    def test_images_are_opened_as_the_user(self):
        """pgclone running as root with its capabilities does not open an
        image for a user who could not: with file capabilities, nobody
        cannot restore from root's private file."""
        path = self.copy_of_pgclone()
        subprocess.run(["setcap", "cap_sys_ptrace,cap_dac_read_search+p", path], check=True)
        a = self.victim()
        addr = a.addr(f"anon {MIB:#x}")
        img = os.path.join(self.dir, "private.img")
        run("dump", "--pid", a.pid, "--src", hex(addr), "-o", img, check=0)
        os.chmod(img, 0o600)
        b = self.victim(user="nobody")
        r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=65534", "--clear-groups", path,
                            "restore", "--pid", str(b.pid), "-i", img], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("Permission denied", r.stderr)
