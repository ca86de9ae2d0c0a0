#!/usr/bin/env bash
# Build the guest's initramfs: /init (kernel/selftests/guest_init.c) and
# static builds of pgclone and the test victim, plus any extra files given
# as arguments (copied to /bin).  Prints the path of the cpio.gz.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/build/initramfs
static=$top/build/static
rm -rf "$out"
mkdir -p "$out/root/bin"
cmake -S "$top" -B "$static" -DPGCLONE_STATIC_CLI=ON -DPGCLONE_FAULT_POINTS=ON \
	-DPGCLONE_WERROR=ON >/dev/null
cmake --build "$static" -j"$(nproc)" --target pgclone_cli pgclone-victim >/dev/null
cp "$static/cmd/pgclone" "$static/test/integration/pgclone-victim" "$out/root/bin/"
gcc -static -O2 -Wall -Wextra -Werror -Wno-unused-parameter \
	-o "$out/root/init" "$top/kernel/selftests/guest_init.c"
gcc -static -O2 -Wall -Wextra -Werror -o "$out/root/bin/pvm_bench" "$top/bench/pvm_bench.c"
# The series' own kselftests, from the patched tree kernel/build.sh made
if [[ -n ${PGCLONE_KERNEL_TREE:-} ]]; then
	st=$PGCLONE_KERNEL_TREE/tools/testing/selftests
	for c in "$st"/mm/process_vm_mmap*.c; do
		[[ -f $c ]] || continue
		n=$(basename "$c" .c)
		gcc -static -O2 -Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare -Wno-clobbered \
			-pthread -I"$st" -o "$out/root/bin/kselftest-$n" "$c"
	done
fi
for f in "$@"; do
	cp "$f" "$out/root/bin/"
done
(cd "$out/root" && find . | cpio -o -H newc --quiet | gzip -1 > "$out/initramfs.cpio.gz")
echo "$out/initramfs.cpio.gz"
