/* SPDX-License-Identifier: MIT */
/*
 * diskcache_internal.h - shared by diskcache.c (files, index, slots) and diskcache_io.c (the
 * read path). Not a public API.
 *
 * Locking: lock protects slots, the map, the free list and the clock hand, and is held for the
 * small index-entry pwrite but never across lower reads or data-file I/O.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "sealmount/diskcache.h"

#define DC_MAGIC "SMDCACH1"
#define DC_VERSION 1u
#define DC_HEADER_SIZE 512u
#define DC_SUM 32u /* SHA-256 */
#define DC_NONE UINT32_MAX

struct dc_header {
	char magic[8];
	uint32_t version;
	uint32_t chunk_size;
	uint64_t dev_size;
	uint64_t nslots;
	char etag[DISKCACHE_ETAG_MAX];
	uint8_t sum[DC_SUM]; /* SHA-256 of everything above */
};

struct dc_entry {
	uint64_t chunk_plus1; /* 0 = empty */
	uint32_t len;
	uint32_t pad;
	uint8_t sum[DC_SUM];
};

struct dc_slot {
	uint64_t chunk_plus1; /* 0 = empty */
	uint32_t len;
	bool ref; /* CLOCK reference bit */
	bool busy; /* being filled; not mapped, not evictable */
	uint8_t sum[DC_SUM];
};

struct diskcache {
	struct bdev *lower;
	uint64_t size;
	uint32_t cs; /* chunk size */
	uint32_t nslots;
	int data_fd, idx_fd;

	pthread_mutex_t lock;
	struct dc_slot *slots;
	uint32_t *map; /* open addressing (linear probing): slot numbers, DC_NONE = empty */
	uint32_t map_mask;
	uint32_t *free_slots;
	uint32_t nfree;
	uint32_t hand;

	struct diskcache_stats st; /* __atomic updates */
};

#define DC_STAT_ADD(d, f, v) __atomic_fetch_add(&(d)->st.f, (uint64_t)(v), __ATOMIC_RELAXED)

/* diskcache.c, all with lock held: */
/* The slot holding chunk, or DC_NONE. */
uint32_t dc_lookup(struct diskcache *d, uint64_t chunk) _nonnull_(1);
/* A slot to fill (free, else evicted by CLOCK), marked busy and unmapped; DC_NONE if every slot
 * is busy. */
uint32_t dc_alloc(struct diskcache *d) _nonnull_(1);
/* Map a filled busy slot (stores the entry) or, with ok = false or a chunk mapped meanwhile,
 * give it back empty. */
void dc_commit(struct diskcache *d, uint32_t s, uint64_t chunk, uint32_t len,
	       const uint8_t sum[DC_SUM], bool ok) _nonnull_(1);
/* Drop slot s if it still holds chunk with sum (after a failed verification). */
void dc_drop(struct diskcache *d, uint32_t s, uint64_t chunk, const uint8_t sum[DC_SUM])
	_nonnull_(1, 4);

/* SHA-256 of the chunk number (host order) and the chunk's bytes, so that an entry naming the
 * wrong chunk never verifies; 0, -ENOMEM or -EIO. */
_must_check_ int dc_sum(uint64_t chunk, const void *buf, size_t len, uint8_t out[DC_SUM]);

/* diskcache_io.c */
_must_check_ int dc_read(void *state, void *buf, size_t len, uint64_t off);
