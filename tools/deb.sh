#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Build the Debian packages from a copy of this tree, check them with
# lintian, install them, and use them: pgclone --version, and a program
# built against libpgclone-dev through pkg-config.  Needs root (apt-get).
#   tools/deb.sh [OUTDIR]      (default: a new directory under /tmp)
# dpkg-buildpackage writes its packages into the parent of the source
# tree and leaves obj-*/ and debian/<package>/ behind: building a copy
# (the files git tracks or would track) keeps the repository clean.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/need.sh
need "tools/install-deps.sh --deb" dpkg-buildpackage dpkg-dev dh debhelper \
	lintian lintian fakeroot fakeroot hardening-check devscripts || exit 1

version=$(dpkg-parsechangelog -SVersion)
cmake_version=$(sed -n 's/^project(pgclone VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
[[ $version == "$cmake_version" ]] ||
	{ echo "deb.sh: debian/changelog says $version, CMakeLists.txt $cmake_version" >&2; exit 1; }

out=${1:-$(mktemp -d /tmp/pgclone-deb.XXXXXX)}
src=$out/pgclone-$version
rm -rf "$src"
mkdir -p "$src"
git ls-files -z --cached --others --exclude-standard |
	xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
	tar --null -T - -cf - | tar -xf - -C "$src"

echo "deb.sh: building in $src"
(cd "$src" && dpkg-buildpackage -us -uc -b) >"$out/build.log" 2>&1 ||
	{ tail -n 40 "$out/build.log"; echo "deb.sh: dpkg-buildpackage failed (log: $out/build.log)" >&2; exit 1; }
changes=$out/pgclone_${version}_amd64.changes
debs=("$out/pgclone_${version}_amd64.deb" "$out/libpgclone0_${version}_amd64.deb"
      "$out/libpgclone-dev_${version}_amd64.deb")
ls -l "${debs[@]}" | awk '{print "deb.sh: built", $NF, $5, "bytes"}'

# errors fail; warnings are printed (README lists the ones we keep)
rc=0
lintian --fail-on error --tag-display-limit 0 "$changes" >"$out/lintian.log" 2>&1 || rc=$?
grep -v 'root privileges is not recommended' "$out/lintian.log" || true
((rc == 0)) || { echo "deb.sh: lintian found errors" >&2; exit 1; }
echo "deb.sh: lintian: no errors"

# install (apt pulls the runtime dependencies), use, and remove again
# unless they were installed before
was=$(dpkg-query -W -f='${Status}\n' pgclone libpgclone0 libpgclone-dev 2>/dev/null |
	grep -c 'ok installed' || true)
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${debs[@]}" >/dev/null
cleanup() {
	((was)) || DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq pgclone libpgclone0 libpgclone-dev >/dev/null
}
trap cleanup EXIT
got=$(/usr/bin/pgclone --version)
[[ $got == *"$version"* ]] || { echo "deb.sh: pgclone --version printed '$got'" >&2; exit 1; }
echo "deb.sh: /usr/bin/pgclone --version: $got"
man -w pgclone pgclone-image pgclone_clone libpgclone process_vm_mmap >/dev/null
hardening-check --nocfprotection /usr/bin/pgclone /usr/lib/x86_64-linux-gnu/libpgclone.so.0

cat >"$out/t.c" <<'C'
#include <pgclone.h>
#include <stdio.h>
int main(void)
{
	printf("libpgclone %s, copy engine %s\n", pgclone_version(),
	       pgclone_engine_probe(PGCLONE_ENGINE_COPY) == 0 ? "usable" : "not usable");
	return 0;
}
C
# shellcheck disable=SC2046
cc -Wall -Werror -o "$out/t" "$out/t.c" $(pkg-config --cflags --libs libpgclone)
lib=$(ldd "$out/t" | awk '$1 == "libpgclone.so.0" {print $3}')
[[ -n $lib ]] && dpkg -S "$(readlink -f "$lib")" | grep -q '^libpgclone0:' ||
	{ echo "deb.sh: the program is not linked against libpgclone0's libpgclone.so.0 ($lib)" >&2; exit 1; }
"$out/t"
echo "deb.sh: ok: $out"
