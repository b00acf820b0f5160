// SPDX-License-Identifier: GPL-2.0

//! The overlay filesystem, split as fs/overlayfs: mount options
//! (`params`), superblock (`super_`), lookup (`namei`), attributes
//! (`inode`), regular files (`file`), merged directories (`readdir`) and
//! file handles (`export`).

mod copy_up;
mod dir;
mod export;
mod file;
mod index;
mod inode;
mod namei;
mod params;
mod readdir;
mod super_;
mod verity;
mod xattrs;

use crate::vfs::{
    AclArg, AnonDev, Cred, DelayedCall, Dentry, DentryOperations, DentrySlot, DirEmitter,
    ExportOperations, Fiemap, File, FileAttrArg, FileOperations, FileSystem, Iattr, Inode,
    InodeOperations, Kstat, Kstatfs, Mount, NewKind, NewNode, PosixAcl, PrivateMount, Purpose,
    RealPath, SeqFile, SetOnce, StackedFile, SuperBlock, SuperOperations, XattrOperations,
};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use kernel::c_str;
use kernel::prelude::*;
use kernel::types::ARef;

/// Most lower layers a mount may have, as overlayfs (`OVL_MAX_STACK`).
pub(crate) const MAX_LAYERS: usize = 500;

/// The layer index of the upper layer in a [`RealEntry`].
pub(crate) const UPPER: usize = usize::MAX;

/// The writable layer of a mount (overlayfs's upper layer and workdir).
pub(crate) struct Upper {
    pub(crate) mnt: PrivateMount,
    /// `work/` inside the workdir, on the same mount: new objects are built
    /// there and renamed into place, so a crash never shows half of one.
    pub(crate) work: ARef<Dentry>,
    /// The upper filesystem takes no xattrs (`noxattr`): the mount has no
    /// origins, redirects, opaque directories made by rename or index.
    pub(crate) noxattr: AtomicBool,
    /// `work/` could not be made: the mount is read-only for good and
    /// `work` is the work base (`ovl_force_readonly`).
    pub(crate) read_only: bool,
    /// `upperdir=` and `workdir=` as given, for /proc/mounts.
    pub(crate) upper_name: KVec<u8>,
    pub(crate) work_name: KVec<u8>,
    /// Names of temporary objects in `work/` (`#<n>`, as overlayfs).
    pub(crate) temp_id: AtomicU64,
    /// A whiteout in `work/` that new whiteouts are hard links to, under
    /// the lock of `work/` (`ofs->whiteout`) ...
    pub(crate) whiteout: DentrySlot,
    /// ... unless the upper filesystem failed such a link other than with
    /// `EMLINK` (`ofs->no_shared_whiteout`).
    pub(crate) no_shared_whiteout: AtomicBool,
    /// `index/` in the workdir with `index=on` (then also where temporary
    /// objects are built, as overlayfs).
    pub(crate) index: Option<ARef<Dentry>>,
    /// The upper filesystem's writeback error sequence at mount time.
    pub(crate) errseq: u32,
    /// Exclusive-use marks of the upper and work directories, where this
    /// mount got them.
    pub(crate) _in_use: (Option<crate::vfs::InUse>, Option<crate::vfs::InUse>),
}

/// One layer of a mount: a private clone of the mount of its directory.
pub(crate) struct Layer {
    pub(crate) mnt: PrivateMount,
    /// Some directory of this layer is marked as holding xattr whiteouts
    /// (`opaque=x`); set by lookups, read by readdir.
    pub(crate) has_xwhiteouts: AtomicBool,
}

