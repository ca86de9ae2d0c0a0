#!/usr/bin/env bash
# Build the guest's initramfs: /init (kernel/selftests/guest_init.c) and
# static builds of pgclone and the test victim, plus any extra files given
# as arguments (copied to /bin).  Prints the path of the cpio.gz.
set -euo pipefail
. "$(cd "$(dirname "$0")/.." && pwd)/tools/need.sh"
need_kernel guest
top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/build/initramfs
static=$top/build/static
rm -rf "$out"
mkdir -p "$out/root/bin"
cmake -S "$top" -B "$static" -DPGCLONE_STATIC_CLI=ON -DPGCLONE_FAULT_POINTS=ON \
	-DPGCLONE_WERROR=ON >/dev/null
cmake --build "$static" -j"$(nproc)" --target pgclone_cli pgclone-victim pgclone-kvcache >/dev/null
cp "$static/cmd/pgclone" "$static/test/integration/pgclone-victim" \
	"$static/examples/pgclone-kvcache" "$out/root/bin/"
gcc -static -O2 -Wall -Wextra -Werror -Wno-unused-parameter \
	-I"$top/include" -o "$out/root/init" "$top/kernel/selftests/guest_init.c"
gcc -static -O2 -Wall -Wextra -Werror -I"$top/include" -o "$out/root/bin/pvm_bench" "$top/bench/pvm_bench.c"
gcc -static -O2 -Wall -Wextra -Werror -I"$top/include" -o "$out/root/bin/move_bench" "$top/bench/move_bench.c"
gcc -static -O2 -Wall -Wextra -Werror -pthread -o "$out/root/bin/stallvictim" "$top/bench/stallvictim.c"
# The series' own kselftests, from the patched tree kernel/build.sh made
if [[ -n ${PGCLONE_KERNEL_TREE:-} ]]; then
	st=$PGCLONE_KERNEL_TREE/tools/testing/selftests
	for c in "$st"/mm/process_vm_mmap*.c; do
		[[ -f $c && $c != *_32.c ]] || continue
		n=$(basename "$c" .c)
		gcc -static -O2 -Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare -Wno-clobbered \
			-pthread -I"$st" -o "$out/root/bin/kselftest-$n" "$c"
	done
	# the 32-bit destination of the compat test, beside the tests
	peer=$st/mm/process_vm_mmap_peer_32.c
	if [[ -f $peer ]]; then
		gcc -m32 -static -nostdlib -ffreestanding -fno-pic -O2 -Wall -Werror \
			-o "$out/root/bin/process_vm_mmap_peer_32" "$peer"
	fi
fi
# The host integration suite (Python) runs in the guest too, once per
# engine: Debian's python3 with its standard library and the tools the
# tests call, each with the shared libraries it needs.
add_binary() {
	local bin lib
	bin=$(readlink -f "$(type -P "$1")") || return 1
	mkdir -p "$out/root$(dirname "$bin")"
	cp -n "$bin" "$out/root$bin"
	[[ $(type -P "$1") == "$bin" ]] ||
		{ mkdir -p "$out/root$(dirname "$(type -P "$1")")"; ln -sf "$bin" "$out/root$(type -P "$1")"; }
	for lib in $(ldd "$bin" 2>/dev/null | grep -o '/[^ ]*'); do
		mkdir -p "$out/root$(dirname "$lib")"
		cp -nL "$lib" "$out/root$lib"
	done
}
if [[ ${PGCLONE_GUEST_PYTHON:-0} == 1 ]]; then
	py=/usr/bin/python3
	[[ -x $py ]] || { echo "mkinitramfs.sh: $py missing" >&2; exit 1; }
	add_binary $py
	pylib=$($py -c 'import sysconfig; print(sysconfig.get_path("stdlib"))')
	mkdir -p "$out/root$pylib"
	(cd "$pylib" && tar cf - --exclude=test --exclude=idlelib --exclude=tkinter \
		--exclude=ensurepip --exclude=lib2to3 --exclude=pydoc_data --exclude='config-*' \
		--exclude=__pycache__ --exclude=site-packages --exclude=dist-packages .) |
		tar xf - -C "$out/root$pylib"
	for t in strace setpriv setcap script rm true sh cat dd; do
		add_binary "$t"
	done
	ln -sf "$(readlink -f "$(type -P sh)")" "$out/root/bin/sh"	# subprocess's shell
	mkdir -p "$out/root/tests" "$out/root/etc"
	cp "$top"/test/integration/*.py "$out/root/tests/"
	cp "$top/tools/hot-restart.py" "$out/root/tests/"
	# the benchmarks a guest runs (kernel/bench.sh snapshot), with the
	# harness their victims come from
	mkdir -p "$out/root/bench"
	cp "$top"/bench/*.py "$top/test/integration/harness.py" "$out/root/bench/"
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
		>"$out/root/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$out/root/etc/group"
fi
for f in "$@"; do
	cp "$f" "$out/root/bin/"
done
(cd "$out/root" && find . | cpio -o -H newc --quiet | gzip -1 > "$out/initramfs.cpio.gz")
echo "$out/initramfs.cpio.gz"
