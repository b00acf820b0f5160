// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers linked into rovl.ko next to the Rust crate.
 *
 * Why each exists:
 * - rovl_dget, rovl_get_cred, rovl_put_cred, rovl_get_file,
 *   rovl_dir_emit, rovl_inode_lock, rovl_inode_trylock, rovl_inode_unlock,
 *   rovl_i_size_read, rovl_fatal_signal_pending,
 *   rovl_posix_acl_release, rovl_inode_lock_nested, rovl_d_unhashed,
 *   rovl_remove_inode_hash, rovl_iov_iter_count, rovl_security_file_ioctl:
 *   static inline functions that bindgen cannot call (the last one is one
 *   without CONFIG_SECURITY).
 * - rovl_inuse_trylock, rovl_inuse_unlock, rovl_is_inuse: overlayfs's
 *   exclusive-use mark on upper and work directories (I_OVL_INUSE in
 *   i_state, under i_lock, a spinlock the bindings cannot take). Using the
 *   same bit lets rovl and overlayfs see each other's mounts.
 * - rovl_current_fsids, rovl_get_current_cred: current_fsuid(),
 *   current_fsgid() and get_current_cred() are macros over the task's
 *   RCU-protected credentials.
 * - rovl_kstatfs_set, rovl_kstatfs_set_fsid, rovl_path_namelen: struct
 *   kstatfs is opaque to the bindings; uuid_to_fsid() is a static inline.
 * - rovl_init_fs_context and its fs_context_operations: struct fs_context
 *   and struct fs_parameter are opaque to the kernel crate's bindings (their
 *   headers are not in bindings_helper.h), so this glue unpacks them and hands
 *   plain values to the Rust side (rovl_rs_* in rust/super_block.rs).
 * - rovl_dentry_set_reval: changes d_flags under d_lock, a spinlock the
 *   bindings cannot take.
 * - rovl_inode_has_other_alias: walks i_dentry (hlist_for_each_entry is a
 *   macro) under i_lock, as ovl_drop_nlink.
 * - rovl_can_decode_fh: struct export_operations is opaque to the bindings;
 *   says whether a layer's file handles decode, and whether they are the
 *   generic 32-bit inode ones, exactly as overlayfs's ovl_can_decode_fh.
 * - rovl_set_export_fid_ops and its export_operations: likewise; the table
 *   has encode_fh alone (rovl_rs_encode_fh), as ovl_export_fid_operations.
 * - rovl_set_export_ops and its export_operations: the same for decodable
 *   handles (nfs_export=on, ovl_export_operations); get_name and get_parent
 *   only warn, as overlayfs's, since exportfs never calls them for rovl.
 * - rovl_param_*: module parameters named as overlayfs's, so test suites
 *   that read /sys/module/<fs>/parameters find them; module_param is a
 *   macro and the 6.12 `module!` has no parameters. Their defaults follow
 *   the kernel's CONFIG_OVERLAY_FS_* choices, as overlayfs's do.
 *   rovl_param_register_overlay is rovl's own (read once, at load).
 * - rovl_xattr_handlers_*: struct xattr_handler is opaque to the bindings;
 *   the handlers pass each call to rovl_rs_xattr_get/set.
 * - rovl_fileattr_get, rovl_fileattr_set_masked: struct fileattr is opaque
 *   to the bindings (linux/fileattr.h is not in bindings_helper.h); they
 *   pass its flag words as plain integers.
 * - rovl_ratelimit_default_init: pr_warn_ratelimited() is a macro with a
 *   static ratelimit state per call site; rovl's macro keeps a Rust static
 *   per call site instead, set up on first use, as the state's spinlock
 *   cannot be initialised statically from Rust (ratelimit_default_init()
 *   is a static inline).
 * - rovl_change_flags: fcntl(F_SETFL)'s update of a file's flags for a
 *   real file that must follow its rovl file (setfl() is static and
 *   iocb_flags() a static inline; f_flags changes under f_lock).
 * - rovl_page_source, rovl_read_folio_from: a rovl inode's own page cache
 *   (a MAP_SHARED mapping of a lower file) is filled by copying the real
 *   file's cached pages; read_mapping_folio() and shmem_mapping() are
 *   static inlines or differ per filesystem, folio flags are macros.
 * - rovl_writepages, rovl_write_back_cached, rovl_mapping_mapped: the same
 *   own pages made writable by a shared mapping are written back to the
 *   upper file; writeback_iter() drives folio flags and locks, which are
 *   macros and static inlines.
 * - rovl_fileattr_words, rovl_fileattr_set_words: struct fileattr is
 *   opaque to the bindings; ->fileattr_get/set get and set its flag words.
 * - rovl_mutex_init, rovl_mutex_lock_interruptible: mutex_init() is a
 *   macro with a static lock class key, mutex_lock_interruptible() one
 *   under lockdep; 6.12's kernel::sync::Mutex cannot be interrupted.
 * - rovl_fsverity_active, rovl_fsverity_get_digest: fsverity_active() is a
 *   static inline (an acquire load of i_verity_info), and both have stubs
 *   without CONFIG_FS_VERITY, so the module builds either way.
 * No policy lives here: every decision is made in Rust.
 */
