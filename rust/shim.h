/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Interface between rust/shim.c and the Rust crate: the C helpers Rust
 * calls (declared again in rust/ffi.rs) and the Rust functions the C
 * glue calls (defined in rust/super_block.rs).
 */
#ifndef ROVL_SHIM_H
#define ROVL_SHIM_H

#include <linux/types.h>

struct cred;
struct dentry;
struct dir_context;
struct fid;
struct file;
struct fs_context;
struct inode;
struct kstatfs;
struct mutex;
struct mnt_idmap;
struct path;
struct posix_acl;
struct super_block;
struct vfsmount;

/* C helpers, called from Rust. */
struct dentry *rovl_dget(struct dentry *dentry);
const struct cred *rovl_get_cred(const struct cred *cred);
void rovl_put_cred(const struct cred *cred);
struct file *rovl_get_file(struct file *file);
bool rovl_dir_emit(struct dir_context *ctx, const char *name, int namelen,
		   u64 ino, unsigned int type);
void rovl_inode_lock(struct inode *inode);
bool rovl_inode_trylock(struct inode *inode);
bool rovl_fatal_signal_pending(void);
void rovl_mutex_init(struct mutex *lock);
int rovl_mutex_lock_interruptible(struct mutex *lock);
void rovl_inode_unlock(struct inode *inode);
void rovl_inode_lock_nested(struct inode *inode, unsigned int subclass);
bool rovl_d_unhashed(struct dentry *dentry);
void rovl_current_fsids(kuid_t *uid, kgid_t *gid);
const struct cred *rovl_get_current_cred(void);
void rovl_remove_inode_hash(struct inode *inode);
int rovl_fileattr_get(struct dentry *dentry, u32 *flags, u32 *xflags);
int rovl_fileattr_set_masked(struct mnt_idmap *idmap, struct dentry *dentry, u32 flags,
			     u32 xflags, u32 flags_mask, u32 xflags_mask);
bool rovl_inuse_trylock(struct dentry *dentry);
void rovl_inuse_unlock(struct dentry *dentry);
bool rovl_is_inuse(struct dentry *dentry);
void rovl_posix_acl_release(struct posix_acl *acl);
void rovl_kstatfs_set(struct kstatfs *buf, long f_type, long f_namelen);
void rovl_kstatfs_set_fsid(struct kstatfs *buf, const u8 *uuid);
long rovl_path_namelen(const struct path *path);
void rovl_dentry_set_reval(struct dentry *dentry, unsigned int flags);
bool rovl_inode_has_other_alias(struct inode *inode, struct dentry *dentry);
loff_t rovl_i_size_read(const struct inode *inode);
int rovl_can_decode_fh(struct super_block *sb);
void rovl_ratelimit_default_init(struct ratelimit_state *rs);
bool rovl_capable_sys_admin(void);
bool rovl_ns_capable_noaudit_sys_admin(void);
int rovl_init_fs_context(struct fs_context *fc);
struct iov_iter;
size_t rovl_iov_iter_count(const struct iov_iter *i);
int rovl_security_file_ioctl(struct file *file, unsigned int cmd);
int rovl_change_flags(struct file *file, unsigned int flags);
struct folio;
bool rovl_page_source(struct file *real);
int rovl_read_folio_from(struct folio *folio, struct address_space *src, struct file *real);
struct address_space;
struct writeback_control;
int rovl_writepages(struct address_space *mapping, struct writeback_control *wbc,
		    struct file *real);
int rovl_write_back_cached(struct address_space *mapping);
bool rovl_mapping_mapped(struct address_space *mapping);
struct fileattr;
void rovl_fileattr_words(const struct fileattr *fa, u32 *flags, u32 *xflags, bool *fsx);
void rovl_fileattr_set_words(struct fileattr *fa, u32 flags, u32 xflags);
void rovl_set_xattr_handlers(struct super_block *sb, bool userxattr);
void rovl_set_export_fid_ops(struct super_block *sb);
void rovl_set_export_ops(struct super_block *sb);

/* FS_VERITY_MAX_DIGEST_SIZE, which bindgen cannot evaluate. */
#define ROVL_VERITY_MAX_DIGEST 64
bool rovl_fsverity_active(const struct inode *inode);
int rovl_fsverity_get_digest(struct inode *inode, u8 *digest, u8 *alg);

extern bool rovl_param_redirect_dir;
extern bool rovl_param_redirect_always_follow;
extern bool rovl_param_xino_auto;
extern bool rovl_param_index;
extern bool rovl_param_nfs_export;
extern bool rovl_param_metacopy;

/* Rust functions, called from the C glue. */
void *rovl_rs_ctx_new(void);
void rovl_rs_ctx_free(void *ctx);
int rovl_rs_ctx_param(void *ctx, const char *key, const char *value, int purpose);
size_t rovl_rs_next_opt(const char *s, size_t len);
int rovl_rs_fill_super(struct super_block *sb, void *ctx);
int rovl_rs_reconfigure(struct super_block *sb, void *ctx, unsigned int sb_flags);
int rovl_rs_xattr_get(struct dentry *dentry, struct inode *inode, const char *prefix,
		      const char *name, void *buffer, size_t size);
int rovl_rs_encode_fh(struct inode *inode, u32 *fid, int *max_len, struct inode *parent);
struct dentry *rovl_rs_fh_to_dentry(struct super_block *sb, struct fid *fid, int fh_len,
				    int fh_type);
struct dentry *rovl_rs_fh_to_parent(struct super_block *sb, struct fid *fid, int fh_len,
				    int fh_type);
int rovl_rs_xattr_set(struct dentry *dentry, struct inode *inode, const char *prefix,
		      const char *name, const void *value, size_t size, int flags);

#endif /* ROVL_SHIM_H */
