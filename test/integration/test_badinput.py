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

from harness import PAGE, Snapshot, VictimTest, run

MIB = 1 << 20
KERNEL_ENGINE = os.path.exists("/sys/kernel/mm/process_vm_mmap/syscall_nr")


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
        src = a.addr(f"anon {MIB:#x} 5")
        taken = b.addr(f"anon {MIB:#x} 6")
        sealed = b.addr(f"anon {MIB:#x} 7")
        self.assertEqual(b.cmd(f"seal {sealed:#x} {MIB:#x}"), "ok")
        hole = a.addr(f"anon {3 * PAGE:#x}")
        a.ok(f"unmap {hole + PAGE:#x} {PAGE:#x}")
        vdso = next(v for v in a.vmas() if v["name"] == "[vdso]")
        vvar = next(v for v in a.vmas() if v["name"] == "[vvar]")
        free = self.free_addr(a, b, stopped, sandboxed, traced)
        sandboxed.ok("seccomp-kill-mmap")
        os.kill(stopped.pid, signal.SIGSTOP)
        wait_for(lambda: stopped.state() == "T", "the stopped victim")

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
        header_bad_crc = bytearray(img)
        header_bad_crc[20] ^= 0xff
        data_flipped = bytearray(img)
        data_flipped[len(img) // 2] ^= 0x01
        images = {
            "empty": self.image("empty.img", b""),
            "junk": self.image("junk.img", os.urandom(8192)),
            "short header": self.image("short.img", img[:40]),
            "header only": self.image("header.img", img[:64]),
            "truncated data": self.image("trunc.img", img[:len(img) // 2]),
            "no trailer": self.image("notrailer.img", img[:-8]),
            "header bit flip": self.image("hdrflip.img", bytes(header_bad_crc)),
            "data bit flip": self.image("dataflip.img", bytes(data_flipped)),
            "trailing garbage": self.image("garbage.img", img + b"x" * 100),
            "zero magic": self.image("zeromagic.img", b"\0" * 8 + img[8:]),
        }

        A, B = str(a.pid), str(b.pid)
        clone = ["--pid", A, "--src", hex(src), "--target", B]
        T = (1 << 47) - PAGE                       # last user page
        cases = [
            # (what, argv, exit code, regex on the one stderr line)
            ("no arguments", [], 2, r"--pid is required|Usage"),
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
        ]
        if not KERNEL_ENGINE:
            cases.append(("--engine kernel without the syscall", clone + ["--dst", hex(free), "--engine",
                                                                          "kernel"], 1, r"process_vm_mmap"))
        for what, path in images.items():
            cases.append((f"restore: {what} image", ["restore", "--pid", B, "-i", path, "--dst", hex(free)],
                          2, r"image|magic|truncated|checksum|trailing|CRC"))
            cases.append((f"verify: {what} image", ["verify", path], 2,
                          r"image|magic|truncated|checksum|trailing|CRC"))

        watched = [Snapshot(a, [(src, MIB), (hole, PAGE)]), Snapshot(b, [(taken, MIB), (sealed, MIB)]),
                   Snapshot(stopped), Snapshot(sandboxed), Snapshot(traced)]
        tried = 0
        for what, argv, code, regex in cases:
            with self.subTest(what):
                r = run(*argv)
                lines = r.stderr.strip().splitlines()
                if code is None:
                    self.assertNotEqual(r.returncode, 0, r.stderr)
                else:
                    self.assertEqual(r.returncode, code, f"{what}: {r.stderr}")
                if not lines or not lines[0].startswith("Usage"):
                    self.assertEqual(len(lines), 1, f"{what}: {r.stderr}")
                    self.assertTrue(lines[0].startswith("pgclone: "), lines[0])
                self.assertRegex(r.stderr, regex)
                self.assertEqual(r.stdout, "")
                for s in watched:
                    if s.v is not stopped:
                        s.assert_unchanged(self)
                self.assertEqual(stopped.maps(), watched[2].maps)
                self.assertEqual(stopped.state(), "T", "the stopped target was resumed")
                tried += 1
        print(f"\nbad inputs tried: {tried}, every one refused with one line and nothing changed")
        self.assertGreaterEqual(tried, 40)
        os.kill(stopped.pid, signal.SIGCONT)
        self.assertTrue(stopped.alive())