#include <linux/cred.h>
#include <linux/dcache.h>
#include <linux/exportfs.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/fileattr.h> /* after fs.h: uses its uapi flags */
#include <linux/fs_context.h>
#include <linux/fs_parser.h>
#include <linux/fsverity.h>
#include <linux/mount.h>
#include <linux/highmem.h>
#include <linux/pagemap.h>
#include <linux/shmem_fs.h>
#include <linux/moduleparam.h>
#include <linux/posix_acl.h>
#include <linux/ratelimit.h>
#include <linux/sched/signal.h>
#include <linux/security.h>
#include <linux/statfs.h>
#include <linux/uio.h>
#include <linux/writeback.h>
#include <linux/xattr.h>

#include "shim.h"

struct dentry *rovl_dget(struct dentry *dentry)
{
	return dget(dentry);
}

const struct cred *rovl_get_cred(const struct cred *cred)
{
	return get_cred(cred);
}

void rovl_put_cred(const struct cred *cred)
{
	put_cred(cred);
}

struct file *rovl_get_file(struct file *file)
{
	return get_file(file);
}

bool rovl_dir_emit(struct dir_context *ctx, const char *name, int namelen,
		   u64 ino, unsigned int type)
{
	return dir_emit(ctx, name, namelen, ino, type);
}

void rovl_inode_lock_nested(struct inode *inode, unsigned int subclass)
{
	inode_lock_nested(inode, subclass);
}

bool rovl_d_unhashed(struct dentry *dentry)
{
	return d_unhashed(dentry);
}

int rovl_fileattr_get(struct dentry *dentry, u32 *flags, u32 *xflags)
{
	struct fileattr fa = { .flags_valid = true };
	int err = vfs_fileattr_get(dentry, &fa);

	if (err == -ENOIOCTLCMD)
		return -ENOTTY;
	*flags = fa.flags;
	*xflags = fa.fsx_xflags;
	return err;
}

int rovl_fileattr_set_masked(struct mnt_idmap *idmap, struct dentry *dentry, u32 flags,
			     u32 xflags, u32 flags_mask, u32 xflags_mask)
{
	struct fileattr fa = { .flags_valid = true };
	int err = vfs_fileattr_get(dentry, &fa);

	if (err == -ENOIOCTLCMD)
		return -ENOTTY;
	if (err)
		return err;
	fa.flags = (fa.flags & ~flags_mask) | (flags & flags_mask);
	fa.fsx_xflags = (fa.fsx_xflags & ~xflags_mask) | (xflags & xflags_mask);
	err = vfs_fileattr_set(idmap, dentry, &fa);
	return err == -ENOIOCTLCMD ? -ENOTTY : err;
}

void rovl_remove_inode_hash(struct inode *inode)
{
	remove_inode_hash(inode);
}

