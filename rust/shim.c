// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers linked into rovl.ko next to the Rust crate.
 *
 * Why each exists:
 * - rovl_dget, rovl_get_cred, rovl_put_cred, rovl_get_file, rovl_mnt_idmap,
 *   rovl_dir_emit, rovl_inode_lock, rovl_inode_unlock, rovl_i_size_read:
 *   static inline functions that bindgen cannot call.
 * - rovl_kstatfs_set_type: struct kstatfs is opaque to the bindings.
 * - rovl_init_fs_context and its fs_context_operations: struct fs_context
 *   and struct fs_parameter are opaque to the kernel crate's bindings (their
 *   headers are not in bindings_helper.h), so this glue unpacks them and hands
 *   plain values to the Rust side (rovl_rs_* in rust/super_block.rs).
 * No policy lives here: every decision is made in Rust.
 */
#include <linux/cred.h>
#include <linux/dcache.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/fs_context.h>
#include <linux/fs_parser.h>
#include <linux/mount.h>
#include <linux/statfs.h>

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

struct mnt_idmap *rovl_mnt_idmap(const struct vfsmount *mnt)
{
	return mnt_idmap(mnt);
}

bool rovl_dir_emit(struct dir_context *ctx, const char *name, int namelen,
		   u64 ino, unsigned int type)
{
	return dir_emit(ctx, name, namelen, ino, type);
}

void rovl_inode_lock(struct inode *inode)
{
	inode_lock(inode);
}

void rovl_inode_unlock(struct inode *inode)
{
	inode_unlock(inode);
}

void rovl_kstatfs_set_type(struct kstatfs *buf, long f_type)
{
	buf->f_type = f_type;
}

loff_t rovl_i_size_read(const struct inode *inode)
{
	return i_size_read(inode);
}

/* Implemented in Rust (rust/super_block.rs). */
void *rovl_rs_ctx_new(void);
void rovl_rs_ctx_free(void *ctx);
int rovl_rs_ctx_param(void *ctx, const char *key, const char *value);
int rovl_rs_fill_super(struct super_block *sb, void *ctx);
int rovl_rs_reconfigure(struct super_block *sb, void *ctx, unsigned int sb_flags);

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
	return rovl_rs_ctx_param(fc->fs_private, param->key, value);
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
