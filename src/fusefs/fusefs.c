/* SPDX-License-Identifier: MIT */
/*
 * fusefs.c - one file, MOUNTPOINT/data, backed by a block device stack, through libfuse's
 * low-level API: two inodes (the root directory and the file) need no path machinery, and the
 * read reply is ours to build: a device that serves reads in place (bdev_map(): a read-only
 * cache) has its memory written to /dev/fuse directly (fuse_reply_iov), so the bytes are not
 * copied into a reply buffer first and no per-request buffer is allocated.
 */
#define FUSE_USE_VERSION 312 /* 3.12: fuse_loop_cfg_*() */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sealmount/fsutil.h"
#include "sealmount/fusefs.h"
#include "sealmount/log.h"

#define FUSEFS_MAX_IO (1u * 1024 * 1024)
#define FUSEFS_READAHEAD_KB 2048u /* two requests of FUSEFS_MAX_IO in flight */
#define MOUNTINFO_MAX (4u * 1024 * 1024)
#define DATA_INO 2
#define TIMEOUT_S 3600.0

struct fusefs {
	struct fuse_session *se;
	struct bdev *dev;
	bool rw;
	bool mounted;
	bool signals;
	unsigned max_threads;
	uid_t uid;
	gid_t gid;
	struct timespec mounted_at; /* shown as the file's times */
};

static struct fusefs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static void fill_attr(const struct fusefs *fs, fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_atim = st->st_mtim = st->st_ctim = fs->mounted_at;
	if (ino == FUSE_ROOT_ID) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		return;
	}
	st->st_mode = S_IFREG | (fs->rw ? 0600 : 0400);
	st->st_nlink = 1;
	st->st_size = (off_t)bdev_size(fs->dev);
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((bdev_size(fs->dev) + 511) / 512);
}

static void fs_init(void *userdata, struct fuse_conn_info *conn)
{
	conn->max_write = FUSEFS_MAX_IO; /* libfuse derives max_pages (256) from it */
	/* Page-cache reads in requests of up to 1 MiB, two in flight; the kernel offers what the
	 * bdi allowed at mount (raise_readahead()) and keeps the smaller of the two. */
	conn->max_readahead = FUSEFS_READAHEAD_KB * 1024;
	if (conn->capable & FUSE_CAP_ASYNC_READ)
		conn->want |= FUSE_CAP_ASYNC_READ;
	/* We are the only writer: the kernel may keep its page cache across opens. */
	conn->want &= ~(unsigned)FUSE_CAP_AUTO_INVAL_DATA;
}

static void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fusefs *fs = fs_of(req);
	struct fuse_entry_param e = { .ino = DATA_INO,
				      .attr_timeout = TIMEOUT_S,
				      .entry_timeout = TIMEOUT_S };

	if (parent != FUSE_ROOT_ID || !streq(name, FUSEFS_FILE_NAME)) {
		/* A negative entry, cached as long as the positive one. */
		e = (struct fuse_entry_param){ .ino = 0, .entry_timeout = TIMEOUT_S };
		fuse_reply_entry(req, &e);
		return;
	}
	fill_attr(fs, DATA_INO, &e.attr);
	fuse_reply_entry(req, &e);
}

static void fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;

	if (ino != FUSE_ROOT_ID && ino != DATA_INO) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	fill_attr(fs_of(req), ino, &st);
	fuse_reply_attr(req, &st, TIMEOUT_S);
}

/* Only what keeps tools quiet is accepted: times (not stored) and a size equal to the size. */
static void fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct fusefs *fs = fs_of(req);
	int ok = FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |
		 FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME | FUSE_SET_ATTR_SIZE;
	struct stat st;

	if (ino != DATA_INO) {
		fuse_reply_err(req, ino == FUSE_ROOT_ID ? EPERM : ENOENT);
		return;
	}
	if ((to_set & ~ok) ||
	    ((to_set & FUSE_SET_ATTR_SIZE) &&
	     (attr->st_size < 0 || (uint64_t)attr->st_size != bdev_size(fs->dev)))) {
		fuse_reply_err(req, EPERM); /* the device has a fixed size */
		return;
	}
	fill_attr(fs, ino, &st);
	fuse_reply_attr(req, &st, TIMEOUT_S);
}

