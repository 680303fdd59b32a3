/* SPDX-License-Identifier: MIT */
/*
 * volume_internal.h - the parts of volume.c, kept apart so the pure ones can be unit-tested
 * without root: dm table checks (dmtable.c), libcryptsetup activation (activate.c), loop
 * devices (loopdev.c), mount options, mount and publication (publish.c), and the teardown
 * runner (volume.c). Not installed; see volume.h.
 *
 * Every function returns 0 or -errno and logs at debug level only; volume.c describes the
 * failure in the caller's struct diag.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sealmount/diag.h"
#include "sealmount/luks2.h"
#include "sealmount/secret.h"
#include "sealmount/volume.h"

/* ---- dm tables (dmtable.c): what the kernel must show for a validated header ---- */

struct vol_dm_expect {
	const char *cipher; /* dm-crypt's cipher spec as cryptsetup passes it */
	const char *cipher_alt; /* the same cipher in capi: form, or NULL */
	uint32_t key_size; /* volume key bytes */
	uint32_t sector_size; /* 512 or 4096 */
	uint32_t tag_size; /* 0: no dm-integrity layer */
	uint64_t offset_sectors; /* the segment offset on the data device, in 512-byte sectors */
	uint64_t crypt_sectors; /* dm-crypt length without integrity; 0 = whatever dm-integrity
				 * provides (checked by the caller against the _dif length) */
	char integrity_mode; /* 'J' or 'D' (never 'R' recovery or 'B' bitmap) */
	bool readonly;
};

/* The tables that activating h must produce. journal: the dm-integrity journal was asked for
 * (and the header has no persistent no-journal flag). -EINVAL for a header this cannot map. */
_must_check_ int vol_dm_expect_init(const struct luks2_hdr *h, bool journal, bool readonly,
				    struct vol_dm_expect *ret) _nonnull_(1, 4);

/* Check one target's parameter string as the kernel prints it (DM_DEVICE_TABLE) against e.
 * lower is "major:minor" of the device below (the loop device for dm-integrity and for dm-crypt
 * without integrity, the _dif device for dm-crypt over it). The key field is checked for its
 * length only and never copied. 0 or -EPROTO with the reason in why (may be NULL). */
_must_check_ int vol_dm_check_integrity(const char *params, const struct vol_dm_expect *e,
					const char *lower, char *why, size_t why_len)
	_nonnull_(1, 2, 3);
_must_check_ int vol_dm_check_crypt(const char *params, const struct vol_dm_expect *e,
				    const char *lower, char *why, size_t why_len)
	_nonnull_(1, 2, 3);

/* ---- activation (activate.c): libcryptsetup + libdevmapper ---- */

struct vol_dm;

/* True when device-mapper answers and has the crypt (and, if need_integrity, integrity)
 * targets. */
bool vol_dm_usable(bool need_integrity);

struct vol_activate_args {
	const char *name; /* dm name; NAME_dif is the integrity layer */
	const char *data_device; /* the loop device */
	bool readonly;
	bool journal; /* dm-integrity journal */
};

/* Activate h (after luks2_hdr_load_keyslots) from a sealed memfd copy of h->raw used as a
 * detached header, then read the tables back and check them (vol_dm_check_*). -EKEYREJECTED
 * (no keyslot opens with this passphrase), -EPROTO (tables differ: deactivated again), -EEXIST
 * (the name is in use), -ENODEV, or libcryptsetup's -errno. *why names what failed. */
_must_check_ int vol_dm_activate(const struct luks2_hdr *h, const struct secret *passphrase,
				 const struct vol_activate_args *a, struct vol_dm **ret, char *why,
				 size_t why_len) _nonnull_(1, 2, 3, 4);
/* /dev/mapper/NAME */
const char *vol_dm_device(const struct vol_dm *d) _nonnull_(1);
uint64_t vol_dm_size(const struct vol_dm *d) _nonnull_(1);
uint64_t vol_dm_integrity_failures(struct vol_dm *d) _nonnull_(1);
/* Remove NAME and NAME_dif (retried a few times while busy), free d. NULL-safe. */
int vol_dm_deactivate(struct vol_dm *d);
/* The same for a device known only by name (after a crash): 0 when it is not there. */
int vol_dm_remove_name(const char *name) _nonnull_(1);

