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

from harness import PAGE, PGCLONE, Snapshot, VictimTest, run, start_stopped_at

MIB = 1 << 20
CAP_SYS_PTRACE, CAP_SYS_ADMIN, CAP_DAC_READ_SEARCH = 19, 21, 2
CAP_SETUID, CAP_SETGID, CAP_CHECKPOINT_RESTORE = 7, 6, 40
PROCESS_CAPS = sum(1 << c for c in (CAP_SYS_PTRACE, CAP_SYS_ADMIN, CAP_DAC_READ_SEARCH,
                                    CAP_SETUID, CAP_SETGID, CAP_CHECKPOINT_RESTORE))


def status(pid):
    with open(f"/proc/{pid}/status") as f:
        return dict(l.rstrip("\n").split(":\t", 1) for l in f if ":\t" in l)


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

    def test_working_capabilities_are_the_process_set(self):
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
        self.assertEqual(eff, prm)
        self.assertEqual(int(st["CapInh"], 16) | int(st.get("CapAmb", "0"), 16), 0)
        self.assertEqual(st["NoNewPrivs"].strip(), "1")
        # and by then (the library has inspected both processes) the
        # allow-list filter is in place
        self.assertEqual(st["Seccomp"].strip(), "2")

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
        for argv in (["--pid", a.pid, "--src", hex(addr), "--target", b.pid,
                      "--dst", hex(self.free_addr(a, b)), "--engine", "copy"],
                     ["restore", "--pid", b.pid, "-i", img, "--dst", hex(self.free_addr(a, b))]):
            r = run(*argv, env=env)
            self.assertEqual(r.returncode, 3, r.stderr)
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
