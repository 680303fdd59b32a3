/* SPDX-License-Identifier: MIT */
/*
 * cache_internal.h - shared between cache.c (index, slots, eviction, lifecycle), cache_read.c
 * (read path, read-ahead, fetches), cache_wb.c (writes and write-back) and cache_pool.c (the
 * worker pool). Not a public API.
 *
 * Locking: c->lock protects the index (buckets, slot chain/state/weight/dirty/wb fields), the
 * free list, the clock hand and the read-ahead streams. It is never held across lower I/O, and
 * chunk data of a LOADING chunk belongs to the thread fetching it, so it is filled unlocked.
 * c->flush_lock serialises write-back rounds (it is taken without c->lock held). Counters are
 * atomics. c->cond is broadcast whenever a chunk leaves LOADING or a write-back pin drops.
 */
#pragma once

#include <pthread.h>
#include <stdint.h>

#include "cache_fresh.h"
#include "sealmount/bdev.h"
#include "sealmount/cache.h"

/* ---- worker pool ---- */
struct batch {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned pending;
	int error; /* first error of any job in the batch */
};

struct pool_job {
	/* Runs on a worker; returns 0 or -errno (recorded in the batch). The job may free itself:
	 * the pool reads job->batch before calling fn. */
	int (*fn)(struct pool_job *job);
	struct batch *batch;
	struct pool_job *next;
};

struct pool {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct pool_job *head, *tail;
	pthread_t *threads;
	unsigned nthreads;
	bool stop;
};

_must_check_ int pool_init(struct pool *p, unsigned nthreads) _nonnull_(1);
/* Let queued jobs finish, then join the threads. */
void pool_done(struct pool *p) _nonnull_(1);
/* Queue a job; if it has a batch, the batch's pending count is raised first. */
void pool_submit(struct pool *p, struct pool_job *job) _nonnull_(1, 2);
void batch_init(struct batch *b) _nonnull_(1);
void batch_done(struct batch *b) _nonnull_(1);
/* Wait for every job of the batch; returns the first error or 0. */
_must_check_ int batch_wait(struct batch *b) _nonnull_(1);

/* ---- cache ---- */
enum chunk_state {
	CHUNK_FREE = 0,
	CHUNK_LOADING,
	CHUNK_VALID,
};

#define CACHE_MAX_CHUNK (256u * 1024) /* dirty bitmap is one uint64_t of 4 KiB pages */
#define CACHE_STREAMS 4
#define WEIGHT_MAX 3
#define WEIGHT_HOT_MAX 7

struct chunk {
	uint64_t idx;
	uint8_t *data;
	uint64_t dirty; /* bit i: page i differs from the lower device */
	int32_t next; /* hash chain or free list */
	uint16_t wb; /* write-back runs in flight that cover this chunk */
	uint16_t pins; /* bdev_map() readers holding it */
	uint8_t state;
	uint8_t weight;
	bool prefetched; /* read ahead and not read yet */
	bool written; /* changed since its digest was taken: re-taken at eviction */
};

struct stream {
	uint64_t next; /* where the run is expected to continue */
	uint64_t ra_end; /* read-ahead issued up to here */
	uint64_t stamp; /* last use, for replacement */
	uint32_t window;
	uint32_t run;
};

struct cache {
	struct bdev *lower;
	uint64_t size;
	uint64_t nchunks;
	uint64_t hot_chunks;
	uint32_t chunk_size;
	unsigned chunk_shift;
	uint32_t ra_max;
	uint32_t fetch_max;
	bool readahead;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_mutex_t flush_lock;
	uint8_t *slab; /* chunk memory: one mapping of slab_len bytes */
	size_t slab_len;
	struct chunk *slots;
	uint32_t nslots;
	uint32_t hand;
	int32_t free_head;
	int32_t *buckets;
	unsigned bucket_bits;
	struct stream streams[CACHE_STREAMS];
	uint64_t stamp;
	uint32_t map_reserved; /* chunks reserved by bdev_map() readers (at most nslots / 2) */

	struct fresh_table fresh; /* digests of chunks fetched or written back (cache_fresh.h) */
	struct pool pool;
	struct cache_stats st; /* updated with __atomic builtins */
};