/// A mounted rovl filesystem (overlayfs's `struct ovl_fs`).
pub(crate) struct Rovl {
    /// The upper layer, if the mount is writable.
    pub(crate) upper: Option<Upper>,
    /// Lower layers, topmost first.
    pub(crate) layers: KVec<Layer>,
    /// The mounter's credentials; every access to a layer runs under them.
    pub(crate) cred: ARef<Cred>,
    /// Some layer is on an idmapped mount: permission checks in RCU walk
    /// mode, which do not know the layer, give way to reference walks.
    pub(crate) idmapped: bool,
    /// All layers are on one filesystem: inode numbers are unique as they are.
    pub(crate) samefs: bool,
    /// Per layer, its filesystem's index (overlayfs's fsid, from 1; 0 is
    /// reserved for an upper layer) ...
    pub(crate) fsid: KVec<usize>,
    /// ... and by fsid, the anonymous st_dev of non-directories from that
    /// filesystem when inode numbers cannot be unified.
    pub(crate) pseudo_devs: KVec<AnonDev>,
    /// ... and whether its uuid is another lower filesystem's too (or
    /// null): its file handles cannot be told apart, origins on it are
    /// not looked up (`bad_uuid`).
    pub(crate) bad_uuid: KVec<bool>,
    /// High inode number bits holding the fsid (`xino`), 0 when off.
    pub(crate) xino_bits: u32,
    /// The last private inode number given to a directory whose own cannot
    /// be used (`ofs->last_ino`).
    pub(crate) last_ino: AtomicU64,
    /// Lower layers that merge (the rest are data-only).
    pub(crate) nr_merged: usize,
    /// Longest name any layer takes.
    pub(crate) namelen: usize,
    /// Identities of the layer root inodes and the work, work base and index
    /// directories, sorted: reaching one of them in a lookup means layers
    /// overlap (overlayfs's trap inodes).
    pub(crate) traps: KVec<usize>,
    /// Feature settings after `verify`, and the defaults they are shown
    /// against in /proc/mounts.
    pub(crate) config: params::Config,
    pub(crate) defaults: params::Config,
    /// The `lowerdir=` option as given, for /proc/mounts ...
    pub(crate) lowerdir: Option<KVec<u8>>,
    /// ... or each `lowerdir+=`/`datadir+=` (data-only) name.
    pub(crate) lower_names: KVec<(KVec<u8>, bool)>,
    /// The persistent instance UUID (also `s_uuid`), zero without one.
    pub(crate) uuid: [u8; 16],
}

impl Rovl {
    fn mnt(&self, layer: usize) -> &Mount {
        match (layer, &self.upper) {
            (UPPER, Some(u)) => &u.mnt,
            _ => &self.layers[layer].mnt,
        }
    }

    /// The index directory of an `index=on` mount.
    pub(crate) fn index_dir(&self) -> Option<&Dentry> {
        self.upper.as_ref()?.index.as_deref()
    }

    /// The upper layer's mount; `EROFS` on a mount without one.
    pub(crate) fn upper_mnt(&self) -> Result<&Mount> {
        self.upper.as_ref().map(|u| &*u.mnt).ok_or(EROFS)
    }

    /// The filesystem index of a layer: 0 for the upper layer and the
    /// lower layers on its filesystem.
    pub(crate) fn fsid_of(&self, layer: usize) -> usize {
        if layer == UPPER {
            0
        } else {
            self.fsid[layer]
        }
    }

    fn nr_data(&self) -> usize {
        self.layers.len() - self.nr_merged
    }

    /// Folds a real inode number from layer `layer` into the overlay's st_ino
    /// space (`xino`): the fsid goes in the high bits. `None` when xino is
    /// off or the number uses those bits.
    pub(crate) fn xino_map(&self, ino: u64, layer: usize) -> Option<u64> {
        if self.xino_bits == 0 {
            return None;
        }
        let shift = 64 - self.xino_bits;
        if ino >> shift != 0 {
            crate::vfs::pr_warn_ratelimited!(
                "inode number too big (ino={}, xinobits={})\n",
                ino,
                self.xino_bits
            );
            return None;
        }
        Some(ino | (self.fsid_of(layer) as u64) << (shift + 1))
    }

    /// Whether `inode` is the root of a layer.
    pub(crate) fn is_trap(&self, inode: &Inode) -> bool {
        self.traps.binary_search(&inode.id()).is_ok()
    }

    /// Redirects are followed unless `redirect_dir=nofollow`.
    fn redirect_follow(&self) -> bool {
        self.config.redirect != params::Redirect::NoFollow
    }

    /// A private inode number, counted per mount from 2 (`ovl_next_ino`).
    fn next_ino(&self) -> u64 {
        match self
            .last_ino
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_add(1)
        {
            0 => self
                .last_ino
                .fetch_add(1, Ordering::Relaxed)
                .wrapping_add(1),
            ino => ino,
        }
    }

