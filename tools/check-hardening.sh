#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Prove that Debian's build flags reached a CMake build, not just its
# cache: every compile command (compile_commands.json) carries the
# hardening flags and ends its -O flags at -O2, every link command
# of an executable or shared library (CMake's link.txt files) carries
# relro and now, and the binaries show it.
#   tools/check-hardening.sh BUILD_DIR ELF...
# The ELF files are checked with hardening-check (devscripts): PIE, stack
# protector, fortified calls, RELRO, BIND_NOW.  -fcf-protection is checked
# on every object file instead: Debian 12's crt1.o/crti.o carry no
# IBT/SHSTK note, so the linker drops it from every bookworm executable
# (/usr/bin/ls has none either) and hardening-check cannot see it there.
set -euo pipefail
dir=$1
shift
fail() { echo "check-hardening: $*" >&2; exit 1; }
command -v hardening-check >/dev/null || fail "hardening-check missing (apt-get install devscripts)"
[[ -f $dir/compile_commands.json ]] ||
	fail "$dir/compile_commands.json missing (configure with -DCMAKE_EXPORT_COMPILE_COMMANDS=ON)"

python3 - "$dir/compile_commands.json" <<'PY'
import json, shlex, sys
want = ["-fstack-protector-strong", "-D_FORTIFY_SOURCE=2", "-fcf-protection",
        "-Wformat", "-Werror=format-security"]
cmds = json.load(open(sys.argv[1]))
bad = 0
for c in cmds:
    argv = shlex.split(c["command"])
    missing = [w for w in want if w not in argv]
    opt = [a for a in argv if a.startswith("-O")]
    if missing or not opt or opt[-1] != "-O2":
        print(f"check-hardening: {c['file']}: missing {missing}, -O flags {opt}")
        bad += 1
if not cmds or bad:
    sys.exit(1)
print(f"check-hardening: {len(cmds)} compile commands, each with -O2 and {' '.join(want)}")
PY

# A tree a test configured inside this one is another build, not built with
# these flags (test_compress.py builds an old pgclone there to show that
# it refuses new images): every directory below $dir holding a
# CMakeCache.txt of its own is left out.
nested=()
while IFS= read -r -d '' c; do
	nested+=(-path "${c%/CMakeCache.txt}" -prune -o)
done < <(find "$dir" -mindepth 2 -name CMakeCache.txt -print0)
own_build() { find "$dir" "${nested[@]}" -name "$1" -print0; }

links=0
while IFS= read -r -d '' t; do
	grep -q -- ' -o ' "$t" || continue	# a static library: ar, not a link
	grep -q -- '-z,relro' "$t" && grep -q -- '-z,now' "$t" || fail "${t#"$dir"/}: no -z,relro -z,now"
	links=$((links + 1))
done < <(own_build link.txt)
((links)) || fail "no link commands under $dir"
echo "check-hardening: $links link commands, each with -z,relro -z,now"

objs=0
while IFS= read -r -d '' o; do
	readelf -n "$o" | grep -q 'x86 feature: IBT, SHSTK' || fail "${o#"$dir"/}: no IBT/SHSTK note (-fcf-protection)"
	objs=$((objs + 1))
done < <(own_build '*.o')
((objs)) || fail "no object files under $dir"
echo "check-hardening: $objs objects, each with the IBT/SHSTK note of -fcf-protection"

for elf in "$@"; do
	hardening-check --nocfprotection "$elf" || fail "$elf: hardening-check failed"
done
