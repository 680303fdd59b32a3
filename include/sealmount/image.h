/* SPDX-License-Identifier: MIT */
/*
 * image.h - create an encrypted image (LUKS2, optionally with dm-integrity) from a directory,
 * without root, loop devices or device-mapper (docs/dm-integrity.md, Creating images).
 *
 * Steps: `mke2fs -t ext4 -d DIR` builds the plaintext filesystem in a temporary file in the
 * output's directory (O_TMPFILE, or a name unlinked right after creation; mke2fs reaches it
 * through /proc/self/fd). That plaintext copy exists only while the image is written and is
 * never linked into the directory tree; the data in DIR is plaintext anyway. Then the image size
 * is chosen (docs/dm-integrity.md, Creating images step 9), the LUKS2 metadata written
 * (luks2_write.h), the dm-integrity superblock and initial journal (dmi.h), and every data block
 * through the userspace `luks` layer (luks.h) over the output file, so every sector of the mapped
 * device carries a valid tag (as after cryptsetup's wipe). The output is created O_EXCL with mode
 * 0600 and removed on any failure.
 *
 * Errors: -EEXIST (output exists), -ECANCELED (o->cancel was set), -ENOSPC (DIR does not fit in the given size), -EINVAL
 * (parameters), -ENOTDIR, the errors of luks2_write.h, dmi.h and luks.h, or -errno from file
 * I/O. Each failure is logged once here at error level with the step that failed.
 */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "sealmount/diag.h"
#include "sealmount/luks2_write.h"
#include "sealmount/macros.h"
#include "sealmount/secret.h"

#define IMAGE_FS_SIZE_MIN (8u * 1024 * 1024) /* plaintext filesystem, bytes */
#define IMAGE_FS_SIZE_MAX (16ull * 1024 * 1024 * 1024 * 1024)

struct image_create_options {
	const char *from_dir;
	const char *output;
	uint64_t fs_size; /* plaintext filesystem bytes (rounded up to 1 MiB); 0 = from DIR */
	struct luks2_write_params luks;
	bool progress; /* a progress line on stderr (only when it is a terminal) */
	const char *mke2fs; /* NULL = "mke2fs" from PATH */
	/* When *cancel becomes non-zero (e.g. from a SIGINT handler) writing stops with
	 * -ECANCELED and the output is removed. May be NULL. */
	const volatile sig_atomic_t *cancel;
	/* What failed, for the caller to log (diag.h); may be NULL. */
	struct diag *diag;
};

struct image_create_result {
	uint64_t fs_size; /* plaintext bytes written */
	uint64_t image_size; /* bytes of the output file */
	uint64_t data_size; /* the mapped device's size (>= fs_size) */
	double seconds_mkfs, seconds_write;
};

/* Create o->output from o->from_dir, protected by passphrase (1..LUKS2_WRITE_PASS_MAX bytes).
 * result may be NULL. */
_must_check_ int image_create(const struct image_create_options *o, const struct secret *passphrase,
			      struct image_create_result *result) _nonnull_(1, 2);

/*
 * The smallest image size (a multiple of 4096) whose data area holds fs_size bytes for the
 * segment shape in p (docs/dm-integrity.md, Creating images step 9: with integrity, dm-integrity's
 * provided_data_sectors is not monotonic in the device size, so it is scanned upward). fs_size is a
 * multiple of 4096. -EINVAL, -EFBIG.
 */
_must_check_ int image_size_for(const struct luks2_write_params *p, uint64_t fs_size, uint64_t *ret)
	_nonnull_(1, 3);

/* The filesystem size `image create` picks for DIR when no size is given: the space its files
 * and directories take in 4 KiB blocks plus room for ext4's metadata and journal, rounded up to
 * 1 MiB. -errno from walking DIR. */
_must_check_ int image_auto_fs_size(const char *dir, uint64_t *ret) _nonnull_(1, 2);