    /// The inode number of a new node (`ovl_map_ino`): the real one, but
    /// a private one for directories when layers are on several
    /// filesystems, where real numbers may collide.
    fn new_node(
        &self,
        upper: Option<ARef<Dentry>>,
        stack: KVec<RealEntry>,
        is_root: bool,
        indexed: bool,
    ) -> Result<NewNode<Self>> {
        let lower_dir = stack.first().is_some_and(|e| e.dentry.can_lookup());
        // Constant st_ino across copy-up (`ovl_hash_bylower`): not for a
        // lower hard link, which copy-up breaks, unless the index keeps it.
        let const_ino = stack.first().is_some_and(|e| {
            lower_dir
                || indexed
                || e.dentry.inode().is_some_and(|i| i.nlink() <= 1)
                || (upper.is_none() && self.index_dir().is_some())
        }) && (self.upper.is_none() || upper.is_none() || !self.config.nfs_export || indexed)
            // The root keeps the upper root's number.
            && !(is_root && upper.is_some());
        // Inodes are hashed by their lower inode where that identifies them
        // (`ovl_hash_bylower`): two upper objects naming one origin (copied
        // redirects or origins) then fail the second lookup with ESTALE
        // instead of sharing its st_ino. Not a lower hard link that a
        // copy-up breaks, nor a non-indexed upper object with nfs_export.
        let bylower = stack.first().is_some_and(|l| {
            indexed
                || self.upper.is_none()
                || !((upper.is_some() || self.index_dir().is_none())
                    && !lower_dir
                    && l.dentry.inode().is_some_and(|i| i.nlink() > 1))
                    && !(self.config.nfs_export && upper.is_some())
        });
        // Else by the upper inode (`ovl_get_inode`): every name of an upper
        // object is one inode, whose locks and watches lookups find again.
        // A lower hard link a copy-up would break gets an inode of its own,
        // hashed once copied up (`ovl_inode_update`).
        let key = match (&upper, stack.first()) {
            _ if is_root => None,
            (_, Some(l)) if bylower => l.dentry.inode().map(|i| i.id()),
            (Some(u), _) => u.inode().map(|i| i.id()),
            _ => None,
        };
        // The union link count of an indexed file (`ovl_get_nlink`).
        let real_nlink = upper
            .as_deref()
            .or(stack.first().map(|e| &*e.dentry))
            .and_then(|d| d.inode())
            .map_or(1, |i| i.nlink());
        let nlink = match (indexed, &upper, stack.first()) {
            (true, Some(u), Some(l)) if !l.dentry.can_lookup() => {
                index::get_nlink(self, l.dentry.inode().ok_or(ENOENT)?, u, real_nlink)
            }
            _ => real_nlink,
        };
        let mut node = RovlNode {
            upper: SetOnce::new(),
            stack,
            ino: 0,
            whiteouts: AtomicBool::new(false),
            xwhiteouts: false,
            impure: AtomicBool::new(false),
            impure_version: AtomicU32::new(0),
            const_ino,
            lowerdata_redirect: None,
            lazy_data: SetOnce::new(),
            redirect: SetOnce::new(),
            redirect_abs: SetOnce::new(),
            key: AtomicUsize::new(key.unwrap_or(0)),
            indexed: AtomicBool::new(indexed),
            nlink: AtomicU32::new(nlink),
            meta_upper: AtomicBool::new(false),
            has_digest: AtomicBool::new(false),
            verified_digest: AtomicBool::new(false),
            connected: AtomicBool::new(false),
        };
        if let Some(u) = upper {
            node.upper.set(KBox::new(
                RealEntry {
                    layer: UPPER,
                    dentry: u,
                },
                GFP_KERNEL,
            )?);
        }
        let is_dir = node.real_inode().is_dir();
        // Before any copy-up the st_ino of a lower object is its own; after,
        // the origin's (see `inode::getattr`).
        let (real_ino, ino_layer) = {
            let src = match (node.upper.get(), node.stack.first()) {
                (Some(_), Some(l)) if node.const_ino => l,
                _ => node.top(),
            };
            (src.dentry.inode().ok_or(ENOENT)?.ino(), src.layer)
        };
        // `ovl_map_ino`: the real number where unique, else a private one
        // for directories.
        node.ino = if self.samefs {
            real_ino
        } else if let Some(ino) = self.xino_map(real_ino, ino_layer) {
            ino
        } else if is_dir {
            let ino = self.next_ino();
            if self.xino_bits > 0 {
                let shift = 64 - self.xino_bits;
                (ino & (u64::MAX >> self.xino_bits)) | 1 << shift
            } else {
                ino
            }
        } else {
            real_ino
        };
        if is_dir {
            let w = is_root
                || node.is_merged()
                || xattrs::has_origin(self, self.mnt(node.top().layer), &node.top().dentry)?;
            node.whiteouts = AtomicBool::new(w);
            if let Some(u) = node.upper.get() {
                node.impure = AtomicBool::new(xattrs::is_impure(self, &u.dentry));
            }
        }
        // Append-only and immutable, from the real inode, or for an upper
        // copy from its `protattr` xattr (`ovl_check_protattr`; never
        // for the root, as overlayfs).
        let mut flags = node.real_inode().flags() & crate::vfs::COPY_I_FLAGS;
        if let Some(u) = node.upper().filter(|_| !is_root) {
            flags |= xattrs::protattr(self, u);
        }
        Ok(NewNode {
            ino: node.ino,
            node,
            flags,
        })
    }
}

