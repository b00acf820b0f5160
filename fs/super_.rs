// SPDX-License-Identifier: GPL-2.0

//! Mounting, statfs and mount options shown in /proc/mounts (super.c).

use super::params::{self, Context};
use super::{xattrs, Layer, RealEntry, Rovl, Upper};
use crate::vfs::{self, Cred, Kstatfs, NewNode, PrivateMount, SeqFile, SuperBlock};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use kernel::prelude::*;
use kernel::types::ARef;

pub(crate) fn fill_super(
    ctx: &mut Context,
    sb: &SuperBlock<Rovl>,
) -> Result<(Rovl, NewNode<Rovl>)> {
    ctx.verify()?;
    let nr_merged = ctx.lowers.len() - ctx.nr_data();
    if ctx.lowers.is_empty() {
        pr_err!("missing 'lowerdir'\n");
        return Err(EINVAL);
    }
    // One lower layer alone would be the layer itself (as overlayfs: a
    // data-only layer below it counts).
    if ctx.lowers.len() == 1 && ctx.upper.is_none() {
        pr_err!("at least 2 lowerdir are needed while upperdir nonexistent\n");
        return Err(EINVAL);
    }
    if nr_merged == 0 {
        pr_err!("at least one non-data lowerdir is required\n");
        return Err(EINVAL);
    }
    let cred = Cred::prepare()?;
    let upper = match ctx.upper.take() {
        Some(u) => Some(setup_upper(ctx, u, &cred)?),
        // No index without an upper layer, though `nfs_export` turned it
        // on (shown as off, as overlayfs).
        None => {
            ctx.config.index = false;
            None
        }
    };
    if ctx.config.index
        && upper
            .as_ref()
            .is_some_and(|u| u.mnt.root().sb_can_decode_fh() == 0)
    {
        pr_warn!("upper fs does not support file handles, falling back to index=off.\n");
        ctx.config.index = false;
    }
    // NFS export of a writable mount finds copied-up objects in the index.
    if ctx.config.nfs_export && !ctx.config.index && upper.as_ref().is_some_and(|u| !u.read_only) {
        pr_warn!("NFS export requires \"index=on\", falling back to nfs_export=off.\n");
        ctx.config.nfs_export = false;
    }
    let mut layers = KVec::with_capacity(ctx.lowers.len(), GFP_KERNEL)?;
    let mut stack = KVec::with_capacity(nr_merged, GFP_KERNEL)?;
    let mut names = KVec::with_capacity(ctx.lowers.len(), GFP_KERNEL)?;
    let mut depth = 0;
    let mut namelen = 0;
    // Layer roots are traps (`ovl_setup_trap`): a lookup that reaches one
    // means the layers overlap; so does a layer that is already one.
    let mut traps = KVec::new();
    let work_base = upper.as_ref().map(|u| {
        if u.read_only {
            u.work.clone()
        } else {
            u.work.parent()
        }
    });
    if let (Some(u), Some(base)) = (&upper, &work_base) {
        for d in [u.mnt.root(), &**base] {
            traps.push(d.inode().ok_or(ENOENT)?.id(), GFP_KERNEL)?;
        }
        if !u.read_only {
            traps.push(u.work.inode().ok_or(ENOENT)?.id(), GFP_KERNEL)?;
        }
    }
    for (i, l) in ctx.lowers.iter_mut().enumerate() {
        depth = depth.max(vfs::stack_depth_of(l.path.dentry()));
        let id = l.path.dentry().inode().ok_or(ENOENT)?.id();
        if traps.contains(&id) {
            pr_err!("conflicting lowerdir path\n");
            return Err(vfs::errno(kernel::bindings::ELOOP));
        }
        traps.push(id, GFP_KERNEL)?;
        if vfs::InUse::is_marked(l.path.dentry()) {
            report_in_use("lowerdir", ctx.config.index)?;
        }
        let mnt = PrivateMount::clone_of(&l.path)?;
        mnt.make_lower();
        // The index and persistent inode numbers need file handles
        // (`ovl_lower_dir`).
        if mnt.root().sb_can_decode_fh() == 0 && upper.is_some() {
            if ctx.config.index || ctx.config.nfs_export {
                ctx.config.index = false;
                ctx.config.nfs_export = false;
                pr_warn!(
                    "fs on '{}' does not support file handles, falling back to index=off,nfs_export=off.\n",
                    params::BStrLossy(&l.name)
                );
            }
            if ctx.config.xino == params::Xino::Auto {
                ctx.config.xino = params::Xino::Off;
                pr_warn!(
                    "fs on '{}' does not support file handles, falling back to xino=off.\n",
                    params::BStrLossy(&l.name)
                );
            }
        }
        let root = vfs::RealPath {
            mnt: &mnt,
            dentry: mnt.root(),
        };
        namelen = namelen.max(root.namelen()?);
        if !l.data_only {
            stack.push(
                RealEntry {
                    layer: i,
                    dentry: ARef::from(mnt.root()),
                },
                GFP_KERNEL,
            )?;
        }
        layers.push(
            Layer {
                mnt,
                has_xwhiteouts: AtomicBool::new(false),
            },
            GFP_KERNEL,
        )?;
        names.push((core::mem::take(&mut l.name), l.data_only), GFP_KERNEL)?;
    }
    if let Some(u) = &upper {
        depth = depth.max(vfs::stack_depth_of(u.mnt.root()));
        namelen = namelen.max(
            vfs::RealPath {
                mnt: &u.mnt,
                dentry: u.mnt.root(),
            }
            .namelen()?,
        );
    }
    vfs::sort_unstable_by(&mut traps, usize::cmp);
    sb.set_stack_depth(depth + 1).inspect_err(|_| {
        pr_err!("maximum fs stacking depth exceeded\n");
    })?;
    // Without an upper layer, or its `work/`, nothing can be written (as
    // overlayfs).
    if upper.as_ref().map_or(true, |u| u.read_only) {
        sb.set_read_only();
    }
    // As overlayfs: writes skip the set-id/security xattr check (a lookup
    // through every layer) once the VFS marked an inode S_NOSEC, if the
    // upper filesystem allows that for its own inodes. A security attribute
    // changed on a layer directly is not noticed then, as on overlayfs.
    if upper
        .as_ref()
        .is_some_and(|u| vfs::sb_nosec_of(u.mnt.root()))
    {
        sb.set_nosec();
    }
    sb.set_xattr_handlers(ctx.config.userxattr);
    // Handles that name objects without opening them (fanotify,
    // `AT_HANDLE_FID`) where every layer has handles (`ofs->nofh`); the
    // upper layer counts once `work/` is made, as in overlayfs.
    let nofh = layers.iter().any(|l| l.mnt.root().sb_can_decode_fh() == 0)
        || upper
            .as_ref()
            .is_some_and(|u| !u.read_only && u.mnt.root().sb_can_decode_fh() == 0);

    // One fsid per distinct filesystem of merged lower layers
    // (`ovl_get_fsid`); fsid 0 and its device are reserved for an upper
    // layer, even on lower-only mounts, and shared by lower layers on the
    // upper layer's filesystem. Data-only layers share the "null fs" after
    // the last one (`ovl_get_data_fsid`).
    let mut sbs = KVec::new();
    let mut fsid = KVec::with_capacity(layers.len(), GFP_KERNEL)?;
    let mut pseudo_devs = KVec::new();
    pseudo_devs.push(vfs::AnonDev::new()?, GFP_KERNEL)?;
    // By fsid: the filesystem's uuid, whether a lower layer is on it, and
    // whether that uuid cannot tell its handles from another's.
    let upper_root = upper.as_ref().map(|u| u.mnt.root());
    let mut uuids = KVec::new();
    uuids.push(upper_root.map_or([0; 16], |r| r.sb_uuid()), GFP_KERNEL)?;
    let mut is_lower = KVec::new();
    is_lower.push(false, GFP_KERNEL)?;
    let mut bad_uuid = KVec::new();
    bad_uuid.push(false, GFP_KERNEL)?;
    let upper_sb = upper_root.map(vfs::sb_of);
    for l in layers.iter().take(nr_merged) {
        let root = l.mnt.root();
        let sb = vfs::sb_of(root);
        let id = if Some(sb) == upper_sb {
            0
        } else if let Some(i) = sbs.iter().position(|&s| s == sb) {
            i + 1
        } else {
            let uuid = root.sb_uuid();
            let bad = !lower_uuid_ok(
                ctx,
                upper.is_some(),
                &uuid,
                &uuids,
                &is_lower,
                &mut bad_uuid,
            );
            if bad {
                let mut warn = false;
                if ctx.config.xino == params::Xino::Auto {
                    ctx.config.xino = params::Xino::Off;
                    warn = true;
                }
                if ctx.config.index || ctx.config.nfs_export {
                    ctx.config.index = false;
                    ctx.config.nfs_export = false;
                    warn = true;
                }
                if warn {
                    pr_warn!(
                        "{} uuid detected in lower fs '{}', falling back to xino={},index=off,nfs_export=off.\n",
                        if uuid == [0; 16] { "null" } else { "conflicting" },
                        params::BStrLossy(&root.printed_name(1)),
                        params::xino_name(ctx.config.xino)
                    );
                }
            }
            sbs.push(sb, GFP_KERNEL)?;
            pseudo_devs.push(vfs::AnonDev::new()?, GFP_KERNEL)?;
            uuids.push(uuid, GFP_KERNEL)?;
            is_lower.push(false, GFP_KERNEL)?;
            bad_uuid.push(bad, GFP_KERNEL)?;
            sbs.len()
        };
        is_lower[id] = true;
        fsid.push(id, GFP_KERNEL)?;
    }
    let null_fs = sbs.len() + 1;
    pseudo_devs.push(vfs::AnonDev::new()?, GFP_KERNEL)?;
    bad_uuid.push(false, GFP_KERNEL)?;
    for _ in nr_merged..layers.len() {
        fsid.push(null_fs, GFP_KERNEL)?;
    }
    let samefs = sbs.len() + usize::from(upper.is_some()) == 1;
    // xino: layers whose file handles are plain 32-bit inode numbers leave
    // 32 high bits for the fsid; otherwise just enough bits for the fsids
    // plus one for private numbers (`ovl_get_layers`).
    let xino_bits = if samefs {
        if ctx.config.xino == params::Xino::On {
            pr_info!("\"xino=on\" is useless with all layers on same fs, ignore.\n");
        }
        0
    } else if ctx.config.xino == params::Xino::Off {
        0
    } else if layers.iter().all(|l| l.mnt.root().sb_can_decode_fh() == 1)
        && upper
            .as_ref()
            .map_or(true, |u| u.mnt.root().sb_can_decode_fh() == 1)
    {
        32
    } else {
        // Bits for the fsids of lower filesystems, upper fsid 0 included,
        // and one more for private numbers.
        sbs.len().ilog2() + 2
    };
    if xino_bits > 0 {
        pr_info!(
            "\"xino\" feature enabled using {} upper inode bits.\n",
            xino_bits
        );
    }
    // Without uuids in its file handles, origins can only be told apart on
    // one filesystem (data-only layers do not count: they have no origins).
    let other_fs = fsid.iter().take(nr_merged).any(|&id| id != 0);
    let uuid = if ctx.config.uuid == params::Uuid::Off && other_fs {
        pr_warn!(
            "The uuid=off requires a single fs for lower and upper, falling back to uuid=null.\n"
        );
        ctx.config.uuid = params::Uuid::Null;
        None
    } else if let Some(u) = &upper {
        let _w = vfs::WriteAccess::get(&u.mnt)?;
        init_uuid(ctx, &u.mnt)
    } else {
        None
    };
    if let Some(uuid) = &uuid {
        sb.set_uuid(uuid);
    }
    // Decodable handles once `nfs_export` is settled (`ovl_fill_super`).
    if ctx.config.nfs_export {
        sb.set_export_ops();
    } else if !nofh {
        sb.set_export_fid_ops();
    }
    let upper_root = upper.as_ref().map(|u| ARef::from(u.mnt.root()));
    let idmapped = layers.iter().any(|l| l.mnt.is_idmapped())
        || upper.as_ref().is_some_and(|u| u.mnt.is_idmapped());
    let mut fs = Rovl {
        upper,
        layers,
        cred,
        idmapped,
        samefs,
        fsid,
        pseudo_devs,
        bad_uuid,
        xino_bits,
        last_ino: AtomicU64::new(1),
        nr_merged,
        namelen,
        traps,
        config: ctx.config,
        defaults: ctx.defaults(),
        lowerdir: ctx.lowerdir.take(),
        lower_names: names,
        uuid: uuid.unwrap_or_default(),
    };
    if fs.config.index {
        if let Some(u) = &fs.upper {
            let base = u.work.parent();
            let dir = super::index::setup(&fs, &base)?;
            // The index takes over from `work/` as the work dir, and as a
            // trap (`ovl_get_indexdir`): nothing keeps `work/` in memory
            // from now on, and a trap must name a live inode, else a new
            // inode at the same address would look like one (`ELOOP`).
            let old = u.work.inode().ok_or(ENOENT)?.id();
            let new = dir.inode().ok_or(ENOENT)?.id();
            match fs.traps.iter_mut().find(|t| **t == old) {
                Some(t) => *t = new,
                None => fs.traps.push(new, GFP_KERNEL)?,
            }
            vfs::sort_unstable_by(&mut fs.traps, usize::cmp);
            // The index dir is also where new objects are built.
            if let Some(u) = fs.upper.as_mut() {
                u.work = dir.clone();
                u.index = Some(dir);
            }
        }
    }
    check_overlapping(&fs, work_base.as_deref())?;
    let mut root = fs.new_node(upper_root, stack, true, false)?;
    // xwhiteouts markers on the layer roots, but the lowermost.
    let nr = root.node.stack.len();
    for e in root.node.stack.iter().take(nr - 1) {
        if xattrs::opaque_val(&fs, fs.mnt(e.layer), &e.dentry) == b'x' {
            fs.layers[e.layer]
                .has_xwhiteouts
                .store(true, Ordering::Release);
            root.node.xwhiteouts = true;
        }
    }
    Ok((fs, root))
}

