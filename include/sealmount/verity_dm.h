/* SPDX-License-Identifier: MIT */
/*
 * verity_dm.h - the kernel engine's dm-verity (docs/verity.md "Kernel"): activate a sealed image
 * (verity.h) read-only with libcryptsetup (CRYPT_VERITY; data device = hash device = the block
 * device holding the whole sealed image; the tree right after the superblock block), from the
 * validated geometry and salt alone - the on-disk superblock is never read again, so nothing can
 * change between validation and activation. The table is read back (libdevmapper) and compared
 * field by field; then data block 0 is read through the new device, so a wrong root hash (another
 * or an older image) or a changed LUKS2 header fails the activation instead of the first read
 * above. dm-crypt then sits on verity_dm_device().
 *
 * Table the kernel must show (Documentation/admin-guide/device-mapper/verity.rst):
 *   0 <D/512> verity 1 <dev> <dev> 4096 4096 <D/4096> <D/4096 + 1> sha256 <root> <salt>
 * with no optional arguments (any - ignore_corruption, restart_on_corruption, ... - is refused:
 * a bad block must read as EIO).
 *
 * Errors: -EPROTO (the table differs: deactivated again; reason in d), -EBADMSG (block 0 fails:
 * wrong root hash or changed header; deactivated again), -EEXIST (name in use), -ENODEV (no
 * device-mapper or no verity target), -ENOTBLK, or libcryptsetup's -errno.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sealmount/diag.h"
#include "sealmount/macros.h"
#include "sealmount/verity.h"

struct verity_dm;

struct verity_dm_args {
	const char *name; /* the dm name; /dev/mapper/NAME is the verified data area */
	const char *device; /* block device (a loop device) holding the whole sealed image */
	const struct verity_image *img; /* from verity_locate() on the same bytes */
	const uint8_t *root_hash; /* VERITY_DIGEST_SIZE bytes, trusted */
};

/* True when device-mapper answers and has the verity target. */
bool verity_dm_usable(void);

/* Activate, check the table, read block 0. On 0 the caller owns *ret (verity_dm_deactivate). */
_must_check_ int verity_dm_activate(const struct verity_dm_args *a, struct verity_dm **ret,
				    struct diag *d) _nonnull_(1, 2);
/* /dev/mapper/NAME */
const char *verity_dm_device(const struct verity_dm *v) _nonnull_(1);
/* True once the kernel has seen a block that failed (status "C"). */
bool verity_dm_corrupted(struct verity_dm *v) _nonnull_(1);
/* Remove the device (retried while busy) and free v. NULL-safe. */
int verity_dm_deactivate(struct verity_dm *v);

/* Check a verity table as the kernel prints it (DM_DEVICE_TABLE parameters) against img, root
 * and the "major:minor" of the device: 0 or -EPROTO with the reason in d. Pure (unit-tested). */
_must_check_ int verity_dm_check_table(const char *params, const struct verity_image *img,
				       const uint8_t *root_hash, const char *devno, struct diag *d)
	_nonnull_(1, 2, 3, 4);