/// A real object behind a rovl inode: a dentry on one layer.
pub(crate) struct RealEntry {
    pub(crate) layer: usize,
    pub(crate) dentry: ARef<Dentry>,
}

/// What a rovl inode stacks on (overlayfs's `ovl_entry`).
pub(crate) struct RovlNode {
    /// The object on the upper layer, once it exists there (created, or
    /// copied up); never replaced once set.
    pub(crate) upper: SetOnce<RealEntry>,
    /// Real entries on lower layers, topmost first: one for a non-directory
    /// (for a copied-up one, its origin), the directories merged into this
    /// one for a directory.
    pub(crate) stack: KVec<RealEntry>,
    /// The rovl inode number, reported as st_ino of directories on
    /// cross-fs mounts.
    pub(crate) ino: u64,
    /// A directory that may hold whiteouts (`OVL_WHITEOUTS`): the root,
    /// merged directories and ones marked with an origin xattr. Their
    /// listings are built like merged ones.
    pub(crate) whiteouts: AtomicBool,
    /// A directory marked (in some layer) as holding xattr whiteouts.
    pub(crate) xwhiteouts: bool,
    /// An upper directory marked `impure`: it holds copied-up entries
    /// (`OVL_IMPURE`).
    pub(crate) impure: AtomicBool,
    /// Counts changes of a directory's copied-up entries, under its lock:
    /// a listing finds their numbers again after one (`ovl_dir_modified`
    /// with `impurity`).
    pub(crate) impure_version: AtomicU32,
    /// st_ino stays the lower object's after copy-up (`OVL_CONST_INO`).
    pub(crate) const_ino: bool,
    /// A metacopy file whose data is in a data-only layer: the absolute
    /// path to look it up at, on first open (`lowerdata_redirect`) ...
    pub(crate) lowerdata_redirect: Option<KVec<u8>>,
    /// ... and what that lookup found.
    pub(crate) lazy_data: SetOnce<RealEntry>,
    /// The upper directory's `redirect` xattr: as found by lookup or first
    /// set by a rename ...
    pub(crate) redirect: SetOnce<KVec<u8>>,
    /// ... and the absolute one a later rename to another parent set.
    pub(crate) redirect_abs: SetOnce<KVec<u8>>,
    /// What the inode is hashed by (see `Rovl::new_node`), 0 for nothing
    /// yet: set once, by creation or the copy-up of an unhashed node.
    pub(crate) key: AtomicUsize,
    /// The upper object is an index entry (`OVL_INDEX`): the union link
    /// count is `nlink`, and names of the file may have no upper alias yet.
    pub(crate) indexed: AtomicBool,
    /// The link count of the rovl inode: the union count once indexed.
    pub(crate) nlink: AtomicU32,
    /// A directory whose lower handle decodes to it: its ancestors up to
    /// an indexed or connected one are on its origin's layer
    /// (`OVL_E_CONNECTED`, set by `export::connect_layer`).
    pub(crate) connected: AtomicBool,
    /// The upper object is a metacopy (`metacopy=on`): its data is still
    /// the lower one's (no `OVL_UPPERDATA`). Set before `upper` is, cleared
    /// once the data is copied up.
    pub(crate) meta_upper: AtomicBool,
    /// The topmost object's `metacopy` xattr records an fs-verity digest
    /// of the data (`OVL_HAS_DIGEST`) ...
    pub(crate) has_digest: AtomicBool,
    /// ... which the data was checked against (`OVL_VERIFIED_DIGEST`),
    /// under the node lock.
    pub(crate) verified_digest: AtomicBool,
}

