#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Compression benchmark (not a test): dump --compress on real memory,
side by side with the same dump stored as it is, in one run, best of
--runs after a warm-up.

Sources, each the largest writable private mapping of a live process
(where the data is: a python3 heap's objects live in obmalloc's anonymous
arenas, redis-server's in jemalloc's):
  python3       a dict of --entries short strings (keys and values)
  redis-server  after DEBUG POPULATE --keys (skipped without redis-server:
                apt-get install redis-server)

For each, with no compression and with each --levels level:
  dump to tmpfs        pgclone dump -o /dev/shm/img
  restore from tmpfs   pgclone restore -i /dev/shm/img into a victim
  through a pipe       pgclone dump -o - | pgclone restore -i -
  through ssh          pgclone dump -o - | ssh -o Compression=no ... pgclone restore -i -
                       (an sshd of the benchmark's own on 127.0.0.1,
                       test/integration/sshd.py; ssh's own zlib off, as
                       is OpenSSH's default, said explicitly so that only
                       pgclone's compression is measured; and once more
                       with -o Compression=yes for the dump stored as it
                       is, ssh's zlib against pgclone's zstd; and
                       "ssh ... true", the floor under every ssh row)
and, as a yardstick, the zstd program compressing the stored image at the
same level on one thread (zstd -T1 -LEVEL).  Every restore is compared
with the source byte for byte once.  Throughput is data bytes
(uncompressed) per second; ratio is data bytes / stored bytes.

Usage: bench/bench_compress.py [--runs 3] [--levels 1,3] [--entries 2000000]
                               [--keys 1000000]
