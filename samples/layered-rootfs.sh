#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# A container root filesystem as a runtime stacks it: a read-only base image
# (busybox), an application layer over it, and a writable container layer on
# top. Runs a few commands chrooted in the merged root, shows what the
# container layer recorded, remounts and checks that the changes persist and
# the image layers are untouched. Exits non-zero on any surprise.
#
# Usage: samples/layered-rootfs.sh DIR [FSTYPE]   (FSTYPE: rovl, or overlay)
set -euo pipefail
d=$1 fstype=${2:-rovl}
busybox=$(command -v busybox) || { echo "needs busybox (busybox-static)" >&2; exit 2; }
show() { echo "\$ $*"; "$@"; }
fail() { echo "layered-rootfs: $*" >&2; exit 1; }

rm -rf "$d"
mkdir -p "$d"/{base,app,container/upper,container/work,root}

# The base image: a static busybox with its applets, /etc and an empty /tmp.
mkdir -p "$d"/base/{bin,etc,tmp,var/log}
cp "$busybox" "$d/base/bin/busybox"
for a in sh cat ls echo rm mv mkdir touch grep; do ln -s busybox "$d/base/bin/$a"; done
echo "base image 1.0" > "$d/base/etc/os-release"
echo "root:x:0:0:root:/:/bin/sh" > "$d/base/etc/passwd"
echo "motd from the base" > "$d/base/etc/motd"

# The application layer: adds the app, replaces os-release, deletes motd
# (a whiteout) and replaces /var/log wholesale (an opaque directory).
mkdir -p "$d"/app/{etc,usr/bin,var/log}
printf '#!/bin/sh\necho "app says: $(cat /etc/app.conf)"\n' > "$d/app/usr/bin/app"
chmod +x "$d/app/usr/bin/app"
echo "greeting=hello" > "$d/app/etc/app.conf"
echo "base image 1.0 + app 2.3" > "$d/app/etc/os-release"
mknod "$d/app/etc/motd" c 0 0
setfattr -n trusted.overlay.opaque -v y "$d/app/var/log"
snapshot() { (cd "$d" && find base app -printf '%p %s %m %y\n' | sort && cat base/etc/* app/etc/app.conf); }
before=$(snapshot)

opts="lowerdir=$d/app:$d/base,upperdir=$d/container/upper,workdir=$d/container/work"
show mount -t "$fstype" container "$d/root" -o "$opts"
in_root() { chroot "$d/root" /bin/sh -c "$1"; }

echo "--- in the container"
show in_root 'cat /etc/os-release; /usr/bin/app; ls /etc'
[ "$(in_root 'cat /etc/os-release')" = "base image 1.0 + app 2.3" ] || fail "os-release not from the app layer"
in_root 'test ! -e /etc/motd' || fail "motd not deleted by the app layer's whiteout"
show in_root 'echo greeting=bonjour > /etc/app.conf; echo started > /var/log/app.log; rm /bin/grep; mkdir /data; echo 42 > /data/answer'
[ "$(in_root /usr/bin/app)" = "app says: greeting=bonjour" ] || fail "app does not see its new config"

echo "--- the container layer"
show find "$d/container/upper" -printf '%y %p\n'
[ -c "$d/container/upper/bin/grep" ] || fail "no whiteout for the removed /bin/grep"
[ "$(cat "$d/container/upper/etc/app.conf")" = "greeting=bonjour" ] || fail "app.conf not copied up"
show umount "$d/root"

echo "--- remounted"
show mount -t "$fstype" container "$d/root" -o "$opts"
[ "$(in_root 'cat /data/answer /var/log/app.log')" = "42
started" ] || fail "container changes lost across a remount"
in_root 'test ! -e /bin/grep' || fail "removed file came back"
show umount "$d/root"
[ "$(snapshot)" = "$before" ] || fail "an image layer changed"
echo "layered-rootfs: ok ($fstype)"