bool rovl_inuse_trylock(struct dentry *dentry)
{
	struct inode *inode = d_inode(dentry);
	bool locked = false;

	spin_lock(&inode->i_lock);
	if (!(inode->i_state & I_OVL_INUSE)) {
		inode->i_state |= I_OVL_INUSE;
		locked = true;
	}
	spin_unlock(&inode->i_lock);
	return locked;
}

void rovl_inuse_unlock(struct dentry *dentry)
{
	struct inode *inode = d_inode(dentry);

	spin_lock(&inode->i_lock);
	WARN_ON(!(inode->i_state & I_OVL_INUSE));
	inode->i_state &= ~I_OVL_INUSE;
	spin_unlock(&inode->i_lock);
}

bool rovl_is_inuse(struct dentry *dentry)
{
	struct inode *inode = d_inode(dentry);
	bool inuse;

	spin_lock(&inode->i_lock);
	inuse = (inode->i_state & I_OVL_INUSE);
	spin_unlock(&inode->i_lock);
	return inuse;
}

const struct cred *rovl_get_current_cred(void)
{
	return get_current_cred();
}

void rovl_current_fsids(kuid_t *uid, kgid_t *gid)
{
	*uid = current_fsuid();
	*gid = current_fsgid();
}

void rovl_inode_lock(struct inode *inode)
{
	inode_lock(inode);
}

void rovl_mutex_init(struct mutex *lock)
{
	mutex_init(lock);
}

int rovl_mutex_lock_interruptible(struct mutex *lock)
{
	return mutex_lock_interruptible(lock);
}

bool rovl_fatal_signal_pending(void)
{
	return fatal_signal_pending(current);
}

bool rovl_inode_trylock(struct inode *inode)
{
	return inode_trylock(inode);
}

void rovl_inode_unlock(struct inode *inode)
{
	inode_unlock(inode);
}

void rovl_posix_acl_release(struct posix_acl *acl)
{
	posix_acl_release(acl);
}

void rovl_kstatfs_set(struct kstatfs *buf, long f_type, long f_namelen)
{
	buf->f_type = f_type;
	buf->f_namelen = f_namelen;
}

void rovl_kstatfs_set_fsid(struct kstatfs *buf, const u8 *uuid)
{
	buf->f_fsid = uuid_to_fsid((u8 *)uuid);
}

bool rovl_inode_has_other_alias(struct inode *inode, struct dentry *dentry)
{
	struct dentry *alias;
	bool found = false;

	spin_lock(&inode->i_lock);
	hlist_for_each_entry(alias, &inode->i_dentry, d_u.d_alias) {
		if (alias != dentry && !d_unhashed(alias)) {
			found = true;
			break;
		}
	}
	spin_unlock(&inode->i_lock);
	return found;
}

void rovl_dentry_set_reval(struct dentry *dentry, unsigned int flags)
{
	unsigned int mask = DCACHE_OP_REVALIDATE | DCACHE_OP_WEAK_REVALIDATE;

	spin_lock(&dentry->d_lock);
	dentry->d_flags &= ~mask;
	dentry->d_flags |= flags & mask;
	spin_unlock(&dentry->d_lock);
}

long rovl_path_namelen(const struct path *path)
{
	struct kstatfs st;
	int err = vfs_statfs(path, &st);

	return err ? err : st.f_namelen;
}

loff_t rovl_i_size_read(const struct inode *inode)
{
	return i_size_read(inode);
}

bool rovl_param_redirect_dir = IS_ENABLED(CONFIG_OVERLAY_FS_REDIRECT_DIR);
module_param_named(redirect_dir, rovl_param_redirect_dir, bool, 0644);
MODULE_PARM_DESC(redirect_dir, "Default to on or off for the redirect_dir feature");
bool rovl_param_redirect_always_follow = IS_ENABLED(CONFIG_OVERLAY_FS_REDIRECT_ALWAYS_FOLLOW);
module_param_named(redirect_always_follow, rovl_param_redirect_always_follow, bool, 0644);
MODULE_PARM_DESC(redirect_always_follow,
		 "Follow redirects even if redirect_dir feature is turned off");
