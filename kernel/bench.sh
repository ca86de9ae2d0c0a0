#!/usr/bin/env bash
# The guest benchmark of process_vm_mmap(2) (not a test): boots the
# patched kernel with pgclone.bench=MIB and prints the BENCH lines of
# bench/pvm_bench.c: fork() vs process_vm_mmap() vs the copy engine,
# 4 KiB pages and THP, measured side by side in one boot; with "move",
# the BENCH-MOVE lines of bench/move_bench.c: PVM_MMAP_MOVE beside
# UFFDIO_MOVE, mremap(), a copy, fork(), a memfd and vmsplice(); with
# "snapshot", bench/bench_snapshot.py with both snapshot engines.
#   kernel/bench.sh [move|snapshot] [MIB]  (default 1024; the guest gets 4 GiB)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/tools/need.sh"
need_kernel build guest || exit 1
what=
if [[ ${1:-} == move || ${1:-} == snapshot ]]; then
	what=$1:
	shift
fi
# the snapshot benchmark is a Python script: the guest needs python3
[[ $what == snapshot: ]] && export PGCLONE_GUEST_PYTHON=1
mib=${1:-1024}
kernel=$(bash "$top/kernel/build.sh")
initrd=$(PGCLONE_KERNEL_TREE=${kernel%/arch/x86/boot/bzImage} bash "$top/kernel/mkinitramfs.sh")
log=$top/build/initramfs/bench.log
echo "kernel/bench.sh: $(nproc) host CPUs, guest: TCG, 2 vCPU, 4 GiB; $(date -u +%F)" >&2
timeout 3600 qemu-system-x86_64 -accel tcg -cpu max -m 4G -smp 2 -nographic -no-reboot \
	-kernel "$kernel" -initrd "$initrd" \
	-append "console=ttyS0 panic=-1 quiet loglevel=5 transparent_hugepage=madvise pgclone.bench=$what$mib" \
	</dev/null >"$log" 2>&1 || true
tr -d '\r' <"$log" | grep -E '^BENCH|pvm_bench|move_bench|bench_snapshot|^case|^dump|^snapshot|^fork|^#|WARNING|BUG' || true
grep -q '^BENCH-DONE' "$log"