/* ---- loop devices (loopdev.c) ---- */

struct vol_loop {
	int fd; /* open on the loop device until detach; -1 = none */
	char path[32]; /* /dev/loopN */
	char devno[24]; /* "7:N" */
};

/* Attach backing_file to a free loop device (LOOP_CTL_GET_FREE + LOOP_CONFIGURE, falling back to
 * LOOP_SET_FD + LOOP_SET_STATUS64), autoclear, read-only unless rw. -ENODEV (no loop support),
 * -errno. */
_must_check_ int vol_loop_attach(const char *backing_file, bool rw, struct vol_loop *ret)
	_nonnull_(1, 3);
/* Detach (LOOP_CLR_FD: with autoclear a device still held is freed on its last close) and
 * close. Idempotent. */
int vol_loop_detach(struct vol_loop *l) _nonnull_(1);

/* ---- mount and publication (publish.c) ---- */

struct vol_mount_opts {
	unsigned long flags; /* MS_* */
	const char *data; /* static string or NULL */
};

/* ro: MS_RDONLY|MS_NODEV|MS_NOSUID, "noload" for ext3/ext4 (no journal replay on a read-only
 * image); rw: MS_NODEV|MS_NOSUID. */
void vol_mount_opts_choose(const char *fs_type, bool rw, struct vol_mount_opts *ret)
	_nonnull_(1, 3);

struct vol_paths {
	char *parent; /* the mount point's parent directory (the shared emptyDir) */
	char *fs_dir; /* <parent>/.filesystem-<index>, for messages and status */
	char *link_target; /* ".filesystem-<index>" (relative) */
	char *mount_point;
	const char *base; /* mount_point's last component (inside mount_point) */
	int parent_fd; /* O_PATH on parent (a symlink as its last component refused); -1 */
	int dir_fd; /* O_PATH on .filesystem-<index> as prepared (never a symlink); -1 */
	uint64_t mnt_id; /* the mount we made there; 0 = none */
	bool made_dir; /* we created .filesystem-<index> */
};
/* -EINVAL (empty, relative, ends in '/', or "." / ".." as the last component), -ENOMEM. */
_must_check_ int vol_paths_init(const char *mount_point, unsigned index, struct vol_paths *ret)
	_nonnull_(1, 3);
/* Close the descriptors, free. */
void vol_paths_done(struct vol_paths *p) _nonnull_(1);

/* Open the parent, create .filesystem-<index> (0755) and open it relative to the parent without
 * following symlinks: -ENOTDIR when something else (a symlink, a file) is there, -EBUSY if it is
 * a mount point already. */
_must_check_ int vol_fs_dir_prepare(struct vol_paths *p) _nonnull_(1);
/* Mount dev (fs_type; vol_mount_opts_choose's flags) on the directory prepare opened - through
 * its descriptor, not its name (fsopen/fsmount/move_mount; mount(2) on /proc/self/fd/N where
 * the new API is missing) - then check that the name shows this mount (vol_mount_check); if
 * not, it is unmounted again and -EBUSY returned. mount's -errno. */
_must_check_ int vol_mount_at(struct vol_paths *p, const char *dev, const char *fs_type, bool rw)
	_nonnull_(1, 2, 3);
/* Record the mount a helper (fuse2fs) made on the prepared directory. -ENOENT: none yet. */
_must_check_ int vol_mount_adopt(struct vol_paths *p) _nonnull_(1);
/* 0 when .filesystem-<index> (by name, no symlink followed) is our mount; -EBUSY otherwise. */
_must_check_ int vol_mount_check(struct vol_paths *p) _nonnull_(1);
/* Unmount our mount by its id: through the parent's descriptor while the name still shows it,
 * else wherever /proc/self/mountinfo says it is now (detached). Retried while busy for about
 * two seconds. 0 when nothing is mounted. */