impl RovlNode {
    /// The current redirect of an upper directory (`ovl_dentry_get_redirect`).
    pub(crate) fn get_redirect(&self) -> Option<&[u8]> {
        self.redirect_abs
            .get()
            .or(self.redirect.get())
            .map(|v| &v[..])
    }

    /// The topmost real object: the upper one if any.
    pub(crate) fn top(&self) -> &RealEntry {
        match self.upper.get() {
            Some(u) => u,
            None => &self.stack[0],
        }
    }

    pub(crate) fn upper(&self) -> Option<&Dentry> {
        self.upper.get().map(|e| &*e.dentry)
    }

    /// Every real directory of a directory, topmost first.
    pub(crate) fn dirs(&self) -> impl Iterator<Item = &RealEntry> {
        Iterator::chain(self.upper.get().into_iter(), self.stack.iter())
    }

    /// A directory merged from more than one layer (`OVL_TYPE_MERGE`).
    pub(crate) fn is_merged(&self) -> bool {
        self.real_inode().is_dir() && self.stack.len() + usize::from(self.upper.get().is_some()) > 1
    }

    /// The lower origin whose st_ino a copied-up object reports
    /// (`OVL_TYPE_ORIGIN`, and not a broken hard link).
    pub(crate) fn origin(&self) -> Option<&RealEntry> {
        self.upper.get()?;
        if !self.const_ino {
            return None;
        }
        let l = self.stack.first()?;
        let inode = l.dentry.inode()?;
        (inode.is_dir() || inode.nlink() == 1 || self.is_indexed()).then_some(l)
    }

    pub(crate) fn is_indexed(&self) -> bool {
        self.indexed.load(Ordering::Acquire)
    }

    /// An indexed non-directory: its names may lack an upper alias, and
    /// its link count is the union one (directories are indexed only for
    /// NFS export, and have one name).
    pub(crate) fn is_indexed_file(&self) -> bool {
        self.is_indexed() && !self.real_inode().is_dir()
    }

    /// st_ino of a copied-up object with an origin, on a mount whose
    /// inode numbers are unified (`ovl_same_dev`).
    pub(crate) fn origin_ino(&self, fs: &Rovl) -> Option<u64> {
        if !fs.samefs && fs.xino_bits == 0 {
            return None;
        }
        let l = self.origin()?;
        let ino = l.dentry.inode()?.ino();
        Some(fs.xino_map(ino, l.layer).unwrap_or(ino))
    }

    /// Notes that a copied-up entry of this directory came, went or was
    /// renamed.
    pub(crate) fn impurity_changed(&self) {
        self.impure_version.fetch_add(1, Ordering::Release);
    }

    pub(crate) fn may_have_whiteouts(&self) -> bool {
        self.whiteouts.load(Ordering::Acquire)
    }

    pub(crate) fn real_path<'a>(&'a self, fs: &'a Rovl) -> RealPath<'a> {
        let top = self.top();
        RealPath {
            mnt: fs.mnt(top.layer),
            dentry: &top.dentry,
        }
    }

    /// The path of the upper object, once there is one.
    pub(crate) fn upper_path<'a>(&'a self, fs: &'a Rovl) -> Option<RealPath<'a>> {
        Some(RealPath {
            mnt: fs.upper_mnt().ok()?,
            dentry: self.upper()?,
        })
    }

    /// A regular file whose data is on a lower layer than its metadata
    /// (`ovl_is_metacopy_dentry`).
    pub(crate) fn is_metacopy(&self) -> bool {
        if self.real_inode().is_dir() {
            return false;
        }
        match self.upper.get() {
            Some(_) => self.meta_upper.load(Ordering::Acquire),
            None => self.stack.len() > 1 || self.lowerdata_redirect.is_some(),
        }
    }

    /// The upper object holds the data (`ovl_has_upperdata`).
    pub(crate) fn has_upperdata(&self) -> bool {
        self.upper.get().is_some() && !self.meta_upper.load(Ordering::Acquire)
    }

