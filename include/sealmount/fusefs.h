/* SPDX-License-Identifier: MIT */
/*
 * fusefs.h - the FUSE frontend: exposes any block device stack (bdev.h) as one regular file,
 * MOUNTPOINT/data, through libfuse3 (low-level API, multithreaded loop, one /dev/fuse clone per
 * thread).
 *
 * The file's size is the device size; it cannot grow or shrink. Reads past the end are short,
 * writes past the end fail with EFBIG. flush(2)-on-close and fsync(2) call bdev_flush(), so
 * fsync returns only after the whole stack made every write durable, and a failed write-back
 * comes back to the writer as EIO. Large requests (max_write 1 MiB, so the kernel uses up to
 * 256 pages per request; the mount's read-ahead raised to 2 MiB through its bdi in sysfs where
 * we may, since Linux otherwise caps it at 128 KiB), async reads and the kernel page cache are
 * on. A device that serves reads in place (bdev_map(): a read-only cache) answers reads from its
 * own memory with no copy into a reply buffer; other reads go through one buffer per thread.
 *
 * Errors from the stack are logged here once at error level (docs/conventions.md, Errors) and returned to the
 * kernel as -errno.
 *
 * Threading: fusefs_run() blocks in libfuse's multithreaded loop, so the device is called from
 * many threads at once (bdev.h's contract). One fusefs per mountpoint; several may run in one
 * process from different threads, but only one may own the signal handlers.
 */
#pragma once

#include <stdbool.h>

#include "sealmount/bdev.h"
#include "sealmount/macros.h"

#define FUSEFS_FILE_NAME "data"

struct fusefs_options {
	bool rw; /* allow writes (the device must be writable) */
	bool allow_other; /* other users may access the mount (needs root or user_allow_other) */
	bool handle_signals; /* SIGINT/SIGTERM/SIGHUP end fusefs_run() (CLI use) */
	unsigned max_threads; /* 0 = 16 */
	const char *fsname; /* shown in /proc/mounts; NULL = "sealmount" */
};

struct fusefs;

/*
 * Mount dev (not owned; it must outlive the fusefs) at mountpoint, an existing directory.
 * -EROFS (rw on a read-only device), -EINVAL, -ENOMEM, -EIO (mount failed; libfuse logs why).
 */
_must_check_ int fusefs_new(struct bdev *dev, const char *mountpoint,
			    const struct fusefs_options *opts, struct fusefs **ret)
	_nonnull_(1, 2, 3, 4);

/* Serve requests until unmounted (fusermount3 -u, umount) or, with handle_signals, until
 * SIGINT/SIGTERM/SIGHUP. 0 or -errno. */
_must_check_ int fusefs_run(struct fusefs *fs) _nonnull_(1);

/* Unmount (if still mounted) and free. Does not flush or free the device. NULL-safe. */
void fusefs_free(struct fusefs *fs);
DEFINE_CLEANUP_FUNC(struct fusefs, fusefs_free)
