/* SPDX-License-Identifier: MIT */
/*
 * image_internal.h - shared by image_create.c and image_mkfs.c. Not installed; see image.h.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "sealmount/image.h"

/*
 * Build an ext4 filesystem of size bytes holding dir with mke2fs (NULL = "mke2fs" from PATH)
 * into a new unnamed temporary file next to output; *ret_fd is open read-write on it. quiet
 * silences mke2fs's stderr. -ENOSPC when mke2fs fails (typically: dir does not fit), -ECANCELED
 * when a signal killed it, -ENOENT when mke2fs cannot be run, -errno.
 */
_must_check_ int image_mkfs(const char *mke2fs, const char *dir, const char *output, uint64_t size,
			    bool quiet, int *ret_fd) _nonnull_(2, 3, 6);
