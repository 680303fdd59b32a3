/* SPDX-License-Identifier: MIT */
/*
 * fsutil.h - small file-system helpers shared by every front-end and module: private
 * directories, the one bounded file reader (plain or into secret memory), and the one atomic
 * writer for files in directories that others can write to (the readiness file in the shared
 * emptyDir).
 *
 * Functions return 0 or -errno and do not log.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sealmount/macros.h"
#include "sealmount/secret.h"

/*
 * Make path a private directory: create it with mode 0700 if missing; an existing one must be a
 * directory (not a symlink) owned by the effective uid, and is tightened to 0700. 0, -ENOTDIR
 * (not ours, or not a directory), or mkdir/lstat/chmod's -errno. The parent is not created.
 */
_must_check_ int fs_mkdir_private(const char *path) _nonnull_(1);

/* ---- reading a whole file ---- */

enum fs_read_flags {
	/* Remove whitespace (space, tab, CR, LF) at both ends: a token or key someone pasted. */
	FS_READ_TRIM = 1 << 0,
	/* After trimming: exactly one line - no CR, LF or NUL inside (bearer tokens). */
	FS_READ_ONE_LINE = 1 << 1,
	/* The content is standard base64 (after FS_READ_TRIM, if given): return the decoded
	 * bytes. Not base64: -EBADMSG. */
	FS_READ_BASE64 = 1 << 2,
	/* An empty result (after the above) is -ENODATA. */
	FS_READ_NONEMPTY = 1 << 3,
};

/*
 * Read the whole file at path, at most max bytes (more: -EFBIG), then apply flags. The result is
 * malloc'd and followed by a NUL byte not counted in *ret_len. Open/read errors as -errno,
 * -EFBIG, -EBADMSG, -ENODATA, -ENOMEM. Any file type that read(2) accepts is read (a FIFO or
 * /dev/fd/N included); O_NOCTTY, no O_NOFOLLOW (mounted Kubernetes secrets are symlinks).
 */
_must_check_ int fs_read_file(const char *path, size_t max, unsigned flags, uint8_t **ret,
			      size_t *ret_len) _nonnull_(1, 4, 5);

/*
 * The same, straight into secret memory (secret.h): no copy of the bytes is left anywhere but
 * *ret (the read buffer is secret memory too and is wiped when it grows). *ret is followed by a
 * zero byte (inside its mapping, not counted in len). A secret is never empty: an empty result
 * is -ENODATA whatever the flags. Passphrases: flags 0
 * (the bytes as they are, as `cryptsetup --key-file` takes them); bearer tokens: FS_READ_TRIM |
 * FS_READ_ONE_LINE; account keys: FS_READ_TRIM | FS_READ_BASE64. Errors as fs_read_file() plus
 * secret_new()'s.
 */
_must_check_ int fs_read_secret(const char *path, size_t max, unsigned flags, struct secret **ret)
	_nonnull_(1, 4);

/* ---- writing a file others may tamper with ---- */

/*
 * Replace path with a regular file holding data, atomically: a new file with a random name is
 * created next to it (O_CREAT|O_EXCL|O_NOFOLLOW, so nothing planted there is ever opened or
 * followed - not a symlink, not a FIFO that would block), written, fsync'd and renamed over
 * path. Whatever was at path (a file, a symlink, a FIFO) is replaced, never written through;
 * a directory there fails with -EISDIR. Readers see the old or the new content, never a part.
 * -errno of open/write/rename.
 */
_must_check_ int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
	_nonnull_(1);
