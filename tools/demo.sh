#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make run`, inside the guest: load rovl, mount the sample tree, show it.
set -euo pipefail
cd "$(dirname "$0")/.."
show() { echo "\$ $*"; "$@"; }
show insmod rovl.ko
show grep rovl /proc/filesystems
samples/basic-layers.sh /tmp/layers
mkdir -p /tmp/merged
show mount -t rovl none /tmp/merged -o lowerdir=/tmp/layers/conf:/tmp/layers/app:/tmp/layers/base
show grep rovl /proc/mounts
show find /tmp/merged -printf '%y %p\n'
show cat /tmp/merged/etc/os-release /tmp/merged/etc/current.conf /tmp/merged/usr/bin/app
show ls -la /tmp/merged/etc /tmp/merged/var/cache
show stat -f -c 'fs type %T' /tmp/merged
echo '$ touch /tmp/merged/etc/new   (read-only without an upper layer)'
touch /tmp/merged/etc/new 2>&1 || true
show umount /tmp/merged
show rmmod rovl
echo "demo done"
