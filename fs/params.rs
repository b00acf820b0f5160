// SPDX-License-Identifier: GPL-2.0

//! Mount options (overlayfs's params.c): parsing, the checks and fallbacks
//! of `ovl_fs_params_verify`, and what /proc/mounts shows.

use super::MAX_LAYERS;
use crate::vfs::{self, OwnedPath, SeqFile};
use kernel::c_str;
use kernel::prelude::*;

/// `redirect_dir=`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Redirect {
    Off,
    Follow,
    NoFollow,
    On,
}

/// `xino=`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Xino {
    Off,
    Auto,
    On,
}

/// `uuid=`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Uuid {
    Off,
    Null,
    Auto,
    On,
}

/// `verity=`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verity {
    Off,
    On,
    Require,
}

/// `mmap=`: what a shared mapping of a file whose data is still on a lower
/// layer maps (rovl's own option; overlayfs always maps the real file).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mmap {
    /// The rovl inode's own pages, which see writes after a copy-up.
    Coherent,
    /// The real (lower) file's pages, as overlayfs: no copy into own
    /// pages, but a mapping made before a copy-up keeps the lower data.
    Real,
}

/// `fsync=` (and `volatile`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fsync {
    Volatile,
    Auto,
    Strict,
}

const REDIRECT: &[(&str, Redirect)] = &[
    ("off", Redirect::Off),
    ("follow", Redirect::Follow),
    ("nofollow", Redirect::NoFollow),
    ("on", Redirect::On),
];
const XINO: &[(&str, Xino)] = &[("off", Xino::Off), ("auto", Xino::Auto), ("on", Xino::On)];
const UUID: &[(&str, Uuid)] = &[
    ("off", Uuid::Off),
    ("null", Uuid::Null),
    ("auto", Uuid::Auto),
    ("on", Uuid::On),
];
const VERITY: &[(&str, Verity)] = &[
    ("off", Verity::Off),
    ("on", Verity::On),
    ("require", Verity::Require),
];
const FSYNC: &[(&str, Fsync)] = &[
    ("volatile", Fsync::Volatile),
    ("auto", Fsync::Auto),
    ("strict", Fsync::Strict),
];
const MMAP: &[(&str, Mmap)] = &[("coherent", Mmap::Coherent), ("real", Mmap::Real)];
const BOOL: &[(&str, bool)] = &[("on", true), ("off", false)];

/// The option value of an xino mode (`ovl_xino_mode`).
pub(crate) fn xino_name(x: Xino) -> &'static str {
    name_of(XINO, x)
}