    /// The path of the upper object once it holds the data: where reads of
    /// files opened before a (data) copy-up go next.
    pub(crate) fn upperdata_path<'a>(&'a self, fs: &'a Rovl) -> Option<RealPath<'a>> {
        self.upper_path(fs).filter(|_| self.has_upperdata())
    }

    /// Where the data of a metacopy file is, if known yet
    /// (`ovl_path_lowerdata`).
    pub(crate) fn lowerdata(&self) -> Option<&RealEntry> {
        if self.real_inode().is_dir() || self.has_upperdata() {
            return None;
        }
        if let Some(e) = self.lazy_data.get() {
            return Some(e);
        }
        if self.lowerdata_redirect.is_some() {
            return None;
        }
        // Below a metacopy upper object, the lower one found holds the data
        // unless it is a metacopy itself.
        if self.stack.len() > 1 || self.upper.get().is_some() {
            return self.stack.last();
        }
        None
    }

    /// The real object holding the data, looked up in the data-only layers
    /// on first use (`ovl_maybe_lookup_lowerdata`).
    pub(crate) fn realdata<'a>(&'a self, fs: &'a Rovl) -> Result<RealPath<'a>> {
        if self.has_upperdata() {
            return Ok(self.real_path(fs));
        }
        let e = match (self.lowerdata(), &self.lowerdata_redirect) {
            (Some(e), _) => e,
            (None, Some(redirect)) => {
                let found = namei::lookup_data_layers(fs, redirect)?;
                self.lazy_data.set(KBox::new(found, GFP_KERNEL)?)
            }
            (None, None) => self.top(),
        };
        Ok(RealPath {
            mnt: fs.mnt(e.layer),
            dentry: &e.dentry,
        })
    }

    fn real_inode(&self) -> &Inode {
        // A node is only built from positive dentries.
        self.top()
            .dentry
            .inode()
            .expect("rovl: node on a negative dentry")
    }
}

impl FileSystem for Rovl {
    type Context = params::Context;
    type Node = RovlNode;
    type DirState = readdir::DirCache;

    const NAME: &'static CStr = c_str!("rovl");
    const MAGIC: u32 = kernel::bindings::OVERLAYFS_SUPER_MAGIC;
    // As overlayfs: root of a user namespace may stack the directories it
    // can see; all access to them runs with its own credentials.
    const USERNS_MOUNT: bool = true;

    fn new_context() -> Result<params::Context> {
        Ok(params::Context::new())
    }

    fn next_opt(s: &[u8]) -> usize {
        params::next_opt(s)
    }

    fn parse_param(
        ctx: &mut params::Context,
        key: &CStr,
        value: Option<&CStr>,
        purpose: Purpose,
    ) -> Result {
        ctx.parse(key, value, purpose)
    }

    fn fill_super(
        ctx: &mut params::Context,
        sb: &SuperBlock<Self>,
    ) -> Result<(Self, NewNode<Self>)> {
        super_::fill_super(ctx, sb)
    }

    fn reconfigure(sb: &SuperBlock<Self>, _ctx: &mut params::Context, read_only: bool) -> Result {
        super_::reconfigure(sb.data(), read_only)
    }

    fn real_inode(node: &RovlNode) -> &Inode {
        node.real_inode()
    }

    fn inode_key(node: &RovlNode) -> Option<usize> {
        Some(node.key.load(Ordering::Acquire)).filter(|&k| k != 0)
    }

    /// `ovl_verify_inode`: the lower and upper inodes the lookup found are
    /// the ones the cached inode stacks on. A non-directory may miss either
    /// (a lower alias of a copied-up hard link); a directory must match
    /// exactly (an upper one gone, or the origin of a redirect uncovered).
    fn same_objects(cached: &RovlNode, new: &RovlNode) -> bool {
        let strict = cached.real_inode().is_dir();
        let lower_ok = match (cached.stack.first(), new.stack.first()) {
            (Some(a), Some(b)) => a.dentry.same_inode(&b.dentry),
            (None, Some(_)) => false,
            (Some(_), None) => !strict,
            (None, None) => true,
        };
        let upper_ok = match (cached.upper(), new.upper()) {
            (Some(a), Some(b)) => a.same_inode(b),
            (None, Some(_)) => false,
            (Some(_), None) => !strict,
            (None, None) => true,
        };
        lower_ok && upper_ok
    }

    fn nlink(node: &RovlNode) -> Option<u32> {
        node.is_indexed_file()
            .then(|| node.nlink.load(Ordering::Acquire))
    }