/// Whether a new lower filesystem's uuid tells its file handles from the
/// others' (`ovl_lower_uuid_ok`): not a null one unless a feature that
/// follows origins was asked for, nor one another lower filesystem has
/// (which then cannot be told apart either).
fn lower_uuid_ok(
    ctx: &Context,
    has_upper: bool,
    uuid: &[u8; 16],
    uuids: &[[u8; 16]],
    is_lower: &[bool],
    bad_uuid: &mut [bool],
) -> bool {
    let c = &ctx.config;
    if !c.nfs_export && !has_upper {
        return true;
    }
    if c.allow_offline_changes() && *uuid == [0; 16] {
        return false;
    }
    match (0..uuids.len()).find(|&k| is_lower[k] && uuids[k] == *uuid) {
        Some(k) => {
            bad_uuid[k] = true;
            false
        }
        None => true,
    }
}

/// A mount without an upper layer, or without `work/`, stays read-only
/// (overlayfs: `-EROFS`).
pub(crate) fn reconfigure(fs: &Rovl, read_only: bool) -> Result {
    if read_only || fs.upper.as_ref().is_some_and(|u| !u.read_only) {
        Ok(())
    } else {
        Err(EROFS)
    }
}

/// Checks and prepares the upper layer and workdir (`ovl_get_upper`,
/// `ovl_get_workdir`, `ovl_make_workdir`): a private mount of the upper
/// directory, and a fresh `work/` inside the workdir.
fn setup_upper(
    ctx: &mut Context,
    (path, upper_name): (vfs::OwnedPath, KVec<u8>),
    cred: &Cred,
) -> Result<Upper> {
    let Some((work, work_name)) = ctx.workdir.take() else {
        pr_err!("missing 'workdir'\n");
        return Err(EINVAL);
    };
    if path.is_readonly() {
        pr_err!("upper fs is r/o, try multi-lower layers mount\n");
        return Err(EINVAL);
    }
    if !path.same_mount(&work) {
        pr_err!("workdir and upperdir must reside under the same mount\n");
        return Err(EINVAL);
    }
    if path.dentry().is_subdir_of(work.dentry()) || work.dentry().is_subdir_of(path.dentry()) {
        pr_err!("workdir and upperdir must be separate subtrees\n");
        return Err(EINVAL);
    }
    let mnt = PrivateMount::clone_of(&path)?;
    mnt.make_upper();
    // A volatile mount never syncs: it reports the upper filesystem's
    // writeback errors since the mount instead (`ovl_sync_status`).
    let errseq = mnt.wb_err_sample();
    if ctx.config.fsync == params::Fsync::Volatile && mnt.wb_err_since(errseq).is_err() {
        pr_err!("Cannot mount volatile when upperdir has an unseen error. Sync upperdir fs to clear state.\n");
        return Err(EIO);
    }
    let upper_lock = in_use(mnt.root(), "upperdir", ctx.config.index)?;
    let work_lock = in_use(work.dentry(), "workdir", ctx.config.index)?;
    let _cred = cred.override_creds();
    let work_base = work;
    let work = {
        let _w = vfs::WriteAccess::get(&mnt)?;
        make_workdir(
            &mnt,
            work_base.dentry(),
            ctx.config.fsync == params::Fsync::Volatile,
            &work_name,
        )?
    };
    let (work, read_only, noxattr) = match work {
        Some(work) => {
            let _w = vfs::WriteAccess::get(&mnt)?;
            let noxattr = probe_features(&mut ctx.config, &mnt, work_base.dentry(), &work, cred)?;
            (work, false, noxattr)
        }
        None => {
            // Nothing will be written: no features to probe, no index. The
            // work base stands in for `work/`, which nothing uses.
            ctx.config.index = false;
            if ctx.config.nfs_export {
                pr_warn!("NFS export requires an index dir, falling back to nfs_export=off.\n");
                ctx.config.nfs_export = false;
            }
            (ARef::from(work_base.dentry()), true, false)
        }
    };
    Ok(Upper {
        mnt,
        work,
        noxattr: AtomicBool::new(noxattr),
        read_only,
        upper_name,
        work_name,
        temp_id: core::sync::atomic::AtomicU64::new(0),
        whiteout: vfs::DentrySlot::new(),
        no_shared_whiteout: AtomicBool::new(false),
        index: None,
        errseq,
        _in_use: (upper_lock, work_lock),
    })
}