static void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fusefs *fs = fs_of(req);

	if (ino != DATA_INO) {
		fuse_reply_err(req, ino == FUSE_ROOT_ID ? EISDIR : ENOENT);
		return;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY && !fs->rw) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if ((fi->flags & O_TRUNC) && bdev_size(fs->dev) > 0) {
		fuse_reply_err(req, EPERM);
		return;
	}
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

static void fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (ino != FUSE_ROOT_ID)
		fuse_reply_err(req, ino == DATA_INO ? ENOTDIR : ENOENT);
	else
		fuse_reply_open(req, fi);
}

static void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	static const struct {
		const char *name;
		fuse_ino_t ino;
		mode_t mode;
	} ents[] = { { ".", FUSE_ROOT_ID, S_IFDIR },
		     { "..", FUSE_ROOT_ID, S_IFDIR },
		     { FUSEFS_FILE_NAME, DATA_INO, S_IFREG } };
	char buf[512];
	size_t used = 0;

	for (off_t i = off < 0 ? 0 : off; i < (off_t)ELEMENTSOF(ents); i++) {
		struct stat st = { .st_ino = ents[i].ino, .st_mode = ents[i].mode };
		size_t n = fuse_add_direntry(req, buf + used, sizeof(buf) - used, ents[i].name, &st,
					     i + 1);

		if (n > sizeof(buf) - used || used + n > size)
			break;
		used += n;
	}
	fuse_reply_buf(req, buf, used);
}

static pthread_key_t buf_key;
static pthread_once_t buf_once = PTHREAD_ONCE_INIT;
static int buf_key_result;

static void buf_key_init(void)
{
	buf_key_result = pthread_key_create(&buf_key, free);
}

/* The reply buffer of this loop thread (FUSEFS_MAX_IO bytes, kept for the thread's life), or
 * NULL: a fresh 1 MiB allocation per request is an mmap, a page fault per 4 KiB and an munmap
 * with its TLB flush, for every read of a device that cannot serve reads in place (the userspace
 * engine's plaintext). */
static uint8_t *thread_buf(void)
{
	uint8_t *b;

	if (pthread_once(&buf_once, buf_key_init) != 0 || buf_key_result != 0)
		return NULL;
	b = pthread_getspecific(buf_key);
	if (!b) {
		b = malloc(FUSEFS_MAX_IO);
		if (b && pthread_setspecific(buf_key, b) != 0) {
			free(b);
			b = NULL;
		}
	}
	return b;
}

/* In place from the device's memory, when it can; else through a buffer. */
static int reply_read(fuse_req_t req, struct fusefs *fs, size_t len, uint64_t off)
{
	struct bdev_map m;
	_cleanup_free_ uint8_t *own = NULL;
	uint8_t *buf;
	int r;

	r = bdev_map(fs->dev, off, len, &m);
	if (r == 0) {
		/* A failed reply (the reader was interrupted) ends the request all the same. */
		(void)fuse_reply_iov(req, m.iov, (int)m.cnt);
		bdev_unmap(fs->dev, &m);
		return 0;
	}
	if (r != -EOPNOTSUPP && r != -ENOBUFS)
		return r;
	buf = len <= FUSEFS_MAX_IO ? thread_buf() : NULL;
	if (!buf)
		buf = own = malloc(len);
	if (!buf)
		return -ENOMEM;
	r = bdev_read(fs->dev, buf, len, off);
	if (r < 0)
		return r;
	(void)fuse_reply_buf(req, (const char *)buf, len);
	return 0;
}

static void fs_read(fuse_req_t req, fuse_ino_t ino, size_t len, off_t off,
		    struct fuse_file_info *fi)
{
	struct fusefs *fs = fs_of(req);
	uint64_t size = bdev_size(fs->dev);
	int r;

