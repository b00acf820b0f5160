#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Create a small three-layer tree under $1: a base, an app layer that
# replaces and deletes base files (whiteout, opaque directory), and a
# config layer on top.
set -euo pipefail
d=$1
mkdir -p "$d"/{base,app,conf}
mkdir -p "$d"/base/{etc,usr/bin,var/cache}
echo "base os" > "$d"/base/etc/os-release
echo "#!/bin/sh" > "$d"/base/usr/bin/tool
echo "stale" > "$d"/base/var/cache/old
echo "to be deleted" > "$d"/base/etc/obsolete.conf
mkdir -p "$d"/app/{etc,usr/bin,var/cache}
echo "app 1.0" > "$d"/app/usr/bin/app
echo "app os" > "$d"/app/etc/os-release
mknod "$d"/app/etc/obsolete.conf c 0 0                    # whiteout
setfattr -n trusted.overlay.opaque -v y "$d"/app/var/cache  # opaque dir
echo "fresh" > "$d"/app/var/cache/new
mkdir -p "$d"/conf/etc
echo "debug=1" > "$d"/conf/etc/app.conf
ln -s app.conf "$d"/conf/etc/current.conf
