/* SPDX-License-Identifier: MIT */
/*
 * luks_internal.h - shared by luks_dev.c (open, close, contexts, stats), luks_crypt.c (one
 * sector: XTS, authenc(hmac(sha256), xts), gcm) and luks_io.c (the read and write paths).
 * Not installed; see luks.h.
 */
#pragma once

#include <pthread.h>

#include <openssl/evp.h>

#include "sealmount/dmi.h"
#include "sealmount/luks.h"

#define LUKS_IO_BLOCKS 256u /* blocks per lower I/O: 1 MiB at 4096-byte sectors */
#define LUKS_HMAC_LEN 32u
#define LUKS_GCM_TAG_LEN 16u
#define LUKS_GCM_IV_LEN 12u

/* Per-thread-of-use OpenSSL state and bounce buffers, kept in a pool (taken per call). */
struct luks_ctx {
	EVP_CIPHER_CTX *enc, *dec;
	EVP_MAC_CTX *mac; /* keyed HMAC-SHA256, hmac mode only */
	uint8_t *tags; /* LUKS_IO_BLOCKS * tag_size */
	uint8_t *buf; /* LUKS_IO_BLOCKS * sector_size: ciphertext on writes, partial blocks */
	struct luks_ctx *next;
};

struct luks_dev {
	struct bdev *lower;
	enum luks2_integrity kind;
	uint32_t ss; /* sector (block) size */
	uint32_t tag_size;
	uint64_t data_offset; /* without integrity: the segment offset */
	uint64_t iv_tweak;
	uint64_t size;
	struct dmi_geometry g;
	struct dmi_journal journal; /* committed journal blocks overlaid on reads (read-only) */
	struct secret *key;
	const EVP_CIPHER *cipher;
	EVP_MAC *mac;
	EVP_MAC_CTX *mac_tmpl;
	pthread_rwlock_t rw; /* reads shared, writes exclusive (data and packed tags stay paired) */
	pthread_mutex_t pool_lock;
	struct luks_ctx *pool;
	uint64_t sectors_read, sectors_written, integrity_errors, last_bad_sector; /* atomics */
};

_must_check_ int luks_ctx_get(struct luks_dev *d, struct luks_ctx **ret) _nonnull_(1, 2);
void luks_ctx_put(struct luks_dev *d, struct luks_ctx *c) _nonnull_(1, 2);

/* One sector at logical 512-byte sector S. decrypt: verify tag (T bytes; NULL without
 * integrity) then decrypt buf in place: -EILSEQ on a mismatch (buf left as ciphertext).
 * encrypt: in -> out (ss bytes), tag written (gcm: fresh random IV stored in it). */
_must_check_ int luks_sector_decrypt(struct luks_dev *d, struct luks_ctx *c, uint64_t S,
				     uint8_t *buf, const uint8_t *tag) _nonnull_(1, 2, 4);
_must_check_ int luks_sector_encrypt(struct luks_dev *d, struct luks_ctx *c, uint64_t S,
				     const uint8_t *in, uint8_t *out, uint8_t *tag)
	_nonnull_(1, 2, 4, 5);

_must_check_ int luks_dev_read(void *state, void *buf, size_t len, uint64_t off);
_must_check_ int luks_dev_write(void *state, const void *buf, size_t len, uint64_t off);
/* Write p at off of the lower device, read-modify-writing to its write alignment. */
_must_check_ int luks_lower_write(struct bdev *lower, const uint8_t *p, size_t len, uint64_t off)
	_nonnull_(1, 2);