    fn real_is_upper(node: &RovlNode) -> bool {
        node.upper().is_some()
    }
}

#[vtable]
impl SuperOperations for Rovl {
    fn statfs(sb: &SuperBlock<Self>, buf: &mut Kstatfs) -> Result {
        super_::statfs(sb, buf)
    }

    fn show_options(sb: &SuperBlock<Self>, m: &SeqFile) -> Result {
        super_::show_options(sb.data(), m);
        Ok(())
    }

    fn sync_fs(sb: &SuperBlock<Self>, wait: bool) -> Result {
        super_::sync_fs(sb, wait)
    }
}

#[vtable]
impl InodeOperations for Rovl {
    fn fileattr_get(
        sb: &SuperBlock<Self>,
        dentry: &Dentry,
        node: &RovlNode,
        fa: &mut FileAttrArg,
    ) -> Result {
        inode::fileattr_get(sb, dentry, node, fa)
    }

    fn fileattr_set(
        sb: &SuperBlock<Self>,
        dentry: &Dentry,
        node: &RovlNode,
        fa: &mut FileAttrArg,
    ) -> Result {
        inode::fileattr_set(sb, dentry, node, fa)
    }

    fn fiemap(sb: &SuperBlock<Self>, node: &RovlNode, fi: &mut Fiemap) -> Result {
        inode::fiemap(sb, node, fi)
    }

    fn update_time(sb: &SuperBlock<Self>, inode: &Inode, node: &RovlNode, flags: i32) -> Result {
        inode::update_time(sb, inode, node, flags)
    }

    fn lookup(
        sb: &SuperBlock<Self>,
        dir: &RovlNode,
        dentry: &Dentry,
    ) -> Result<Option<NewNode<Self>>> {
        namei::lookup(sb.data(), dir, dentry)
    }

    fn getattr(
        sb: &SuperBlock<Self>,
        node: &RovlNode,
        stat: &mut Kstat,
        mask: u32,
        flags: u32,
    ) -> Result {
        inode::getattr(sb, node, stat, mask, flags)
    }

    fn get_link(sb: &SuperBlock<Self>, node: &RovlNode, done: &DelayedCall) -> Result<*const u8> {
        inode::get_link(sb.data(), node, done)
    }

    fn permission(sb: &SuperBlock<Self>, node: &RovlNode, inode: &Inode, mask: i32) -> Result {
        inode::permission(sb.data(), node, inode, mask)
    }

    fn permission_rcu(
        sb: &SuperBlock<Self>,
        inode: &Inode,
        real: &Inode,
        upper: bool,
        mask: i32,
    ) -> Result {
        inode::permission_rcu(sb.data(), inode, real, upper, mask)
    }

    fn get_acl(sb: &SuperBlock<Self>, node: &RovlNode, acl_type: i32) -> Result<Option<PosixAcl>> {
        inode::get_acl(sb.data(), node, acl_type)
    }

    fn listxattr(sb: &SuperBlock<Self>, node: &RovlNode, buf: &mut [u8]) -> Result<usize> {
        xattrs::list(sb.data(), node, buf)
    }

    fn create(
        sb: &SuperBlock<Self>,
        dir: &Dentry,
        dentry: &Dentry,
        kind: NewKind<'_>,
    ) -> Result<Option<NewNode<Self>>> {
        dir::create(sb, dir, dentry, kind).map(Some)
    }

    fn tmpfile(
        sb: &SuperBlock<Self>,
        dir: &Dentry,
        file: &File,
        mode: u16,
    ) -> Result<(NewNode<Self>, StackedFile)> {
        dir::tmpfile(sb, dir, file, mode)
    }

    fn remove(sb: &SuperBlock<Self>, dir: &Dentry, dentry: &Dentry, is_dir: bool) -> Result {
        dir::remove(sb, dir, dentry, is_dir)
    }

    fn rename(
        sb: &SuperBlock<Self>,
        olddir: &Dentry,
        old: &Dentry,
        newdir: &Dentry,
        new: &Dentry,
        flags: u32,
    ) -> Result {
        dir::rename(sb, olddir, old, newdir, new, flags)
    }

    fn setattr(
        sb: &SuperBlock<Self>,
        dentry: &Dentry,
        node: &RovlNode,
        attr: &mut Iattr,
    ) -> Result {
        inode::setattr(sb, dentry, node, attr)
    }

