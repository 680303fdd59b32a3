/* SPDX-License-Identifier: MIT */
/*
 * luks.h - the userspace engine (docs/README.md, Engines): unlock a LUKS2 volume key from a
 * validated header (luks2.h) and a passphrase, and the `luks` block layer that serves the
 * plaintext sectors of the crypt segment over any lower device (bdev.h), with dm-integrity tags
 * (hmac(sha256) = dm-crypt's authenc construction, aead = aes-gcm-random) checked on every read
 * and written on every write, bit-exact with the Linux kernel (docs/luks2.md, Keyslot unlock;
 * docs/dm-crypt.md; docs/dm-integrity.md).
 *
 * Ownership: luks_unlock() returns the volume key in secret memory (secret.h); the caller frees
 * it. luks_open() copies the key into its own secret memory and takes ownership of `lower`
 * (freed by bdev_free() of the luks device, as every filter layer does).
 *
 * Journal (dmi.h): committed dm-integrity journal entries are replayed as the kernel does at
 * activation: overlaid on reads when read-only, written in place (then the journal re-formatted)
 * by a read-write open. Writes go in place with their tags (dm-integrity "D" semantics).
 *
 * Threads: read/write/flush are thread-safe (bdev.h); reads run in parallel, writes are
 * serialised against everything (data and packed tags stay paired for every reader).
 * OpenSSL contexts are pooled per device and keyed once.
 *
 * Errors: -EPERM (no keyslot opens with this passphrase), -EBADMSG (header, superblock or journal
 * unusable), -EILSEQ (a tag mismatch: that read fails, never returns other data; logged with the
 * sector), -ENOTSUP (a shape this engine does not handle), -ENOMEM, or the lower device's error.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "sealmount/bdev.h"
#include "sealmount/luks2.h"
#include "sealmount/macros.h"
#include "sealmount/secret.h"

/* Try the keyslots of h (priority order) with passphrase; the candidate key must match the
 * header's digest. h must come from luks2_hdr_load(); the keyslot areas are read from dev (or
 * from h->raw after luks2_hdr_load_keyslots()). On 0 *ret_vk holds h->segment.key_size bytes. */
_must_check_ int luks_unlock(struct bdev *dev, const struct luks2_hdr *h,
			     const struct secret *passphrase, struct secret **ret_vk)
	_nonnull_(1, 2, 3, 4);

struct luks_options {
	bool rw; /* writes allowed (lower must be writable) */
};

/* The plaintext device of h's crypt segment over lower (owned from now on, also on failure).
 * Its size is the segment's data size (for integrity: provided_data_sectors * 512). */
_must_check_ int luks_open(struct bdev *lower, const struct luks2_hdr *h, const struct secret *vk,
			   const struct luks_options *o, struct bdev **ret)
	_nonnull_(1, 2, 3, 4, 5);

struct luks_stats { /* sectors are 512-byte units of the plaintext device */
	uint64_t sectors_read;
	uint64_t sectors_written;
	uint64_t integrity_errors; /* tag mismatches seen */
	uint64_t last_bad_sector; /* 512-byte sector of the last mismatch (valid if errors > 0) */
};
/* Counters of a luks device; -EINVAL if b is not one. */
_must_check_ int luks_get_stats(struct bdev *b, struct luks_stats *ret) _nonnull_(1, 2);
