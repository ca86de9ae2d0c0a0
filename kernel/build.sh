#!/usr/bin/env bash
# Build the guest kernel: Debian's linux-source-6.12 + kernel/patches/*.patch
# + tinyconfig + kernel/config.fragment.  Cached under build/kernel/ by a
# hash of the patches, the fragment and this script: a rebuild with nothing
# changed takes seconds.  Prints the path of the bzImage.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
tarball=${PGCLONE_KERNEL_TARBALL:-/usr/src/linux-source-6.12.tar.xz}
out=$top/build/kernel
frag=$top/kernel/config.fragment
. "$top/tools/need.sh"
need_kernel build || exit 1
[[ -f $tarball ]] || { echo "kernel/build.sh: $tarball missing (apt-get install linux-source-6.12)" >&2; exit 1; }

patches=$(ls "$top"/kernel/patches/*.patch 2>/dev/null | grep -v 0000-cover-letter || true)
key=$(cat "$frag" "$0" $patches | sha256sum | cut -c1-16)
tree=$out/linux-$key
if [[ -f $tree/arch/x86/boot/bzImage && -f $tree/.pgclone-built ]]; then
	echo "$tree/arch/x86/boot/bzImage"
	exit 0
fi

mkdir -p "$out"
rm -rf "$out"/linux-*
echo "kernel/build.sh: unpacking $(basename "$tarball")" >&2
tar -C "$out" -xf "$tarball"
mv "$out/linux-source-6.12" "$tree"
cd "$tree"
for p in $patches; do
	echo "kernel/build.sh: applying $(basename "$p")" >&2
	patch -p1 --quiet --forward < "$p"
done
make -s tinyconfig >/dev/null
scripts/kconfig/merge_config.sh -n -m .config "$frag" >/dev/null
make -s olddefconfig >/dev/null
# merge_config silently drops options whose dependencies are missing
missing=0
while IFS= read -r line; do
	case $line in ''|'#'*) continue ;; esac
	opt=${line%%=*}
	val=${line#*=}
	if [[ $val == n ]]; then
		grep -q "^$opt=" .config && { echo "kernel/build.sh: $opt should be off" >&2; missing=1; }
	elif ! grep -qx "$line" .config; then
		echo "kernel/build.sh: '$line' did not survive into .config" >&2
		missing=1
	fi
done < "$frag"
[[ $missing == 0 ]] || exit 1
echo "kernel/build.sh: make -j$(nproc) bzImage" >&2
make -s -j"$(nproc)" bzImage >&2
touch .pgclone-built
echo "$tree/arch/x86/boot/bzImage"
