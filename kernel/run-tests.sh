#!/usr/bin/env bash
# Build the guest kernel (cached), the initramfs, boot it under QEMU and
# judge the serial log.  Ends with "N passed, N failed" from the guest.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/tools/need.sh"
need_kernel build guest || { echo "0 passed, 1 failed"; exit 1; }
kernel=$(bash "$top/kernel/build.sh") || { echo "0 passed, 1 failed"; exit 1; }
initrd=$(PGCLONE_GUEST_PYTHON=1 PGCLONE_KERNEL_TREE=${kernel%/arch/x86/boot/bzImage} bash "$top/kernel/mkinitramfs.sh") ||
	{ echo "0 passed, 1 failed"; exit 1; }
log=$top/build/initramfs/serial.log
start=$(date +%s.%N)
bash "$top/kernel/boot.sh" "$kernel" "$initrd" "$log" | tee "$log.verdict"
rc=${PIPESTATUS[0]}
awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "guest boot and tests: %.1f s\n", e - s }'
# the guest's own count, alone on the last line
tr -d '\r' <"$log" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -1 ||
	echo "0 passed, 1 failed"
exit "$rc"
