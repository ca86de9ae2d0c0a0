#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Hot restart: a cache server hands its filled cache to a freshly started
successor with `pgclone --move` instead of rebuilding it.

    python3 tools/hot-restart.py [MIB] [pgclone options...]

The old server (examples/kvcache.c) builds a MIB-sized cache (default
256); a successor is started; pgclone moves the cache from the old
process to the same address in the new one; the successor serves it.
Checked: the successor answers the same checksum of the whole cache and
the same values the old server gave, and the old server's RSS drops by
the cache.  Prints how long building the cache took and how long the
hand-over took.  Exit status 0 when every check holds.  Needs root (or
ptrace rights over both servers) and a build (tools/build.sh).  The guest
runs it with each engine (kernel/selftests/guest_init.c).
"""
import json
import os
import subprocess
import sys
import time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PGCLONE = os.environ.get("PGCLONE", os.path.join(root, "build", "cmd", "pgclone"))
KVCACHE = os.environ.get("KVCACHE", os.path.join(root, "build", "examples",
                                                 "pgclone-kvcache"))


def rss_anon_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return -1


class Server:
    """A kvcache process, asked one line at a time on its stdin."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([KVCACHE] + list(args), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.pid = self.proc.pid

    def line(self):
        out = self.proc.stdout.readline()
        if not out:
            raise SystemExit(f"hot-restart: server {self.pid} exited")
        return out.strip()

    def ask(self, request):
        self.proc.stdin.write(request + "\n")
        self.proc.stdin.flush()
        return self.line()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def main():
    args = sys.argv[1:]
    mib = int(args.pop(0)) if args and args[0].isdigit() else 256
    old = new = None
    try:
        t0 = time.monotonic()
        old = Server("serve", str(mib))
        word, addr, length = old.line().split()
        built = time.monotonic() - t0
        before = old.ask("sum")
        keys = [0, 1, 12345, int(before.split()[0]) - 1]
        values = [old.ask(f"get {k}") for k in keys]
        print(f"old server   PID {old.pid}: a {mib} MiB cache at {addr} "
              f"({before.split()[0]} entries) built in {built:.3f} s")

        new = Server("adopt", addr, length)
        if new.line() != "waiting":
            raise SystemExit("hot-restart: the successor did not start")
        print(f"successor    PID {new.pid}: started, waiting for the cache")

        rss0 = rss_anon_kb(old.pid)
        argv = [PGCLONE, "--move", "--pid", str(old.pid), "--src", addr,
                "--len", length, "--target", str(new.pid), "--dst", addr,
                "--json"] + args
        print("$ " + " ".join(argv))
        t0 = time.monotonic()
        r = subprocess.run(argv, capture_output=True, text=True)
        handed = time.monotonic() - t0
        if r.returncode:
            sys.stderr.write(r.stderr)
            return 1
        engine = json.loads(r.stdout).get("engine", "?")
        rss1 = rss_anon_kb(old.pid)

        adopted = new.ask("go")
        after = new.ask("sum")
        same_values = [new.ask(f"get {k}") for k in keys] == values
        dropped = rss0 - rss1
        print(f"hand-over: {handed:.3f} s with the {engine} engine "
              f"(building the cache took {built:.3f} s, {built / handed:.0f}x as long)")
        print(f"successor: {adopted}; checksum {after}, the old server's was {before}: "
              f"{'same' if after == before else 'DIFFERENT'}; sampled values "
              f"{'same' if same_values else 'DIFFERENT'}")
        print(f"old server's RssAnon: {rss0} kB -> {rss1} kB (dropped {dropped} kB, "
              f"the cache is {int(length, 0) >> 10} kB)")
        ok = after == before and same_values and dropped >= (int(length, 0) >> 10) * 9 // 10
        print("hot restart: " + ("ok" if ok else "FAILED"))
        return 0 if ok else 1
    finally:
        for s in (old, new):
            if s:
                s.stop()


if __name__ == "__main__":
    sys.exit(main())