    fn set_acl(
        sb: &SuperBlock<Self>,
        dentry: &Dentry,
        node: &RovlNode,
        acl_type: i32,
        acl: AclArg,
    ) -> Result {
        inode::set_acl(sb, dentry, node, acl_type, acl)
    }
}

#[vtable]
impl FileOperations for Rovl {
    fn open_file(
        sb: &SuperBlock<Self>,
        dentry: &Dentry,
        node: &RovlNode,
        file: &File,
    ) -> Result<StackedFile> {
        file::open(sb, dentry, node, file)
    }

    fn iterate(
        sb: &SuperBlock<Self>,
        dir: &Dentry,
        state: &mut readdir::DirCache,
        out: &mut DirEmitter,
    ) -> Result {
        readdir::iterate(sb, dir, state, out)
    }

    fn dir_llseek(
        sb: &SuperBlock<Self>,
        dir: &Dentry,
        state: &mut readdir::DirCache,
        pos: &mut i64,
        offset: i64,
        whence: u32,
    ) -> Result<i64> {
        readdir::llseek(sb, dir, state, pos, offset, whence)
    }

    fn fsync(
        sb: &SuperBlock<Self>,
        node: &RovlNode,
        file: Option<(&StackedFile, &File)>,
        start: i64,
        end: i64,
        datasync: bool,
    ) -> Result {
        file::fsync(sb, node, file, start, end, datasync)
    }

    fn copied_up<'a>(sb: &'a SuperBlock<Self>, node: &'a RovlNode) -> Option<RealPath<'a>> {
        node.upperdata_path(sb.data())
    }

    fn syncs(sb: &SuperBlock<Self>) -> bool {
        sb.data().config.fsync != params::Fsync::Volatile
    }

    fn mmap_cached(sb: &SuperBlock<Self>, node: &RovlNode, shared: bool, own_mapped: bool) -> bool {
        let fs = sb.data();
        file::mmap_cached(node, &fs.config, fs.upper.is_some(), shared, own_mapped)
    }

    fn open_for_writeback(sb: &SuperBlock<Self>, path: &RealPath<'_>) -> Result<ARef<File>> {
        let fs = sb.data();
        let _cred = fs.cred.override_creds();
        File::open_path(path, kernel::bindings::O_WRONLY, &fs.cred)
    }
}

impl ExportOperations for Rovl {
    fn encode_fh(
        sb: &SuperBlock<Self>,
        inode: &Inode,
        node: &RovlNode,
        buf: &mut [u8],
    ) -> Result<(u8, usize)> {
        export::encode_fh(sb, inode, node, buf)
    }

    fn fh_to_dentry(
        sb: &SuperBlock<Self>,
        fid: &[u8],
        fh_type: i32,
    ) -> Result<Option<ARef<Dentry>>> {
        export::fh_to_dentry(sb, fid, fh_type)
    }

    fn fh_to_parent(_sb: &SuperBlock<Self>) -> kernel::error::Error {
        export::fh_to_parent()
    }
}

#[vtable]
impl DentryOperations for Rovl {
    fn real_dentries(node: &RovlNode) -> impl Iterator<Item = &Dentry> {
        node.dirs().map(|e| &*e.dentry)
    }

    /// Revalidates every real dentry, topmost first; a stale one makes the
    /// rovl dentry stale too (`ovl_dentry_revalidate_common`).
    fn revalidate(_sb: &SuperBlock<Self>, node: &RovlNode, flags: u32, weak: bool) -> Result<bool> {
        for e in node.dirs() {
            if !e.dentry.revalidate(flags, weak)? {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

impl XattrOperations for Rovl {
    fn xattr_get(
        sb: &SuperBlock<Self>,
        node: &RovlNode,
        prefix: &[u8],
        name: &[u8],
        buf: &mut [u8],
    ) -> Result<usize> {
        xattrs::get(sb.data(), node, prefix, name, buf)
    }

    fn xattr_set(
        sb: &SuperBlock<Self>,
        dentry: &Dentry,
        node: &RovlNode,
        prefix: &[u8],
        name: &[u8],
        value: Option<&[u8]>,
        flags: i32,
    ) -> Result {
        xattrs::set(sb, dentry, node, prefix, name, value, flags)
    }
}
