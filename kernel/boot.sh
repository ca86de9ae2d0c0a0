#!/usr/bin/env bash
# Boot BZIMAGE with INITRAMFS under QEMU (TCG: these machines have no
# usable KVM) and decide from the serial log.  QEMU exits 0 even after a
# kernel panic, so its exit status says nothing: the guest passes only if
# the log holds the final pass line, no "not ok", and no kernel report of
# any kind (panic, BUG, WARNING, bad page, lockdep).
#   kernel/boot.sh BZIMAGE INITRAMFS [LOG]
set -uo pipefail
. "$(cd "$(dirname "$0")/.." && pwd)/tools/need.sh"
need_kernel guest || exit 1
kernel=$1 initrd=$2
log=${3:-$(dirname "$initrd")/serial.log}
timeout_s=${PGCLONE_BOOT_TIMEOUT:-1200}

timeout "$timeout_s" qemu-system-x86_64 -accel tcg -cpu max -m 2G -smp 2 \
	-nographic -no-reboot -kernel "$kernel" -initrd "$initrd" \
	-append "console=ttyS0 panic=-1 quiet loglevel=5 transparent_hugepage=madvise numa=fake=2 no_timer_check memmap=64M%0x40000000-1+0xefffffff" \
	</dev/null >"$log" 2>&1
qemu_rc=$?
tr -d '\r' <"$log"

bad=$(grep -nE 'Kernel panic|BUG:|WARNING:|Bad page|possible circular locking|possible recursive locking|INFO: (task|lockdep)|Oops|general protection fault|UBSAN|KASAN|page_table_check' "$log" | head -5)
if [[ $qemu_rc == 124 ]]; then
	echo "boot.sh: FAIL: the guest did not power off within ${timeout_s}s"
	exit 1
fi
if [[ -n $bad ]]; then
	echo "boot.sh: FAIL: the kernel reported a problem:"
	echo "$bad"
	exit 1
fi
if grep -q '^not ok' "$log" || ! grep -q '^ALL-TESTS-PASSED' "$log"; then
	echo "boot.sh: FAIL: in-guest tests failed or never finished"
	exit 1
fi
echo "boot.sh: PASS"
