#!/usr/bin/env bash
# Check that the series bisects: apply kernel/patches/ one at a time to
# Debian's linux-source-6.12 and build after each, with the guest
# configuration (tinyconfig + kernel/config.fragment, whatever of it the
# prefix already has).  A prefix that adds selftests also compiles them.
# Prints one line per prefix and fails on the first that does not build.
#   kernel/check-bisect.sh [TREE]
# TREE: an unpacked, unpatched linux-source-6.12 to build in (default: a
# fresh one under build/bisect/); it is patched and built in place.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/tools/need.sh"
need_kernel build || exit 1
tarball=${PGCLONE_KERNEL_TARBALL:-/usr/src/linux-source-6.12.tar.xz}
frag=$top/kernel/config.fragment
tree=${1:-}
if [[ -z $tree ]]; then
	[[ -f $tarball ]] || { echo "check-bisect.sh: $tarball missing (apt-get install linux-source-6.12)" >&2; exit 1; }
	rm -rf "$top/build/bisect"
	mkdir -p "$top/build/bisect"
	tar -C "$top/build/bisect" -xf "$tarball"
	tree=$top/build/bisect/linux-source-6.12
fi
cd "$tree"
make -s tinyconfig >/dev/null

n=0
for p in "$top"/kernel/patches/0*.patch; do
	[[ $(basename "$p") == 0000-cover-letter.patch ]] && continue
	n=$((n + 1))
	patch -p1 --quiet --forward <"$p"
	scripts/kconfig/merge_config.sh -n -m .config "$frag" >/dev/null
	make -s olddefconfig >/dev/null
	start=$(date +%s)
	if ! make -s -j"$(nproc)" bzImage >"$top/build/bisect-$n.log" 2>&1; then
		echo "patch $n ($(basename "$p")): bzImage FAILED, see build/bisect-$n.log"
		exit 1
	fi
	what="bzImage ok ($(($(date +%s) - start)) s)"
	# a selftest patch must compile, as its Makefile would build it
	st=tools/testing/selftests
	if grep -q "^+++ b/$st/mm/process_vm_mmap" "$p"; then
		for c in $st/mm/process_vm_mmap*.c; do
			# the 32-bit peer: no libc, as the mm Makefile builds it
			if [[ $c == *_32.c ]]; then
				flags=(-m32 -static -nostdlib -ffreestanding -fno-pic)
			else
				flags=(-pthread -I"$st")
			fi
			gcc -O2 -Wall -Werror -Wno-unused-parameter "${flags[@]}" \
				-o /dev/null "$c" >>"$top/build/bisect-$n.log" 2>&1 || {
				echo "patch $n ($(basename "$p")): $c FAILED to compile"
				exit 1
			}
		done
		what="$what, selftests compile"
	fi
	echo "patch $n ($(basename "$p")): $what"
done
grep -qx "CONFIG_PROCESS_VM_MMAP=y" .config || { echo "check-bisect.sh: PROCESS_VM_MMAP not enabled at the end" >&2; exit 1; }
echo "all $n prefixes build"
