# SPDX-License-Identifier: GPL-2.0
# Shared settings for rovl's tool scripts; sourced, never run.

ROVL_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROVL_CACHE=${ROVL_CACHE:-$HOME/.cache/rovl}
export PATH="$HOME/.cargo/bin:$PATH"

# Debian's source package; the tarball unpacks to linux-source-6.12.
ROVL_KSRC_TARBALL=/usr/src/linux-source-6.12.tar.xz
ROVL_KSRC=$ROVL_CACHE/linux-source-6.12

die() { echo "rovl: $*" >&2; exit 1; }
log() { echo "== $*" >&2; }

# Version of the unpacked kernel source ("6.12.117"), from its Makefile.
rovl_kernel_version() {
	awk '/^VERSION =/{v=$3} /^PATCHLEVEL =/{p=$3} /^SUBLEVEL =/{s=$3} END{print v"."p"."s}' \
		"$ROVL_KSRC/Makefile"
}

# Build directory of a kernel flavour (debug or release), keyed by kernel
# version, config fragments and the Rust and LLVM toolchains, since a change
# to any of them makes the cached build (and modules built against it) stale.
rovl_kernel_dir() {
	local flavour=$1 key
	key=$( {
		rovl_kernel_version
		cat "$ROVL_TOP/tools/kernel/rovl.config"
		[ "$flavour" = debug ] && cat "$ROVL_TOP/tools/kernel/debug.config"
		rustc --version
		bindgen --version 2>/dev/null
		clang --version | head -n 1
	} | sha256sum | cut -c1-12)
	echo "$ROVL_CACHE/kernel-$(rovl_kernel_version)-$flavour-$key"
}
