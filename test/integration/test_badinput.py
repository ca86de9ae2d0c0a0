# SPDX-License-Identifier: GPL-2.0-or-later
"""Bad input, as a table: every case must exit with the stated code, print
exactly one line on stderr that starts with "pgclone: " and says what is
wrong, print nothing on stdout, and leave every process involved exactly as
it was (/proc/PID/maps and contents, still alive, still stopped if it was).

The cases run against the same set of live victims, so a case that changed
anything would also show in every case after it."""
import os
import re
import signal
import struct
import subprocess
import time

from harness import (PAGE, PGCLONE, VICTIM, Snapshot, Victim, VictimTest, run, start_stopped_at,
                     with_engine)
from test_image import broken_images, crafted_images

MIB = 1 << 20


def _kernel_has(symbol):
    """Whether the running kernel's symbol table has SYMBOL."""
    try:
        with open("/proc/kallsyms") as f:
            return any(line.split()[2:3] == [symbol] for line in f)
    except OSError:
        return False


KERNEL_ENGINE = _kernel_has("__x64_sys_process_vm_mmap")


def read(path):
    with open(path) as f:
        return f.read()


def wait_for(cond, what, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


class BadInputTable(VictimTest):
    def setUp(self):
        super().setUp()
        self.tmp = f"/tmp/pgclone-badinput-{os.getpid()}"
        os.makedirs(self.tmp, exist_ok=True)

    def tearDown(self):
        for p in getattr(self, "procs", []):
            if p.poll() is None:
                p.kill()
            p.wait()
        super().tearDown()
        subprocess.run(["rm", "-rf", self.tmp])

    def image(self, name, data):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def test_table(self):
        a, b = self.victim(), self.victim()
        stopped, sandboxed, traced = self.victim(), self.victim(), self.victim()
        # another user's stopped process: root's pgclone, holding no
        # CAP_KILL, must still leave it stopped after seizing it
        stopped_other = self.victim(user="nobody")
        # a filter that looks at where a call comes from: mmap from the
        # [vdso] (where pgclone's syscall instruction is) fails, the
        # process's own mmap calls go through
        ipcheck = self.victim()
        src = a.addr(f"anon {MIB:#x} 5")
        taken = b.addr(f"anon {MIB:#x} 6")
        sealed = b.addr(f"anon {MIB:#x} 7")
        self.assertEqual(b.cmd(f"seal {sealed:#x} {MIB:#x}"), "ok")
        hole = a.addr(f"anon {3 * PAGE:#x}")
        a.ok(f"unmap {hole + PAGE:#x} {PAGE:#x}")
        vdso = next(v for v in a.vmas() if v["name"] == "[vdso]")
        vvar = next(v for v in a.vmas() if v["name"] == "[vvar]")
        free = self.free_addr(a, b, stopped, sandboxed, traced, stopped_other)
        sandboxed.ok("seccomp-kill-mmap")
        ipcheck.ok("seccomp-ip-vdso-mmap")
        self.assertRegex(ipcheck.cmd(f"anon {PAGE:#x}"), "^0x")   # its own mmap still works
        # the kernel rewrites a thread's rseq cpu_id fields whenever it
        # runs, and pgclone makes a stopped target's thread run its
        # syscalls: those 8 bytes are the kernel's, not the process's data
        rseq = {s.pid: s.cmd("rseq") for s in (stopped, stopped_other)}
        for s in (stopped, stopped_other):
            os.kill(s.pid, signal.SIGSTOP)
            wait_for(lambda: s.state() == "T", "the stopped victim")

        self.procs = []
        zombie = subprocess.Popen(["true"])
        self.procs.append(zombie)
        wait_for(lambda: read(f"/proc/{zombie.pid}/stat").split(") ")[1][0] == "Z", "a zombie")
        tracer = subprocess.Popen(["strace", "-qq", "-o", "/dev/null", "-p", str(traced.pid)])
        self.procs.append(tracer)
        wait_for(lambda: f"TracerPid:\t{tracer.pid}" in read(f"/proc/{traced.pid}/status"),
                 "strace to attach")

        # images of every broken shape; a good one to break
        good = os.path.join(self.tmp, "good.img")
        run("dump", "--pid", a.pid, "--src", hex(src), "--len", hex(MIB), "-o", good, check=0)
        with open(good, "rb") as f:
            img = f.read()
        # every broken shape test_image.py knows, from this dump: refused
        # by restore and by verify; and every crafted one (checksums right,
        # contents hostile), refused by restore
        broken = {name: (self.image(f"broken-{i}.img", data), needle)
                  for i, (name, (data, needle)) in enumerate(broken_images(img).items())}
        crafted = {name: (self.image(f"crafted-{i}.img", data), code, needle)
                   for i, (name, (data, code, needle)) in enumerate(crafted_images().items())}

        A, B = str(a.pid), str(b.pid)
        clone = ["--pid", A, "--src", hex(src), "--target", B]
        T = (1 << 47) - PAGE                       # last user page
        cases = [
            # (what, argv, exit code, regex on the one stderr line)
            ("no arguments", [], 2, r"nothing to do.*--help"),
            ("no --dst", ["--pid", A, "--src", hex(src)], 2, r"--dst is required"),
            ("no --pid", ["--src", hex(src), "--dst", hex(free)], 2, r"--pid is required"),
            ("pid 0", ["--pid", "0", "--src", "1", "--dst", "1"], 2, r"not a valid PID"),
            ("negative pid", ["--pid", "-5", "--src", "1", "--dst", "1"], 2, r"not a valid PID"),
            ("pid 'self'", ["--pid", "self", "--src", "1", "--dst", "1"], 2, r"not a valid PID"),
            ("pid past pid_max", ["--pid", "99999999", "--src", "1", "--dst", "1"], 2, r"not a valid PID"),
            ("nonexistent pid", ["--pid", "4194303", "--src", "1", "--dst", hex(free)], 2, r"no such process"),
            ("zombie source", ["--pid", zombie.pid, "--src", hex(src), "--dst", hex(free)], 1, r"zombie"),
            ("zombie target", clone[:4] + ["--target", zombie.pid, "--dst", hex(free)], 1, r"zombie"),
            ("kernel thread source", ["--pid", "2", "--src", "0x400000", "--dst", hex(free)], 2, r"kernel thread"),
            ("kernel thread target", clone[:4] + ["--target", "2", "--dst", hex(free)], 2, r"kernel thread"),
            ("pid 1, unmapped", ["--pid", "1", "--src", "0x1000", "--dst", hex(free)], None,
             r"not permitted|not mapped"),
            ("address not a number", ["--pid", A, "--src", "zzz", "--dst", hex(free)], 2, r"not a number"),
            ("negative address", ["--pid", A, "--src", "-0x1000", "--dst", hex(free)], 2, r"not a number"),
            ("address overflows 64 bits", ["--pid", A, "--src", "0x1ffffffffffffffff", "--dst", hex(free)],
             2, r"out of range"),
            ("length not a number", clone + ["--dst", hex(free), "--len", "lots"], 2, r"not a number"),
            ("negative length", clone + ["--dst", hex(free), "--len", "-4096"], 2, r"not a number"),
            ("zero length", clone + ["--dst", hex(free), "--len", "0"], 2, r"must not be zero"),
            ("length overflows", clone + ["--dst", hex(free), "--len", "16777215T"], 2, r"too large"),
            ("unaligned destination", clone + ["--dst", hex(free + 1)], 2, r"not page aligned"),
            ("destination 0", clone + ["--dst", "0"], 2, r"address 0"),
            ("kernel address destination", clone + ["--dst", "0xffff888000000000"], 2, r"not a user address"),
            ("kernel address source", ["--pid", A, "--src", "0xffffffff81000000", "--dst", hex(free)],
             2, r"not a user address"),
            ("vsyscall source", ["--pid", A, "--src", "0xffffffffff600000", "--dst", hex(free)],
             2, r"not a user address"),
            ("destination past TASK_SIZE", clone + ["--dst", hex(T + PAGE)], 2, r"not a user address"),
            ("destination wraps past user space", clone + ["--dst", hex(T), "--len", "2M"], 2,
             r"past user space|not a user address"),
            ("source range past user space", ["--pid", A, "--src", hex(src), "--dst", hex(free),
                                             "--len", hex(1 << 47)], 2, r"past user space|too large"),
            ("unmapped source", ["--pid", A, "--src", "0x1000", "--dst", hex(free)], 2, r"not mapped"),
            ("hole in the source", ["--pid", A, "--src", hex(hole), "--dst", hex(free),
                                    "--len", hex(3 * PAGE)], 2, r"hole"),
            ("vdso source", ["--pid", A, "--src", hex(vdso["start"]), "--dst", hex(free)], 2, r"vdso"),
            ("vvar source", ["--pid", A, "--src", hex(vvar["start"]), "--dst", hex(free)], 2, r"vvar"),
            ("destination overlaps the source", ["--pid", A, "--src", hex(src), "--dst", hex(src + PAGE)],
             2, r"overlaps the source"),
            ("destination taken", clone + ["--dst", hex(taken)], 2, r"overlaps .* \(use --replace\)"),
            ("destination partly taken", clone + ["--dst", hex(taken - MIB // 2)], 2, r"overlaps"),
            ("destination sealed, --replace", clone + ["--dst", hex(sealed), "--replace"], 2, r"sealed"),
            ("target kills on mmap (seccomp)", clone[:4] + ["--target", sandboxed.pid, "--dst", hex(free),
                                                            "--engine", "copy"], 1, r"seccomp"),
            ("target already traced", clone[:4] + ["--target", traced.pid, "--dst", hex(free),
                                                   "--engine", "copy"], 1, r"already traced"),
            ("stopped target, taken destination", clone[:4] + ["--target", stopped.pid, "--dst",
                                                               hex(stopped.vmas()[0]["start"])],
             2, r"overlaps"),
            ("another user's stopped target, taken destination",
             clone[:4] + ["--target", stopped_other.pid, "--dst", hex(stopped_other.vmas()[0]["start"]),
                          "--engine", "copy"], 2, r"overlaps"),
            ("another user's stopped target, failure after seizing",
             clone[:4] + ["--len", hex(MIB), "--target", stopped_other.pid, "--dst", hex(free),
                          "--engine", "copy"], 1, r"fault injected at copied",
             {"PGCLONE_FAULT_FAIL": "copied"}),
            ("stopped source, failure after seizing",
             ["--pid", stopped.pid, "--src", hex(stopped.vmas()[0]["start"]), "--target", B,
              "--dst", hex(free), "--engine", "copy"], 1, r"fault injected at mapped",
             {"PGCLONE_FAULT_FAIL": "mapped"}),
            ("dump of a stopped process, failure after seizing",
             ["dump", "--pid", stopped_other.pid, "--all", "-o", os.path.join(self.tmp, "x.img")],
             1, r"fault injected at seized", {"PGCLONE_FAULT_FAIL": "seized"}),
            ("unknown engine", clone + ["--dst", hex(free), "--engine", "warp"], 2, r"--engine"),
            ("unknown option", clone + ["--dst", hex(free), "--bogus"], 2, r"unknown option"),
            ("stray argument", clone + ["--dst", hex(free), "extra"], 2, r"unexpected argument"),
            ("unknown command", ["frobnicate"], 2, r"unknown command"),
            ("maps without --pid", ["maps"], 2, r"--pid is required"),
            ("maps of a bad pid", ["maps", "--pid", "x"], 2, r"not a valid PID"),
            ("image that does not exist", ["restore", "--pid", B, "-i", "/nonexistent", "--dst", hex(free)],
             2, r"cannot open"),
            ("image that is a directory", ["restore", "--pid", B, "-i", "/", "--dst", hex(free)], 2,
             r"is a directory"),
            ("show without an image", ["show"], 2, r"image is required"),
            # issue 11 item 16: one meaning, one message, the option's name
            ("restore --dst 0", ["restore", "--pid", B, "-i", good, "--dst", "0"], 2,
             r"^pgclone: --dst 0: address 0 cannot be mapped; omit --dst to restore at the image's own addresses$"),
            ("clone --dst 0", clone + ["--dst", "0"], 2, r"^pgclone: --dst 0: address 0 cannot be mapped$"),
            ("misplaced option, named by its name", ["dump", "--pid", A, "--src", hex(src), "--dst", hex(free),
                                                     "-o", os.path.join(self.tmp, "m.img")],
             2, r"^pgclone: option --dst does not apply to 'dump'$"),
            ("misplaced flag, named by its name", ["restore", "--pid", B, "-i", good, "--all"],
             2, r"^pgclone: option --all does not apply to 'restore'$"),
            ("flag given a value, named", clone + ["--dst", hex(free), "--replace=yes"], 2,
             r"^pgclone: option --replace takes no value$"),
            ("unknown letter in a bundle", clone + ["--dst", hex(free), "-nZ"], 2,
             r"^pgclone: unknown option '-Z'; try 'pgclone --help'$"),
            ("option without its value, named", ["dump", "--pid", A, "--all", "-o"],
             2, r"^pgclone: option --output needs a value$"),
            ("source is pgclone itself", ["--pid", "SELF", "--src", "0x1000", "--dst", hex(free)],
             2, r"^pgclone: --pid \d+ is pgclone itself"),
            ("target is pgclone itself", clone[:4] + ["--target", "SELF", "--dst", hex(free)],
             2, r"^pgclone: --target \d+ is pgclone itself"),
            ("dump of pgclone itself", ["dump", "--pid", "SELF", "--all", "-o", os.path.join(self.tmp, "s.img")],
             2, r"^pgclone: --pid \d+ is pgclone itself"),
            ("restore into pgclone itself", ["restore", "--pid", "SELF", "-i", good],
             2, r"^pgclone: --pid \d+ is pgclone itself"),
            ("maps of a kernel thread", ["maps", "--pid", "2"], 2, r"^pgclone: PID 2 is a kernel thread$"),
            ("restore from a closed standard input", ["restore", "--pid", B, "-i", "-"], 2,
             r"^pgclone: standard input is closed", {"STDIN": "closed"}),
            ("a 100k-character option", clone + ["--dst", hex(free), "--" + "x" * 100000], 2,
             r"^pgclone: unknown option '--x{62}\.\.\.'; try 'pgclone --help'$"),
            ("a 100k-character value", ["--pid", A, "--src", "7" * 100000, "--dst", hex(free)], 2,
             r"^pgclone: --src '7{64}\.\.\.': value out of range$"),
            ("a 100k-character address", ["--pid", A, "--src", "z" * 100000, "--dst", hex(free)], 2,
             r"^pgclone: --src 'z{64}\.\.\.': not a number"),
            ("a 100k-character command", ["y" * 100000], 2, r"^pgclone: unknown command 'y{64}\.\.\.'"),
            ("--pid twice", ["--pid", A, "--pid", B, "--src", hex(src), "--dst", hex(free)], 2,
             rf"^pgclone: --pid given twice \('{A}', then '{B}'\): give it once$"),
            ("--dst twice", clone + ["--dst", hex(free), "--dst", hex(free + MIB)], 2, r"--dst given twice"),
            ("--target twice", clone + ["--target", A, "--dst", hex(free)], 2, r"--target given twice"),
            ("--len twice", clone + ["--dst", hex(free), "--len", "4K", "-l", "8K"], 2, r"--len given twice"),
            ("--engine twice", clone + ["--dst", hex(free), "-e", "copy", "--engine", "kernel"], 2,
             r"--engine given twice"),
            ("maps --pid twice", ["maps", "--pid", A, "-p", B], 2, r"--pid given twice"),
            ("dump -o twice", ["dump", "--pid", A, "--all", "-o", os.path.join(self.tmp, "1.img"),
                               "--output", os.path.join(self.tmp, "2.img")], 2, r"--output given twice"),
            # -i again is the next image of a chain: a full image is no delta
            ("restore -i twice", ["restore", "--pid", B, "-i", good, "-i", good], 2,
             r"^pgclone: image 2 of the chain is not a delta: only the first is a full image$"),
            ("target's filter kills on mmap, named", clone[:4] + ["--target", sandboxed.pid, "--dst", hex(free),
                                                                  "--engine", "copy"], 1,
             r"seccomp filter of PID \d+ answers mmap\(0x[0-9a-f]+(, 0x[0-9a-f]+){5}\) from 0x[0-9a-f]+, "
             r"which pgclone must run in it, with KILL_PROCESS"),
            ("target's filter checks the caller's address", clone[:4] + ["--target", ipcheck.pid, "--dst", hex(free),
                                                                         "--engine", "copy"], 1,
             r"seccomp filter of PID \d+ answers mmap\(.*\) from 0x[0-9a-f]+, which pgclone must run in it, "
             r"with ERRNO 1 \("),
        ]
        if not KERNEL_ENGINE:
            cases.append(("--engine kernel without the syscall", clone + ["--dst", hex(free), "--engine",
                                                                          "kernel"], 1, r"process_vm_mmap"))
        for what, (path, needle) in broken.items():
            cases.append((f"restore: {what} image", ["restore", "--pid", B, "-i", path, "--dst", hex(free)],
                          2, re.escape(needle)))
            cases.append((f"verify: {what} image", ["verify", path], 2, re.escape(needle)))
        for what, (path, code, needle) in crafted.items():
            cases.append((f"restore: crafted image, {what}", ["restore", "--pid", B, "-i", path],
                          code, re.escape(needle)))
            cases.append((f"restore into a stopped target: crafted image, {what}",
                          ["restore", "--pid", stopped_other.pid, "-i", path], code, re.escape(needle)))

        # every process involved, bytes included; the stopped ones can only
        # be read through /proc (they cannot answer), and must stay stopped
        watched = [Snapshot(a, [(src, MIB), (hole, PAGE)]), Snapshot(b, [(taken, MIB), (sealed, MIB)]),
                   Snapshot(sandboxed), Snapshot(traced), Snapshot(ipcheck)]
        frozen = [(s, s.maps(), {v["start"]: s.read(v["start"], min(v["end"] - v["start"], MIB))
                                 for v in s.vmas() if v["perms"][0] == "r" and
                                 v["name"] not in ("[vvar]", "[vsyscall]", "[vvar_vclock]")})
                  for s in (stopped, stopped_other)]
        tried = 0
        for what, argv, code, regex, *env in cases:
            with self.subTest(what):
                r = run_case(argv, env[0] if env else None)
                lines = r.stderr.strip().splitlines()
                if code is None:
                    self.assertNotEqual(r.returncode, 0, r.stderr)
                else:
                    self.assertEqual(r.returncode, code, f"{what}: {r.stderr}")
                # exactly one line, and it is the one that says what is wrong
                self.assertEqual(len(lines), 1, f"{what}: {r.stderr}")
                self.assertTrue(lines[0].startswith("pgclone: "), lines[0])
                self.assertRegex(lines[0], regex)
                self.assertEqual(r.stdout, "")
                for s in watched:
                    s.assert_unchanged(self)
                for s, maps, data in frozen:
                    self.assertEqual(s.maps(), maps, f"{what}: maps of stopped {s.pid} changed")
                    for addr, d in data.items():
                        now = bytearray(s.read(addr, len(d)))
                        if rseq[s.pid] != "none" and addr <= int(rseq[s.pid], 16) < addr + len(d):
                            off = int(rseq[s.pid], 16) - addr
                            now[off:off + 8] = d[off:off + 8]   # cpu_id_start, cpu_id
                        self.assertEqual(bytes(now), d, f"{what}: bytes of stopped {s.pid}")
                    self.assertEqual(s.state(), "T", f"{what}: the stopped process was resumed")
                tried += 1
        print(f"\nbad inputs tried: {tried}, every one refused with one line and nothing changed")
        self.assertGreaterEqual(tried, 40)
        for s, _, _ in frozen:
            os.kill(s.pid, signal.SIGCONT)
            self.assertTrue(s.alive())


def run_case(argv, env):
    """run(), plus what a shell would do: "SELF" in @argv is pgclone's own
    PID, and env {"STDIN": "closed"} starts it with fd 0 closed (<&-)."""
    env = dict(env or {})
    closed = env.pop("STDIN", None) == "closed"
    if "SELF" not in argv and not closed:
        return run(*argv, env=env)
    args = with_engine(argv)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:                                    # the child becomes pgclone
        try:
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            if closed:
                os.close(0)
            me = str(os.getpid())
            os.execve(PGCLONE, [PGCLONE] + [me if a == "SELF" else a for a in args],
                      {**os.environ, **env})
        finally:
            os._exit(127)
    os.close(out_w)
    os.close(err_w)
    with os.fdopen(out_r) as o, os.fdopen(err_r) as e:
        stdout, stderr = o.read(), e.read()
    _, status = os.waitpid(pid, 0)
    return subprocess.CompletedProcess(argv, os.waitstatus_to_exitcode(status), stdout, stderr)


NS_LAST_PID = "/proc/sys/kernel/ns_last_pid"
PID_MAX = "/proc/sys/kernel/pid_max"


def reuse_pid(pid, tries=200):
    """A new victim with the number @pid, which must be free: the kernel
    hands out ns_last_pid + 1 next (root only).  Without ns_last_pid (no
    CONFIG_PID_NS, as in the guest), children are forked until the next
    free PID is @pid, with pid_max lowered to @pid + 1 meanwhile so that a
    turn of the PID space is short (PIDs restart at 300 after a wrap)."""
    for _ in range(tries):
        if os.path.exists(NS_LAST_PID):
            with open(NS_LAST_PID, "w") as f:
                f.write(str(pid - 1))
            v = Victim()
        else:
            assert pid > 300, f"PID {pid} cannot come back after a wrap"
            with open(PID_MAX) as f:
                old = f.read().strip()
            try:
                with open(PID_MAX, "w") as f:
                    f.write(str(pid + 1))
                burnt = subprocess.run([VICTIM, "--burn-pids", str(pid)]).returncode == 0
                v = Victim() if burnt else None
            finally:
                with open(PID_MAX, "w") as f:
                    f.write(old)
        if v and v.pid == pid:
            return v
        if v:
            v.kill()
    raise AssertionError(f"could not get PID {pid} again")


class Replaced(VictimTest):
    """The target exits after pgclone checked it and before it seized it,
    and its number is given to a new process: pgclone must notice (it
    pinned the first one with a pidfd) and leave the newcomer alone."""

    def run_replaced(self, reuse, *argv_tail, op=()):
        a, b = self.victim(), self.victim()
        src = a.addr(f"anon {MIB:#x} 3")
        dst = self.free_addr(a, b)
        sa = Snapshot(a, [(src, MIB)])
        pid = b.pid
        args = list(op) or ["--pid", a.pid, "--src", hex(src), "--len", hex(MIB), "--target", pid,
                            "--dst", hex(dst), "--engine", "copy"]
        p = start_stopped_at("checked", *[x if x != "PID" else pid for x in args])
        b.kill()                                    # reaped: the number is free
        self.victims.remove(b)
        newcomer = reuse_pid(pid) if reuse else None
        if newcomer:
            self.victims.append(newcomer)
            sn = Snapshot(newcomer)
        os.kill(p.pid, signal.SIGCONT)
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 1, err)
        lines = err.strip().splitlines()
        self.assertEqual(len(lines), 1, err)
        self.assertTrue(lines[0].startswith("pgclone: "))
        if newcomer:
            self.assertRegex(lines[0], rf"PID {pid} exited after pgclone checked it; "
                                       r"the number now names another process")
            sn.assert_unchanged(self)
            self.assertIsNone(newcomer.vma_at(dst))
        else:
            self.assertRegex(lines[0], rf"PID {pid}")
        if not op:
            sa.assert_unchanged(self)
            self.assertNotIn(a.state(), ("T", "t"))
        return newcomer

    def test_clone_target_replaced(self):
        self.run_replaced(True)

    def test_clone_target_gone(self):
        self.run_replaced(False)

    def test_restore_target_replaced(self):
        a = self.victim()
        src = a.addr(f"anon {MIB:#x} 3")
        img = f"/tmp/pgclone-replaced-{os.getpid()}.img"
        self.addCleanup(lambda: os.path.exists(img) and os.unlink(img))
        run("dump", "--pid", a.pid, "--src", hex(src), "-o", img, check=0)
        self.run_replaced(True, op=["restore", "--pid", "PID", "-i", img,
                                    "--dst", hex(0x5f0000000000)])