bool rovl_param_xino_auto = IS_ENABLED(CONFIG_OVERLAY_FS_XINO_AUTO);
module_param_named(xino_auto, rovl_param_xino_auto, bool, 0644);
MODULE_PARM_DESC(xino_auto, "Auto enable xino feature");
bool rovl_param_index = IS_ENABLED(CONFIG_OVERLAY_FS_INDEX);
module_param_named(index, rovl_param_index, bool, 0644);
MODULE_PARM_DESC(index, "Default to on or off for the inodes index feature");
bool rovl_param_nfs_export = IS_ENABLED(CONFIG_OVERLAY_FS_NFS_EXPORT);
module_param_named(nfs_export, rovl_param_nfs_export, bool, 0644);
MODULE_PARM_DESC(nfs_export, "Default to on or off for the NFS export feature");
bool rovl_param_metacopy = IS_ENABLED(CONFIG_OVERLAY_FS_METACOPY);
module_param_named(metacopy, rovl_param_metacopy, bool, 0644);
MODULE_PARM_DESC(metacopy, "Default to on or off for the metadata only copy up feature");
unsigned short rovl_param_redirect_max = 256;
module_param_named(redirect_max, rovl_param_redirect_max, ushort, 0644);
MODULE_PARM_DESC(redirect_max, "Maximum length of absolute redirect xattr value");
bool rovl_param_register_overlay;
module_param_named(register_overlay, rovl_param_register_overlay, bool, 0444);
MODULE_PARM_DESC(register_overlay,
		 "Also register as filesystem type \"overlay\" (fails if the overlay module is loaded)");
static bool rovl_param_check_copy_up;
module_param_named(check_copy_up, rovl_param_check_copy_up, bool, 0644);
MODULE_PARM_DESC(check_copy_up, "Obsolete; does nothing");

int rovl_can_decode_fh(struct super_block *sb)
{
	if (!capable(CAP_DAC_READ_SEARCH))
		return 0;
	if (!exportfs_can_decode_fh(sb->s_export_op))
		return 0;
	return sb->s_export_op->encode_fh == generic_encode_ino32_fh ? FILEID_INO32_GEN : -1;
}

void rovl_ratelimit_default_init(struct ratelimit_state *rs)
{
	ratelimit_default_init(rs);
}

bool rovl_capable_sys_admin(void)
{
	return capable(CAP_SYS_ADMIN);
}

bool rovl_ns_capable_noaudit_sys_admin(void)
{
	return ns_capable_noaudit(&init_user_ns, CAP_SYS_ADMIN);
}

static void rovl_fc_free(struct fs_context *fc)
{
	rovl_rs_ctx_free(fc->fs_private);
}

static int rovl_fc_parse_param(struct fs_context *fc, struct fs_parameter *param)
{
	const char *value;

	switch (param->type) {
	case fs_value_is_string:
		value = param->string;
		break;
	case fs_value_is_flag:
		value = NULL;
		break;
	default:
		return invalfc(fc, "option '%s' must be a string", param->key);
	}
	/* 0: mount, 1: reconfigure (new API), 2: reconfigure from mount(2). */
	return rovl_rs_ctx_param(fc->fs_private, param->key, value,
				 fc->purpose != FS_CONTEXT_FOR_RECONFIGURE ? 0 :
				 fc->oldapi ? 2 : 1);
}

static char *rovl_next_opt(char **s)
{
	char *sbegin = *s;
	size_t n;

	if (!sbegin)
		return NULL;
	n = rovl_rs_next_opt(sbegin, strlen(sbegin));
	if (sbegin[n]) {
		sbegin[n] = '\0';
		*s = sbegin + n + 1;
	} else {
		*s = NULL;
	}
	return sbegin;
}

static int rovl_fc_parse_monolithic(struct fs_context *fc, void *data)
{
	return vfs_parse_monolithic_sep(fc, data, rovl_next_opt);
}

static int rovl_fc_fill_super(struct super_block *sb, struct fs_context *fc)
{
	return rovl_rs_fill_super(sb, fc->fs_private);
}

