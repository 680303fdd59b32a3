/* SPDX-License-Identifier: MIT */
/*
 * diskcache.h - the `diskcache` layer: an optional, size-capped on-disk cache of the bytes of a
 * read-only lower device, meant to sit between `blob` and the memory `cache`:
 *
 *     blob ▸ diskcache ▸ cache ▸ (luks) ▸ FUSE
 *
 * Why it is safe to keep on local disk: what the blob holds is ciphertext (a LUKS2 image) whose
 * confidentiality and integrity are provided by the layers above (dm-crypt with dm-integrity or
 * AEAD tags). The cache never sees a key or plaintext, and a tampered cache file can at worst
 * make reads fail integrity checks above, exactly like a tampered blob. The per-chunk SHA-256
 * kept here only detects accidental corruption (torn writes, a crash between data and index
 * update, a truncated file): a chunk whose bytes do not match is treated as a miss, fetched
 * again and rewritten, never passed up.
 *
 * Files: in dir, "sealmount-<16 hex of SHA-256(key)>.data" (slots of chunk_size bytes) and
 * ".idx" (a 512-byte header with the device size, chunk size, slot count and the ETag, then one
 * 48-byte entry per slot: chunk number + 1, length, SHA-256). The data file never grows beyond
 * max_bytes (rounded down to whole chunks); the index adds 48 bytes per chunk of cap (~0.07%),
 * and the index is held in memory (about 60 bytes per chunk of cap: ~1 MiB per GiB at 64 KiB).
 * Both are created 0600 and locked with flock(): a second process using the same cache gets
 * -EBUSY. The layout is host-endian (the cache is local).
 *
 * Coherence: the cache is valid for one version of the device, named by etag (the blob's ETag,
 * which the blob layer pins with If-Match on every read). At open, a different etag, device size,
 * chunk size or cap, or a damaged header, empties the cache. The layer is read-only: the lower
 * device must not be writable (-EINVAL), because our own writes would change the blob under the
 * recorded ETag. Use it for read-only mounts only.
 *
 * Reads: a chunk found in the index is read from the data file and verified; missing chunks are
 * fetched from the lower device in contiguous runs (one lower read per run, chunk-aligned) and
 * stored. No lock is held across lower or file I/O. Eviction is CLOCK over the slots. A failure
 * to write the cache (e.g. ENOSPC) is counted and ignored: the reader still gets the bytes.
 *
 * Errors: diskcache_new: -EINVAL (bad option, writable lower), -EBUSY (cache in use), -ENOMEM,
 * -errno from open/flock/ftruncate. Reads return the lower device's errors only.
 */
#pragma once

#include <stdint.h>

#include "sealmount/bdev.h"
#include "sealmount/macros.h"

#define DISKCACHE_DEFAULT_CHUNK (64u * 1024)
#define DISKCACHE_MIN_SLOTS 4u
#define DISKCACHE_MAX_SLOTS (1u << 22) /* 256 GiB of 64 KiB chunks */
#define DISKCACHE_ETAG_MAX 128u

struct diskcache_options {
	const char *dir; /* an existing directory (0700 advised) */
	const char *key; /* names the device, e.g. the URL without its query; never logged */
	const char *etag; /* the content version; "" is allowed (then only size is checked) */
	uint64_t max_bytes; /* cap on cached bytes; at least DISKCACHE_MIN_SLOTS chunks */
	uint32_t chunk_size; /* power of two, 4 KiB..4 MiB; 0 = DISKCACHE_DEFAULT_CHUNK */
};

struct diskcache_stats {
	uint64_t hits; /* chunks served from the disk cache */
	uint64_t misses; /* chunks fetched from the lower device */
	uint64_t fetches; /* lower read requests */
	uint64_t bytes_fetched; /* bytes read from the lower device */
	uint64_t evictions;
	uint64_t corrupt; /* cached chunks refused (checksum, short read) */
	uint64_t write_errors; /* chunks that could not be stored */
	uint64_t cached_bytes; /* bytes held right now */
	uint64_t reset; /* 1 if the cache was emptied at open (new ETag, damaged header, ...) */
};

/*
 * Stack a disk cache on top of lower (read-only). Takes ownership of lower in every case (freed
 * with the cache, or at once if this fails).
 */
_must_check_ int diskcache_new(struct bdev *lower, const struct diskcache_options *o,
			       struct bdev **ret) _nonnull_(1, 2, 3);

/* Snapshot of the counters. -EINVAL if b is not a diskcache device. */
_must_check_ int diskcache_get_stats(struct bdev *b, struct diskcache_stats *ret) _nonnull_(1, 2);
