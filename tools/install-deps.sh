#!/usr/bin/env bash
# Install what pgclone needs to build, test and fuzz on Debian 12.
#   --kernel  adds what the kernel patch series needs (source, QEMU)
#   --deb     adds what building and checking the Debian packages needs
#             (debhelper, lintian; devscripts for hardening-check)
set -euo pipefail
pkgs=(build-essential cmake pkg-config python3 util-linux strace gdb libcap2-bin
      libcap-dev libseccomp-dev libprotobuf-c-dev protobuf-c-compiler libzstd-dev
      libcmocka-dev clang-14 libclang-rt-14-dev man-db groff-base
      zstd	# the zstd program: test_compress.py crafts frames with it
      openssh-server openssh-client)	# test_live.py: a stream through real ssh
for opt in "$@"; do
	case $opt in
	--kernel)
		pkgs+=(linux-source-6.12 qemu-system-x86 cpio bc bison flex libelf-dev
		       libssl-dev xz-utils kmod patch) ;;
	--deb)
		pkgs+=(debhelper dpkg-dev fakeroot lintian devscripts) ;;
	*)
		echo "install-deps.sh: unknown option '$opt' (--kernel, --deb)" >&2
		exit 2 ;;
	esac
done
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing+=("$p")
done
if ((${#missing[@]})); then
	echo "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
