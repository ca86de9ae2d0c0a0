#!/usr/bin/env bash
# The library exports exactly what the version script lists, has a SONAME,
# and installs binary, library, header, pkg-config file and man pages.
set -euo pipefail
build=$1 src=$2
lib=$(readlink -f "$build/lib/libpgclone.so")
fail() { echo "FAIL: $*"; exit 1; }

want=$(sed -n 's/^\t\t\(pgclone_[a-z_]*\);$/\1/p' "$src/lib/libpgclone.map" | sort)
got=$(nm -D --defined-only "$lib" | awk '$2 == "T" {print $3}' | sed 's/@.*//' | sort)
[[ "$want" == "$got" ]] || fail "exports differ from libpgclone.map: $(diff <(echo "$want") <(echo "$got"))"
grep -q 'SONAME.*libpgclone.so.0' <<<"$(readelf -d "$lib")" || fail "no SONAME libpgclone.so.0"
# not "nm | grep -q": grep quits at the first match and pipefail sees nm's SIGPIPE
grep -q 'pgclone_clone@@PGCLONE_0.1' <<<"$(nm -D "$lib")" || fail "symbols are not versioned"

# where this build installs: /usr/local by default, /usr and a multiarch
# libdir when dh (debian/rules) configured it
cache() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt"; }
prefix=$(cache CMAKE_INSTALL_PREFIX)
libsub=$(cache CMAKE_INSTALL_LIBDIR)
[[ $libsub == /* ]] || libsub=$prefix/$libsub
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
DESTDIR=$dest cmake --install "$build" >/dev/null
for f in bin/pgclone include/pgclone.h; do
	[[ -e $dest$prefix/$f ]] || fail "not installed: $f"
done
for page in "$src"/man/*.[1-8]; do
	[[ -e $page ]] || continue
	sec=${page##*.}
	[[ -e $dest$prefix/share/man/man$sec/${page##*/} ]] ||
		fail "man page not installed: ${page##*/}"
done
ls "$dest$libsub"/libpgclone.so.0 >/dev/null || fail "libpgclone.so.0 not installed"
ls "$dest$libsub"/libpgclone.a >/dev/null || fail "libpgclone.a not installed"
pc=$(ls "$dest$libsub"/pkgconfig/libpgclone.pc)
PKG_CONFIG_SYSROOT_DIR=$dest PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --libs libpgclone |
	grep -q -- -lpgclone || fail "pkg-config file unusable"

# a program built against the installed header and library links and runs
cat > "$dest/t.c" <<'C'
#include <pgclone.h>
#include <stdio.h>
int main(void) { puts(pgclone_version()); return pgclone_engine_probe(PGCLONE_ENGINE_COPY); }
C
libdir=$dest$libsub
cc -o "$dest/t" "$dest/t.c" -I"$dest$prefix/include" -L"$libdir" -lpgclone
LD_LIBRARY_PATH=$libdir "$dest/t" | grep -q '^0\.' || fail "program against the library failed"
echo "abi: ok ($(echo "$got" | wc -l) exported symbols)"