/// Takes the exclusive-use mark of an upper or work directory; another
/// mount holding it fails the mount with `index` and only earns a warning
/// without (as overlayfs, `ovl_report_in_use`).
fn in_use(d: &vfs::Dentry, what: &str, index: bool) -> Result<Option<vfs::InUse>> {
    let l = vfs::InUse::try_lock(d);
    if l.is_none() {
        report_in_use(what, index)?;
    }
    Ok(l)
}

/// A directory in use by another mount: refused with `index` (whose
/// entries would go stale), else only a warning (`ovl_report_in_use`).
fn report_in_use(what: &str, index: bool) -> Result {
    if index {
        pr_err!(
            "{} is in-use as upperdir/workdir of another mount, mount with '-o index=off' to override exclusive upperdir protection.\n",
            what
        );
        return Err(EBUSY);
    }
    pr_warn!(
        "{} is in-use as upperdir/workdir of another mount, accessing files from both mounts will result in undefined behavior.\n",
        what
    );
    Ok(())
}

/// Makes an empty `work/` in the workdir, removing what a previous mount
/// left there (`ovl_workdir_create`). A volatile mount leaves
/// `work/incompat/volatile/dirty`, and a workdir holding anything in
/// `work/incompat` refuses to mount: its upper layer may be inconsistent.
/// `None` when `work/` cannot be made: the mount is then read-only.
fn make_workdir(
    mnt: &vfs::Mount,
    base: &vfs::Dentry,
    volatile: bool,
    work_name: &[u8],
) -> Result<Option<ARef<vfs::Dentry>>> {
    match create_work(mnt, base)? {
        Ok(w) => {
            if volatile {
                mark_volatile(mnt, &w)?;
            }
            Ok(Some(w))
        }
        Err(e) => {
            pr_warn!(
                "failed to create directory {}/work (errno: {}); mounting read-only\n",
                params::BStrLossy(work_name),
                -e.to_errno()
            );
            Ok(None)
        }
    }
}