static int rovl_fc_get_tree(struct fs_context *fc)
{
	return get_tree_nodev(fc, rovl_fc_fill_super);
}

static int rovl_fc_reconfigure(struct fs_context *fc)
{
	return rovl_rs_reconfigure(fc->root->d_sb, fc->fs_private, fc->sb_flags);
}

static const struct fs_context_operations rovl_context_ops = {
	.free = rovl_fc_free,
	.parse_monolithic = rovl_fc_parse_monolithic,
	.parse_param = rovl_fc_parse_param,
	.get_tree = rovl_fc_get_tree,
	.reconfigure = rovl_fc_reconfigure,
};

int rovl_init_fs_context(struct fs_context *fc)
{
	fc->fs_private = rovl_rs_ctx_new();
	if (!fc->fs_private)
		return -ENOMEM;
	fc->ops = &rovl_context_ops;
	return 0;
}

static int rovl_xattr_get(const struct xattr_handler *handler, struct dentry *dentry,
			  struct inode *inode, const char *name, void *buffer, size_t size)
{
	return rovl_rs_xattr_get(dentry, inode, handler->prefix, name, buffer, size);
}

static int rovl_xattr_set(const struct xattr_handler *handler, struct mnt_idmap *idmap,
			  struct dentry *dentry, struct inode *inode, const char *name,
			  const void *value, size_t size, int flags)
{
	return rovl_rs_xattr_set(dentry, inode, handler->prefix, name, value, size, flags);
}

static const struct xattr_handler rovl_own_trusted_xattr_handler = {
	.prefix = "trusted.overlay.",
	.get = rovl_xattr_get,
	.set = rovl_xattr_set,
};

static const struct xattr_handler rovl_own_user_xattr_handler = {
	.prefix = "user.overlay.",
	.get = rovl_xattr_get,
	.set = rovl_xattr_set,
};

static const struct xattr_handler rovl_other_xattr_handler = {
	.prefix = "", /* catch all */
	.get = rovl_xattr_get,
	.set = rovl_xattr_set,
};

static const struct xattr_handler * const rovl_trusted_xattr_handlers[] = {
	&rovl_own_trusted_xattr_handler,
	&rovl_other_xattr_handler,
	NULL
};

static const struct xattr_handler * const rovl_user_xattr_handlers[] = {
	&rovl_own_user_xattr_handler,
	&rovl_other_xattr_handler,
	NULL
};

void rovl_set_xattr_handlers(struct super_block *sb, bool userxattr)
{
	sb->s_xattr = userxattr ? rovl_user_xattr_handlers : rovl_trusted_xattr_handlers;
}

static const struct export_operations rovl_export_fid_ops = {
	.encode_fh = rovl_rs_encode_fh,
};

void rovl_set_export_fid_ops(struct super_block *sb)
{
	sb->s_export_op = &rovl_export_fid_ops;
}

/*
 * Decoded directories are always connected and decoded handles never name
 * a parent (fh_to_parent refuses), so exportfs never asks for names or
 * parents: reaching these is a bug, as in ovl_get_name/ovl_get_parent.
 */
static int rovl_get_name(struct dentry *parent, char *name, struct dentry *child)
{
	WARN_ON_ONCE(1);
	return -EIO;
}

static struct dentry *rovl_get_parent(struct dentry *dentry)
{
	WARN_ON_ONCE(1);
	return ERR_PTR(-EIO);
}

static const struct export_operations rovl_export_ops = {
	.encode_fh = rovl_rs_encode_fh,
	.fh_to_dentry = rovl_rs_fh_to_dentry,
	.fh_to_parent = rovl_rs_fh_to_parent,
	.get_name = rovl_get_name,
	.get_parent = rovl_get_parent,
};

void rovl_set_export_ops(struct super_block *sb)
{
	sb->s_export_op = &rovl_export_ops;
}

#define ROVL_SETFL_MASK (O_APPEND | O_NONBLOCK | O_NDELAY | O_DIRECT)