fn name_of<T: PartialEq + Copy>(table: &[(&'static str, T)], v: T) -> &'static str {
    table.iter().find(|e| e.1 == v).map_or("?", |e| e.0)
}

/// The feature settings of a mount (`struct ovl_config` less the layers).
#[derive(Clone, Copy)]
pub(crate) struct Config {
    pub(crate) redirect: Redirect,
    pub(crate) index: bool,
    pub(crate) uuid: Uuid,
    pub(crate) nfs_export: bool,
    pub(crate) xino: Xino,
    pub(crate) metacopy: bool,
    pub(crate) verity: Verity,
    pub(crate) fsync: Fsync,
    pub(crate) mmap: Mmap,
    pub(crate) userxattr: bool,
    pub(crate) default_permissions: bool,
}

/// The defaults, from the module parameters as overlayfs reads its own.
fn redirect_def(p: &vfs::ModuleParams) -> Redirect {
    if p.redirect_dir {
        Redirect::On
    } else if p.redirect_always_follow {
        Redirect::Follow
    } else {
        Redirect::NoFollow
    }
}

fn xino_def(p: &vfs::ModuleParams) -> Xino {
    if p.xino_auto {
        Xino::Auto
    } else {
        Xino::Off
    }
}

impl Config {
    /// No feature in use that relies on lower layers staying as they were
    /// (`ovl_allow_offline_changes`).
    pub(crate) fn allow_offline_changes(&self) -> bool {
        !self.index && !self.metacopy && self.redirect != Redirect::On && self.xino != Xino::On
    }

    fn defaults(p: &vfs::ModuleParams) -> Self {
        Self {
            redirect: redirect_def(p),
            index: p.index,
            uuid: Uuid::Auto,
            nfs_export: p.nfs_export,
            xino: xino_def(p),
            metacopy: p.metacopy,
            verity: Verity::Off,
            fsync: Fsync::Auto,
            mmap: Mmap::Coherent,
            userxattr: false,
            default_permissions: false,
        }
    }

    /// Prefix of overlay's private xattrs on the layers.
    pub(crate) fn xattr_prefix(&self) -> &'static [u8] {
        if self.userxattr {
            b"user.overlay."
        } else {
            b"trusted.overlay."
        }
    }
}

/// Options given explicitly, which decide how conflicts resolve.
#[derive(Default, Clone, Copy)]
struct Set {
    redirect: bool,
    index: bool,
    nfs_export: bool,
    metacopy: bool,
}

/// One lower layer named by the options.
pub(crate) struct Lower {
    pub(crate) path: OwnedPath,
    /// The name as given, for /proc/mounts (`lowerdir+=`, `datadir+=`).
    pub(crate) name: KVec<u8>,
    pub(crate) data_only: bool,
}

/// Options of one mount or remount being set up (`ovl_fs_context`).
pub(crate) struct Context {
    pub(crate) lowers: KVec<Lower>,
    /// The whole `lowerdir=` value as given, escapes included.
    pub(crate) lowerdir: Option<KVec<u8>>,
    /// `upperdir=` and `workdir=`, resolved, with their names as given.
    pub(crate) upper: Option<(OwnedPath, KVec<u8>)>,
    pub(crate) workdir: Option<(OwnedPath, KVec<u8>)>,
    pub(crate) config: Config,
    set: Set,
    params: vfs::ModuleParams,
}

impl Context {
    pub(crate) fn new() -> Self {
        let params = vfs::ModuleParams::read();
        Self {
            lowers: KVec::new(),
            lowerdir: None,
            upper: None,
            workdir: None,
            config: Config::defaults(&params),
            set: Set::default(),
            params,
        }
    }

    pub(crate) fn nr_data(&self) -> usize {
        self.lowers.iter().filter(|l| l.data_only).count()
    }

    /// One option, as `ovl_parse_param`.
    pub(crate) fn parse(
        &mut self,
        key: &CStr,
        value: Option<&CStr>,
        purpose: vfs::Purpose,
    ) -> Result {
        match purpose {
            vfs::Purpose::Mount => {}
            // overlayfs has always ignored options on a mount(2) remount.
            vfs::Purpose::ReconfigureOldApi => return Ok(()),
            vfs::Purpose::Reconfigure => {
                pr_err!("No changes allowed in reconfigure\n");
                return Err(EINVAL);
            }
        }
        let key = key.as_bytes();
        let v = value.map(|v| v.as_bytes());
        let c = &mut self.config;
        match key {
            b"lowerdir" => return self.parse_lowerdir(v.unwrap_or(b"")),
            b"lowerdir+" | b"datadir+" => {
                let v = string(key, v)?;
                self.check_add(key == b"datadir+")?;
                let path = resolve(v, false)?;
                check_dir(&path, v)?;
                self.add(path, v, key == b"datadir+")?;
            }
            b"upperdir" | b"workdir" => {
                let v = string(key, v)?;
                let path = resolve(v, true)?;
                check_dir(&path, v)?;
                let mut name = KVec::new();
                name.extend_from_slice(v, GFP_KERNEL)?;
                if key == b"upperdir" {
                    self.upper = Some((path, name));
                } else {
                    self.workdir = Some((path, name));
                }
            }
            b"default_permissions" => {
                flag(key, v)?;
                c.default_permissions = true;
            }
            b"userxattr" => {
                flag(key, v)?;
                c.userxattr = true;
            }
            b"volatile" => {
                flag(key, v)?;
                c.fsync = Fsync::Volatile;
            }
            b"redirect_dir" => {
                c.redirect = choice(key, v, REDIRECT)?;
                if c.redirect == Redirect::Off {
                    c.redirect = if self.params.redirect_always_follow {
                        Redirect::Follow
                    } else {
                        Redirect::NoFollow
                    };
                }
                self.set.redirect = true;
            }
            b"index" => {
                c.index = choice(key, v, BOOL)?;
                self.set.index = true;
            }
            b"nfs_export" => {
                c.nfs_export = choice(key, v, BOOL)?;
                self.set.nfs_export = true;
            }
            b"metacopy" => {
                c.metacopy = choice(key, v, BOOL)?;
                self.set.metacopy = true;
            }
            b"uuid" => c.uuid = choice(key, v, UUID)?,
            b"xino" => c.xino = choice(key, v, XINO)?,
            b"verity" => c.verity = choice(key, v, VERITY)?,
            b"fsync" => c.fsync = choice(key, v, FSYNC)?,
            b"mmap" => c.mmap = choice(key, v, MMAP)?,
            // The VFS handles `source` and reports unknown options.
            _ => return Err(ENOPARAM),
        }
        Ok(())
    }

    /// `lowerdir=a:b::data`: replaces all lower layers; `::` starts the
    /// data-only layers; `\` escapes the next byte.
    fn parse_lowerdir(&mut self, s: &[u8]) -> Result {
        self.lowers = KVec::new();
        self.lowerdir = None;
        if s.is_empty() {
            return Ok(());
        }
        if s[0] == b':' {
            pr_err!("cannot append lower layer\n");
            return Err(EINVAL);
        }
        let mut v = KVec::new();
        v.extend_from_slice(s, GFP_KERNEL)?;
        self.lowerdir = Some(v);

        let mut names: KVec<(KVec<u8>, bool)> = KVec::new();
        let mut cur = KVec::new();
        let mut data = false;
        let mut i = 0;
        while i < s.len() {
            match s[i] {
                b'\\' => {
                    // Escapes stay in the name until it is resolved.
                    cur.push(b'\\', GFP_KERNEL)?;
                    if let Some(&c) = s.get(i + 1) {
                        cur.push(c, GFP_KERNEL)?;
                    }
                    i += 2;
                    continue;
                }
                b':' => {
                    let double = s.get(i + 1) == Some(&b':');
                    if double && s.get(i + 2) == Some(&b':') {
                        pr_err!("only single ':' or double '::' sequences of unescaped colons in lowerdir mount option allowed.\n");
                        return Err(EINVAL);
                    }
                    if i + 1 + usize::from(double) == s.len() {
                        pr_err!("unescaped trailing colons in lowerdir mount option.\n");
                        return Err(EINVAL);
                    }
                    names.push((core::mem::take(&mut cur), data), GFP_KERNEL)?;
                    if double {
                        data = true;
                        i += 1;
                    } else if data {
                        pr_err!("regular lower layers cannot follow data lower layers\n");
                        return Err(EINVAL);
                    }
                }
                c => cur.push(c, GFP_KERNEL)?,
            }
            i += 1;
        }
        names.push((cur, data), GFP_KERNEL)?;
        if names.len() > MAX_LAYERS {
            pr_err!("too many lower directories, limit is {}\n", MAX_LAYERS);
            return Err(EINVAL);
        }
        for (name, data_only) in names.iter() {
            let path = resolve(name, true)?;
            check_dir(&path, name)?;
            self.add(path, name, *data_only)?;
        }
        Ok(())
    }

    fn check_add(&self, data_only: bool) -> Result {
        if self.lowerdir.is_some() {
            pr_err!("lowerdir+ and datadir+ cannot follow lowerdir\n");
            return Err(EINVAL);
        }
        if !data_only && self.nr_data() > 0 {
            pr_err!("regular lower layers cannot follow data layers\n");
            return Err(EINVAL);
        }
        if self.lowers.len() == MAX_LAYERS {
            pr_err!("too many lower directories, limit is {}\n", MAX_LAYERS);
            return Err(EINVAL);
        }
        Ok(())
    }

    fn add(&mut self, path: OwnedPath, name: &[u8], data_only: bool) -> Result {
        let mut n = KVec::new();
        n.extend_from_slice(name, GFP_KERNEL)?;
        self.lowers.push(
            Lower {
                path,
                name: n,
                data_only,
            },
            GFP_KERNEL,
        )?;
        Ok(())
    }

    /// The checks and fallbacks of `ovl_fs_params_verify`.
    pub(crate) fn verify(&mut self) -> Result {
        let nr_data = self.nr_data();
        let has_upper = self.upper.is_some();
        let (c, mut set) = (&mut self.config, self.set);
        if !has_upper {
            if let Some((_, name)) = self.workdir.take() {
                pr_info!(
                    "option \"workdir={}\" is useless in a non-upper mount, ignore\n",
                    BStrLossy(&name)
                );
            }
            if c.index && set.index {
                pr_info!("option \"index=on\" is useless in a non-upper mount, ignore\n");
                set.index = false;
            }
            c.index = false;
            if c.fsync == Fsync::Volatile {
                pr_info!("option \"volatile\" is meaningless in a non-upper mount, ignoring it.\n");
                c.fsync = Fsync::Auto;
            }
            if c.uuid == Uuid::On {
                pr_info!("option \"uuid=on\" requires an upper fs, falling back to uuid=null.\n");
                c.uuid = Uuid::Null;
            }
        }
        if c.verity != Verity::Off && !c.metacopy {
            if set.metacopy {
                pr_err!(
                    "conflicting options: metacopy=off,verity={}\n",
                    name_of(VERITY, c.verity)
                );
                return Err(EINVAL);
            }
            c.metacopy = true;
        }
        if !has_upper && c.redirect == Redirect::Follow {
            c.redirect = Redirect::On;
        }
        if c.metacopy && c.redirect != Redirect::On {
            if set.metacopy && set.redirect {
                pr_err!(
                    "conflicting options: metacopy=on,redirect_dir={}\n",
                    name_of(REDIRECT, c.redirect)
                );
                return Err(EINVAL);
            }
            if c.verity != Verity::Off && set.redirect {
                pr_err!(
                    "conflicting options: verity={},redirect_dir={}\n",
                    name_of(VERITY, c.verity),
                    name_of(REDIRECT, c.redirect)
                );
                return Err(EINVAL);
            }
            if set.redirect {
                pr_info!(
                    "disabling metacopy due to redirect_dir={}\n",
                    name_of(REDIRECT, c.redirect)
                );
                c.metacopy = false;
            } else {
                c.redirect = Redirect::On;
            }
        }
        if c.nfs_export && !c.index {
            if !has_upper && c.redirect != Redirect::NoFollow {
                pr_info!("NFS export requires \"redirect_dir=nofollow\" on non-upper mount, falling back to nfs_export=off.\n");
                c.nfs_export = false;
            } else if set.nfs_export && set.index {
                pr_err!("conflicting options: nfs_export=on,index=off\n");
                return Err(EINVAL);
            } else if set.index {
                pr_info!("disabling nfs_export due to index=off\n");
                c.nfs_export = false;
            } else {
                c.index = true;
            }
        }
        if c.nfs_export && c.metacopy {
            if set.nfs_export && set.metacopy {
                pr_err!("conflicting options: nfs_export=on,metacopy=on\n");
                return Err(EINVAL);
            }
            if set.metacopy {
                pr_info!("disabling nfs_export due to metacopy=on\n");
                c.nfs_export = false;
            } else if c.verity != Verity::Off {
                pr_info!(
                    "disabling nfs_export due to verity={}\n",
                    name_of(VERITY, c.verity)
                );
                c.nfs_export = false;
            } else {
                pr_info!("disabling metacopy due to nfs_export=on\n");
                c.metacopy = false;
            }
        }
        if c.userxattr {
            if set.redirect && c.redirect != Redirect::NoFollow {
                pr_err!(
                    "conflicting options: userxattr,redirect_dir={}\n",
                    name_of(REDIRECT, c.redirect)
                );
                return Err(EINVAL);
            }
            if c.metacopy && set.metacopy {
                pr_err!("conflicting options: userxattr,metacopy=on\n");
                return Err(EINVAL);
            }
            if c.verity != Verity::Off {
                pr_err!(
                    "conflicting options: userxattr,verity={}\n",
                    name_of(VERITY, c.verity)
                );
                return Err(EINVAL);
            }
            c.redirect = Redirect::NoFollow;
            c.metacopy = false;
        }
        if !c.userxattr && !vfs::capable_sys_admin() {
            if set.redirect && c.redirect != Redirect::NoFollow {
                pr_err!("redirect_dir requires permission to access trusted xattrs\n");
                return Err(EPERM);
            }
            if c.metacopy && set.metacopy {
                pr_err!("metacopy requires permission to access trusted xattrs\n");
                return Err(EPERM);
            }
            if c.verity != Verity::Off {
                pr_err!("verity requires permission to access trusted xattrs\n");
                return Err(EPERM);
            }
            if nr_data > 0 {
                pr_err!("lower data-only dirs require permission to access trusted xattrs\n");
                return Err(EPERM);
            }
        }
        if nr_data > 0 && !c.metacopy {
            pr_err!("lower data-only dirs require metacopy support.\n");
            return Err(EINVAL);
        }
        Ok(())
    }

    /// What the module parameters make the default, for /proc/mounts.
    pub(crate) fn defaults(&self) -> Config {
        Config::defaults(&self.params)
    }
}

/// A string option's value; empty or missing is an error (`fsparam_string`).
fn string<'a>(key: &[u8], v: Option<&'a [u8]>) -> Result<&'a [u8]> {
    match v {
        Some(v) if !v.is_empty() => Ok(v),
        _ => {
            pr_err!("option '{}' needs a value\n", BStrLossy(key));
            Err(EINVAL)
        }
    }
}

