// SPDX-License-Identifier: GPL-2.0

//! Mounting, statfs and mount options shown in /proc/mounts (super.c).

use super::params::{BStrLossy, Context};
use super::{Layer, RealEntry, Rovl};
use crate::vfs::{self, Cred, Kstatfs, NewNode, OwnedPath, PrivateMount, SeqFile, SuperBlock};
use kernel::c_str;
use kernel::prelude::*;
use kernel::types::ARef;

pub(crate) fn fill_super(
    ctx: &mut Context,
    sb: &SuperBlock<Rovl>,
) -> Result<(Rovl, NewNode<Rovl>)> {
    if ctx.lowers.is_empty() {
        pr_err!("missing 'lowerdir'\n");
        return Err(EINVAL);
    }
    // One lower layer alone would be the layer itself (as overlayfs).
    if ctx.lowers.len() == 1 {
        pr_err!("at least 2 lowerdir are needed while upperdir nonexistent\n");
        return Err(EINVAL);
    }
    let cred = Cred::prepare()?;
    let mut layers = KVec::with_capacity(ctx.lowers.len(), GFP_KERNEL)?;
    let mut stack = KVec::with_capacity(ctx.lowers.len(), GFP_KERNEL)?;
    let mut depth = 0;
    for (i, p) in ctx.lowers.iter().enumerate() {
        let shown = BStrLossy(&p[..p.len() - 1]);
        let name = CStr::from_bytes_with_nul(p)?;
        let path = OwnedPath::lookup(name).inspect_err(|e| {
            pr_err!("failed to resolve lowerdir '{}': {}\n", shown, e.to_errno());
        })?;
        if !path.dentry().inode().is_some_and(|i| i.is_dir()) {
            pr_err!("lowerdir '{}' is not a directory\n", shown);
            return Err(EINVAL);
        }
        depth = depth.max(vfs::stack_depth_of(path.dentry()));
        let mnt = PrivateMount::clone_of(&path)?;
        stack.push(
            RealEntry {
                layer: i,
                dentry: ARef::from(mnt.root()),
            },
            GFP_KERNEL,
        )?;
        layers.push(Layer { mnt }, GFP_KERNEL)?;
    }
    sb.set_stack_depth(depth + 1).inspect_err(|_| {
        pr_err!("maximum fs stacking depth exceeded\n");
    })?;
    // Without an upper layer nothing can be written (as overlayfs).
    sb.set_read_only();

    let first = vfs::sb_of(layers[0].mnt.root());
    let samefs = layers.iter().all(|l| vfs::sb_of(l.mnt.root()) == first);
    let fs = Rovl {
        layers,
        cred,
        samefs,
        lowerdir: core::mem::take(&mut ctx.lowerdir),
    };
    let root = fs.new_node(stack, true);
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
    buf.set_type(i64::from(kernel::bindings::OVERLAYFS_SUPER_MAGIC));
    Ok(())
}

/// The options as overlayfs shows them: `lowerdir=` as the user gave it,
/// escaped like `seq_show_option`.
pub(crate) fn show_options(fs: &Rovl, m: &SeqFile) {
    m.puts(c_str!(",lowerdir="));
    m.escape(&fs.lowerdir, c_str!(",= \t\n\\"));
}