/// The steps of `make_workdir`: an error of the outer result fails the
/// mount, one of the inner result makes it read-only.
fn create_work(mnt: &vfs::Mount, base: &vfs::Dentry) -> Result<Result<ARef<vfs::Dentry>>> {
    let einval = EINVAL;
    for retried in [false, true] {
        let lock = match vfs::Locked::dir(mnt, base) {
            Ok(l) => l,
            Err(e) => return Ok(Err(e)),
        };
        let d = match lock.lookup(base, b"work") {
            Ok(d) => d,
            Err(e) => return Ok(Err(e)),
        };
        if d.inode().is_none() {
            let w = match lock.mkdir(base, &d, 0) {
                Ok(w) => w,
                Err(e) => return Ok(Err(e)),
            };
            drop(lock);
            // `work` inherits a default ACL of the workdir: drop both ACLs
            // and the mode bits they gave it.
            for acl in [
                kernel::c_str!("system.posix_acl_default"),
                kernel::c_str!("system.posix_acl_access"),
            ] {
                match w.remove_acl(mnt, acl) {
                    Err(e)
                        if e != vfs::errno(kernel::bindings::ENODATA)
                            && e != vfs::errno(kernel::bindings::EOPNOTSUPP) =>
                    {
                        return Ok(Err(e))
                    }
                    _ => {}
                }
            }
            let mode = kernel::bindings::S_IFDIR as u16;
            if let Err(e) = w.setattr(mnt, &mut vfs::Iattr::new().mode(mode)) {
                return Ok(Err(e));
            }
            return Ok(Ok(w));
        }
        drop(lock);
        if retried {
            break;
        }
        // Incompatible features (EINVAL) fail the mount; another error
        // leaves the old `work/`, found again on the retry.
        match check_incompat(mnt, &d).and_then(|()| remove_tree(mnt, base, &d, 0)) {
            Err(e) if e == einval => return Err(e),
            _ => {}
        }
    }
    Ok(Err(vfs::errno(kernel::bindings::EEXIST)))
}

