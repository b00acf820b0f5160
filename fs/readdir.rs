// SPDX-License-Identifier: GPL-2.0

//! Directory listings (readdir.c).
//!
//! A directory merged from several layers (and the root, and directories
//! with an origin xattr, which overlayfs treats alike) lists each name
//! once, from its topmost layer, without whiteouts. The order is
//! overlayfs's: the lowest layer's entries in its own order, then the other
//! names in the order of their first appearance from the top. The listing
//! is cached per open directory and positions are indices into it, so
//! telldir/seekdir are stable; rewinding to 0 reads the layers again.
//!
//! A directory of one layer lists that layer as it is: straight from the
//! real directory, at its positions, where every entry keeps its number;
//! else through a cached listing whose numbers are fixed up.

use super::{xattrs, RealEntry, Rovl, RovlNode};
use crate::vfs::{self, Dentry, DirEmitter, SuperBlock};
use core::sync::atomic::Ordering;
use kernel::bindings;
use kernel::prelude::*;

#[derive(Clone, Copy)]
pub(crate) struct Entry {
    ino: u64,
    /// The name: `len` bytes at `off` in the listing's names.
    off: u32,
    len: u16,
    /// Index into the directory's layer stack (at most 500 layers).
    level: u16,
    d_type: u8,
    hidden: bool,
}

/// Entries and, in one buffer, their names: one allocation per listing
/// rather than one per name.
pub(crate) struct Listing {
    // Directories can be huge: these use kvmalloc.
    names: KVVec<u8>,
    entries: KVVec<Entry>,
}

impl Default for Listing {
    fn default() -> Self {
        Self {
            names: KVVec::new(),
            entries: KVVec::new(),
        }
    }
}

impl Listing {
    fn name(&self, e: &Entry) -> &[u8] {
        &self.names[e.off as usize..e.off as usize + e.len as usize]
    }

    fn push(&mut self, name: &[u8], ino: u64, d_type: u32, level: usize) -> Result {
        let off = u32::try_from(self.names.len()).map_err(|_| ENOMEM)?;
        self.names.extend_from_slice(name, GFP_KERNEL)?;
        self.entries.push(
            Entry {
                ino,
                off,
                len: u16::try_from(name.len()).map_err(|_| EINVAL)?,
                level: u16::try_from(level).map_err(|_| EINVAL)?,
                d_type: d_type as u8,
                hidden: false,
            },
            GFP_KERNEL,
        )?;
        Ok(())
    }
}

/// Per open directory listing.
#[derive(Default)]
pub(crate) struct DirCache {
    listing: Listing,
    valid: bool,
    /// The real directory, for a directory listed as it is there.
    real: Option<vfs::RealDir>,
}

pub(crate) fn iterate(
    sb: &SuperBlock<Rovl>,
    dir: &Dentry,
    cache: &mut DirCache,
    out: &mut DirEmitter,
) -> Result {
    let node = sb.node(dir).ok_or(ENOENT)?;
    if out.pos() == 0 || cache.undecided() {
        cache.reset(sb, dir, node, true)?;
    }
    if let Some(real) = &mut cache.real {
        let _cred = sb.data().cred.override_creds();
        return real.iterate(out);
    }
    let l = &cache.listing;
    let mut i = usize::try_from(out.pos()).map_err(|_| EINVAL)?;
    while let Some(e) = l.entries.get(i) {
        if !e.hidden && !out.emit(l.name(e), e.ino, u32::from(e.d_type)) {
            break;
        }
        i += 1;
        out.set_pos(i as i64);
    }
    Ok(())
}

impl DirCache {
    /// Neither listing from the real directory nor holding a listing.
    fn undecided(&self) -> bool {
        !self.valid && self.real.is_none()
    }

