# SPDX-License-Identifier: GPL-2.0-or-later
"""Shared pieces of pgclone's integration tests.

Victims are real processes (test/victim.c) driven over a pipe.  Every test
snapshots /proc/PID/maps and the bytes of the ranges it cares about before
and after, so "nothing changed" is checked, not assumed.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

PGCLONE = os.environ.get("PGCLONE", "pgclone")
VICTIM = os.environ.get("VICTIM", "pgclone-victim")
PAGE = 4096
MAPS_RE = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) (\S+) (\d+)\s*(.*)$")


class Victim:
    """One live test process."""

    def __init__(self, *, user=None, caps=None):
        """As @user (setpriv), holding @caps (e.g. "sys_nice") as ambient
        capabilities so that they survive into the victim."""
        argv = [VICTIM]
        if user:
            extra = [f"--inh-caps=+{caps}", f"--ambient-caps=+{caps}"] if caps else []
            argv = ["setpriv", f"--reuid={user}", "--regid=65534",
                    "--clear-groups", *extra, "--"] + argv
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True, bufsize=1)
        line = self.p.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"victim did not start: {line!r}")
        self.pid = self.p.pid

    def cmd(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        out = self.p.stdout.readline().strip()
        if not out:
            raise RuntimeError(f"victim {self.pid} died on {line!r}")
        return out

    def addr(self, line):
        out = self.cmd(line)
        if not out.startswith("0x"):
            raise RuntimeError(f"{line!r}: {out}")
        return int(out, 16)

    def ok(self, line):
        out = self.cmd(line)
        if out != "ok":
            raise RuntimeError(f"{line!r}: {out}")

    def sum(self, addr, length):
        """The checksum of the bytes as the process itself reads them."""
        return self.cmd(f"sum {addr:#x} {length:#x}")

    def alive(self):
        return self.p.poll() is None and self.cmd("ping") == "pong"

    def maps(self):
        with open(f"/proc/{self.pid}/maps") as f:
            return f.read()

    def vmas(self):
        out = []
        for line in self.maps().splitlines():
            m = MAPS_RE.match(line)
            out.append(dict(start=int(m[1], 16), end=int(m[2], 16), perms=m[3],
                            offset=int(m[4], 16), dev=m[5], inode=int(m[6]),
                            name=m[7]))
        return out

    def vma_at(self, addr):
        for v in self.vmas():
            if v["start"] <= addr < v["end"]:
                return v
        return None

    def read(self, addr, length):
        """Bytes through /proc/PID/mem: works whatever the protection."""
        with open(f"/proc/{self.pid}/mem", "rb") as f:
            f.seek(addr)
            return f.read(length)

    def pagemap(self, addr, npages):
        with open(f"/proc/{self.pid}/pagemap", "rb") as f:
            f.seek(addr // PAGE * 8)
            raw = f.read(npages * 8)
        return [int.from_bytes(raw[i:i + 8], "little") for i in range(0, len(raw), 8)]

    def present(self, addr, npages):
        """Present or swapped; not a uffd-wp marker, which pagemap shows as
        a swap entry (bit 62) of the last swap type, 31 (the tests run as
        root: swap types are shown)."""
        return [bool(e >> 63 & 1 or (e >> 62 & 1 and e & 0x1f != 0x1f))
                for e in self.pagemap(addr, npages)]

    def smaps_flags(self, addr):
        with open(f"/proc/{self.pid}/smaps") as f:
            inside = False
            for line in f:
                m = MAPS_RE.match(line)
                if m:
                    inside = int(m[1], 16) <= addr < int(m[2], 16)
                elif inside and line.startswith("VmFlags:"):
                    return line.split()[1:]
        return None

    def state(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("State:"):
                    return line.split()[1]
        return "?"

    def kill(self):
        if self.p.poll() is None:
            os.kill(self.pid, signal.SIGCONT)
            self.p.kill()
        self.p.wait()
        self.p.stdin.close()
        self.p.stdout.close()


# The guest runs this suite once per engine: PGCLONE_ENGINE=copy|kernel
# adds --engine to every clone that does not choose one.
ENGINE = os.environ.get("PGCLONE_ENGINE", "")
NOT_CLONES = {"maps", "dump", "restore", "show", "verify", "--help", "--version", "frobnicate"}


def with_engine(args):
    args = [str(a) for a in args]
    # a dump's engine is its snapshot's: the kernel's, or a fork
    snapshot_dump = args[:1] == ["dump"] and "--snapshot" in args
    if (ENGINE and args and (args[0] not in NOT_CLONES or snapshot_dump) and
            "--engine" not in args):
        args += ["--engine", ENGINE]
    return args


def copy_engine_only(why):
    """For tests of what only the copy engine does (fault points inside its
    steps, ptrace refusals, injection): skipped, with the reason, when the
    guest runs the suite with the kernel engine."""
    return unittest.skipIf(ENGINE == "kernel", f"copy engine only: {why}")


def kernel_engine_only(why):
    """For tests of what only the kernel engine does: they run in the
    guest's pass with the kernel engine (a kernel with process_vm_mmap(2));
    skipped, with the reason, everywhere else."""
    return unittest.skipUnless(ENGINE == "kernel", f"kernel engine only: {why}")


def run(*args, env=None, user=None, timeout=120, check=None):
    argv = [PGCLONE] + with_engine(args)
    if user:
        argv = ["setpriv", f"--reuid={user}", "--regid=65534", "--clear-groups",
                "--"] + argv
    full_env = dict(os.environ)
    full_env.update(env or {})
    r = subprocess.run(argv, capture_output=True, text=True, env=full_env,
                       timeout=timeout)
    if check is not None and r.returncode != check:
        raise AssertionError(f"{argv}: exit {r.returncode}, want {check}\n"
                             f"stdout: {r.stdout}\nstderr: {r.stderr}")
    return r


def run_json(*args, **kw):
    r = run(*args, "--json", check=0, **kw)
    return json.loads(r.stdout)


def start_stopped_at(point, *args, extra_env=None):
    """Start pgclone so that it stops itself at fault point POINT."""
    env = dict(os.environ, PGCLONE_FAULT_STOP=point)
    env.update(extra_env or {})
    p = subprocess.Popen([PGCLONE] + with_engine(args), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with open(f"/proc/{p.pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "T":
                    return p
        except FileNotFoundError:
            break
        if p.poll() is not None:
            break
        time.sleep(0.01)
    out, err = p.communicate()
    raise AssertionError(f"pgclone never reached fault point {point}: {err}")


def continue_to_exit(p):
    """A pgclone started by start_stopped_at() stops at its fault point
    each time it passes it (every batch, every chunk): SIGCONT it on each
    time until it exits; its stderr."""
    deadline = time.time() + 60
    while p.poll() is None and time.time() < deadline:
        p.send_signal(signal.SIGCONT)
        time.sleep(0.05)
    return p.communicate(timeout=10)[1]


class Snapshot:
    """/proc/PID/maps plus the bytes of some ranges, to compare later."""

    def __init__(self, victim, ranges=()):
        self.v = victim
        self.maps = victim.maps()
        self.data = {(a, n): victim.read(a, n) for a, n in ranges}

    def assert_unchanged(self, tc):
        tc.assertEqual(self.v.maps(), self.maps, f"maps of {self.v.pid} changed")
        for (a, n), d in self.data.items():
            tc.assertEqual(self.v.read(a, n), d, f"bytes at {a:#x} of {self.v.pid} changed")
        tc.assertTrue(self.v.alive(), f"victim {self.v.pid} is not alive")


class VictimTest(unittest.TestCase):
    """Test case that cleans up its victims."""

    def setUp(self):
        self.victims = []

    def tearDown(self):
        for v in self.victims:
            v.kill()

    def victim(self, **kw):
        v = Victim(**kw)
        self.victims.append(v)
        return v

    def dump_image(self, v, addr, length):
        """The path of an image of [addr, addr + length) of @v, in a
        directory removed after the test."""
        tmp = tempfile.mkdtemp(prefix="pgclone-test-")
        self.addCleanup(shutil.rmtree, tmp)
        img = os.path.join(tmp, "img")
        run("dump", "--pid", v.pid, "--src", hex(addr), "--len", hex(length),
            "-o", img, check=0)
        return img

    def free_addr(self, *victims, size=1 << 30):
        """An address range free in all victims (a fixed high window)."""
        base = 0x500000000000
        while True:
            if all(not any(x["start"] < base + size and base < x["end"]
                           for x in v.vmas()) for v in victims):
                return base
            base += 1 << 36
