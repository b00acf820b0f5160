// SPDX-License-Identifier: GPL-2.0

//! Directory listings (readdir.c).
//!
//! A directory merged from several layers (and the root, and directories
//! with an origin xattr, which overlayfs treats alike) lists each name once, from its topmost layer,
//! without whiteouts. The order is overlayfs's: the lowest layer's entries
//! in its own order, then the other names in the order of their first
//! appearance from the top. A directory of one layer lists that layer as it
//! is. Either way the listing is cached per open directory and positions
//! are indices into it, so telldir/seekdir are stable; rewinding to 0
//! reads the layers again.

use super::{xattrs, RealEntry, Rovl, RovlNode};
use crate::vfs::{self, Dentry, DirEmitter, SuperBlock};
use core::sync::atomic::Ordering;
use kernel::prelude::*;

pub(crate) struct Entry {
    name: KVec<u8>,
    ino: u64,
    d_type: u32,
    /// Index into the directory's layer stack.
    level: usize,
    hidden: bool,
}

/// Per open directory listing.
pub(crate) struct DirCache {
    // Directories can be huge: vectors of entries use kvmalloc.
    entries: KVVec<Entry>,
    valid: bool,
}

impl Default for DirCache {
    fn default() -> Self {
        Self {
            entries: KVVec::new(),
            valid: false,
        }
    }
}

pub(crate) fn iterate(
    sb: &SuperBlock<Rovl>,
    dir: &Dentry,
    cache: &mut DirCache,
    out: &mut DirEmitter,
) -> Result {
    let node = sb.node(dir).ok_or(ENOENT)?;
    if out.pos() == 0 || !cache.valid {
        cache.valid = false;
        cache.entries = read_merged(sb, dir, node, node.may_have_whiteouts())?;
        cache.valid = true;
    }
    let mut i = usize::try_from(out.pos()).map_err(|_| EINVAL)?;
    while let Some(e) = cache.entries.get(i) {
        if !e.hidden && !out.emit(&e.name, e.ino, e.d_type) {
            break;
        }
        i += 1;
        out.set_pos(i as i64);
    }
    Ok(())
}

/// Reads one real directory in its own order.
fn read_layer(fs: &Rovl, e: &RealEntry, level: usize, into: &mut KVVec<Entry>) -> Result {
    let path = vfs::RealPath {
        mnt: fs.mnt(e.layer),
        dentry: &e.dentry,
    };
    let f = vfs::File::open_dir(&path, &fs.cred)?;
    f.read_dir(&mut |name, ino, d_type| {
        let mut n = KVec::with_capacity(name.len(), GFP_KERNEL)?;
        n.extend_from_slice(name, GFP_KERNEL)?;
        into.push(
            Entry {
                name: n,
                ino,
                d_type,
                level,
                hidden: false,
            },
            GFP_KERNEL,
        )?;
        Ok(())
    })
}

