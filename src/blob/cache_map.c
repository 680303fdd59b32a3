/* SPDX-License-Identifier: MIT */
/*
 * cache_map.c - reads served in place (bdev_map()) by a read-only cache: the chunks covering the
 * range are fetched if needed and held (pins > 0, so the clock hand passes them by) while the
 * caller hands their memory to the kernel (fusefs: one writev to /dev/fuse, no copy into a reply
 * buffer), then released. A reader reserves the chunks it may hold before it starts, and the
 * reservations of all readers stay under half the cache, so readers holding chunks can never
 * leave a fetch without a chunk to claim; a reader that finds no room falls back to a copy
 * (-ENOBUFS).
 */
#include <errno.h>
#include <stdlib.h>

#include "cache_internal.h"
#include "sealmount/log.h"

#define MIN(a, b) ((a) < (b) ? (a) : (b))

/* Chunks [off, off + len) spans. */
static uint32_t span(const struct cache *c, uint64_t off, size_t len)
{
	return (uint32_t)(((off + len - 1) >> c->chunk_shift) - (off >> c->chunk_shift) + 1);
}

static int reserve(struct cache *c, uint32_t n)
{
	LOCK_GUARD(&c->lock);
	if (n > BDEV_MAP_MAX || c->map_reserved + n > c->nslots / 2)
		return -ENOBUFS;
	c->map_reserved += n;
	return 0;
}

/* With c->lock held: drop the pins of m and its reservation of n chunks. */
static void release(struct cache *c, struct bdev_map *m, uint32_t n)
{
	for (unsigned i = 0; i < m->npriv; i++)
		c->slots[m->priv[i]].pins--;
	c->map_reserved -= n;
	m->cnt = 0;
	m->npriv = 0;
	pthread_cond_broadcast(&c->cond); /* a pinned chunk may be evictable again */
}

/* With c->lock held: pin the chunk at pos if it is there. 1 pinned, 0 absent, -EAGAIN after
 * waiting for a chunk being loaded. */
static int pin_at(struct cache *c, uint64_t pos, uint64_t end, struct bdev_map *m)
{
	uint64_t idx = pos >> c->chunk_shift, cstart = idx << c->chunk_shift;
	int32_t s = cache_lookup(c, idx);
	struct chunk *ch;

	if (s < 0)
		return 0;
	ch = &c->slots[s];
	if (ch->state == CHUNK_LOADING) {
		STAT_ADD(c, misses, 1);
		pthread_cond_wait(&c->cond, &c->lock);
		return -EAGAIN;
	}
	ch->pins++;
	m->priv[m->npriv++] = (uintptr_t)s;
	m->iov[m->cnt++] = (struct iovec){ ch->data + (pos - cstart),
					   (size_t)(MIN(end, cstart + c->chunk_size) - pos) };
	STAT_ADD(c, hits, 1);
	cache_touch(c, ch);
	return 1;
}

/* Fetch what is missing at pos (no copy: the next round pins it). */
static int fetch_missing(struct cache *c, uint64_t pos, uint64_t end)
{
	_cleanup_free_ struct fetch_job *j = NULL;
	int r;

	pthread_mutex_lock(&c->lock);
	r = cache_lookup(c, pos >> c->chunk_shift) >= 0 ? 0 : cache_claim_demand(c, pos, end, &j);
	pthread_mutex_unlock(&c->lock);
	if (r == -EAGAIN || (r == 0 && !j))
		return 0;
	if (r < 0)
		return r;
	return cache_fetch_parallel(c, j);
}

int cache_map(void *state, uint64_t off, size_t len, struct bdev_map *m)
{
	struct cache *c = state;
	uint32_t n = span(c, off, len);
	uint64_t pos = off, end = off + len;
	int r;

	r = reserve(c, n);
	if (r < 0)
		return r;
	if (c->readahead)
		cache_readahead_note(c, off, len);
	while (pos < end) {
		pthread_mutex_lock(&c->lock);
		r = pin_at(c, pos, end, m);
		if (r > 0)
			pos += m->iov[m->cnt - 1].iov_len;
		pthread_mutex_unlock(&c->lock);
		if (r != 0)
			continue; /* pinned, or waited for a load: look again */
		r = fetch_missing(c, pos, end);
		if (r < 0) {
			LOCK_GUARD(&c->lock);
			release(c, m, n);
			return r;
		}
	}
	STAT_ADD(c, mapped, 1);
	return 0;
}

void cache_unmap(void *state, struct bdev_map *m)
{
	struct cache *c = state;
	uint32_t n = m->npriv; /* what was reserved: one chunk per pinned piece */

	LOCK_GUARD(&c->lock);
	release(c, m, n);
}