/// A flag option takes no value (`fsparam_flag`).
fn flag(key: &[u8], v: Option<&[u8]>) -> Result {
    match v {
        None => Ok(()),
        Some(_) => {
            pr_err!("option '{}' takes no value\n", BStrLossy(key));
            Err(EINVAL)
        }
    }
}

fn choice<T: Copy>(key: &[u8], v: Option<&[u8]>, table: &[(&str, T)]) -> Result<T> {
    let v = v.unwrap_or(b"");
    table
        .iter()
        .find(|e| e.0.as_bytes() == v)
        .map(|e| e.1)
        .ok_or_else(|| {
            pr_err!(
                "Bad value '{}' for option '{}'\n",
                BStrLossy(v),
                BStrLossy(key)
            );
            EINVAL
        })
}

/// Resolves a layer path in the caller's namespace, unescaping `\x` first
/// where the option allows escapes.
fn resolve(name: &[u8], unescape: bool) -> Result<OwnedPath> {
    let mut p = KVec::with_capacity(name.len() + 1, GFP_KERNEL)?;
    let mut bytes = name.iter().copied();
    while let Some(b) = bytes.next() {
        match b {
            b'\\' if unescape => {
                if let Some(c) = bytes.next() {
                    p.push(c, GFP_KERNEL)?;
                }
            }
            b => p.push(b, GFP_KERNEL)?,
        }
    }
    if p.is_empty() {
        pr_err!("empty lowerdir\n");
        return Err(EINVAL);
    }
    p.push(0, GFP_KERNEL)?;
    let c = CStr::from_bytes_with_nul(&p).map_err(|_| EINVAL)?;
    OwnedPath::lookup(c).inspect_err(|e| {
        pr_err!(
            "failed to resolve '{}': {}\n",
            BStrLossy(name),
            e.to_errno()
        );
    })
}