int rovl_change_flags(struct file *file, unsigned int flags)
{
	int err;

	flags &= ROVL_SETFL_MASK;
	if (((flags ^ file->f_flags) & O_APPEND) && IS_APPEND(file_inode(file)))
		return -EPERM;
	if ((flags & O_DIRECT) && !(file->f_mode & FMODE_CAN_ODIRECT))
		return -EINVAL;
	if (file->f_op->check_flags) {
		err = file->f_op->check_flags(flags);
		if (err)
			return err;
	}
	spin_lock(&file->f_lock);
	file->f_flags = (file->f_flags & ~ROVL_SETFL_MASK) | flags;
	file->f_iocb_flags = iocb_flags(file);
	spin_unlock(&file->f_lock);
	return 0;
}

bool rovl_page_source(struct file *real)
{
	struct address_space *mapping = real->f_mapping;

	if (IS_DAX(file_inode(real)))
		return false;
	return shmem_mapping(mapping) || mapping->a_ops->read_folio;
}

int rovl_read_folio_from(struct folio *folio, struct address_space *src, struct file *real)
{
	struct folio *from;
	int err = -EIO;

	if (!src || !(shmem_mapping(src) || src->a_ops->read_folio))
		goto out;
	if (shmem_mapping(src))
		from = shmem_read_folio_gfp(src, folio->index, mapping_gfp_mask(src));
	else
		from = read_mapping_folio(src, folio->index, real);
	if (IS_ERR(from)) {
		err = PTR_ERR(from);
		goto out;
	}
	copy_highpage(folio_page(folio, 0), folio_file_page(from, folio->index));
	folio_put(from);
	folio_mark_uptodate(folio);
	err = 0;
out:
	folio_unlock(folio);
	return err;
}

void rovl_fileattr_words(const struct fileattr *fa, u32 *flags, u32 *xflags, bool *fsx)
{
	*flags = fa->flags;
	*xflags = fa->fsx_xflags;
	*fsx = fa->fsx_valid;
}

void rovl_fileattr_set_words(struct fileattr *fa, u32 flags, u32 xflags)
{
	fa->flags = flags;
	fa->fsx_xflags = xflags;
}

size_t rovl_iov_iter_count(const struct iov_iter *i)
{
	return iov_iter_count(i);
}

int rovl_security_file_ioctl(struct file *file, unsigned int cmd)
{
	return security_file_ioctl(file, cmd, 0);
}

int rovl_writepages(struct address_space *mapping, struct writeback_control *wbc,
		    struct file *real)
{
	struct folio *folio = NULL;
	int err = 0;

	while ((folio = writeback_iter(mapping, wbc, folio, &err))) {
		loff_t isize = i_size_read(mapping->host);
		loff_t pos = folio_pos(folio);
		size_t len = folio_size(folio);
		ssize_t n;
		void *kaddr;

		/* Truncated meanwhile: nothing left to write. */
		if (pos >= isize) {
			folio_unlock(folio);
			continue;
		}
		if (pos + len > isize)
			len = isize - pos;
		folio_start_writeback(folio);
		folio_unlock(folio);
		kaddr = kmap_local_folio(folio, 0);
		n = kernel_write(real, kaddr, len, &pos);
		kunmap_local(kaddr);
		if (n != len) {
			err = n < 0 ? n : -EIO;
			mapping_set_error(mapping, err);
		}
		folio_end_writeback(folio);
	}
	return err;
}

int rovl_write_back_cached(struct address_space *mapping)
{
	if (!mapping->nrpages)
		return 0;
	return filemap_write_and_wait(mapping);
}

bool rovl_mapping_mapped(struct address_space *mapping)
{
	return mapping_mapped(mapping);
}

bool rovl_fsverity_active(const struct inode *inode)
{
	return fsverity_active(inode);
}

int rovl_fsverity_get_digest(struct inode *inode, u8 *digest, u8 *alg)
{
	BUILD_BUG_ON(FS_VERITY_MAX_DIGEST_SIZE != ROVL_VERITY_MAX_DIGEST);
	return fsverity_get_digest(inode, digest, alg, NULL);
}
