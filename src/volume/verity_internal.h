/* SPDX-License-Identifier: MIT */
/*
 * verity_internal.h - the parts of the verity module shared by its files (verity.h): the salted
 * block hash with a reusable context, and the verifier behind the `verity` layer that
 * verity_check() drives directly (it needs the first bad block even when the open fails).
 * Not installed.
 */
#pragma once

#include <openssl/evp.h>

#include "sealmount/verity.h"

/* sha256(salt || block) with a caller's context (reset here); -EIO on an OpenSSL failure. */
_must_check_ int vhash(EVP_MD_CTX *c, const struct verity_sb *sb, const void *block, size_t len,
		       uint8_t out[VERITY_DIGEST_SIZE]) _nonnull_(1, 2, 3, 5);

struct vdev;

/* A verifier over lower (borrowed unless owns_lower: then freed by vdev_free, also when this
 * fails). cache_blocks >= 16. -EINVAL (lower smaller than img->g.end), -ENOMEM. */
_must_check_ int vdev_new(struct bdev *lower, bool owns_lower, const struct verity_image *img,
			  const uint8_t root[VERITY_DIGEST_SIZE], unsigned cache_blocks,
			  struct vdev **ret) _nonnull_(1, 3, 4, 6);
void vdev_free(struct vdev *v);
/* The open-time checks: the top hash block against the root, then data block 0. 0, -EBADMSG
 * (first bad block recorded), or the lower device's error. */
_must_check_ int vdev_check_open(struct vdev *v) _nonnull_(1);
/* Read and verify [off, off + len) of the data area (bounds checked by the caller); -EIO when a
 * block fails (buf zeroed, first bad block recorded). */
_must_check_ int vdev_read(struct vdev *v, void *buf, size_t len, uint64_t off) _nonnull_(1, 2);
void vdev_get_stats(struct vdev *v, struct verity_stats *ret) _nonnull_(1, 2);
