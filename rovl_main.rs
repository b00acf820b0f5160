// SPDX-License-Identifier: GPL-2.0

//! rovl: an overlay (union) filesystem with stacked file operations.
//!
//! `rust/` holds the safe VFS abstractions and all unsafe code; `fs/` is the
//! filesystem, split by VFS concern as fs/overlayfs is.

use kernel::prelude::*;

#[path = "rust/mod.rs"]
mod vfs;

mod fs;

/// The filesystem type the C glue of `rust/shim.c` dispatches to.
pub(crate) type RovlFs = fs::Rovl;

module! {
    type: RovlModule,
    name: "rovl",
    author: "rovl developers",
    description: "Overlay filesystem with stacked file operations",
    license: "GPL",
    alias: ["fs-rovl"],
}

struct RovlModule {
    _fs: vfs::Registration,
}

impl kernel::Module for RovlModule {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let also_overlay = vfs::ModuleParams::read().register_overlay;
        let fs = vfs::Registration::new::<RovlFs>(module, also_overlay).inspect_err(|e| {
            if also_overlay && *e == EBUSY {
                pr_err!("register_overlay=1 but filesystem type overlay is taken: unload overlay first\n");
            }
        })?;
        if also_overlay {
            pr_info!("also registered as filesystem type overlay\n");
        }
        Ok(Self { _fs: fs })
    }
}
