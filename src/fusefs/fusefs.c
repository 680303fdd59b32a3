/* SPDX-License-Identifier: MIT */
/*
 * fusefs.c - one file, MOUNTPOINT/data, backed by a block device stack. libfuse's high-level
 * API is enough here: two paths, no directory tree, and its loop does the threading.
 */
#define FUSE_USE_VERSION 312 /* 3.12: fuse_loop_cfg_set_max_threads() */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sealmount/fusefs.h"
#include "sealmount/log.h"

#define FUSEFS_MAX_WRITE (1u * 1024 * 1024)

struct fusefs {
	struct fuse *fuse;
	struct bdev *dev;
	bool rw;
	bool mounted;
	bool signals;
	unsigned max_threads;
	struct timespec mounted_at; /* shown as the file's times */
};

static struct fusefs *ctx(void)
{
	return fuse_get_context()->private_data;
}

static bool is_data(const char *path)
{
	return path[0] == '/' && streq(path + 1, FUSEFS_FILE_NAME);
}

static void *fs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	struct fusefs *fs = ctx();

	conn->max_write = FUSEFS_MAX_WRITE; /* libfuse derives max_pages (256) from it */
	conn->max_readahead = FUSEFS_MAX_WRITE;
	if (conn->capable & FUSE_CAP_ASYNC_READ)
		conn->want |= FUSE_CAP_ASYNC_READ;
	cfg->kernel_cache = 1; /* we are the only writer: the page cache stays valid */
	cfg->attr_timeout = 3600;
	cfg->entry_timeout = 3600;
	cfg->negative_timeout = 3600;
	return fs;
}

static int fs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct fusefs *fs = ctx();

	memset(st, 0, sizeof(*st));
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_atim = st->st_mtim = st->st_ctim = fs->mounted_at;
	if (streq(path, "/")) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		return 0;
	}
	if (!is_data(path))
		return -ENOENT;
	st->st_mode = S_IFREG | (fs->rw ? 0600 : 0400);
	st->st_nlink = 1;
	st->st_size = (off_t)bdev_size(fs->dev);
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((bdev_size(fs->dev) + 511) / 512);
	return 0;
}

static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	if (!streq(path, "/"))
		return -ENOTDIR;
	if (fill(buf, ".", NULL, 0, 0) || fill(buf, "..", NULL, 0, 0) ||
	    fill(buf, FUSEFS_FILE_NAME, NULL, 0, 0))
		return -ENOMEM;
	return 0;
}

static int fs_open(const char *path, struct fuse_file_info *fi)
{
	struct fusefs *fs = ctx();

	if (!is_data(path))
		return streq(path, "/") ? -EISDIR : -ENOENT;
	if ((fi->flags & O_ACCMODE) != O_RDONLY && !fs->rw)
		return -EROFS;
	if (fi->flags & O_TRUNC && bdev_size(fs->dev) > 0)
		return -EPERM; /* the device has a fixed size */
	fi->keep_cache = 1;
	return 0;
}

static int fs_read(const char *path, char *buf, size_t len, off_t off, struct fuse_file_info *fi)
{
	struct fusefs *fs = ctx();
	uint64_t size = bdev_size(fs->dev);
	int r;

	if (off < 0)
		return -EINVAL;
	if ((uint64_t)off >= size)
		return 0;
	if (len > size - (uint64_t)off)
		len = (size_t)(size - (uint64_t)off);
	r = bdev_read(fs->dev, buf, len, (uint64_t)off);
	if (r < 0)
		/* log-ok: the frontend: the application gets the errno, the log says where */
		return log_error_errno(r, "Read of %zu bytes at %jd from %s failed: %m", len,
				       (intmax_t)off, bdev_name(fs->dev));
	return (int)len;
}

static int fs_write(const char *path, const char *buf, size_t len, off_t off,
		    struct fuse_file_info *fi)
{
	struct fusefs *fs = ctx();
	uint64_t size = bdev_size(fs->dev);
	int r;

	if (off < 0)
		return -EINVAL;
	if ((uint64_t)off >= size)
		return len ? -EFBIG : 0;
	if (len > size - (uint64_t)off)
		len = (size_t)(size - (uint64_t)off);
	r = bdev_write(fs->dev, buf, len, (uint64_t)off);
	if (r < 0)
		/* log-ok: the frontend: the application gets the errno, the log says where */
		return log_error_errno(r, "Write of %zu bytes at %jd to %s failed: %m", len,
				       (intmax_t)off, bdev_name(fs->dev));
	return (int)len;
}

static int do_flush(struct fusefs *fs)
{
	int r;

	if (!fs->rw)
		return 0;
	r = bdev_flush(fs->dev);
	if (r < 0)
		/* log-ok: the frontend: the application gets the errno, the log says where */
		return log_error_errno(r, "Flush of %s failed, written data is not durable: %m",
				       bdev_name(fs->dev));
	return 0;
}