int vol_umount(struct vol_paths *p) _nonnull_(1);
/* The mount with this id (from /proc/self/mountinfo, wherever it is now) as an O_PATH fd on its
 * root, checked to be that mount. -ENOENT when there is none. */
_must_check_ int vol_mount_find(uint64_t id, int *ret) _nonnull_(2);
/* Remove .filesystem-<index> if we made it and the name is still that directory. */
int vol_fs_dir_remove(struct vol_paths *p) _nonnull_(1);
/* Put the relative symlink at mount_point atomically (symlinkat to a random name, renameat), all
 * relative to the parent's descriptor. mount_point must not exist, or be a symlink to a
 * .filesystem-* name (an earlier run's); anything else (a directory too) is -EEXIST. */
_must_check_ int vol_publish_link(struct vol_paths *p) _nonnull_(1);
/* Remove the symlink if it is ours. 0 if it is gone or not ours (then left alone). */
int vol_unpublish_link(struct vol_paths *p) _nonnull_(1);
/* True when path is a mount point (its device or mount id differs from its parent's). For our
 * private directories; the shared one is handled by descriptor (above). */
bool vol_is_mount_point(const char *path) _nonnull_(1);
/* umount(2) of a path we own (a private directory), retried while EBUSY for about two seconds.
 * 0 when not mounted. */
int vol_umount_retry(const char *path) _nonnull_(1);

/* ---- the userspace engine (engine_user.c) ---- */

/* luks_unlock() + luks_open() over stack (owned from now on, also on failure). -EKEYREJECTED
 * (no keyslot opens with the passphrase), or luks.h's errors. */
_must_check_ int vol_user_open(struct bdev *stack, const struct luks2_hdr *h,
			       const struct secret *pass, bool rw, struct bdev **ret)
	_nonnull_(1, 2, 3, 5);
/* A pass-through layer over lower (borrowed: free the guard first) for the FUSE file: once
 * armed with a fuse2fs pid, the first read/write/flush error SIGKILLs that fuse2fs before the
 * error is returned (fuse2fs 1.47.0 would hand the errno to its reader as a byte count). */
_must_check_ int vol_guard_new(struct bdev *lower, struct bdev **ret) _nonnull_(1, 2);
/* Arm guard with the pid to SIGKILL on the first error (0 disarms). NULL or another layer: no-op. */
void vol_guard_arm(struct bdev *guard, pid_t pid);
/* Serve the ext4 image file at p's prepared directory with `fuse2fs -f` (rootless fallback),
 * handing it the directory as /proc/self/fd/N; returns once the mount is there (p->mnt_id set).
 * guard (NULL: none) is armed with its pid. -ENODEV (no fuse2fs), -EIO (it exited),
 * -ETIMEDOUT. */
_must_check_ int vol_fuse2fs_start(const char *file, struct vol_paths *p, bool rw,
				   struct bdev *guard, pid_t *ret) _nonnull_(1, 2, 5);
/* Unmount a FUSE mount: umount2 (vol_umount_retry), else, without the privilege, the setuid
 * fusermount3 -u. 0 when not mounted. */
int vol_fuse_unmount(const char *dir) _nonnull_(1);
/* Unmount p's mount (vol_umount as root, else fusermount3 -u), reap fuse2fs and disarm guard
 * (NULL: none). */
int vol_fuse2fs_stop(struct vol_paths *p, pid_t pid, struct bdev *guard) _nonnull_(1);

/* ---- teardown (volume.c) ---- */

struct vol_step {
	const char *name;
	int (*fn)(void *ctx);
};
/* Run every step in order even when one fails; describe each failure in d (may be NULL: debug
 * log only); return the first error. */
int vol_run_steps(const struct vol_step *steps, size_t n, void *ctx, struct diag *d) _nonnull_(1);
/* volume_close()'s steps, in the order it runs them (tests check this very table). */
extern const struct vol_step vol_teardown[];
extern const size_t vol_teardown_len;
