/* SPDX-License-Identifier: MIT */
/*
 * cache.h - the `cache` layer: a memory-bounded block cache over any lower bdev.
 *
 * Reads: the device is cut into chunks (default 64 KiB). A random miss fetches just the chunk(s)
 * it needs; a sequential run grows a read-ahead window (doubling up to readahead_max) that a small
 * worker pool fetches ahead of the reader in parallel requests of up to fetch_max bytes. Every
 * fetch is one bdev_readv() straight into the chunks' memory (the blob layer fills it from the
 * socket), so chunk memory is all the memory the cache uses for data.
 * Concurrent misses on one chunk wait for a single fetch (in-flight de-duplication). The cache
 * lock protects only the index and chunk states; it is never held across lower I/O.
 *
 * Eviction is GCLOCK: a hit raises a chunk's weight (capped), the clock hand lowers it and evicts
 * at zero. Chunks in the first hot_bytes of the device (LUKS2 header, filesystem superblocks)
 * get a higher cap, so metadata survives a sequential scan. Read-ahead chunks are protected
 * (weight 2) until first read, then drop to weight 1 like any chunk read once, so a scan
 * neither evicts its own read-ahead nor pushes out chunks that are read repeatedly.
 *
 * Writes (when the lower device is writable): written bytes stay in the cache and are tracked
 * dirty per 4 KiB page. A partial write into a chunk that is not cached fetches the chunk first.
 * bdev_flush() writes every dirty page back in coalesced runs of up to CACHE_WRITE_MAX (aligned
 * to the lower device's write alignment) in parallel, then flushes the lower device, and
 * returns 0 only if all of that succeeded. A failed run keeps its pages dirty (they are retried
 * by the next flush) and the flush fails with -EIO. Clean pages are never written back. When
 * the cache is full of dirty chunks a writer triggers a write-back itself.
 *
 * Zero-copy reads: a read-only cache also implements bdev_map(): the chunks covering a read are
 * held (never evicted) until bdev_unmap(), and their memory goes straight to the caller's
 * consumer (the FUSE reply). Readers' holdings are capped at half the cache; past that, or for a
 * read spanning more than BDEV_MAP_MAX chunks, bdev_map() says -ENOBUFS and bdev_read() copies.
 *
 * Freshness: the cache remembers a SHA-256 digest of every chunk as first fetched or last
 * written back (32 bytes per chunk, at most device size / chunk size * 32 bytes, for the cache's
 * life). A later fetch of that chunk whose bytes differ - an older version served after the chunk
 * was evicted, or any other change - fails the read with -EIO (the reader never gets those
 * bytes) and counts in `stale`. docs/freshness.md.
 *
 * Thread-safety: as bdev.h. Counters are read with cache_get_stats() at any time.
 */
#pragma once

#include <stdint.h>

#include "sealmount/bdev.h"
#include "sealmount/macros.h"

#define CACHE_DEFAULT_MEM (64u * 1024 * 1024)
#define CACHE_DEFAULT_CHUNK (64u * 1024)
#define CACHE_DEFAULT_READAHEAD_MAX (32u * 1024 * 1024)
#define CACHE_DEFAULT_FETCH_MAX (4u * 1024 * 1024)
#define CACHE_DEFAULT_WORKERS 8u
#define CACHE_DEFAULT_HOT (1u * 1024 * 1024)
#define CACHE_PAGE 4096u
#define CACHE_WRITE_MAX (4u * 1024 * 1024)

struct cache_options {
	uint64_t mem_max; /* bytes of chunk memory; 0 = CACHE_DEFAULT_MEM */
	uint32_t chunk_size; /* power of two, 4 KiB..1 MiB; 0 = CACHE_DEFAULT_CHUNK */
	uint32_t readahead_max; /* 0 = CACHE_DEFAULT_READAHEAD_MAX; clamped to mem_max / 4 */
	uint32_t fetch_max; /* largest single lower read; 0 = CACHE_DEFAULT_FETCH_MAX */
	unsigned workers; /* worker threads; 0 = CACHE_DEFAULT_WORKERS */
	uint64_t hot_bytes; /* favoured metadata region at the start; 0 = CACHE_DEFAULT_HOT */
	bool no_readahead; /* disable read-ahead (tests, pure random workloads) */
};

struct cache_stats {
	uint64_t hits; /* chunk lookups served from memory */
	uint64_t misses; /* chunk lookups that needed a fetch (or waited for one) */
	uint64_t fetches; /* lower read requests */
	uint64_t bytes_fetched; /* bytes read from the lower device */
	uint64_t prefetches; /* read-ahead requests issued */
	uint64_t retries; /* lower reads retried after a failure */
	uint64_t writes; /* lower write requests */
	uint64_t bytes_written; /* bytes written to the lower device */
	uint64_t write_errors; /* lower write requests that failed */
	uint64_t evictions;
	uint64_t in_flight; /* lower requests running right now */
	uint64_t dirty_bytes; /* bytes waiting for write-back right now */
	uint64_t mapped; /* reads served in place (bdev_map(), read-only caches) */
	uint64_t stale; /* fetches refused: a chunk differed from its remembered digest */
	uint64_t digests; /* chunks remembered for the freshness check right now (32 bytes each) */
};

/*
 * Stack a cache on top of lower. The cache takes ownership of lower in every case: it is freed
 * with the cache, or at once if this fails. The cache is writable iff lower is.
 * opts may be NULL for defaults. -EINVAL (bad option), -ENOMEM, or a pthread error.
 */
_must_check_ int cache_new(struct bdev *lower, const struct cache_options *opts, struct bdev **ret)
	_nonnull_(1, 3);

/* Snapshot of the counters. -EINVAL if b is not a cache device. */
_must_check_ int cache_get_stats(struct bdev *b, struct cache_stats *ret) _nonnull_(1, 2);
