# SPDX-License-Identifier: GPL-2.0-or-later
"""Compressed images (dump --compress): exact round trips through a file
and a pipe, and every way a compressed data area can lie refused with one
line and the destination left exactly as it was -- including by a reader
that predates compression."""
import os
import shutil
import struct
import subprocess
import tempfile
import unittest

from harness import PAGE, PGCLONE, Snapshot, VictimTest, run, run_json
from test_image import reseal_header

MIB = 1 << 20
# the last commit before compression: its reader must refuse a compressed image
OLD_READER_COMMIT = "9d1fe04"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def text(n):
    """Compressible bytes with no zero page in them."""
    line = b"pgclone compresses each extent of an image with zstd; "
    return (line * (n // len(line) + 1))[:n]


def poke(victim, addr, data):
    with open(f"/proc/{victim.pid}/mem", "r+b") as f:
        f.seek(addr)
        f.write(data)


def zstd_frame(data):
    """A zstd frame of @data that declares its size (the zstd CLI does
    for a file), or None without the zstd program."""
    if not shutil.which("zstd"):
        return None
    with tempfile.NamedTemporaryFile() as f:
        f.write(data)
        f.flush()
        return subprocess.run(["zstd", "-q", "-c", "--no-check", f.name],
                              capture_output=True, check=True).stdout


def frame_header(frame):
    """(bytes of @frame's header, of its window and dictionary fields)."""
    fhd = frame[4]
    fcs = {0: 1 if fhd & 0x20 else 0, 1: 2, 2: 4, 3: 8}[fhd >> 6]
    wd = 0 if fhd & 0x20 else 1
    did = {0: 0, 1: 1, 2: 2, 3: 4}[fhd & 3]
    return 5 + wd + did + fcs, wd + did


def huge_frame(frame, size):
    """@frame with its content size field rewritten as an 8-byte @size."""
    head, keep = frame_header(frame)
    return (frame[:4] + bytes([(frame[4] & 0x3F) | 0xC0]) + frame[5:5 + keep] +
            struct.pack("<Q", size) + frame[head:])


def blocks(img):
    """[(offset of the block header, raw_len, stored_len)] of a compressed
    image's data area (pgclone-image(5)), as far as the data goes."""
    data_off = struct.unpack_from("<Q", img, 40)[0]
    data_len = struct.unpack_from("<Q", img, 48)[0]
    out, at, raw = [], data_off, 0
    while raw < data_len:
        r, s = struct.unpack_from("<II", img, at)
        out.append((at, r, s))
        at += 8 + s
        raw += r
    return out


def with_block(img, b, payload, raw_len=None):
    """@img with block @b replaced by @payload (and its raw_len changed)."""
    at, r, s = b
    hdr = struct.pack("<II", r if raw_len is None else raw_len, len(payload))
    return img[:at] + hdr + payload + img[at + 8 + s:]


def old_reader():
    """pgclone as of OLD_READER_COMMIT, built once beside this build, or
    None (and why) where that cannot be done (no git history)."""
    build = os.path.join(os.path.dirname(os.path.abspath(PGCLONE)), "..",
                         f"old-reader-{OLD_READER_COMMIT}")
    exe = os.path.join(build, "build", "cmd", "pgclone")
    if os.path.exists(exe):
        return exe, None
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    tmp = build + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    arch = subprocess.run(f"git -C {src} archive {OLD_READER_COMMIT} | tar -x -C {tmp}",
                          shell=True, capture_output=True, text=True)
    if arch.returncode:
        shutil.rmtree(tmp, ignore_errors=True)
        return None, f"no git history to build {OLD_READER_COMMIT}: {arch.stderr.strip()}"
    for argv in (["cmake", "-S", tmp, "-B", os.path.join(tmp, "build"),
                  "-DBUILD_TESTING=OFF"],
                 ["cmake", "--build", os.path.join(tmp, "build"), "-j2",
                  "--target", "pgclone_cli"]):
        subprocess.run(argv, capture_output=True, check=True)
    os.rename(tmp, build)
    return exe, None


class Compressed(VictimTest):
    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="pgclone-zstd-")
        self.addCleanup(lambda: shutil.rmtree(self.dir, ignore_errors=True))

    def path(self, name="img"):
        return os.path.join(self.dir, name)

    def source(self, data):
        """A victim holding @data in an anonymous mapping of its own."""
        a = self.victim()
        addr = a.addr(f"anon {len(data):#x} 3")
        poke(a, addr, data)
        return a, addr

    def assert_exact(self, a, addr, b, dst, want):
        """Both processes hold @want: the source untouched by the dump."""
        self.assertEqual(a.read(addr, len(want)), want)
        self.assertEqual(b.read(dst, len(want)), want)
        self.assertEqual(b.sum(dst, len(want)), a.sum(addr, len(want)))
        self.assertEqual(b.vma_at(dst)["perms"], "rw-p")

    def test_pipe_round_trip_is_exact(self):
        want = text(6 * MIB) + os.urandom(2 * MIB)
        a, addr = self.source(want)
        b = self.victim()
        dst = self.free_addr(a, b)
        p = subprocess.run(f"{PGCLONE} dump --pid {a.pid} --src {addr:#x} --len {len(want):#x} "
                           f"--compress -o - | "
                           f"{PGCLONE} restore --pid {b.pid} -i - --dst {dst:#x}",
                           shell=True, capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assert_exact(a, addr, b, dst, want)

    def test_file_round_trip_compressible_and_not(self):
        for name, want, least in (("text", text(8 * MIB), 20.0),
                                  ("random", os.urandom(8 * MIB), None)):
            with self.subTest(data=name):
                a, addr = self.source(want)
                b = self.victim()
                img = self.path(name)
                # --len: the kernel may have merged a neighbour into the mapping
                run("dump", "--pid", a.pid, "--src", hex(addr), "--len", hex(len(want)),
                    "--compress=5", "-o", img, check=0)
                info = run_json("show", img)["header"]
                self.assertEqual(info["incompat"], "0x1")
                self.assertEqual((info["compression"], info["level"]), ("zstd", 5))
                self.assertEqual(info["data_len"], len(want))
                ratio = info["data_len"] / info["data_stored"]
                if least:
                    self.assertGreater(ratio, least)
                else:		# stored as it is: 8 bytes a block more
                    self.assertLess(info["data_stored"], len(want) + 8 * 64)
                self.assertEqual(os.path.getsize(img), info["data_off"] +
                                 info["data_stored"] + 8 + 8 + 4 + 4)
                shown = run("show", img, check=0).stdout
                self.assertIn("compressed (zstd, level 5)", shown)
                self.assertIn(f"ratio {ratio:.2f}", shown)
                v = run("verify", img, check=0).stdout
                self.assertIn("every checksum matches", v)
                self.assertIn(f"ratio {ratio:.2f}", v)
                dst = self.free_addr(a, b)
                run("restore", "--pid", b.pid, "-i", img, "--dst", hex(dst), check=0)
                self.assert_exact(a, addr, b, dst, want)

    def test_sparse_and_zero_pages_with_compression(self):
        """Extents of one page each, and zero pages: each block stays in
        its extent."""
        a, b = self.victim(), self.victim()
        addr = a.addr(f"sparse {16 * MIB:#x} {MIB:#x}")
        img = self.path()
        run("dump", "--pid", a.pid, "--src", hex(addr), "--len", "16M", "--compress",
            "-o", img, check=0)
        self.assertEqual(run_json("show", img)["pages_data"], 16)
        dst = self.free_addr(a, b)
        run("restore", "--pid", b.pid, "-i", img, "--dst", hex(dst), check=0)
        self.assertEqual(b.sum(dst, 16 * MIB), a.sum(addr, 16 * MIB))
        self.assertEqual(b.present(dst, 4096), a.present(addr, 4096))

    def test_compression_threads(self):
        """--compress-threads: the same format, restored exactly; the
        data area the same bytes for 2 and 4 threads (zstd's workers make
        the same frames whatever their number), so the checksums are."""
        want = text(12 * MIB) + os.urandom(4 * MIB)
        a, addr = self.source(want)
        areas = []
        for n in ("2", "4"):
            img = self.path(f"t{n}")
            run("dump", "--pid", a.pid, "--src", hex(addr), "--len", hex(len(want)),
                "--compress=1", "--compress-threads", n, "-o", img, check=0)
            h = run_json("show", img)["header"]
            self.assertEqual((h["compression"], h["level"]), ("zstd", 1))
            self.assertLess(h["data_stored"], 5 * MIB)
            with open(img, "rb") as f:
                areas.append(f.read()[h["data_off"]:h["data_off"] + h["data_stored"]])
            self.assertIn("every checksum matches", run("verify", img, check=0).stdout)
            b = self.victim()
            dst = self.free_addr(a, b)
            run("restore", "--pid", b.pid, "-i", img, "--dst", hex(dst), check=0)
            self.assert_exact(a, addr, b, dst, want)
        self.assertEqual(areas[0], areas[1])
        for args, needle in ((("--compress-threads", "2"), "only with --compress"),
                             (("--compress", "--compress-threads", "0"), "from 1 to 64"),
                             (("--compress", "--compress-threads", "65"), "from 1 to 64")):
            with self.subTest(args=args):
                r = run("dump", "--pid", a.pid, "--src", hex(addr), *args, "-o",
                        self.path("never"))
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
                self.assertIn(needle, r.stderr)
                self.assertFalse(os.path.exists(self.path("never")))

    def test_level_out_of_range_is_one_line(self):
        a, addr = self.source(text(PAGE))
        for arg, needle in (("--compress=23", "out of zstd's range"),
                            ("--compress=-200000", "out of zstd's range"),
                            ("--compress=x", "whole number"),
                            ("--compress=0", "give a level")):
            with self.subTest(arg=arg):
                img = self.path("never")
                r = run("dump", "--pid", a.pid, "--src", hex(addr), arg, "-o", img)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
                self.assertIn(needle, r.stderr)
                self.assertFalse(os.path.exists(img))
                self.assertEqual(os.listdir(self.dir), [])
        r = run("restore", "--pid", a.pid, "-i", "-", "--compress")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("does not apply to 'restore'", r.stderr)

    def broken(self, good):
        """{name: (image, needle)}: a compressed 2-page image broken."""
        bl = blocks(good)
        at, r, s = bl[0]
        self.assertLess(s, r, "the first block must be a zstd frame")
        frame = good[at + 8:at + 8 + s]
        self.assertEqual(frame[:4], ZSTD_MAGIC)
        mid = at + 8 + s // 2
        # the top bits of the size in the frame's first block header, and
        # what follows it (libzstd 1.5.4 calls that "Data corruption")
        bsz = at + 8 + frame_header(frame)[0] + 2
        lit = bsz + 2

        def header(off, fmt, value):
            img = bytearray(good)
            struct.pack_into(fmt, img, off, value)
            return reseal_header(bytes(img))

        cases = {
            "truncated stream": (good[:mid], "truncated"),
            "truncated block header": (good[:at + 4], "truncated"),
            "corrupted frame": (good[:mid] + bytes([good[mid] ^ 0x55]) + good[mid + 1:],
                                "image data extent 0"),
            "corrupted block size": (good[:bsz] + bytes([good[bsz] ^ 0xF0]) + good[bsz + 1:],
                                     "zstd frame"),
            "corrupted literals": (good[:lit] + bytes([good[lit] ^ 0xF0]) + good[lit + 1:],
                                   "image data extent 0"),
            "not a frame": (with_block(good, bl[0], b"\0" * (s)), "not a zstd frame"),
            "block past its extent": (with_block(good, bl[0], frame, raw_len=r + PAGE),
                                      "does not fit"),
            "block stores more than it holds": (
                good[:at] + struct.pack("<II", r, r + 1) + good[at + 8:], "stores"),
            "unknown feature bit": (header(24, "<I", 0x80000001),
                                    "unknown incompatible features 0x80000000"),
            "bit without codec": (header(24, "<I", 0), "disagree on compression"),
        }
        more = zstd_frame(text(r + 4 * PAGE))
        if more:
            # a frame that inflates past its block (and so past its extent)
            cases["frame inflates past its extent"] = (
                with_block(good, bl[0], more), f"would inflate to {r + 4 * PAGE} bytes")
            cases["frame declares a huge size"] = (
                with_block(good, bl[0], huge_frame(more, 1 << 40)),
                f"would inflate to {1 << 40} bytes")
        return cases

    def test_broken_compressed_images(self):
        a, addr = self.source(text(2 * PAGE))
        b = self.victim()
        dst = self.free_addr(a, b)
        good_path = self.path("good")
        run("dump", "--pid", a.pid, "--src", hex(addr), "--len", hex(2 * PAGE),
            "--compress", "-o", good_path, check=0)
        with open(good_path, "rb") as f:
            good = f.read()
        # its maps (nothing at dst) and the bytes of a mapping of its own
        mine = b.addr(f"anon {PAGE:#x} 1")
        snap = Snapshot(b, [(mine, PAGE)])
        cases = self.broken(good)
        if "frame inflates past its extent" not in cases:
            self.skipTest("the zstd program is needed to craft frames")
        for name, (img, needle) in cases.items():
            with self.subTest(case=name):
                p = self.path("bad")
                with open(p, "wb") as f:
                    f.write(img)
                for how in ("file", "pipe", "verify"):
                    if how == "file":
                        r = run("restore", "--pid", b.pid, "-i", p, "--dst", hex(dst))
                    elif how == "pipe":
                        r = subprocess.run(f"{PGCLONE} restore --pid {b.pid} -i - "
                                           f"--dst {dst:#x} < {p}", shell=True,
                                           capture_output=True, text=True)
                    else:
                        r = run("verify", p)
                    self.assertEqual(r.returncode, 2, (how, r.stderr))
                    lines = r.stderr.strip().splitlines()
                    self.assertEqual(len(lines), 1, (how, r.stderr))
                    self.assertIn(needle, lines[0], how)
                    snap.assert_unchanged(self)
        run("restore", "--pid", b.pid, "-i", good_path, "--dst", hex(dst), check=0)
        self.assertEqual(b.read(dst, 2 * PAGE), text(2 * PAGE))

    def test_old_reader_refuses_compressed_image(self):
        old, why = old_reader()
        if not old:
            self.skipTest(why)
        a, addr = self.source(text(4 * PAGE))
        b = self.victim()
        img = self.path()
        run("dump", "--pid", a.pid, "--src", hex(addr), "--len", hex(4 * PAGE),
            "--compress", "-o", img, check=0)
        snap = Snapshot(b)
        dst = self.free_addr(a, b)
        for argv in ([old, "restore", "--pid", str(b.pid), "-i", img, "--dst", hex(dst)],
                     [old, "verify", img], [old, "show", img]):
            with self.subTest(cmd=argv[1]):
                r = subprocess.run(argv, capture_output=True, text=True)
                self.assertEqual(r.returncode, 2, r.stderr)
                lines = r.stderr.strip().splitlines()
                self.assertEqual(len(lines), 1, r.stderr)
                self.assertIn("unknown incompatible features 0x1", lines[0])
                snap.assert_unchanged(self)


if __name__ == "__main__":
    unittest.main()