	if (ino != DATA_INO || off < 0) {
		fuse_reply_err(req, ino == DATA_INO ? EINVAL : EISDIR);
		return;
	}
	if ((uint64_t)off >= size || len == 0) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (len > size - (uint64_t)off)
		len = (size_t)(size - (uint64_t)off);
	r = reply_read(req, fs, len, (uint64_t)off);
	if (r < 0) {
		/* log-ok: the frontend: the application gets the errno, the log says where */
		log_error_errno(r, "Read of %zu bytes at %jd from %s failed: %m", len,
				(intmax_t)off, bdev_name(fs->dev));
		fuse_reply_err(req, -r);
	}
}

static void fs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t len, off_t off,
		     struct fuse_file_info *fi)
{
	struct fusefs *fs = fs_of(req);
	uint64_t size = bdev_size(fs->dev);
	int r;

	if (ino != DATA_INO || off < 0 || !fs->rw) {
		fuse_reply_err(req, !fs->rw ? EROFS : EINVAL);
		return;
	}
	if ((uint64_t)off >= size) {
		if (len)
			fuse_reply_err(req, EFBIG);
		else
			fuse_reply_write(req, 0);
		return;
	}
	if (len > size - (uint64_t)off)
		len = (size_t)(size - (uint64_t)off);
	r = bdev_write(fs->dev, buf, len, (uint64_t)off);
	if (r < 0) {
		/* log-ok: the frontend: the application gets the errno, the log says where */
		log_error_errno(r, "Write of %zu bytes at %jd to %s failed: %m", len, (intmax_t)off,
				bdev_name(fs->dev));
		fuse_reply_err(req, -r);
		return;
	}
	fuse_reply_write(req, len);
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

static void fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, -do_flush(fs_of(req)));
}

static void fs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	fuse_reply_err(req, -do_flush(fs_of(req)));
}

static void fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

static void fs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fusefs *fs = fs_of(req);
	struct statvfs sv = { .f_bsize = 4096,
			      .f_frsize = 4096,
			      .f_blocks = (bdev_size(fs->dev) + 4095) / 4096,
			      .f_files = 2,
			      .f_namemax = 255 };

	fuse_reply_statfs(req, &sv);
}

static const struct fuse_lowlevel_ops fs_ops = {
	.init = fs_init,
	.lookup = fs_lookup,
	.getattr = fs_getattr,
	.setattr = fs_setattr,
	.open = fs_open,
	.opendir = fs_opendir,
	.readdir = fs_readdir,
	.read = fs_read,
	.write = fs_write,
	.flush = fs_flush,
	.fsync = fs_fsync,
	.release = fs_release,
	.statfs = fs_statfs,
};

/* path as /proc/self/mountinfo writes it: space, tab, newline and backslash as \ooo. */
static int mountinfo_escape(const char *path, char *out, size_t n)
{
	size_t o = 0;

	for (; *path; path++) {
		int w = strchr(" \t\n\\", *path) ?
				snprintf(out + o, n - o, "\\%03o", (unsigned char)*path) :
				snprintf(out + o, n - o, "%c", *path);

		if (w < 0 || (size_t)w >= n - o)
			return -ENAMETOOLONG;
		o += (size_t)w;
	}
	return 0;
}

/* "MAJ:MIN" of the newest sealmount FUSE mount at mountpoint (escaped), from mountinfo lines:
 * "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS". */
static int find_mount_dev(char *info, const char *mountpoint, char dev[32])
{
	int r = -ENOENT;

	for (char *line = info, *next; line && *line; line = next) {
		char *f[5], *sep, *save = NULL;
		int i = 0;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		sep = strstr(line, " - fuse.sealmount ");
		for (char *t = strtok_r(line, " ", &save); t && i < 5;
		     t = strtok_r(NULL, " ", &save))
			f[i++] = t;
		if (i == 5 && sep && streq(f[4], mountpoint) && strlen(f[2]) < 32) {
			memcpy(dev, f[2], strlen(f[2]) + 1);
			r = 0; /* keep looking: the last one is on top */
		}
	}
	return r;
}