#define STAT_ADD(c, f, v) __atomic_fetch_add(&(c)->st.f, (uint64_t)(v), __ATOMIC_RELAXED)
#define STAT_SUB(c, f, v) __atomic_fetch_sub(&(c)->st.f, (uint64_t)(v), __ATOMIC_RELAXED)

/* Bytes of chunk idx (the last one may be short). */
static inline uint32_t chunk_len(const struct cache *c, uint64_t idx)
{
	uint64_t start = idx << c->chunk_shift;
	uint64_t left = c->size - start;

	return left < c->chunk_size ? (uint32_t)left : c->chunk_size;
}

/* cache.c; all with c->lock held. */
int32_t cache_lookup(struct cache *c, uint64_t idx) _nonnull_(1);
/* Take a slot for idx (evicting a clean chunk if needed), hashed in and in state LOADING with
 * data allocated. -1 when nothing can be evicted (all loading, dirty or pinned) or OOM. */
int32_t cache_claim(struct cache *c, uint64_t idx) _nonnull_(1);
/* Unhash a slot and return it to the free list (after a failed fetch). */
void cache_release(struct cache *c, int32_t slot) _nonnull_(1);
void cache_touch(struct cache *c, struct chunk *ch) _nonnull_(1, 2);
bool cache_has_dirty(const struct cache *c) _nonnull_(1);
/* No chunk was claimable: write back (dropping and retaking c->lock) when something is dirty,
 * else wait for a chunk to finish loading. 0 (caller retries) or the write-back error. */
_must_check_ int cache_make_room(struct cache *c) _nonnull_(1);

/* cache_read.c */
struct fetch_job {
	struct pool_job job;
	struct cache *c;
	uint64_t first; /* first chunk index */
	uint32_t count;
	bool prefetch;
	uint8_t *user; /* copy the overlap with [user_off, user_off + user_len) here; may be NULL */
	uint64_t user_off;
	size_t user_len;
	int32_t slots[];
};

/* With c->lock held, chunk at pos absent: claim the run of absent chunks from pos up to end into
 * a new job (*ret, the caller frees it). -EAGAIN after
 * waiting for room (retry), -ENOMEM. */
_must_check_ int cache_claim_demand(struct cache *c, uint64_t pos, uint64_t end,
				    struct fetch_job **ret) _nonnull_(1, 4);
/* Fetch the claimed chunks of j in pieces of fetch_max in parallel, copy the overlap with
 * j->user (if set), publish them; with c->lock NOT held. Consumes j's claims (not its memory). */
_must_check_ int cache_fetch_parallel(struct cache *c, struct fetch_job *j) _nonnull_(1, 2);
/* Note a read at [off, off+len) for the sequential read-ahead (takes c->lock). */
void cache_readahead_note(struct cache *c, uint64_t off, size_t len) _nonnull_(1);
_must_check_ int cache_do_read(struct cache *c, uint8_t *buf, size_t len, uint64_t off)
	_nonnull_(1, 2);
/* Claim and fetch chunk idx synchronously (no user copy); with c->lock NOT held. */
_must_check_ int cache_fetch_one(struct cache *c, uint64_t idx) _nonnull_(1);

/* cache_fresh.c glue in cache_read.c: check the bytes just fetched into chunk idx against the
 * freshness table (or remember them). 0, or -EIO (stale: counted), -ENOMEM. No lock held. */
_must_check_ int cache_check_fresh(struct cache *c, uint64_t idx, const uint8_t *data)
	_nonnull_(1, 3);

/* cache_map.c: bdev_map() of a read-only cache. */
_must_check_ int cache_map(void *state, uint64_t off, size_t len, struct bdev_map *m);
void cache_unmap(void *state, struct bdev_map *m);

/* cache_wb.c */
_must_check_ int cache_do_write(struct cache *c, const uint8_t *buf, size_t len, uint64_t off)
	_nonnull_(1, 2);
/* Write back every dirty page (no lower flush). Takes flush_lock. 0 or -EIO. */
_must_check_ int cache_writeback(struct cache *c) _nonnull_(1);
