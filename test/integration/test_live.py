# SPDX-License-Identifier: GPL-2.0-or-later
"""Live migration through one stream: dump --live, restore -i -.

A source rewriting ~10 MB/s is dumped live and left stopped
(--leave-stopped): the restore is its final-round instant, every page
compared with the stopped source.  The stream cut at every round boundary
and in the middle of every round, and a restore sent SIGTERM half-way
through, leave the destination exactly as it was (maps and bytes).
--max-rounds 0 and 1 give the rounds they say; bad options get one line
and exit 2.  And through real ssh: an sshd of the test's own on
127.0.0.1, with generated host and client keys, torn down at the end.

The rounds track written pages the way the library chooses (auto): the
kernel's soft-dirty bits where it keeps them, else uffd-wp's asynchronous
mode, for real (no PGCLONE_FAULT_SOFTDIRTY).  After every live dump --
complete, failed at each fault point, or cut by SIGINT, the source
stopped or running -- the source holds no new descriptor (no
userfaultfd) and no mapping registered with one, and a failed one has
its maps and bytes as they were.  LiveSoftDirty runs a few of them with
--track-method soft-dirty: on a kernel without CONFIG_MEM_SOFT_DIRTY,
with the fault-point build's stand-in (PGCLONE_FAULT_SOFTDIRTY=emulate),
which is then the only way to reach the soft-dirty rounds."""
import json
import os
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import unittest

from harness import (PAGE, PGCLONE, Snapshot, VictimTest, continue_to_exit, run,
                     start_stopped_at)
from sshd import Sshd
from test_compress import old_reader
from test_uffdwp import SOFT_DIRTY, UFFD_WP, Untouched, fds, registered, uffds

MIB = 1 << 20
LEN = 16 * MIB
RATE = 10 * MIB


def rounds_of(stream):
    """[(start, data_start, end)] of each round of a captured stream,
    from each round's header and trailer (pgclone-image(5))."""
    out, at = [], 0
    while at < len(stream):
        hdr = stream[at:at + 64]
        assert hdr[:8] == b"PGCLONE\0", f"no round header at {at}"
        data_off, data_len = struct.unpack_from("<QQ", hdr, 40)
        incompat = struct.unpack_from("<I", hdr, 24)[0]
        assert incompat & 0x4, "a round without the live bit"
        tr = at + data_off + data_len
        assert stream[tr:tr + 8] == b"PGCLEND\0"
        n = struct.unpack_from("<Q", stream, tr + 8)[0]
        end = tr + 16 + 4 * n + 4
        out.append((at, at + data_off, end))
        at = end
    return out