/// What overlayfs wants of an upper filesystem (`ovl_make_workdir`): file
/// types in listings (else whiteouts would show), `O_TMPFILE` and
/// `RENAME_WHITEOUT`. A local one lacking them earns warnings; a remote
/// one fails the mount.
fn probe_features(
    c: &mut params::Config,
    mnt: &vfs::Mount,
    base: &vfs::Dentry,
    work: &vfs::Dentry,
    cred: &Cred,
) -> Result<bool> {
    let mut d_type = false;
    vfs::File::open_dir(&vfs::RealPath { mnt, dentry: base }, cred)?.read_dir(
        &mut |name, _, t| {
            // DT_UNKNOWN is 0.
            if name != b"." && name != b".." && t != 0 {
                d_type = true;
            }
            Ok(())
        },
    )?;
    if !d_type {
        pr_warn!("upper fs needs to support d_type.\n");
    }
    let tmpfile = vfs::File::open_tmpfile_in(
        &vfs::RealPath { mnt, dentry: work },
        kernel::bindings::S_IFREG as u16,
        cred,
    )
    .is_ok();
    if !tmpfile {
        pr_warn!("upper fs does not support tmpfile.\n");
    }
    let rename_whiteout = check_rename_whiteout(mnt, work)?;
    if !rename_whiteout {
        pr_warn!("upper fs does not support RENAME_WHITEOUT.\n");
    }
    // Without overlay's xattrs on the upper filesystem the features that
    // keep state in them are off.
    let noxattr = match xattrs::set_private_cfg(c, mnt, work, b"opaque", b"0") {
        Ok(()) => {
            let _ = xattrs::remove_private_cfg(c, mnt, work, b"opaque");
            false
        }
        Err(e) => {
            pr_warn!("failed to set xattr on upper\n");
            xattr_fallbacks(c);
            if e == EPERM && !c.userxattr {
                pr_info!("try mounting with 'userxattr' option\n");
            }
            true
        }
    };
    // Overlay dentries always revalidate, which makes an overlay upper
    // layer remote to overlayfs; rovl's keep only their layers' flags, so
    // the magic both use says it for either.
    let remote = work.needs_revalidate(false)
        || work.needs_revalidate(true)
        || vfs::magic_of(work) == u64::from(kernel::bindings::OVERLAYFS_SUPER_MAGIC);
    if remote && (!d_type || !rename_whiteout || noxattr) {
        pr_err!("upper fs missing required features.\n");
        return Err(EINVAL);
    }
    Ok(noxattr)
}