    /// Decides how `dir` is listed from now on, as `ovl_dir_reset`: what a
    /// directory is can change while it is open (a copy-up merges it), so
    /// at every rewind. A listing is read now if `read`, else by the next
    /// `iterate`.
    fn reset(
        &mut self,
        sb: &SuperBlock<Rovl>,
        dir: &Dentry,
        node: &RovlNode,
        read: bool,
    ) -> Result {
        self.valid = false;
        if lists_real(sb, dir, node) {
            let top = node.top();
            if !self.real.as_ref().is_some_and(|r| r.is_of(&top.dentry)) {
                let fs = sb.data();
                self.real = Some(vfs::RealDir::open(&node.real_path(fs), &fs.cred)?);
            }
        } else {
            self.real = None;
            if read {
                self.listing = read_merged(sb, dir, node, node.may_have_whiteouts())?;
                self.valid = true;
            }
        }
        Ok(())
    }
}

/// Moves the position of an open directory (`ovl_dir_llseek`): the real
/// directory's own `llseek` for one listed from there, else an index into
/// the listing, set or moved by an offset.
pub(crate) fn llseek(
    sb: &SuperBlock<Rovl>,
    dir: &Dentry,
    cache: &mut DirCache,
    pos: &mut i64,
    offset: i64,
    whence: u32,
) -> Result<i64> {
    let node = sb.node(dir).ok_or(ENOENT)?;
    if *pos == 0 || cache.undecided() {
        cache.reset(sb, dir, node, false)?;
    }
    if let Some(real) = &mut cache.real {
        let r = real.seek(offset, whence)?;
        *pos = real.pos();
        return Ok(r);
    }
    let new = match whence {
        bindings::SEEK_SET => offset,
        bindings::SEEK_CUR => pos.saturating_add(offset),
        _ => return Err(EINVAL),
    };
    if new < 0 {
        return Err(EINVAL);
    }
    *pos = new;
    Ok(new)
}

/// Whether `dir` is listed straight from its one real directory, with its
/// numbers and positions: it merges no layers, hides no whiteouts and no
/// entry needs another number (`ovl_iterate` of a real directory). Saves
/// copying every entry, and `getdents` sees the directory as overlayfs
/// shows it.
fn lists_real(sb: &SuperBlock<Rovl>, dir: &Dentry, node: &RovlNode) -> bool {
    let fs = sb.data();
    if node.may_have_whiteouts() || fs.xino_bits > 0 {
        return false;
    }
    if !fs.samefs {
        return true;
    }
    // On one filesystem, copied-up entries of an impure directory show
    // their origin's number, and `..` below a merged directory the
    // parent's (see `read_merged`).
    let impure = node.upper().is_some() && node.impure.load(Ordering::Acquire);
    !impure && !sb.node(&dir.parent()).is_some_and(|p| p.is_merged())
}

/// Reads one real directory in its own order.
fn read_layer(fs: &Rovl, e: &RealEntry, level: usize, into: &mut Listing) -> Result {
    let path = vfs::RealPath {
        mnt: fs.mnt(e.layer),
        dentry: &e.dentry,
    };
    let f = vfs::File::open_dir(&path, &fs.cred)?;
    f.read_dir(&mut |name, ino, d_type| into.push(name, ino, d_type, level))
}