"""
import argparse
import hashlib
import os
import shutil
import subprocess
import tempfile
import time

from benchlib import DST, PGCLONE, Victim, header, sh
from needs import need_built, need_command
from sshd import Sshd

IMG = "/dev/shm/pgclone-bench-z.img"
PY_HEAP = """
import sys
d = {f"key-{i:08d}": f"value {i} of the benchmark " + "x" * (i % 40) for i in range(%d)}
print("ready", flush=True)
sys.stdin.read()
"""


def largest_rw_private(pid):
    """(start, end, name) of the largest rw-p mapping that is not a file."""
    best = None
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            parts = line.split()
            if parts[1] != "rw-p" or (len(parts) > 5 and parts[5].startswith("/")):
                continue
            s, e = (int(x, 16) for x in parts[0].split("-"))
            if not best or e - s > best[1] - best[0]:
                best = (s, e, parts[5] if len(parts) > 5 else "anonymous")
    return best


def digest(pid, start, size):
    h = hashlib.sha256()
    with open(f"/proc/{pid}/mem", "rb") as f:
        f.seek(start)
        left = size
        while left:
            b = f.read(min(left, 16 << 20))
            h.update(b)
            left -= len(b)
    return h.hexdigest()


def start_python(entries):
    p = subprocess.Popen(["python3", "-c", PY_HEAP.replace("%d", str(entries))],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    return p, p.pid, lambda: (p.kill(), p.wait())


def start_redis(keys):
    d = tempfile.mkdtemp(prefix="pgclone-bench-redis-")
    sock = os.path.join(d, "sock")
    p = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", sock,
                          "--save", "", "--appendonly", "no", "--dir", d,
                          "--enable-debug-command", "yes"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if os.path.exists(sock):
            break
        time.sleep(0.05)
    subprocess.run(["redis-cli", "-s", sock, "DEBUG", "POPULATE", str(keys)],
                   check=True, stdout=subprocess.DEVNULL)

    def stop():
        p.kill()
        p.wait()
        shutil.rmtree(d, ignore_errors=True)
    return p, p.pid, stop


def stored_bytes(img):
    """(data bytes, stored bytes) as pgclone show reports them."""
    import json
    r = subprocess.run([PGCLONE, "show", "--json", img], capture_output=True,
                       text=True, check=True)
    h = json.loads(r.stdout)["header"]
    return h["data_len"], h.get("data_stored", h["data_len"])


def restore_into(cmd_in, start, size, want=None):
    """Seconds to restore into a fresh victim at DST; checks the bytes
    against @want (a digest) when given."""
    v = Victim()
    try:
        t = sh(cmd_in.format(pid=v.pid, dst=f"{DST:#x}"))
        if want:
            assert digest(v.pid, DST, size) == want, "restored bytes differ"
        return t
    finally:
        v.kill()


def bench(name, pid, runs, levels, sshd):
    start, end, what = largest_rw_private(pid)
    size = end - start
    want = digest(pid, start, size)
    rows = []
    for level in [None] + levels:
        opt = "" if level is None else f"--compress={level}"
        dump = f"{PGCLONE} dump -q --pid {pid} --src {start:#x} --len {size:#x} {opt}"
        res = {"dump": [], "restore": [], "pipe": [], "ssh": []}
        if level is None:
            res["ssh_zlib"] = []
        for i in range(runs):
            res["dump"].append(sh(f"{dump} -o {IMG}"))
            res["restore"].append(restore_into(
                f"{PGCLONE} restore -q --pid {{pid}} -i {IMG} --dst {{dst}}", start,
                size, want if i == 0 else None))
            res["pipe"].append(restore_into(
                f"{dump} -o - | {PGCLONE} restore -q --pid {{pid}} -i - --dst {{dst}}",
                start, size, want if i == 0 else None))
            for col, zlib in (("ssh", "no"), ("ssh_zlib", "yes")):
                if col in res:
                    res[col].append(restore_into(
                        f"{dump} -o - | {sshd.command('Compression=' + zlib)} {PGCLONE} "
                        f"restore -q --pid {{pid}} -i - --dst {{dst}}",
                        start, size, want if i == 0 else None))
        data, stored = stored_bytes(IMG)
        yard = None
        if level is not None and shutil.which("zstd"):
            sh(f"{PGCLONE} dump -q --pid {pid} --src {start:#x} --len {size:#x} -o {IMG}.raw")
            yard = min(sh(f"zstd -q -f -T1 -{level} {'--fast=' + str(-level) if level < 0 else ''}"
                          f" -c {IMG}.raw > {IMG}.zst") for _ in range(runs))
            os.unlink(f"{IMG}.raw")
            os.unlink(f"{IMG}.zst")
        os.unlink(IMG)
        rows.append((level, data, stored, {k: min(v) for k, v in res.items()}, yard))
    mib = size / (1 << 20)
    print(f"\n{name}: {what} mapping, {mib:.0f} MiB, {rows[0][1] / (1 << 20):.0f} MiB of data")
    print("| source | compression | stored | ratio | dump to tmpfs | restore from tmpfs "
          "| dump \\| restore, pipe | dump \\| ssh restore | zstd -T1, same level |")
    print("|---|---|---|---|---|---|---|---|---|")
    for level, data, stored, t, yard in rows:
        def rate(s):
            return f"{s:.3f} s ({data / s / (1 << 20):.0f} MiB/s)"
        print(f"| {name} | {'none' if level is None else f'zstd {level}'} "
              f"| {stored / (1 << 20):.1f} MiB | {data / stored:.2f} | {rate(t['dump'])} "
              f"| {rate(t['restore'])} | {rate(t['pipe'])} | {rate(t['ssh'])} "
              f"| {rate(yard) if yard else '-'} |", flush=True)
    t = rows[0][3]
    print(f"# {name}, stored as it is, through ssh -o Compression=yes (zlib): "
          f"{t['ssh_zlib']:.3f} s ({rows[0][1] / t['ssh_zlib'] / (1 << 20):.0f} MiB/s)",
          flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--levels", default="1,3")
    ap.add_argument("--entries", type=int, default=2000000)
    ap.add_argument("--keys", type=int, default=1000000)
    a = ap.parse_args()
    need_built(PGCLONE)
    need_command("python3", "python3")
    levels = [int(x) for x in a.levels.split(",")]
    header(f"bench_compress: best of {a.runs}, levels {levels}, /dev/shm")
    sources = [("python3", lambda: start_python(a.entries))]
    if shutil.which("redis-server") and shutil.which("redis-cli"):
        sources.append(("redis-server", lambda: start_redis(a.keys)))
    else:
        print("redis-server: skipped (apt-get install redis-server)")
    work = tempfile.mkdtemp(prefix="pgclone-bench-z-")
    sshd = Sshd(work)
    try:
        # the floor under every ssh row: connecting, key exchange, the shell
        floor = min(sh(f"{sshd.command('Compression=no')} true") for _ in range(a.runs))
        print(f"# ssh -o Compression=no ... true on 127.0.0.1: {floor:.3f} s", flush=True)
        for name, start in sources:
            _, pid, stop = start()
            try:
                bench(name, pid, a.runs, levels, sshd)
            finally:
                stop()
    finally:
        sshd.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
