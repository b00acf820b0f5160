// SPDX-License-Identifier: GPL-2.0

//! Mounting, statfs and mount options shown in /proc/mounts (super.c).

use super::params::{self, Context};
use super::{xattrs, Layer, RealEntry, Rovl};
use crate::vfs::{self, Cred, Kstatfs, NewNode, PrivateMount, SeqFile, SuperBlock};
use core::sync::atomic::{AtomicBool, Ordering};
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
    // One lower layer alone would be the layer itself (as overlayfs).
    if nr_merged == 1 {
        pr_err!("at least 2 lowerdir are needed while upperdir nonexistent\n");
        return Err(EINVAL);
    }
    let cred = Cred::prepare()?;
    let mut layers = KVec::with_capacity(ctx.lowers.len(), GFP_KERNEL)?;
    let mut stack = KVec::with_capacity(nr_merged, GFP_KERNEL)?;
    let mut names = KVec::with_capacity(ctx.lowers.len(), GFP_KERNEL)?;
    let mut depth = 0;
    let mut namelen = 0;
    for (i, l) in ctx.lowers.iter_mut().enumerate() {
        depth = depth.max(vfs::stack_depth_of(l.path.dentry()));
        let mnt = PrivateMount::clone_of(&l.path)?;
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
    let traps = layer_traps(&layers)?;
    sb.set_stack_depth(depth + 1).inspect_err(|_| {
        pr_err!("maximum fs stacking depth exceeded\n");
    })?;
    // Without an upper layer nothing can be written (as overlayfs).
    sb.set_read_only();
    sb.set_xattr_handlers(ctx.config.userxattr);

    // One fsid per distinct lower filesystem (`ovl_get_fsid`); fsid 0 and
    // its device are reserved for an upper layer, even on lower-only mounts.
    let mut sbs = KVec::new();
    let mut fsid = KVec::with_capacity(layers.len(), GFP_KERNEL)?;
    let mut pseudo_devs = KVec::new();
    pseudo_devs.push(vfs::AnonDev::new()?, GFP_KERNEL)?;
    for l in layers.iter() {
        let sb = vfs::sb_of(l.mnt.root());
        let id = match sbs.iter().position(|&s| s == sb) {
            Some(i) => i + 1,
            None => {
                sbs.push(sb, GFP_KERNEL)?;
                pseudo_devs.push(vfs::AnonDev::new()?, GFP_KERNEL)?;
                sbs.len()
            }
        };
        fsid.push(id, GFP_KERNEL)?;
    }
    let samefs = sbs.len() == 1;
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
    } else if layers.iter().all(|l| l.mnt.root().sb_can_decode_fh() == 1) {
        32
    } else {
        sbs.len().ilog2() + 2
    };
    if xino_bits > 0 {
        pr_info!(
            "\"xino\" feature enabled using {} upper inode bits.\n",
            xino_bits
        );
    }
    let fs = Rovl {
        layers,
        cred,
        samefs,
        fsid,
        pseudo_devs,
        xino_bits,
        nr_merged,
        namelen,
        traps,
        config: ctx.config,
        defaults: ctx.defaults(),
        lowerdir: ctx.lowerdir.take(),
        lower_names: names,
    };
    let mut root = fs.new_node(stack, true)?;
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

/// A mount without an upper layer stays read-only (overlayfs: `-EROFS`).
pub(crate) fn reconfigure(read_only: bool) -> Result {
    if read_only {
        Ok(())
    } else {
        Err(EROFS)
    }
}

/// statfs of the topmost layer, reported as an overlay (`ovl_statfs`).
pub(crate) fn statfs(sb: &SuperBlock<Rovl>, buf: &mut Kstatfs) -> Result {
    let fs = sb.data();
    let mnt = &*fs.layers[0].mnt;
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
    Ok(())
}

pub(crate) fn show_options(fs: &Rovl, m: &SeqFile) {
    params::show(
        m,
        &fs.config,
        &fs.defaults,
        fs.lowerdir.as_deref(),
        &fs.lower_names,
        fs.samefs,
    );
}

/// The layer roots as traps (`ovl_setup_trap`, `ovl_check_layer`): the same
/// directory twice, or one layer inside another, is a loop.
fn layer_traps(layers: &[Layer]) -> Result<KVec<usize>> {
    let mut traps = KVec::with_capacity(layers.len(), GFP_KERNEL)?;
    for l in layers {
        let inode = l.mnt.root().inode().ok_or(ENOENT)?;
        traps.push(inode.id(), GFP_KERNEL)?;
    }
    traps.sort_unstable();
    if traps.windows(2).any(|w| w[0] == w[1]) {
        pr_err!("conflicting lowerdir path\n");
        return Err(vfs::errno(kernel::bindings::ELOOP));
    }
    for l in layers {
        let mut d = ARef::from(l.mnt.root());
        loop {
            let parent = d.parent();
            if parent.same(&d) {
                break;
            }
            if parent
                .inode()
                .is_some_and(|i| traps.binary_search(&i.id()).is_ok())
            {
                pr_err!("overlapping lowerdir path\n");
                return Err(vfs::errno(kernel::bindings::ELOOP));
            }
            d = parent;
        }
    }
    Ok(traps)
}
