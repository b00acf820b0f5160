// SPDX-License-Identifier: GPL-2.0

//! Mount options (overlayfs's params.c).

use super::MAX_LAYERS;
use kernel::prelude::*;

/// Options of one mount or remount being set up.
#[derive(Default)]
pub(crate) struct Context {
    /// Lower layer paths, topmost first, unescaped and NUL-terminated.
    pub(crate) lowers: KVec<KVec<u8>>,
    /// The `lowerdir=` value as given (escapes included), for /proc/mounts.
    pub(crate) lowerdir: KVec<u8>,
}

impl Context {
    pub(crate) fn parse(&mut self, key: &CStr, value: Option<&CStr>) -> Result {
        match key.as_bytes() {
            b"lowerdir" => {
                let value = value.ok_or_else(|| {
                    pr_err!("option 'lowerdir' needs a value\n");
                    EINVAL
                })?;
                self.lowers = split_lowerdir(value.as_bytes())?;
                self.lowerdir = KVec::new();
                self.lowerdir
                    .extend_from_slice(value.as_bytes(), GFP_KERNEL)?;
                Ok(())
            }
            b"upperdir" | b"workdir" => {
                pr_err!(
                    "option '{}' is not supported yet: rovl mounts are read-only\n",
                    key
                );
                Err(EINVAL)
            }
            // The VFS handles `source` and reports unknown options.
            _ => Err(ENOPARAM),
        }
    }
}

/// Splits `a:b:c` into layers; `\` escapes the next byte (`\:`, `\\`), as
/// overlayfs does.
fn split_lowerdir(s: &[u8]) -> Result<KVec<KVec<u8>>> {
    let mut layers = KVec::new();
    let mut cur = KVec::new();
    let mut i = 0;
    while i <= s.len() {
        match s.get(i) {
            Some(b'\\') if i + 1 < s.len() => {
                cur.push(s[i + 1], GFP_KERNEL)?;
                i += 1;
            }
            Some(b':') | None => {
                if cur.is_empty() {
                    pr_err!("empty path in lowerdir '{}'\n", BStrLossy(s));
                    return Err(EINVAL);
                }
                if layers.len() == MAX_LAYERS {
                    pr_err!("too many lower layers, limit is {}\n", MAX_LAYERS);
                    return Err(EINVAL);
                }
                cur.push(0, GFP_KERNEL)?;
                layers.push(core::mem::take(&mut cur), GFP_KERNEL)?;
            }
            Some(&c) => cur.push(c, GFP_KERNEL)?,
        }
        i += 1;
    }
    Ok(layers)
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