/// The listing of `dir`; `merged` filters whiteouts and duplicate names.
fn read_merged(
    sb: &SuperBlock<Rovl>,
    dir: &Dentry,
    node: &RovlNode,
    merged: bool,
) -> Result<Listing> {
    let fs = sb.data();
    let _cred = fs.cred.override_creds();
    let mut dirs: KVec<&RealEntry> = KVec::new();
    for e in node.dirs() {
        dirs.push(e, GFP_KERNEL)?;
    }
    let parent = dir.parent();
    let parent_ino = sb.node(&parent).map(|p| p.ino);
    let parent_merged = sb.node(&parent).is_some_and(|p| p.is_merged());

    let mut listing = Listing::default();
    for (level, e) in dirs.iter().enumerate() {
        read_layer(fs, e, level, &mut listing)?;
    }
    let names = &listing.names;

    // Entries keep the real d_ino of their topmost layer, folded into the
    // overlay's st_ino space with xino (`ovl_remap_lower_ino`); `..` of an
    // unmerged directory below a merged one is the parent's st_ino where
    // overlayfs recomputes it (`ovl_iterate_real`), `..` of a merged one
    // is mapped with the parent's layer.
    let parent_layer = sb.node(&parent).map(|p| p.top().layer);
    let parent_origin = sb.node(&parent).and_then(|p| p.origin_ino(fs));
    let has_upper = node.upper().is_some();
    let impure = has_upper && node.impure.load(Ordering::Acquire);
    for e in listing.entries.iter_mut() {
        let name = &names[e.off as usize..e.off as usize + e.len as usize];
        let dotdot = name == b"..";
        let dot = name == b".";
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
                if let Some(child) = dir.lookup_cached(name) {
                    if let Some(n) = sb.node(&child) {
                        if let Some(ino) = n.origin_ino(fs) {
                            e.ino = ino;
                        }
                        continue;
                    }
                }
                if let Some(ino) = super::namei::origin_ino_of(fs, dirs[0], name)? {
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
                _ => dirs[usize::from(e.level)].layer,
            };
            e.ino = fs.xino_map(e.ino, layer).unwrap_or(e.ino);
        }
    }
    if !merged {
        return Ok(listing);
    }
    let raw = &listing.entries;
    let name = |i: usize| listing.name(&raw[i]);

    // winner[i]: the topmost entry with raw[i]'s name. Entries are in layer
    // order, top first, so that is the first one seen; an open-addressing
    // table of first occurrences finds it in one pass.
    let slots = raw.len().saturating_mul(2).next_power_of_two().max(16);
    let mut first: KVVec<u32> = KVVec::from_elem(u32::MAX, slots, GFP_KERNEL)?;
    let mut winner: KVVec<usize> = KVVec::with_capacity(raw.len(), GFP_KERNEL)?;
    for i in 0..raw.len() {
        let mut h = name_hash(name(i)) as usize & (slots - 1);
        loop {
            let f = first[h];
            if f == u32::MAX {
                first[h] = u32::try_from(i).map_err(|_| ENOMEM)?;
                winner.push(i, GFP_KERNEL)?;
                break;
            }
            if name(f as usize) == name(i) {
                winner.push(f as usize, GFP_KERNEL)?;
                break;
            }
            h = (h + 1) & (slots - 1);
        }
    }
    drop(first);

    // Whiteouts hide names: character devices, and in directories marked
    // for them, regular files that are xattr whiteouts.
    let mut hidden = KVVec::from_elem(false, raw.len(), GFP_KERNEL)?;
    for i in 0..raw.len() {
        let e = dirs[usize::from(raw[i].level)];
        let d_type = u32::from(raw[i].d_type);
        let xwh = node.xwhiteouts
            && d_type == vfs::DT_REG
            && fs.layers[e.layer].has_xwhiteouts.load(Ordering::Acquire);
        if winner[i] == i && (d_type == vfs::DT_CHR || xwh) {
            let mnt = fs.mnt(e.layer);
            let this = e.dentry.lookup_one(mnt, name(i))?;
            hidden[i] = xattrs::is_whiteout(fs, mnt, &this);
        }
    }

    let lowest = dirs.len() - 1;
    let mut order: KVVec<usize> = KVVec::with_capacity(raw.len(), GFP_KERNEL)?;
    let mut placed = KVVec::from_elem(false, raw.len(), GFP_KERNEL)?;
    for i in 0..raw.len() {
        if usize::from(raw[i].level) == lowest && !placed[winner[i]] {
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

    let mut out = KVVec::with_capacity(order.len(), GFP_KERNEL)?;
    for &i in order.iter() {
        let e = &raw[i];
        out.push(
            Entry {
                hidden: hidden[i],
                ..*e
            },
            GFP_KERNEL,
        )?;
    }
    // The names stay where they are; only the order of entries changes.
    listing.entries = out;
    Ok(listing)
}

/// FNV-1a: a cheap, well-spread hash of a name.
fn name_hash(name: &[u8]) -> u64 {
    name.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
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
    let listing = read_merged(sb, dir, node, true)?;
    let mut whiteouts = false;
    for e in listing.entries.iter() {
        let name = listing.name(e);
        if name == b"." || name == b".." {
            continue;
        }
        if !e.hidden {
            return Ok((false, false));
        }
        whiteouts |= e.level == 0 && node.upper().is_some();
    }
    Ok((true, whiteouts))
}