/// What an upper filesystem without xattrs turns off (`ovl_make_workdir`).
fn xattr_fallbacks(c: &mut params::Config) {
    use params::{Redirect, Uuid, Xino};
    if c.redirect != Redirect::NoFollow {
        c.redirect = Redirect::NoFollow;
        pr_warn!("...falling back to redirect_dir=nofollow.\n");
    }
    if c.metacopy {
        c.metacopy = false;
        pr_warn!("...falling back to metacopy=off.\n");
    }
    if c.index {
        c.index = false;
        pr_warn!("...falling back to index=off.\n");
    }
    if matches!(c.uuid, Uuid::Auto | Uuid::On) {
        c.uuid = Uuid::Null;
        pr_warn!("...falling back to uuid=null.\n");
    }
    // Persistent inode numbers need origins.
    if c.xino == Xino::Auto {
        c.xino = Xino::Off;
        pr_warn!("...falling back to xino=off.\n");
    }
}

/// Renames a new file in `work` with `RENAME_WHITEOUT` and looks for the
/// whiteout it leaves (`ovl_check_rename_whiteout`).
fn check_rename_whiteout(mnt: &vfs::Mount, work: &vfs::Dentry) -> Result<bool> {
    let lock = vfs::Locked::dir(mnt, work)?;
    let (a, b) = (&b"#rw.0"[..], &b"#rw.1"[..]);
    let src = lock.lookup(work, a)?;
    lock.create(work, &src, 0)?;
    let dst = lock.lookup(work, b)?;
    let supported =
        match lock.rename_entry(work, &src, work, &dst, kernel::bindings::RENAME_WHITEOUT) {
            Ok(()) => lock
                .lookup(work, a)?
                .inode()
                .is_some_and(|i| i.is_whiteout()),
            Err(e) if e == EINVAL => false,
            Err(e) => return Err(e),
        };
    for n in [a, b] {
        let d = lock.lookup(work, n)?;
        if d.inode().is_some() {
            lock.unlink(work, &d)?;
        }
    }
    Ok(supported)
}