/// The listing of `dir`; `merged` filters whiteouts and duplicate names.
fn read_merged(
    sb: &SuperBlock<Rovl>,
    dir: &Dentry,
    node: &RovlNode,
    merged: bool,
) -> Result<KVVec<Entry>> {
    let fs = sb.data();
    let _cred = fs.cred.override_creds();
    let mut dirs: KVec<&RealEntry> = KVec::new();
    for e in node.dirs() {
        dirs.push(e, GFP_KERNEL)?;
    }
    let parent = dir.parent();
    let parent_ino = sb.node(&parent).map(|p| p.ino);
    let parent_merged = sb.node(&parent).is_some_and(|p| p.is_merged());

    let mut raw = KVVec::new();
    for (level, e) in dirs.iter().enumerate() {
        read_layer(fs, e, level, &mut raw)?;
    }

    // Entries keep the real d_ino of their topmost layer, folded into the
    // overlay's st_ino space with xino (`ovl_remap_lower_ino`); `..` of an
    // unmerged directory below a merged one is the parent's st_ino where
    // overlayfs recomputes it (`ovl_iterate_real`), `..` of a merged one
    // is mapped with the parent's layer.
    let parent_layer = sb.node(&parent).map(|p| p.top().layer);
    let parent_origin = sb.node(&parent).and_then(|p| p.origin_ino(fs));
    let has_upper = node.upper().is_some();
    let impure = has_upper && node.impure.load(Ordering::Acquire);
    for e in raw.iter_mut() {
        let dotdot = &e.name[..] == b"..";
        let dot = &e.name[..] == b".";
        // Copied-up objects show their origin's number (`ovl_cache_update`,
        // `ovl_fill_real`): `..`, `.` and, in an impure directory, every
        // upper entry.
        if has_upper && e.level == 0 && (fs.samefs || fs.xino_bits > 0) {
            if dotdot && (merged || parent_merged) {
                if let Some(ino) = parent_origin {
                    e.ino = ino;
                    continue;
                }
            } else if dot && merged {
                if let Some(ino) = node.origin_ino(fs) {
                    e.ino = ino;
                    continue;
                }
            } else if impure && !dot && !dotdot {
                // What overlayfs's lookup would find: the cached inode if
                // any, else the upper entry's origin.
                if let Some(child) = dir.lookup_cached(&e.name) {
                    if let Some(n) = sb.node(&child) {
                        if let Some(ino) = n.origin_ino(fs) {
                            e.ino = ino;
                        }
                        continue;
                    }
                }
                if let Some(ino) = super::namei::origin_ino_of(fs, dirs[0], &e.name)? {
                    e.ino = ino;
                    continue;
                }
            }
        }
        if dotdot && !merged && parent_merged && (fs.samefs || fs.xino_bits > 0) {
            e.ino = parent_ino.unwrap_or(e.ino);
        } else if fs.xino_bits > 0 {
            let layer = match parent_layer {
                Some(l) if dotdot && merged => l,
                _ => dirs[e.level].layer,
            };
            e.ino = fs.xino_map(e.ino, layer).unwrap_or(e.ino);
        }
    }
    if !merged {
        return Ok(raw);
    }

    // Keep each name's topmost occurrence: sort indices by (name, level).
    let mut idx: KVVec<usize> = KVVec::with_capacity(raw.len(), GFP_KERNEL)?;
    for i in 0..raw.len() {
        idx.push(i, GFP_KERNEL)?;
    }
    idx.sort_unstable_by(|&a, &b| {
        raw[a]
            .name
            .cmp(&raw[b].name)
            .then(raw[a].level.cmp(&raw[b].level))
    });
    // winner[i]: the topmost entry with raw[i]'s name.
    let mut winner = KVVec::from_elem(0usize, raw.len(), GFP_KERNEL)?;
    let mut first = 0;
    for (k, &i) in idx.iter().enumerate() {
        if k == 0 || raw[idx[k - 1]].name != raw[i].name {
            first = i;
        }
        winner[i] = first;
    }

    // Whiteouts hide names: character devices, and in directories marked
    // for them, regular files that are xattr whiteouts.
    for i in 0..raw.len() {
        let e = dirs[raw[i].level];
        let xwh = node.xwhiteouts
            && raw[i].d_type == vfs::DT_REG
            && fs.layers[e.layer].has_xwhiteouts.load(Ordering::Acquire);
        if winner[i] == i && (raw[i].d_type == vfs::DT_CHR || xwh) {
            let mnt = fs.mnt(e.layer);
            let this = e.dentry.lookup_one(mnt, &raw[i].name)?;
            raw[i].hidden = xattrs::is_whiteout(fs, mnt, &this);
        }
    }

    let lowest = dirs.len() - 1;
    let mut order: KVVec<usize> = KVVec::with_capacity(raw.len(), GFP_KERNEL)?;
    let mut placed = KVVec::from_elem(false, raw.len(), GFP_KERNEL)?;
    for i in 0..raw.len() {
        if raw[i].level == lowest && !placed[winner[i]] {
            placed[winner[i]] = true;
            order.push(winner[i], GFP_KERNEL)?;
        }
    }
    for i in 0..raw.len() {
        if winner[i] == i && !placed[i] {
            placed[i] = true;
            order.push(i, GFP_KERNEL)?;
        }
    }

    let mut slots: KVVec<Option<Entry>> = KVVec::with_capacity(raw.len(), GFP_KERNEL)?;
    for e in raw {
        slots.push(Some(e), GFP_KERNEL)?;
    }
    let mut out = KVVec::with_capacity(order.len(), GFP_KERNEL)?;
    for i in order.iter() {
        if let Some(e) = slots[*i].take() {
            out.push(e, GFP_KERNEL)?;
        }
    }
    Ok(out)
}

/// Whether a directory is empty as seen through the mount, and whether its
/// upper directory holds whiteouts (`ovl_check_empty_dir`).
pub(crate) fn check_empty(
    sb: &SuperBlock<Rovl>,
    dir: &Dentry,
    node: &RovlNode,
) -> Result<(bool, bool)> {
    // Whiteouts never count, whatever the listing shows (overlayfs reads
    // every directory merged here).
    let entries = read_merged(sb, dir, node, true)?;
    let mut whiteouts = false;
    for e in entries.iter() {
        if &e.name[..] == b"." || &e.name[..] == b".." {
            continue;
        }
        if !e.hidden {
            return Ok((false, false));
        }
        whiteouts |= e.level == 0 && node.upper().is_some();
    }
    Ok((true, whiteouts))
}
