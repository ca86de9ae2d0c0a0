#!/usr/bin/env bash
# Regenerate kernel/patches/ from a git tree of linux-source-6.12 whose
# last N commits are the series, with kernel/cover-letter.txt as the
# cover letter (first line: subject; the rest: body), then run
# checkpatch --strict on every patch (any error, warning or check fails).
#   kernel/export-patches.sh KERNEL_GIT_TREE N
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
tree=$1 n=$2
rm -f "$top"/kernel/patches/*.patch
git -C "$tree" format-patch -q --cover-letter -o "$top/kernel/patches" "HEAD~$n"
python3 - "$top/kernel/patches/0000-cover-letter.patch" "$top/kernel/cover-letter.txt" <<'PY'
import sys
patch, letter = sys.argv[1], open(sys.argv[2]).read()
subject, body = letter.split('\n', 1)
s = open(patch).read()
s = s.replace('*** SUBJECT HERE ***', subject.strip()).replace('*** BLURB HERE ***', body.strip())
open(patch, 'w').write(s)
PY
status=0
for p in "$top"/kernel/patches/0*.patch; do
	[[ $(basename "$p") == 0000-cover-letter.patch ]] && continue
	out=$("$tree/scripts/checkpatch.pl" --strict --no-tree -q "$p" 2>&1 || true)
	errors=$(grep -c '^ERROR' <<<"$out" || true)
	warnings=$(grep -c '^WARNING' <<<"$out" || true)
	checks=$(grep -c '^CHECK' <<<"$out" || true)
	printf '%-70s errors %d, warnings %d, checks %d\n' "$(basename "$p")" "$errors" "$warnings" "$checks"
	[[ $errors == 0 && $warnings == 0 && $checks == 0 ]] || status=1
done
exit $status
