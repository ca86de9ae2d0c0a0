#!/usr/bin/env bash
# Build every libFuzzer target with clang-14 + ASan/UBSan in build-fuzz/
# and run each for SECONDS (default 30) on a copy of its seed corpus.
# Exits non-zero on any crash, leak, hang or sanitizer report.
set -uo pipefail
secs=${1:-30}
cd "$(dirname "$0")/../.."
CC=clang-14 cmake -S . -B build-fuzz -DPGCLONE_FUZZ=ON -DPGCLONE_SANITIZE=ON \
	-DBUILD_TESTING=ON >/dev/null || exit 1
cmake --build build-fuzz -j"$(nproc)" --target fuzz_maps fuzz_strutils fuzz_bpf \
	fuzz_status fuzz_image fuzz_wire fuzz_escape fuzz_zstd >/dev/null || exit 1
fail=0
for t in maps strutils bpf status image wire escape zstd; do
	work=$(mktemp -d)
	cp -r "test/fuzz/corpus/fuzz_$t/." "$work/"
	if build-fuzz/test/fuzz/fuzz_$t -max_total_time="$secs" -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 "$work" >"$work.log" 2>&1; then
		echo "fuzz_$t: ok, $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work.log" |
			grep -o '[0-9]*$') runs in ${secs}s, no crash"
	else
		echo "fuzz_$t: FAILED"
		tail -n 30 "$work.log"
		fail=1
	fi
	rm -rf "$work" "$work.log"
done
exit $fail