/// Fails if `work/incompat` holds an entry (`ovl_workdir_cleanup`).
fn check_incompat(mnt: &vfs::Mount, work: &vfs::Dentry) -> Result {
    let inc = vfs::Locked::dir(mnt, work)?.lookup(work, b"incompat")?;
    if !inc.can_lookup() {
        return Ok(());
    }
    let path = vfs::RealPath { mnt, dentry: &inc };
    let cred = Cred::prepare()?;
    let mut found: Option<KVec<u8>> = None;
    vfs::File::open_dir(&path, &cred)?.read_dir(&mut |name, _, _| {
        if found.is_none() && name != b"." && name != b".." {
            let mut n = KVec::new();
            n.extend_from_slice(name, GFP_KERNEL)?;
            found = Some(n);
        }
        Ok(())
    })?;
    if let Some(name) = found {
        pr_err!(
            "overlay with incompat feature '{}' cannot be mounted\n",
            params::BStrLossy(&name)
        );
        return Err(EINVAL);
    }
    Ok(())
}

/// Creates `work/incompat/volatile/dirty` (`ovl_create_volatile_dirty`).
fn mark_volatile(mnt: &vfs::Mount, work: &vfs::Dentry) -> Result {
    let mut d: ARef<vfs::Dentry> = ARef::from(work);
    for name in [&b"incompat"[..], b"volatile"] {
        let next = {
            let lock = vfs::Locked::dir(mnt, &d)?;
            let n = lock.lookup(&d, name)?;
            if n.inode().is_some() {
                n
            } else {
                lock.mkdir(&d, &n, 0)?
            }
        };
        d = next;
    }
    let lock = vfs::Locked::dir(mnt, &d)?;
    let f = lock.lookup(&d, b"dirty")?;
    if f.inode().is_none() {
        lock.create(&d, &f, 0)?;
    }
    Ok(())
}

/// The names in the real directory `d`, without `.` and `..`.
pub(crate) fn dir_names(mnt: &vfs::Mount, d: &vfs::Dentry) -> Result<KVec<KVec<u8>>> {
    let mut names: KVec<KVec<u8>> = KVec::new();
    let cred = Cred::prepare()?;
    vfs::File::open_dir(&vfs::RealPath { mnt, dentry: d }, &cred)?.read_dir(
        &mut |name, _, _| {
            if name != b"." && name != b".." {
                let mut n = KVec::new();
                n.extend_from_slice(name, GFP_KERNEL)?;
                names.push(n, GFP_KERNEL)?;
            }
            Ok(())
        },
    )?;
    Ok(names)
}

/// Removes `d` in `parent` with everything below it.
pub(crate) fn remove_tree(
    mnt: &vfs::Mount,
    parent: &vfs::Dentry,
    d: &vfs::Dentry,
    depth: u32,
) -> Result {
    if d.can_lookup() {
        if depth > 16 {
            return Err(vfs::errno(kernel::bindings::ELOOP));
        }
        for n in dir_names(mnt, d)?.iter() {
            let child = {
                let lock = vfs::Locked::dir(mnt, d)?;
                lock.lookup(d, n)?
            };
            if child.inode().is_some() {
                remove_tree(mnt, d, &child, depth + 1)?;
            }
        }
    }
    let lock = vfs::Locked::dir(mnt, parent)?;
    let again = lock.lookup(parent, d.name())?;
    if !again.same(d) {
        return Ok(());
    }
    let r = if d.can_lookup() {
        lock.rmdir(parent, d)
    } else {
        lock.unlink(parent, d)
    };
    if let Err(e) = r {
        cleanup_failed(parent, d, e);
    }
    r
}

/// overlayfs's report of an object in the work or index directory that
/// could not be removed (`ovl_cleanup`).
pub(crate) fn cleanup_failed(parent: &vfs::Dentry, d: &vfs::Dentry, e: Error) {
    pr_err!(
        "cleanup of '{}/{}' failed ({})\n",
        params::BStrLossy(parent.name()),
        params::BStrLossy(d.name()),
        e.to_errno()
    );
}