/*
 * Linux caps a FUSE mount's read-ahead at the default of its backing device (128 KiB) whatever
 * max_readahead says, so page-cache reads reach us as 128 KiB requests; the mount's bdi knob in
 * sysfs lifts that (root only; without it reads still work, in smaller requests). The mount's
 * device number comes from mountinfo: a stat() here would wait for the INIT that the session
 * loop, not yet running, has to answer.
 */
static void raise_readahead(const char *mountpoint)
{
	_cleanup_free_ char *real = realpath(mountpoint, NULL);
	_cleanup_free_ uint8_t *info = NULL;
	char esc[PATH_MAX * 4], dev[32], path[96], kb[16];
	_cleanup_close_ int fd = -1;
	size_t len;
	int n, r;

	r = real ? mountinfo_escape(real, esc, sizeof(esc)) : -errno;
	r = r ?: fs_read_file("/proc/self/mountinfo", MOUNTINFO_MAX, 0, &info, &len);
	r = r ?: find_mount_dev((char *)info, esc, dev);
	if (r == 0) {
		snprintf(path, sizeof(path), "/sys/class/bdi/%s/read_ahead_kb", dev);
		n = snprintf(kb, sizeof(kb), "%u", FUSEFS_READAHEAD_KB);
		fd = open(path, O_WRONLY | O_CLOEXEC);
		r = fd < 0 || write(fd, kb, (size_t)n) != n ? -errno : 0;
	}
	if (r < 0)
		log_debug_errno(r, "fusefs: read-ahead of %s stays at the kernel's default: %m",
				mountpoint);
}

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
			       .max_threads = opts->max_threads ? opts->max_threads : 16,
			       .uid = getuid(),
			       .gid = getgid() };
	clock_gettime(CLOCK_REALTIME, &fs->mounted_at);
	r = build_args(&args, opts);
	if (r == 0) {
		fs->se = fuse_session_new(&args, &fs_ops, sizeof(fs_ops), fs);
		r = fs->se ? 0 : -EINVAL;
	}
	fuse_opt_free_args(&args);
	if (r == 0 && fuse_session_mount(fs->se, mountpoint) != 0)
		r = -EIO;
	if (r < 0) {
		fusefs_free(fs);
		return log_debug_errno(r, "fusefs: cannot mount at %s: %m", mountpoint);
	}
	fs->mounted = true;
	raise_readahead(mountpoint);
	log_debug("fusefs: %s mounted at %s/%s (%s)", bdev_name(dev), mountpoint, FUSEFS_FILE_NAME,
		  opts->rw ? "read-write" : "read-only");
	*ret = fs;
	return 0;
}

int fusefs_run(struct fusefs *fs)
{
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	int r;

	if (!cfg)
		return -ENOMEM;
	/* libfuse's default caps the loop at 10 threads: too few for 16 parallel readers. Each
	 * thread reads requests from its own clone of /dev/fuse. */
	fuse_loop_cfg_set_max_threads(cfg, fs->max_threads);
	fuse_loop_cfg_set_idle_threads(cfg, fs->max_threads);
	fuse_loop_cfg_set_clone_fd(cfg, 1);
	if (fs->signals && fuse_set_signal_handlers(fs->se) != 0) {
		fuse_loop_cfg_destroy(cfg);
		return -EIO;
	}
	r = fuse_session_loop_mt(fs->se, cfg);
	fuse_loop_cfg_destroy(cfg);
	if (fs->signals)
		fuse_remove_signal_handlers(fs->se);
	/* libfuse returns 0, a negative errno, or the number of the signal that ended it. */
	return r < 0 ? r : 0;
}

void fusefs_free(struct fusefs *fs)
{
	if (!fs)
		return;
	if (fs->mounted)
		fuse_session_unmount(fs->se);
	if (fs->se)
		fuse_session_destroy(fs->se);
	free(fs);
}
