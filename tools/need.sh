# SPDX-License-Identifier: GPL-2.0-or-later
# Sourced by scripts that need tools from Debian packages: each names what
# is missing in one line, with the package to install, instead of dying
# later on "command not found".
#   . tools/need.sh
#   need HINT CMD_OR_FILE PACKAGE [CMD_OR_FILE PACKAGE]...
# A first word starting with / is a file, anything else a command.  HINT is
# the tools/install-deps.sh invocation that installs all of them.

need() {
	local hint=$1 what=() pkgs=()
	shift
	while (($# >= 2)); do
		if [[ $1 == /* ]]; then
			[[ -e $1 ]] || { what+=("$1"); pkgs+=("$2"); }
		else
			command -v "$1" >/dev/null 2>&1 || { what+=("$1"); pkgs+=("$2"); }
		fi
		shift 2
	done
	((${#what[@]} == 0)) && return 0
	# one package may provide several of the missing names: list it once
	mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]}" | awk '!seen[$0]++')
	echo "$(basename "$(dirname "$0")")/${0##*/}: missing ${what[*]}: apt-get install ${pkgs[*]} (or $hint)" >&2
	return 1
}

# What the kernel harness needs, as pairs of command-or-file and package:
# "build" for kernel/build.sh, "guest" for kernel/mkinitramfs.sh and
# kernel/boot.sh (the static pgclone build, the guest's tools, QEMU).
#   need_kernel build [guest]
need_kernel() {
	local part pairs=()
	for part in "$@"; do
		case $part in
		build) pairs+=(
			"${PGCLONE_KERNEL_TARBALL:-/usr/src/linux-source-6.12.tar.xz}" linux-source-6.12
			make make gcc gcc tar tar xz xz-utils patch patch bc bc bison bison
			flex flex perl perl /usr/include/gelf.h libelf-dev
			/usr/include/openssl/ssl.h libssl-dev) ;;
		guest) pairs+=(
			qemu-system-x86_64 qemu-system-x86 timeout coreutils cpio cpio gzip gzip
			cmake cmake pkg-config pkg-config protoc-c protobuf-c-compiler
			python3 python3 strace strace setpriv util-linux setcap libcap2-bin
			script bsdutils
			/usr/lib/x86_64-linux-gnu/libc.a libc6-dev
			/usr/lib/x86_64-linux-gnu/libcap.a libcap-dev
			/usr/lib/x86_64-linux-gnu/libseccomp.a libseccomp-dev
			/usr/lib/x86_64-linux-gnu/libprotobuf-c.a libprotobuf-c-dev) ;;
		esac
	done
	need "tools/install-deps.sh --kernel" "${pairs[@]}"
}