/// The persistent instance UUID in the upper root's `uuid` xattr
/// (`ovl_init_uuid_xattr`): with uuid=auto a new overlay gets one and shows
/// uuid=on, an old one (impure root without it) falls back to uuid=null.
/// `None` when the mount has no UUID of its own.
fn init_uuid(ctx: &mut Context, mnt: &vfs::Mount) -> Option<[u8; 16]> {
    use params::Uuid;
    let c = &mut ctx.config;
    if !matches!(c.uuid, Uuid::Auto | Uuid::On) {
        return None;
    }
    let root = mnt.root();
    let mut uuid = [0u8; 16];
    let enodata = vfs::errno(kernel::bindings::ENODATA);
    // As overlayfs, a value of another size fails the mount's uuid too.
    let (set, res) = match xattrs::get_private_cfg(c, mnt, root, b"uuid", &mut uuid) {
        Ok(16) => return Some(uuid),
        Ok(n) => (false, n as i32),
        Err(e) if e != enodata => (false, e.to_errno()),
        Err(_) => {
            if c.uuid == Uuid::Auto {
                match xattrs::get_private_cfg(c, mnt, root, b"impure", &mut []) {
                    Ok(n) if n > 0 => {
                        c.uuid = Uuid::Null;
                        return None;
                    }
                    Err(e) if e != enodata => (false, e.to_errno()),
                    // An empty `impure` keeps uuid=auto, with a new uuid.
                    Ok(_) => (true, 0),
                    Err(_) => {
                        c.uuid = Uuid::On;
                        (true, 0)
                    }
                }
            } else {
                (true, 0)
            }
        }
    };
    let res = if set {
        vfs::random_bytes(&mut uuid);
        match xattrs::set_private_cfg(c, mnt, root, b"uuid", &uuid) {
            Ok(()) => return Some(uuid),
            Err(e) => e.to_errno(),
        }
    } else {
        res
    };
    c.uuid = Uuid::Null;
    pr_warn!(
        "failed to {} uuid (err={}); falling back to uuid=null.\n",
        if set { "set" } else { "get" },
        res
    );
    None
}

/// statfs of the topmost layer, reported as an overlay (`ovl_statfs`).
pub(crate) fn statfs(sb: &SuperBlock<Rovl>, buf: &mut Kstatfs) -> Result {
    let fs = sb.data();
    let mnt = match &fs.upper {
        Some(u) => &*u.mnt,
        None => &*fs.layers[0].mnt,
    };
    let path = vfs::RealPath {
        mnt,
        dentry: mnt.root(),
    };
    let _cred = fs.cred.override_creds();
    path.statfs(buf)?;
    buf.set_type_namelen(
        i64::from(kernel::bindings::OVERLAYFS_SUPER_MAGIC),
        fs.namelen as i64,
    );
    // With a uuid mode that keeps one (a lower-only mount has none: zero).
    if matches!(fs.config.uuid, params::Uuid::Auto | params::Uuid::On) {
        buf.set_fsid_from_uuid(&fs.uuid);
    }
    Ok(())
}

pub(crate) fn show_options(fs: &Rovl, m: &SeqFile) {
    params::show(
        m,
        &fs.config,
        &fs.defaults,
        fs.lowerdir.as_deref(),
        &fs.lower_names,
        fs.upper
            .as_ref()
            .map(|u| (&u.upper_name[..], &u.work_name[..])),
        fs.samefs,
    );
}

/// No layer may lie inside another, nor inside the upper or work directory
/// of another mount with `index=on` (`ovl_check_overlapping_layers`).
fn check_overlapping(fs: &Rovl, work_base: Option<&vfs::Dentry>) -> Result {
    if let (Some(u), Some(base)) = (&fs.upper, work_base) {
        check_layer(fs, u.mnt.root(), "upperdir", false)?;
        // The work base rather than `work/`, whose parent this mount holds.
        check_layer(fs, base, "workdir", false)?;
    }
    for l in &fs.layers {
        check_layer(fs, l.mnt.root(), "lowerdir", true)?;
    }
    Ok(())
}

/// Walks from a layer root up to its filesystem's root looking for other
/// layers' roots (a lower layer inside one loops) and directories in use by
/// another mount (`ovl_check_layer`).
fn check_layer(fs: &Rovl, root: &vfs::Dentry, what: &str, lower: bool) -> Result {
    let mut d = ARef::from(root);
    loop {
        let parent = d.parent();
        if parent.same(&d) {
            return Ok(());
        }
        if lower && parent.inode().is_some_and(|i| fs.is_trap(i)) {
            pr_err!("overlapping {} path\n", what);
            return Err(vfs::errno(kernel::bindings::ELOOP));
        } else if vfs::InUse::is_marked(&parent) {
            report_in_use(what, fs.config.index)?;
        }
        d = parent;
    }
}

/// `syncfs` of a rovl mount (`ovl_sync_fs`): syncs the upper filesystem
/// when waiting (`sync(2)` syncs it on its own: the mount skips that);
/// on a volatile mount, reports an upper writeback error since the mount
/// instead.
pub(crate) fn sync_fs(sb: &SuperBlock<Rovl>, wait: bool) -> Result {
    let fs = sb.data();
    let Some(upper) = fs.upper.as_ref() else {
        return Ok(());
    };
    if fs.config.fsync == params::Fsync::Volatile {
        return upper.mnt.wb_err_since(upper.errseq).map_err(|_| EIO);
    }
    if !wait {
        return Ok(());
    }
    upper.mnt.sync_filesystem()
}