fn check_dir(path: &OwnedPath, name: &[u8]) -> Result {
    if !path.dentry().inode().is_some_and(|i| i.is_dir()) {
        pr_err!("{} is not a directory\n", BStrLossy(name));
        return Err(EINVAL);
    }
    Ok(())
}

/// The options as overlayfs shows them (`ovl_show_options`).
pub(crate) fn show(
    m: &SeqFile,
    c: &Config,
    def: &Config,
    lowerdir: Option<&[u8]>,
    lowers: &[(KVec<u8>, bool)],
    upper: Option<(&[u8], &[u8])>,
    samefs: bool,
) {
    // As `seq_show_option`.
    let opt = |key: &CStr, v: &[u8]| {
        m.puts(key);
        m.escape(v, c_str!(",= \t\n\\"));
    };
    if let Some(l) = lowerdir {
        opt(c_str!(",lowerdir="), l);
    } else {
        for (name, data_only) in lowers {
            if *data_only {
                opt(c_str!(",datadir+="), name);
            } else {
                opt(c_str!(",lowerdir+="), name);
            }
        }
    }
    if let Some((upperdir, workdir)) = upper {
        opt(c_str!(",upperdir="), upperdir);
        opt(c_str!(",workdir="), workdir);
    }
    if c.default_permissions {
        m.puts(c_str!(",default_permissions"));
    }
    let kv = |key: &str, v: &str| {
        m.write(b",");
        m.write(key.as_bytes());
        m.write(b"=");
        m.write(v.as_bytes());
    };
    if c.redirect != def.redirect {
        kv("redirect_dir", name_of(REDIRECT, c.redirect));
    }
    if c.index != def.index {
        kv("index", name_of(BOOL, c.index));
    }
    if c.uuid != def.uuid {
        kv("uuid", name_of(UUID, c.uuid));
    }
    if c.nfs_export != def.nfs_export {
        kv("nfs_export", name_of(BOOL, c.nfs_export));
    }
    if c.xino != def.xino && !samefs {
        kv("xino", name_of(XINO, c.xino));
    }
    if c.metacopy != def.metacopy {
        kv("metacopy", name_of(BOOL, c.metacopy));
    }
    if c.fsync != def.fsync {
        kv("fsync", name_of(FSYNC, c.fsync));
    }
    if c.userxattr {
        m.puts(c_str!(",userxattr"));
    }
    if c.verity != def.verity {
        kv("verity", name_of(VERITY, c.verity));
    }
    // rovl's own option last, so that the rest reads as overlayfs's.
    if c.mmap != def.mmap {
        kv("mmap", name_of(MMAP, c.mmap));
    }
}

/// Splits a mount(2) option string at unescaped commas
/// (`ovl_next_opt`): returns the length of the first option.
pub(crate) fn next_opt(s: &[u8]) -> usize {
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'\\' => i += 2,
            b',' => return i,
            _ => i += 1,
        }
    }
    s.len()
}

/// Shows bytes of a path in a log line: printable ASCII as is, the rest
/// as `\xNN`.
pub(crate) struct BStrLossy<'a>(pub(crate) &'a [u8]);

impl core::fmt::Display for BStrLossy<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for &b in self.0 {
            if b.is_ascii_graphic() || b == b' ' {
                f.write_fmt(format_args!("{}", b as char))?;
            } else {
                f.write_fmt(format_args!("\\x{b:02x}"))?;
            }
        }
        Ok(())
    }
}
