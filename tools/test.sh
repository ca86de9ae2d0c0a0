#!/usr/bin/env bash
# The whole pgclone test suite, as CI runs it.  Needs root (ptrace other
# users' processes, drop to nobody, apt-get).  Stages:
#   1. build with -Werror and run every ctest (unit + integration)
#   2. the same suite on what users and packagers build, each with -Werror:
#      gcc Release (-O3), clang-14 Release, and Debian's dpkg-buildflags
#      (checked to reach every compile and link command and the binaries)
#   3. the same suite built with ASan + UBSan
#   4. every libFuzzer target for a bounded time (PGCLONE_FUZZ_SECONDS)
#   5. the Debian packages: build, lintian, install, use (tools/deb.sh)
#   6. the kernel series: build, boot under QEMU, in-guest tests
# Set PGCLONE_SKIP_KERNEL=1 to skip stage 6 during development only.
# Each stage prints PASS or FAIL with its time in seconds.
set -uo pipefail
cd "$(dirname "$0")/.."

passed=0
failed=0
failures=()
stage() {
	local name=$1
	shift
	local t0=$SECONDS
	echo "=== $name"
	if "$@"; then
		passed=$((passed + 1))
		echo "=== $name: PASS ($((SECONDS - t0)) s)"
	else
		failed=$((failed + 1))
		failures+=("$name")
		echo "=== $name: FAIL ($((SECONDS - t0)) s)"
	fi
}

with_kernel=
[[ -f kernel/run-tests.sh && ${PGCLONE_SKIP_KERNEL:-0} != 1 ]] && with_kernel=--kernel
tools/install-deps.sh $with_kernel --deb || exit 1

suite() {
	local dir=$1
	shift
	cmake -S . -B "$dir" -DPGCLONE_WERROR=ON -DPGCLONE_FAULT_POINTS=ON "$@" >/dev/null &&
		cmake --build "$dir" -j"$(nproc)" >/dev/null &&
		ctest --test-dir "$dir" --output-on-failure -j1
}

# The flags debian/rules builds the packages with (keep the two alike).
debian_flags() {
	DEB_BUILD_MAINT_OPTIONS=hardening=+all DEB_CFLAGS_MAINT_APPEND=-fcf-protection \
		dpkg-buildflags --get "$1"
}
# CMake reads CFLAGS and LDFLAGS only when a build directory is first
# configured, and CPPFLAGS never: pass them explicitly, as dh does.
debian_suite() {
	local dir=$1 ldflags
	ldflags=$(debian_flags LDFLAGS)
	suite "$dir" -DCMAKE_BUILD_TYPE=None -DCMAKE_EXPORT_COMPILE_COMMANDS=ON \
		-DCMAKE_C_FLAGS="$(debian_flags CFLAGS) $(debian_flags CPPFLAGS)" \
		-DCMAKE_EXE_LINKER_FLAGS="$ldflags" -DCMAKE_SHARED_LINKER_FLAGS="$ldflags" &&
		tools/check-hardening.sh "$dir" "$dir/cmd/pgclone" "$dir/lib/libpgclone.so.0"
}

stage "unit + integration" suite build
stage "unit + integration, gcc Release (-O3)" suite build-release -DCMAKE_BUILD_TYPE=Release
stage "unit + integration, clang-14 Release (-O3)" suite build-clang \
	-DCMAKE_C_COMPILER=clang-14 -DCMAKE_BUILD_TYPE=Release
stage "unit + integration, Debian's build flags" debian_suite build-debflags
stage "unit + integration under ASan+UBSan" env \
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	bash -c "$(declare -f suite); suite build-asan -DPGCLONE_SANITIZE=ON"
if [[ -x test/fuzz/run.sh ]]; then
	stage "fuzzers (${PGCLONE_FUZZ_SECONDS:-30}s each)" test/fuzz/run.sh "${PGCLONE_FUZZ_SECONDS:-30}"
fi
stage "Debian packages: build, lintian, install, use" tools/deb.sh
if [[ -n $with_kernel ]]; then
	stage "kernel: process_vm_mmap in a QEMU guest" bash kernel/run-tests.sh
fi

echo
for f in "${failures[@]}"; do
	echo "failed stage: $f"
done
echo "stages: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
