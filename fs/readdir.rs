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
//! real directory, at its positions, with the numbers that need it fixed
//! up on the way (`..` below a merged directory, copied-up entries of an
//! impure one, xino).

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
    /// The lookup for its number failed with this errno: the `getdents`
    /// that reaches it fails (unless it already returned entries), and it
    /// is hidden from then on, as overlayfs marks it stale.
    failed: i16,
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

    /// The number of `name` in a listing sorted by name.
    fn find(&self, name: &[u8]) -> Option<u64> {
        self.entries
            .binary_search_by(|e| self.name(e).cmp(name))
            .ok()
            .map(|i| self.entries[i].ino)
    }

    fn sort_by_name(&mut self) {
        let names = &self.names;
        vfs::sort_unstable_by(&mut self.entries, |a, b| {
            let name = |e: &Entry| &names[e.off as usize..e.off as usize + e.len as usize];
            name(a).cmp(name(b))
        });
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
                failed: 0,
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
    /// For an impure one, the numbers its entries show where those differ
    /// from the real ones, sorted by name (`ovl_cache_get_impure`), and the
    /// directory's `impure_version` they were found at.
    fixes: Option<(Listing, u32)>,
}

pub(crate) fn iterate(
    sb: &SuperBlock<Rovl>,
    dir: &Dentry,
    cache: &mut DirCache,
    out: &mut DirEmitter,
) -> Result {
    let node = sb.node(dir).ok_or(ENOENT)?;
    if out.pos() == 0 || cache.undecided() {
        cache.reset(sb, dir, node, Some(out))?;
    }
    if let Some(real) = &mut cache.real {
        let fs = sb.data();
        let _cred = fs.cred.override_creds();
        // What it is may change while open: a rename of a copied-up entry
        // into it makes it impure (`ovl_is_impure_dir`); which entries are
        // copied up changes with renames, links and unlinks.
        if needs_fixes(fs, node) {
            let version = node.impure_version.load(Ordering::Acquire);
            if !matches!(cache.fixes, Some((_, v)) if v == version) {
                let fixes = impure_fixes(sb, node, out)?;
                if fixes.entries.is_empty() {
                    // Nothing copied up is left: a good time to drop the
                    // mark.
                    xattrs::clear_impure(fs, node);
                    cache.fixes = None;
                } else {
                    cache.fixes = Some((fixes, version));
                }
            }
        }
        let fixes = cache.fixes.as_ref().map(|f| &f.0);
        return match Renumber::new(sb, dir, node, fixes) {
            None => real.iterate(out),
            Some(r) => real.iterate_mapped(out, &|name, ino| r.ino(name, ino)),
        };
    }
    let l = &mut cache.listing;
    let mut i = usize::try_from(out.pos()).map_err(|_| EINVAL)?;
    while let Some(e) = l.entries.get(i) {
        if e.failed != 0 {
            // Reported once, where overlayfs looks it up (`ovl_iterate`).
            let err = Error::from_errno(i32::from(e.failed));
            warn_lookup(l.name(e), err);
            l.entries[i].failed = 0;
            l.entries[i].hidden = true;
            return Err(err);
        }
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
    /// at every rewind. A listing is read now if this is a listing (`out`),
    /// else by the next `iterate`.
    fn reset(
        &mut self,
        sb: &SuperBlock<Rovl>,
        dir: &Dentry,
        node: &RovlNode,
        out: Option<&DirEmitter>,
    ) -> Result {
        self.valid = false;
        self.fixes = None;
        if !node.may_have_whiteouts() {
            let top = node.top();
            if !self.real.as_ref().is_some_and(|r| r.is_of(&top.dentry)) {
                let fs = sb.data();
                self.real = Some(vfs::RealDir::open(&node.real_path(fs), &fs.cred)?);
            }
        } else {
            self.real = None;
            if out.is_some() {
                self.listing = read_merged(sb, dir, node, out)?;
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
        cache.reset(sb, dir, node, None)?;
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

/// How numbers are fixed up on their way from a real directory that
/// `dir` lists as it is (`ovl_fill_real`): on one filesystem (or with xino)
/// `..` below a merged directory shows the parent's number, copied-up
/// entries of an impure directory their origin's, and xino folds the rest
/// into the overlay's number space; see `read_merged`.
struct Renumber<'a> {
    fs: &'a Rovl,
    dotdot: Option<u64>,
    fixes: Option<&'a Listing>,
    layer: usize,
}

impl<'a> Renumber<'a> {
    /// `None` if every entry keeps its real number.
    fn new(
        sb: &'a SuperBlock<Rovl>,
        dir: &Dentry,
        node: &RovlNode,
        fixes: Option<&'a Listing>,
    ) -> Option<Self> {
        let fs = sb.data();
        if !fs.samefs && fs.xino_bits == 0 {
            return None;
        }
        let dotdot = sb
            .node(&dir.parent())
            .filter(|p| p.is_merged())
            .map(|p| node.upper().and_then(|_| p.origin_ino(fs)).unwrap_or(p.ino));
        if dotdot.is_none() && fixes.is_none() && fs.xino_bits == 0 {
            return None;
        }
        Some(Self {
            fs,
            dotdot,
            fixes,
            layer: node.top().layer,
        })
    }

    fn ino(&self, name: &[u8], ino: u64) -> u64 {
        if let (b"..", Some(p)) = (name, self.dotdot) {
            return p;
        }
        if let Some(i) = self.fixes.and_then(|f| f.find(name)) {
            return i;
        }
        self.fs.xino_map(ino, self.layer).unwrap_or(ino)
    }
}

/// Whether entries of `node` may show numbers that only a lookup finds:
/// an impure upper directory on one filesystem (or with xino).
fn needs_fixes(fs: &Rovl, node: &RovlNode) -> bool {
    (fs.samefs || fs.xino_bits > 0) && node.upper().is_some() && node.impure.load(Ordering::Acquire)
}

/// The numbers of the entries of an impure directory that are not their
/// real ones, found by looking each up through the mount before the real
/// directory is listed (looking them up while it is would take its lock
/// again). A failed lookup fails the listing, as overlayfs's
/// `ovl_dir_read_impure`; a negative one keeps the real number.
fn impure_fixes(sb: &SuperBlock<Rovl>, node: &RovlNode, lister: &DirEmitter) -> Result<Listing> {
    let fs = sb.data();
    let top = node.top();
    let mut all = Listing::default();
    read_layer(fs, top, 0, &mut all)?;
    let mut fixes = Listing::default();
    for e in all.entries.iter() {
        let name = all.name(e);
        if name == b"." || name == b".." {
            continue;
        }
        let child = lister
            .lookup(name)
            .inspect_err(|&err| warn_lookup(name, err))?;
        // Entries of an upper directory keep their numbers under xino.
        match sb.node(&child).and_then(|n| n.origin_ino(fs)) {
            Some(ino) if ino != e.ino => fixes.push(name, ino, u32::from(e.d_type), 0)?,
            _ => {}
        }
    }
    fixes.sort_by_name();
    Ok(fixes)
}

/// What overlayfs's lookup would give as the number of the entry `name` of
/// an impure directory, if not the real one: the cached inode's if any,
/// else the upper entry's origin's.
fn impure_ino(
    sb: &SuperBlock<Rovl>,
    dir: &Dentry,
    top: &RealEntry,
    name: &[u8],
    real: u64,
) -> Result<Option<u64>> {
    let fs = sb.data();
    if let Some(child) = dir.lookup_cached(name) {
        if let Some(n) = sb.node(&child) {
            return Ok(Some(n.origin_ino(fs).unwrap_or(real)));
        }
    }
    super::namei::origin_ino_of(fs, top, name)
}

/// The warning of a lookup for an entry's number that failed
/// (`ovl_cache_update`).
fn warn_lookup(name: &[u8], err: Error) {
    crate::vfs::pr_warn_ratelimited!(
        "failed to look up ({}) for ino ({})\n",
        super::params::BStrLossy(name),
        err.to_errno()
    );
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

/// The listing of `dir`, merged from its layers: each name once, from its
/// topmost layer, whiteouts hidden. For a listing (`lister`), also the
/// names whose numbers overlayfs finds by a lookup that fails.
fn read_merged(
    sb: &SuperBlock<Rovl>,
    dir: &Dentry,
    node: &RovlNode,
    lister: Option<&DirEmitter>,
) -> Result<Listing> {
    let fs = sb.data();
    let _cred = fs.cred.override_creds();
    let mut dirs: KVec<&RealEntry> = KVec::new();
    for e in node.dirs() {
        dirs.push(e, GFP_KERNEL)?;
    }
    let parent = dir.parent();

    let mut listing = Listing::default();
    for (level, e) in dirs.iter().enumerate() {
        read_layer(fs, e, level, &mut listing)?;
    }
    let has_upper = node.upper().is_some();
    let impure = has_upper && node.impure.load(Ordering::Acquire);
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

    // overlayfs takes the numbers of some entries from a lookup through
    // the mount (`ovl_calc_d_ino`: every entry with xino, else the upper
    // entries of an impure directory) and leaves out those it finds
    // negative, as stale, or cannot look up, after failing the listing
    // there once (`ovl_cache_update`).
    let mut failed = KVVec::from_elem(0i16, raw.len(), GFP_KERNEL)?;
    if let Some(lister) = lister.filter(|_| fs.samefs || fs.xino_bits > 0) {
        for i in 0..raw.len() {
            let n = name(i);
            let looked_up = fs.xino_bits > 0 || (impure && raw[i].level == 0);
            if winner[i] != i || hidden[i] || !looked_up || n == b"." || n == b".." {
                continue;
            }
            match lister.lookup(n) {
                Ok(d) => hidden[i] = d.inode().is_none(),
                Err(e) => failed[i] = e.to_errno() as i16,
            }
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

    // Entries keep the real d_ino of their topmost layer, folded into the
    // overlay's st_ino space with xino (`ovl_remap_lower_ino`); `..` is
    // mapped with the parent's layer. Copied-up objects show their
    // origin's number (`ovl_cache_update`, `ovl_fill_real`): `..`, `.`
    // and, in an impure directory, every upper entry.
    let parent_layer = sb.node(&parent).map(|p| p.top().layer);
    let parent_origin = sb.node(&parent).and_then(|p| p.origin_ino(fs));
    let number = |e: &Entry, name: &[u8]| -> Result<u64> {
        let dotdot = name == b"..";
        if has_upper && e.level == 0 && (fs.samefs || fs.xino_bits > 0) {
            let ino = if dotdot {
                parent_origin
            } else if name == b"." {
                node.origin_ino(fs)
            } else if impure {
                impure_ino(sb, dir, dirs[0], name, e.ino)?
            } else {
                None
            };
            if let Some(ino) = ino {
                return Ok(ino);
            }
        }
        if fs.xino_bits > 0 {
            let layer = match parent_layer {
                Some(l) if dotdot => l,
                _ => dirs[usize::from(e.level)].layer,
            };
            return Ok(fs.xino_map(e.ino, layer).unwrap_or(e.ino));
        }
        Ok(e.ino)
    };

    let mut out = KVVec::with_capacity(order.len(), GFP_KERNEL)?;
    for &i in order.iter() {
        let e = &raw[i];
        // Only a listing shows numbers.
        let ino = if hidden[i] || failed[i] != 0 || lister.is_none() {
            e.ino
        } else {
            number(e, name(i))?
        };
        out.push(
            Entry {
                hidden: hidden[i],
                failed: failed[i],
                ino,
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
    let listing = read_merged(sb, dir, node, None)?;
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
