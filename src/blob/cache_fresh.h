/* SPDX-License-Identifier: MIT */
/*
 * cache_fresh.h - the cache's freshness table: a SHA-256 digest of every chunk as it was first
 * fetched or last written back, so that a later fetch of the same chunk that returns other bytes
 * (an older version replayed by whoever controls the storage, or any other change) is refused
 * instead of reaching the reader. Not a public API; see docs/freshness.md.
 *
 * Memory: 32 bytes per chunk ever seen, in leaves of FRESH_LEAF_CHUNKS chunks allocated on first
 * use (32 KiB + 128 bytes each, covering 64 MiB of a device with 64 KiB chunks), found through
 * a radix tree of 1024-pointer nodes (8 KiB each, one per 1024 leaves). At most about
 * (device size / chunk size) * 32 bytes: 512 MiB for 1 TiB in 64 KiB chunks, 0.05 % of the
 * device; a session that touches less uses less. It lives as long as the cache (one session).
 *
 * Thread-safety: every function takes t->lock (a leaf lookup and a 32-byte copy); the digest is
 * computed by the caller without it. Lock order: the cache's lock, then this one.
 */
#pragma once

#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "sealmount/macros.h"

#define FRESH_DIGEST 32u /* SHA-256 */
#define FRESH_LEAF_SHIFT 10u
#define FRESH_LEAF_CHUNKS (1u << FRESH_LEAF_SHIFT)
#define FRESH_FAN_SHIFT 10u
#define FRESH_FAN (1u << FRESH_FAN_SHIFT)

struct fresh_leaf {
	uint64_t seen[FRESH_LEAF_CHUNKS / 64]; /* bit i: digest[i] is set */
	uint8_t digest[FRESH_LEAF_CHUNKS][FRESH_DIGEST];
};

struct fresh_node {
	void *child
		[FRESH_FAN]; /* struct fresh_node, or struct fresh_leaf one level up from leaves */
};

struct fresh_table {
	pthread_mutex_t lock;
	EVP_MD *md; /* SHA-256, fetched once */
	uint64_t nchunks;
	unsigned depth; /* node levels above the leaves (>= 1) */
	struct fresh_node *root; /* NULL until a chunk is seen */
	bool ready; /* initialised */
	uint64_t remembered; /* chunks with a digest */
};

/* A table for chunks 0..nchunks-1, empty. -ENOMEM, -EINVAL (nchunks 0), -ENOSYS (no SHA-256
 * in this OpenSSL). */
_must_check_ int fresh_init(struct fresh_table *t, uint64_t nchunks) _nonnull_(1);
void fresh_done(struct fresh_table *t) _nonnull_(1);

/* SHA-256 of data[0..len). -ENOMEM (OpenSSL failed). No lock. */
_must_check_ int fresh_digest(struct fresh_table *t, const void *data, size_t len,
			      uint8_t out[FRESH_DIGEST]) _nonnull_(1, 2, 4);

/* A fetch of chunk idx returned bytes with this digest: 0 when it matches the remembered one or
 * none was remembered yet (it is remembered now), -EBADMSG when it differs (nothing changes),
 * -EINVAL (idx out of range), -ENOMEM. */
_must_check_ int fresh_check(struct fresh_table *t, uint64_t idx,
			     const uint8_t digest[FRESH_DIGEST]) _nonnull_(1, 3);

/* Make sure remembering chunk idx cannot fail later (allocates its leaf): the write path calls it
 * before a chunk is changed. -EINVAL, -ENOMEM. */
_must_check_ int fresh_reserve(struct fresh_table *t, uint64_t idx) _nonnull_(1);

/* Chunk idx now holds bytes with this digest (written back): replaces what was remembered.
 * The leaf must have been reserved (else, or out of range, nothing is remembered and the
 * function returns false: a programming error). */
bool fresh_remember(struct fresh_table *t, uint64_t idx, const uint8_t digest[FRESH_DIGEST])
	_nonnull_(1, 3);

/* The digest remembered for chunk idx into out: 0, or -ENOENT (never seen), -EINVAL. */
_must_check_ int fresh_lookup(struct fresh_table *t, uint64_t idx, uint8_t out[FRESH_DIGEST])
	_nonnull_(1, 3);

/* Chunks with a digest (for the counters). */
uint64_t fresh_count(struct fresh_table *t) _nonnull_(1);