static int fs_flush(const char *path, struct fuse_file_info *fi)
{
	return do_flush(ctx());
}

static int fs_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	return do_flush(ctx());
}

static int fs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct fusefs *fs = ctx();

	if (!is_data(path))
		return -EISDIR;
	return size >= 0 && (uint64_t)size == bdev_size(fs->dev) ? 0 : -EPERM;
}

static int fs_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	return 0; /* times are not stored; accepting keeps `touch` and cp -p quiet */
}

static int fs_statfs(const char *path, struct statvfs *sv)
{
	struct fusefs *fs = ctx();

	memset(sv, 0, sizeof(*sv));
	sv->f_bsize = 4096;
	sv->f_frsize = 4096;
	sv->f_blocks = (bdev_size(fs->dev) + 4095) / 4096;
	sv->f_files = 2;
	sv->f_namemax = 255;
	return 0;
}

static const struct fuse_operations fs_ops = {
	.init = fs_init,
	.getattr = fs_getattr,
	.readdir = fs_readdir,
	.open = fs_open,
	.read = fs_read,
	.write = fs_write,
	.flush = fs_flush,
	.fsync = fs_fsync,
	.truncate = fs_truncate,
	.utimens = fs_utimens,
	.statfs = fs_statfs,
};

static int build_args(struct fuse_args *args, const struct fusefs_options *o)
{
	char opts[256];
	int n;

	n = snprintf(opts, sizeof(opts), "fsname=%s,subtype=sealmount,default_permissions%s%s",
		     o->fsname ? o->fsname : "sealmount", o->allow_other ? ",allow_other" : "",
		     o->rw ? "" : ",ro");
	if (n < 0 || (size_t)n >= sizeof(opts) || strchr(o->fsname ? o->fsname : "", ','))
		return -EINVAL;
	if (fuse_opt_add_arg(args, "sealmount") < 0 || fuse_opt_add_arg(args, "-o") < 0 ||
	    fuse_opt_add_arg(args, opts) < 0)
		return -ENOMEM;
	return 0;
}

int fusefs_new(struct bdev *dev, const char *mountpoint, const struct fusefs_options *opts,
	       struct fusefs **ret)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fusefs *fs;
	int r;

	if (opts->rw && !bdev_is_writable(dev))
		return -EROFS;
	fs = calloc(1, sizeof(*fs));
	if (!fs)
		return -ENOMEM;
	*fs = (struct fusefs){ .dev = dev,
			       .rw = opts->rw,
			       .signals = opts->handle_signals,
			       .max_threads = opts->max_threads ? opts->max_threads : 16 };
	r = build_args(&args, opts);
	if (r == 0) {
		fs->fuse = fuse_new(&args, &fs_ops, sizeof(fs_ops), fs);
		r = fs->fuse ? 0 : -EINVAL;
	}
	fuse_opt_free_args(&args);
	if (r == 0 && fuse_mount(fs->fuse, mountpoint) != 0)
		r = -EIO;
	if (r < 0) {
		fusefs_free(fs);
		return log_debug_errno(r, "fusefs: cannot mount at %s: %m", mountpoint);
	}
	fs->mounted = true;
	clock_gettime(CLOCK_REALTIME, &fs->mounted_at);
	log_debug("fusefs: %s mounted at %s/%s (%s)", bdev_name(dev), mountpoint, FUSEFS_FILE_NAME,
		  opts->rw ? "read-write" : "read-only");
	*ret = fs;
	return 0;
}

int fusefs_run(struct fusefs *fs)
{
	struct fuse_session *se = fuse_get_session(fs->fuse);
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	int r;

	if (!cfg)
		return -ENOMEM;
	/* libfuse's default caps the loop at 10 threads: too few for 16 parallel readers. */
	fuse_loop_cfg_set_max_threads(cfg, fs->max_threads);
	fuse_loop_cfg_set_idle_threads(cfg, fs->max_threads);
	if (fs->signals && fuse_set_signal_handlers(se) != 0) {
		fuse_loop_cfg_destroy(cfg);
		return -EIO;
	}
	r = fuse_loop_mt(fs->fuse, cfg);
	fuse_loop_cfg_destroy(cfg);
	if (fs->signals)
		fuse_remove_signal_handlers(se);
	/* libfuse returns 0, a negative errno, or the number of the signal that ended it. */
	return r < 0 ? r : 0;
}

void fusefs_free(struct fusefs *fs)
{
	if (!fs)
		return;
	if (fs->mounted)
		fuse_unmount(fs->fuse);
	if (fs->fuse)
		fuse_destroy(fs->fuse);
	free(fs);
}
