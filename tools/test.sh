#!/usr/bin/env bash
# The whole pgclone test suite, as CI runs it.  Needs root (ptrace other
# users' processes, drop to nobody, apt-get).  Stages:
#   1. build with -Werror and run every ctest (unit + integration)
#   2. the same suite built with ASan + UBSan
#   3. every libFuzzer target for a bounded time (PGCLONE_FUZZ_SECONDS)
#   4. the kernel series: build, boot under QEMU, in-guest tests
# Set PGCLONE_SKIP_KERNEL=1 to skip stage 4 during development only.
set -uo pipefail
cd "$(dirname "$0")/.."

passed=0
failed=0
failures=()
stage() {
	local name=$1
	shift
	echo "=== $name"
	if "$@"; then
		passed=$((passed + 1))
		echo "=== $name: PASS"
	else
		failed=$((failed + 1))
		failures+=("$name")
		echo "=== $name: FAIL"
	fi
}

with_kernel=
[[ -f kernel/run-tests.sh && ${PGCLONE_SKIP_KERNEL:-0} != 1 ]] && with_kernel=--kernel
tools/install-deps.sh $with_kernel || exit 1

suite() {
	local dir=$1
	shift
	cmake -S . -B "$dir" -DPGCLONE_WERROR=ON -DPGCLONE_FAULT_POINTS=ON "$@" >/dev/null &&
		cmake --build "$dir" -j"$(nproc)" >/dev/null &&
		ctest --test-dir "$dir" --output-on-failure -j1
}

stage "unit + integration" suite build
stage "unit + integration under ASan+UBSan" env \
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	bash -c "$(declare -f suite); suite build-asan -DPGCLONE_SANITIZE=ON"
if [[ -x test/fuzz/run.sh ]]; then
	stage "fuzzers (${PGCLONE_FUZZ_SECONDS:-30}s each)" test/fuzz/run.sh "${PGCLONE_FUZZ_SECONDS:-30}"
fi
if [[ -n $with_kernel ]]; then
	stage "kernel: process_vm_mmap in a QEMU guest" bash kernel/run-tests.sh
fi

echo
for f in "${failures[@]}"; do
	echo "failed stage: $f"
done
echo "stages: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