class LiveBase(VictimTest):
    # the kernel's own tracking, as auto chooses it (uffd-wp where it has
    # no soft-dirty); on a kernel with both, uffd-wp asked for by name
    track_env = ""
    method = ("--track-method", "uffd-wp") if SOFT_DIRTY and UFFD_WP else ()
    walk_env = ""

    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="pgclone-live-")
        self.addCleanup(lambda: shutil.rmtree(self.dir, ignore_errors=True))

    def path(self, name):
        return os.path.join(self.dir, name)

    def env(self):
        return {"PGCLONE_RUNTIME_DIR": self.path("run"),
                "PGCLONE_FAULT_SOFTDIRTY": self.track_env,
                "PGCLONE_FAULT_PAGEWALK": self.walk_env}

    def uffd_wp(self):
        """Do the rounds track with uffd-wp?"""
        return not self.track_env and (not SOFT_DIRTY or bool(self.method))

    def assert_no_tracking(self, a, before):
        """No descriptor but those @a had @before; none a userfaultfd; no
        mapping registered with one."""
        self.assertEqual(uffds(a), [], "a userfaultfd left in the source")
        self.assertEqual(registered(a), [], "a mapping left registered")
        self.assertEqual(fds(a), before, "the source's descriptors changed")

    def writing_source(self, rate=RATE, **kw):
        a = self.victim(**kw)
        addr = a.addr(f"anon {LEN:#x}")
        a.ok(f"fill {addr:#x} {LEN:#x} 7")
        a.ok(f"rewrite {addr:#x} {LEN:#x} {rate}")
        return a, addr

    def dump_live(self, a, addr, *extra, out=None, check=0):
        r = run("dump", "--pid", a.pid, "--src", hex(addr), "--len", hex(LEN),
                "--live", "--json", *self.method, *extra, "-o", out or self.path("stream"),
                env=self.env(), check=check)
        return r, (json.loads(r.stdout) if r.returncode == 0 else None)

    def state(self, pid):
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]

    def check_restores_the_final_round_instant_exactly(self):
        a, addr = self.writing_source()
        before = fds(a)
        time.sleep(0.3)
        r, j = self.dump_live(a, addr, "--leave-stopped", "--progress", "-v")
        self.assertEqual(self.state(a.pid), "T", "--leave-stopped: not stopped")
        self.assert_no_tracking(a, before)
        if self.uffd_wp():
            self.assertIn("tracking PID %d's writes with uffd-wp" % a.pid, r.stderr)
        else:
            self.assertNotIn("uffd-wp", r.stderr)
        rounds = j["rounds"]
        self.assertGreaterEqual(len(rounds), 2, rounds)
        self.assertEqual([x["round"] for x in rounds], list(range(len(rounds))))
        self.assertEqual([x["final"] for x in rounds], [False] * (len(rounds) - 1) + [True])
        self.assertEqual(rounds[0]["pages"], LEN // PAGE)
        # tracked: the rounds after hold what was written, not everything
        self.assertLess(rounds[-1]["pages"], LEN // PAGE, rounds)
        self.assertGreater(rounds[1]["dirty_rate_mbs"], 0)
        self.assertIn("live round 0", r.stderr)
        self.assertIn("(final, frozen)", r.stderr)
        b = self.victim()
        dst = self.free_addr(b)
        run("restore", "--pid", b.pid, "-i", self.path("stream"), "--dst", hex(dst),
            env=self.env(), check=0)
        want = a.read(addr, LEN)
        got = b.read(dst, LEN)
        bad = [i for i in range(0, LEN, PAGE) if want[i:i + PAGE] != got[i:i + PAGE]]
        self.assertEqual(bad, [], f"{len(bad)} pages differ from the stopped source")
        # the source was written meanwhile: the base alone would not do
        self.assertNotEqual(want, b"\x07" * LEN)
        os.kill(a.pid, signal.SIGCONT)
        self.assertTrue(a.alive())
        self.assertEqual(a.cmd("ping"), "pong")

    def check_anon_pages_dropped_between_rounds(self):
        a = self.victim()
        addr = a.addr(f"anon {LEN:#x}")
        a.ok(f"fill {addr:#x} {LEN:#x} 7")
        before = fds(a)
        p = start_stopped_at("live-round", "dump", "--pid", str(a.pid), "--src", hex(addr),
                             "--len", hex(LEN), "--live", "--max-rounds", "1",
                             "--leave-stopped", *self.method, "-o", self.path("stream"),
                             extra_env=self.env())
        if self.uffd_wp():
            self.assertEqual(len(uffds(a)), 1, "round 0 armed no userfaultfd")
            self.assertEqual(len(registered(a)), 1, registered(a))
        a.ok(f"advise {addr + 64 * PAGE:#x} {64 * PAGE:#x} dontneed")
        a.ok(f"fill {addr + 200 * PAGE:#x} {PAGE:#x} 11")
        p.send_signal(signal.SIGCONT)
        err = p.communicate(timeout=60)[1]
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(self.state(a.pid), "T")
        self.assert_no_tracking(a, before)
        b = self.victim()
        dst = self.free_addr(b)
        run("restore", "--pid", b.pid, "-i", self.path("stream"), "--dst", hex(dst),
            env=self.env(), check=0)
        self.assertEqual(b.present(dst + 64 * PAGE, 64), [False] * 64)
        self.assertEqual(b.present(dst + 200 * PAGE, 1), [True])
        self.assertEqual(b.read(dst, LEN), a.read(addr, LEN))

    def check_each_round_holds_what_was_written_since_the_last(self):
        """The whole range written again while round 0 is written, one page
        while round 1 is: round 1 holds the range (too much for a final
        round of 1 ms), the final round that page alone -- each round
        re-armed what the one before found."""
        a = self.victim()
        addr = a.addr(f"anon {LEN:#x}")
        a.ok(f"fill {addr:#x} {LEN:#x} 7")
        p = start_stopped_at("live-round", "dump", "--pid", str(a.pid), "--src", hex(addr),
                             "--len", hex(LEN), "--live", "--json", "--max-rounds", "2",
                             "--max-downtime", "1", *self.method, "-o", self.path("stream"),
                             extra_env=self.env())
        half = LEN // PAGE
        for n, (page, nr) in enumerate(((0, half), (3000, 1))):
            if n:
                deadline = time.time() + 30
                while self.state(p.pid) != "T" and time.time() < deadline:
                    time.sleep(0.01)
                self.assertEqual(self.state(p.pid), "T", "round 1 was not written")
            old = a.read(addr + page * PAGE, PAGE)
            # other bytes (the seed moves them by bit 29): the stand-in
            # sees a write only by what it changed
            a.ok(f"fill {addr + page * PAGE:#x} {nr * PAGE:#x} {(2 * n + 1) << 29:#x}")
            self.assertTrue(a.read(addr + page * PAGE, PAGE) != old, "the same bytes")
            p.send_signal(signal.SIGCONT)
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, err)
        rounds = json.loads(out)["rounds"]
        self.assertEqual([(x["round"], x["pages"]) for x in rounds],
                         [(0, LEN // PAGE), (1, half), (2, 1)], rounds)
        b = self.victim()
        dst = self.free_addr(b)
        run("restore", "--pid", b.pid, "-i", self.path("stream"), "--dst", hex(dst),
            env=self.env(), check=0)
        self.assertEqual(b.read(dst, LEN), a.read(addr, LEN))


class Live(LiveBase):
    def test_restores_the_final_round_instant_exactly(self):
        self.check_restores_the_final_round_instant_exactly()

    def test_anon_pages_dropped_between_rounds(self):
        self.check_anon_pages_dropped_between_rounds()

    def test_each_round_holds_what_was_written_since_the_last(self):
        self.check_each_round_holds_what_was_written_since_the_last()

    def test_leave_stopped_only_after_a_complete_stream(self):
        """A dump that fails at its final round leaves the source running
        (and no file); one that completes leaves it stopped."""
        a, addr = self.writing_source()
        # a dump that fails (here: at its final round) leaves it running
        r = run("dump", "--pid", a.pid, "--src", hex(addr), "--len", hex(LEN), "--live",
                "--leave-stopped", "--max-rounds", "1", "-o", self.path("failed"),
                env=dict(self.env(), PGCLONE_FAULT_FAIL="live-final"))
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertFalse(os.path.exists(self.path("failed")))
        time.sleep(0.05)
        self.assertIn(self.state(a.pid), "SR")
        self.assertEqual(a.cmd("ping"), "pong")
        run("dump", "--pid", a.pid, "--src", hex(addr), "--len", hex(LEN), "--live",
            "--leave-stopped", "-o", self.path("stream"), env=self.env(), check=0)
        self.assertEqual(self.state(a.pid), "T")

    def test_a_cut_anywhere_changes_nothing(self):
        a, addr = self.writing_source()
        r, j = self.dump_live(a, addr, "--max-downtime", "1", "--max-rounds", "4")
        with open(self.path("stream"), "rb") as f:
            stream = f.read()
        rounds = rounds_of(stream)
        self.assertEqual(len(rounds), len(j["rounds"]))
        self.assertGreaterEqual(len(rounds), 2)
        cuts = set()
        for start, data, end in rounds:
            cuts |= {start, start + 1, start + 64, data, (data + end) // 2, end - 1, end - 4}
        cuts.discard(len(stream))
        b = self.victim()
        dst = self.free_addr(b)
        b.ok(f"poke {b.addr(f'anon {MIB:#x}'):#x} 3")
        snap = Snapshot(b)
        for cut in sorted(cuts):
            with open(self.path("cut"), "wb") as f:
                f.write(stream[:cut])
            r = run("restore", "--pid", b.pid, "-i", self.path("cut"), "--dst", hex(dst),
                    env=self.env())
            self.assertNotEqual(r.returncode, 0, f"cut at {cut} of {len(stream)} restored")
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
            snap.assert_unchanged(self)
        # a bad checksum in the final round too
        start, data, end = rounds[-1]
        bad = bytearray(stream)
        bad[end - 6] ^= 0xff
        with open(self.path("cut"), "wb") as f:
            f.write(bad)
        r = run("restore", "--pid", b.pid, "-i", self.path("cut"), "--dst", hex(dst),
                env=self.env())
        self.assertNotEqual(r.returncode, 0)
        snap.assert_unchanged(self)
        # and the whole stream does restore
        run("restore", "--pid", b.pid, "-i", self.path("stream"), "--dst", hex(dst),
            env=self.env(), check=0)

    def test_sigterm_between_rounds_changes_nothing(self):
        a, addr = self.writing_source()
        self.dump_live(a, addr, "--max-rounds", "2", "--max-downtime", "1")
        with open(self.path("stream"), "rb") as f:
            stream = f.read()
        first = rounds_of(stream)[0][2]
        b = self.victim()
        dst = self.free_addr(b)
        snap = Snapshot(b)
        p = subprocess.Popen([PGCLONE, "restore", "--pid", str(b.pid), "-i", "-",
                              "--dst", hex(dst)], stdin=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=dict(os.environ, **self.env()))
        p.stdin.write(stream[:first])
        p.stdin.flush()
        time.sleep(1)
        p.send_signal(signal.SIGTERM)
        err = p.communicate(timeout=60)[1].decode()
        self.assertNotEqual(p.returncode, 0, err)
        snap.assert_unchanged(self)

    def test_max_rounds_0_and_1(self):
        a, addr = self.writing_source()
        b = self.victim()
        dst = self.free_addr(b)
        for n, want in (("0", 1), ("1", 2)):
            r, j = self.dump_live(a, addr, "--max-rounds", n, "--leave-stopped",
                                  "--max-downtime", "1")
            self.assertEqual(len(j["rounds"]), want, j["rounds"])
            self.assertTrue(j["rounds"][-1]["final"])
            run("restore", "--pid", b.pid, "-i", self.path("stream"), "--dst", hex(dst),
                "--replace", env=self.env(), check=0)
            self.assertEqual(b.read(dst, LEN), a.read(addr, LEN), f"--max-rounds {n}")
            os.kill(a.pid, signal.SIGCONT)

    def test_compressed_stream_through_a_pipe(self):
        a, addr = self.writing_source()
        b = self.victim()
        dst = self.free_addr(b)
        cmd = (f"{PGCLONE} dump --pid {a.pid} --src {addr:#x} --len {LEN:#x} --live "
               f"--compress --leave-stopped --max-rounds 3 -o - | {PGCLONE} restore "
               f"--pid {b.pid} -i - --dst {dst:#x}")
        r = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True,
                           text=True, env=dict(os.environ, **self.env()), timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(b.read(dst, LEN), a.read(addr, LEN))

    def test_sigint_of_the_dump_leaves_the_source_running(self):
        """SIGINT with the source stopped for round 0, and while it runs
        between rounds, tracked: it runs on, with no tracking left."""
        for point, state in (("live-stopped", "t"), ("live-round", "S")):
            a, addr = self.writing_source()
            before = fds(a)
            p = start_stopped_at(point, "dump", "--pid", str(a.pid), "--src", hex(addr),
                                 "--len", hex(LEN), "--live", "--leave-stopped",
                                 *self.method, "-o", self.path("stream"),
                                 extra_env=self.env())
            self.assertIn(self.state(a.pid), state, point)
            if point == "live-round" and self.uffd_wp():
                self.assertEqual(len(uffds(a)), 1, "round 0 armed no userfaultfd")
            p.send_signal(signal.SIGINT)
            p.send_signal(signal.SIGCONT)
            out, err = p.communicate(timeout=60)
            self.assertEqual(p.returncode, 1, err)
            self.assertFalse(os.path.exists(self.path("stream")))
            time.sleep(0.05)
            self.assertIn(self.state(a.pid), "SR")
            self.assertEqual(a.cmd("ping"), "pong")
            self.assert_no_tracking(a, before)

    def test_failures_leave_the_source_as_it_was(self):
        """A dump failed at each point of the rounds -- before tracking,
        while it is armed (uffd-wp: the descriptor created, the mappings
        registered), with the source stopped or running -- leaves the
        source as it was: maps, bytes, descriptors, no registration."""
        a = self.victim()
        addr = a.addr(f"anon {LEN:#x}")
        a.ok(f"fill {addr:#x} {LEN:#x} 7")
        a.ok(f"fill {addr + PAGE:#x} {PAGE:#x} 8")
        points = ["live-stopped", "armed", "live-round", "live-final"]
        if self.uffd_wp():
            points[1:1] = ["uffd-created", "uffd-registered"]
        for point in points:
            u = Untouched(a, [(addr, LEN)])
            r = run("dump", "--pid", a.pid, "--src", hex(addr), "--len", hex(LEN), "--live",
                    *self.method, "-o", self.path("failed"),
                    env=dict(self.env(), PGCLONE_FAULT_FAIL=point))
            self.assertEqual(r.returncode, 1, (point, r.stderr))
            self.assertIn(f"fault injected at {point}", r.stderr)
            self.assertFalse(os.path.exists(self.path("failed")))
            u.assert_unchanged(self)
            self.assertEqual(uffds(a), [], point)
            self.assertEqual(a.cmd("ping"), "pong")

    @unittest.skipUnless(UFFD_WP, "the kernel has no asynchronous uffd-wp mode")
    def test_a_live_dump_ends_earlier_uffd_wp_tracking(self):
        """The source tracked by dump --track (uffd-wp): a live dump
        re-arms and then ends it; that image is no parent any more."""
        a = self.victim()
        addr = a.addr(f"anon {LEN:#x}")
        a.ok(f"fill {addr:#x} {LEN:#x} 7")
        before = fds(a)
        m = ("--track-method", "uffd-wp")
        run("dump", "--pid", a.pid, "--src", hex(addr), "--len", hex(LEN), "--track", *m,
            "-o", self.path("base"), env=self.env(), check=0)
        self.assertEqual(len(uffds(a)), 1)
        self.dump_live(a, addr, "--max-rounds", "2", *m, check=0)
        self.assert_no_tracking(a, before)
        r = run("dump", "--pid", a.pid, "--src", hex(addr), "--len", hex(LEN),
                "--parent", self.path("base"), *m, "-o", self.path("delta"), env=self.env())
        self.assertNotEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assert_no_tracking(a, before)

    @unittest.skipIf(SOFT_DIRTY, "the kernel keeps soft-dirty bits")
    def test_soft_dirty_asked_of_a_kernel_without_it(self):
        a = self.victim()
        addr = a.addr(f"anon {LEN:#x}")
        a.ok(f"fill {addr:#x} {LEN:#x} 7")
        snap = Untouched(a, [(addr, LEN)])
        r, _ = self.dump_live(a, addr, "--track-method", "soft-dirty", check=None)
        self.assertNotEqual(r.returncode, 0)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn("CONFIG_MEM_SOFT_DIRTY", lines[0])
        self.assertFalse(os.path.exists(self.path("stream")))
        snap.assert_unchanged(self)

    def test_file_pages_dropped_between_rounds(self):
        """A private file page round 0 sent as the source's own (written)
        and the source dropped (MADV_DONTNEED) before the final round is
        the file's page again in the restore."""
        a = self.victim()
        path = self.path("file")
        with open(path, "wb") as f:
            f.write(bytes(range(256)) * (MIB // 256))
        faddr = a.addr(f"file {path} {MIB:#x} private")
        a.ok(f"fill {faddr:#x} {MIB:#x} 9")     # every page copied on write
        p = start_stopped_at("live-round", "dump", "--pid", str(a.pid), "--src", hex(faddr),
                             "--len", hex(MIB), "--live", "--max-rounds", "1",
                             "--leave-stopped", "-o", self.path("stream"),
                             extra_env=self.env())
        a.ok(f"advise {faddr + 16 * PAGE:#x} {32 * PAGE:#x} dontneed")
        p.send_signal(signal.SIGCONT)
        err = p.communicate(timeout=60)[1]
        self.assertEqual(p.returncode, 0, err)
        b = self.victim()
        dst = self.free_addr(b)
        run("restore", "--pid", b.pid, "-i", self.path("stream"), "--dst", hex(dst),
            env=self.env(), check=0)
        want, got = a.read(faddr, MIB), b.read(dst, MIB)
        bad = [i // PAGE for i in range(0, MIB, PAGE) if want[i:i + PAGE] != got[i:i + PAGE]]
        self.assertEqual(bad, [])
        self.assertEqual(got[16 * PAGE:17 * PAGE], bytes(range(256)) * 16)

    def test_bad_options_one_line(self):
        a, addr = self.writing_source()
        base = ["dump", "--pid", str(a.pid), "--src", hex(addr), "-o", self.path("x")]
        for extra, needle in (
                (["--leave-stopped"], "only with --live"),
                (["--max-rounds", "3"], "only with --live"),
                (["--progress"], "only with --live"),
                (["--live", "--max-rounds", "-1"], "--max-rounds"),
                (["--live", "--max-rounds", "100"], "--max-rounds"),
                (["--live", "--max-rounds", "x"], "--max-rounds"),
                (["--live", "--max-downtime", "0"], "--max-downtime"),
                (["--live", "--no-freeze"], "--no-freeze"),
                (["--live", "--track"], "--track"),
                (["--live", "--snapshot"], "--snapshot"),
                (["--live", "--parent", self.path("x")], "--parent")):
            r = run(*base, *extra, env=self.env())
            self.assertEqual(r.returncode, 2, (extra, r.stderr))
            lines = r.stderr.strip().splitlines()
            self.assertEqual(len(lines), 1, (extra, r.stderr))
            self.assertIn(needle, lines[0])
            self.assertFalse(os.path.exists(self.path("x")))
        self.assertEqual(self.state(a.pid), "S")
        # a stream is restored alone, and is no --parent
        self.dump_live(a, addr, "--max-rounds", "1")
        b = self.victim()
        snap = Snapshot(b)
        for argv in (["restore", "--pid", str(b.pid), "-i", self.path("stream"),
                      "-i", self.path("stream")],
                     ["restore", "--pid", str(b.pid), "--update", "-i", self.path("stream"),
                      "-i", self.path("stream")],
                     ["dump", "--pid", str(a.pid), "--src", hex(addr), "--len", hex(LEN),
                      "--parent", self.path("stream"), "-o", self.path("x")]):
            r = run(*argv, env=self.env())
            self.assertEqual(r.returncode, 2, (argv, r.stderr))
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
            self.assertIn("live stream", r.stderr)
            snap.assert_unchanged(self)

    def test_old_reader_refuses_a_live_stream(self):
        old, why = old_reader()
        if not old:
            self.skipTest(why)
        a, addr = self.writing_source()
        self.dump_live(a, addr, "--max-rounds", "1")
        b = self.victim()
        snap = Snapshot(b)
        dst = self.free_addr(b)
        for argv in ([old, "restore", "--pid", str(b.pid), "-i", self.path("stream"),
                      "--dst", hex(dst)], [old, "verify", self.path("stream")]):
            r = subprocess.run(argv, capture_output=True, text=True)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
            self.assertIn("unknown incompatible features 0x4", r.stderr)
            snap.assert_unchanged(self)

    def test_verify_reads_every_round(self):
        a, addr = self.writing_source()
        r, j = self.dump_live(a, addr, "--max-rounds", "3", "--max-downtime", "1")
        n = len(j["rounds"])
        v = run("verify", "--json", self.path("stream"), check=0)
        self.assertEqual(json.loads(v.stdout)["live_rounds"], n)
        with open(self.path("stream"), "rb") as f:
            stream = f.read()
        with open(self.path("cut"), "wb") as f:
            f.write(stream[:rounds_of(stream)[-1][0]])
        v = run("verify", self.path("cut"))
        self.assertEqual(v.returncode, 2, v.stderr)
        self.assertIn("ends before its final round", v.stderr)

    def test_through_real_ssh(self):
        env = self.env()
        sshd = Sshd(self.dir, env)
        self.addCleanup(sshd.stop)
        a, addr = self.writing_source()
        before = fds(a)
        b = self.victim()
        dst = self.free_addr(b)
        cmd = (f"{PGCLONE} dump --pid {a.pid} --src {addr:#x} --len {LEN:#x} --live "
               f"--leave-stopped -o - | {sshd.ssh} {PGCLONE} restore --pid {b.pid} -i - "
               f"--dst {dst:#x}")
        r = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True,
                           text=True, env=dict(os.environ, **env), timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.state(a.pid), "T")
        self.assert_no_tracking(a, before)
        self.assertEqual(b.read(dst, LEN), a.read(addr, LEN))
        sshd.stop()
        self.assertFalse(sshd.running(), "sshd still running")

class LiveSoftDirty(LiveBase):
    """The soft-dirty rounds: the kernel's bits, or the stand-in."""
    track_env = "" if SOFT_DIRTY else "emulate"
    method = ("--track-method", "soft-dirty")

    def test_restores_the_final_round_instant_exactly(self):
        self.check_restores_the_final_round_instant_exactly()

    def test_anon_pages_dropped_between_rounds(self):
        self.check_anon_pages_dropped_between_rounds()

    def test_each_round_holds_what_was_written_since_the_last(self):
        self.check_each_round_holds_what_was_written_since_the_last()


class LivePagemapWalk(LiveBase):
    """Rounds read from pagemap entries (no PAGEMAP_SCAN): uffd-wp is
    protected again after the walk, in the same stop."""
    walk_env = "pagemap"

    def test_restores_the_final_round_instant_exactly(self):
        self.check_restores_the_final_round_instant_exactly()

    def test_anon_pages_dropped_between_rounds(self):
        self.check_anon_pages_dropped_between_rounds()

    def test_each_round_holds_what_was_written_since_the_last(self):
        self.check_each_round_holds_what_was_written_since_the_last()


if __name__ == "__main__":
    unittest.main()


def uffd_fdinfos(v):
    """Descriptors whose /proc/PID/fdinfo is a userfaultfd's (its "API:"
    line), whatever /proc/PID/fd says of them."""
    out = []
    for n in fds(v):
        try:
            with open(f"/proc/{v.pid}/fdinfo/{n}") as f:
                if any(line.startswith("API:") for line in f):
                    out.append(n)
        except FileNotFoundError:
            pass
    return out


@unittest.skipUnless(UFFD_WP, "the kernel has no asynchronous uffd-wp mode")
class LiveUntrack(LiveBase):
    """uffd-wp tracking ends after the stream, with the source running, a
    16 MiB chunk of the range per short stop (lib/image/dump.c,
    live_untrack()), then a last stop closes the descriptor."""
    BIG = 64 * MIB

    def big_source(self):
        a = self.victim()
        addr = a.addr(f"anon {self.BIG:#x}")
        a.ok(f"fill {addr:#x} {self.BIG:#x} 7")
        a.ok(f"rewrite {addr:#x} {self.BIG:#x} {RATE}")
        # the whole mapping is registered: the kernel may have merged a
        # neighbour into it (an ASan build's victim has one)
        self.vma = a.vma_at(addr)
        return a, addr

    def dump_args(self, a, addr, *extra):
        return ["dump", "--pid", str(a.pid), "--src", hex(addr), "--len", hex(self.BIG),
                "--live", *self.method, *extra]

    def assert_clean(self, a, before):
        self.assert_no_tracking(a, before)
        self.assertEqual(uffd_fdinfos(a), [], "a userfaultfd by /proc/PID/fdinfo")
        self.assertEqual(a.cmd("ping"), "pong")

    def test_tracking_ends_after_the_stream_in_short_stops(self):
        a, addr = self.big_source()
        before = fds(a)
        v = self.vma
        stops = -(-(v["end"] - v["start"]) // (16 * MIB)) + 1
        r = run(*self.dump_args(a, addr, "-v", "-o", self.path("stream")),
                env=self.env(), check=0)
        lines = r.stderr.splitlines()
        final = [i for i, x in enumerate(lines) if "(final, frozen)" in x]
        ended = [i for i, x in enumerate(lines)
                 if f"ended uffd-wp tracking of PID {a.pid} after the stream in {stops} stops"
                 in x]
        # 64 MiB: four chunks of 16, then the stop that closes the descriptor
        self.assertGreaterEqual(stops, 5)
        self.assertEqual(len(ended), 1, r.stderr)
        self.assertEqual(len(final), 1, r.stderr)
        self.assertLess(final[0], ended[0], "tracking ended before the final round")
        self.assertIn(self.state(a.pid), "SR")
        self.assert_clean(a, before)

    def stopped_between_chunks(self, a, addr):
        """pgclone -o - stopped at its first chunk's fault point; the
        stream it wrote, read to its end meanwhile."""
        p = subprocess.Popen([PGCLONE, *self.dump_args(a, addr, "-o", "-")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=dict(os.environ, PGCLONE_FAULT_STOP="live-untrack",
                                      **self.env()))
        self.addCleanup(lambda: p.poll() is None and p.kill())
        stream = p.stdout.read()    # to EOF: while pgclone still runs
        self.assertIsNone(p.poll(), "the stream ended only when pgclone exited")
        deadline = time.time() + 30
        while self.state(p.pid) != "T" and time.time() < deadline:
            time.sleep(0.01)
        self.assertEqual(self.state(p.pid), "T", "never reached live-untrack")
        self.assertGreaterEqual(len(rounds_of(stream)), 2)
        with open(self.path("stream"), "wb") as f:
            f.write(stream)
        # one chunk ended: the rest of the mapping is registered still
        v = self.vma
        self.assertEqual(len(uffds(a)), 1)
        self.assertEqual(registered(a), [f"{v['start'] + 16 * MIB:x}-{v['end']:x}"])
        return p

    def restores(self):
        b = self.victim()
        run("restore", "--pid", b.pid, "-i", self.path("stream"), "--dst",
            hex(self.free_addr(b)), env=self.env(), check=0)

    def test_the_stream_ends_before_tracking_does(self):
        """The reader of -o - sees the end of the stream while tracking
        is still being ended; SIGCONT, and it ends."""
        a, addr = self.big_source()
        before = fds(a)
        p = self.stopped_between_chunks(a, addr)
        self.restores()
        err = continue_to_exit(p)
        self.assertEqual(p.returncode, 0, err)
        self.assert_clean(a, before)

    def test_sigint_between_chunks_ends_tracking_at_once(self):
        a, addr = self.big_source()
        before = fds(a)
        p = self.stopped_between_chunks(a, addr)
        p.send_signal(signal.SIGINT)
        p.send_signal(signal.SIGCONT)
        _, err = p.communicate(timeout=60)
        # the stream was complete: an interrupt only hurries the rest
        self.assertEqual(p.returncode, 0, err)
        self.assert_clean(a, before)

    def test_sigkill_between_chunks_window(self):
        """The window pgclone(1) documents (SAFETY, beside the injection's): pgclone SIGKILLed
        between two stops leaves its userfaultfd in the source, with the
        part of the range not yet unregistered registered; the source runs
        on (the asynchronous mode never blocks a write), and the stream is
        whole."""
        a, addr = self.big_source()
        p = self.stopped_between_chunks(a, addr)
        p.kill()
        p.communicate(timeout=30)
        self.restores()
        self.assertIn(self.state(a.pid), "SR")
        self.assertEqual(a.cmd("ping"), "pong")
        # its writer goes on (over the registered part too): never blocked
        first = a.read(addr, self.BIG)
        time.sleep(0.5)
        self.assertNotEqual(a.read(addr, self.BIG), first, "the source stopped writing")
        self.assertEqual(len(uffds(a)), 1)
        self.assertEqual(len(uffd_fdinfos(a)), 1)

    def test_source_exiting_between_chunks(self):
        """A source that exits while tracking is being ended took its
        userfaultfd and registrations with it: exit 0, and no line saying
        that it keeps anything."""
        a, addr = self.big_source()
        p = self.stopped_between_chunks(a, addr)
        a.kill()    # reaped: its PID is gone
        err = continue_to_exit(p)
        self.assertEqual(p.returncode, 0, err)
        self.assertNotIn("keeps", err.decode())
        self.restores()

    def test_failures_after_the_stream(self):
        """A stop between chunks that fails: the rest in the last stop,
        exit 0.  The last stop failing: exit 3 (the stream is whole), one
        line naming the descriptor the source keeps."""
        a, addr = self.big_source()
        before = fds(a)
        r = run(*self.dump_args(a, addr, "-o", self.path("stream")),
                env=dict(self.env(), PGCLONE_FAULT_FAIL="live-untrack"), check=0)
        self.assert_clean(a, before)
        r = run(*self.dump_args(a, addr, "-o", self.path("stream")),
                env=dict(self.env(), PGCLONE_FAULT_FAIL="live-untrack-last"), check=None)
        self.assertEqual(r.returncode, 3, r.stderr)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        fd = uffds(a)
        self.assertEqual(len(fd), 1)
        self.assertIn(f"the stream is complete, but PID {a.pid} keeps pgclone's "
                      f"userfaultfd (descriptor {fd[0]})", lines[0])
        self.restores()
        self.assertEqual(a.cmd("ping"), "pong")
