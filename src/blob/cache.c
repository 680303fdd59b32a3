/* SPDX-License-Identifier: MIT */
/*
 * cache.c - the cache layer's glue: options, lifecycle, the chunk index (hash over a fixed slot
 * array) and GCLOCK eviction. The read path is in cache_read.c, writes in cache_wb.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "cache_internal.h"
#include "sealmount/log.h"

#define SLAB_HUGE (2u * 1024 * 1024)

static uint32_t hash_idx(const struct cache *c, uint64_t idx)
{
	return (uint32_t)((idx * 0x9E3779B97F4A7C15ull) >> (64 - c->bucket_bits));
}

int32_t cache_lookup(struct cache *c, uint64_t idx)
{
	int32_t s = c->buckets[hash_idx(c, idx)];

	while (s >= 0 && c->slots[s].idx != idx)
		s = c->slots[s].next;
	return s;
}

static void unhash(struct cache *c, int32_t slot)
{
	int32_t *pp = &c->buckets[hash_idx(c, c->slots[slot].idx)];

	while (*pp != slot)
		pp = &c->slots[*pp].next;
	*pp = c->slots[slot].next;
}

static bool is_evictable(const struct chunk *ch)
{
	return ch->state == CHUNK_VALID && ch->dirty == 0 && ch->wb == 0 && ch->pins == 0;
}

/* A chunk of the metadata region that was read again: skipped by the first sweep. */
static bool is_protected(const struct cache *c, const struct chunk *ch)
{
	return ch->idx < c->hot_chunks && ch->weight >= 2;
}

/* A chunk changed by writes (and written back: it is clean) leaves the cache: its bytes are now
 * what the lower device must return for it. false: it could not be remembered, keep the chunk
 * (the digest table's leaf was reserved when it was written, so only OpenSSL can fail here). */
static bool remember_written(struct cache *c, struct chunk *ch)
{
	uint8_t md[FRESH_DIGEST];

	if (!ch->written)
		return true;
	if (fresh_digest(&c->fresh, ch->data, chunk_len(c, ch->idx), md) < 0 ||
	    !fresh_remember(&c->fresh, ch->idx, md))
		return false;
	ch->written = false;
	return true;
}

/* GCLOCK: lower weights as the hand passes; evict the first evictable chunk at weight 0.
 * The first sweep leaves re-read metadata chunks alone; only a cache that holds nothing else
 * evicts them. */
static int32_t evict_one(struct cache *c)
{
	uint64_t steps = (uint64_t)c->nslots * (WEIGHT_HOT_MAX + 1);

	for (int pass = 0; pass < 2; pass++)
		for (uint64_t i = 0; i < steps; i++) {
			int32_t s = (int32_t)c->hand;
			struct chunk *ch = &c->slots[s];

			c->hand = (c->hand + 1) % c->nslots;
			if (!is_evictable(ch) || (pass == 0 && is_protected(c, ch)))
				continue;
			if (ch->weight > 0) {
				ch->weight--;
				continue;
			}
			if (!remember_written(c, ch))
				continue;
			unhash(c, s);
			ch->state = CHUNK_FREE;
			STAT_ADD(c, evictions, 1);
			return s;
		}
	return -1;
}

int32_t cache_claim(struct cache *c, uint64_t idx)
{
	int32_t s = c->free_head;
	struct chunk *ch;
	uint32_t h;

	if (s >= 0)
		c->free_head = c->slots[s].next;
	else
		s = evict_one(c);
	if (s < 0)
		return -1;
	ch = &c->slots[s];
	h = hash_idx(c, idx);
	ch->idx = idx;
	ch->state = CHUNK_LOADING;
	ch->weight = 0;
	ch->prefetched = false;
	ch->written = false;
	ch->dirty = 0;
	ch->wb = 0;
	ch->pins = 0;
	ch->next = c->buckets[h];
	c->buckets[h] = s;
	return s;
}

void cache_release(struct cache *c, int32_t slot)
{
	unhash(c, slot);
	c->slots[slot].state = CHUNK_FREE;
	c->slots[slot].next = c->free_head;
	c->free_head = slot;
}

void cache_touch(struct cache *c, struct chunk *ch)
{
	uint8_t max = ch->idx < c->hot_chunks ? WEIGHT_HOT_MAX : WEIGHT_MAX;

	if (ch->prefetched) {
		/* Read-ahead was protected until the reader got here; once read, a streamed chunk is
		 * as cold as any other chunk read once. */
		ch->prefetched = false;
		ch->weight = 1;
		return;
	}
	if (ch->weight < max)
		ch->weight++;
}

bool cache_has_dirty(const struct cache *c)
{
	return __atomic_load_n(&c->st.dirty_bytes, __ATOMIC_RELAXED) > 0;
}

int cache_make_room(struct cache *c)
{
	int r;

	if (cache_has_dirty(c)) {
		pthread_mutex_unlock(&c->lock);
		r = cache_writeback(c);
		pthread_mutex_lock(&c->lock);
		return r;
	}
	pthread_cond_wait(&c->cond, &c->lock);
	return 0;
}

static int cache_read_op(void *state, void *buf, size_t len, uint64_t off)
{
	return cache_do_read(state, buf, len, off);
}

static int cache_write_op(void *state, const void *buf, size_t len, uint64_t off)
{
	return cache_do_write(state, buf, len, off);
}

static int cache_flush_op(void *state)
{
	struct cache *c = state;
	int r;

	r = cache_writeback(c);
	if (r < 0)
		return r;
	return bdev_flush(c->lower);
}

static void cache_free(struct cache *c)
{
	if (c->slab)
		munmap(c->slab, c->slab_len);
	free(c->slots);
	free(c->buckets);
	fresh_done(&c->fresh);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->flush_lock);
	free(c);
}

static void cache_close_op(void *state)
{
	struct cache *c = state;
	int r;

	if (bdev_is_writable(c->lower)) {
		r = cache_flush_op(c); /* needs the pool */
		if (r < 0)
			/* log-ok: an event in a write-back worker: the next flush returns it */
			log_error_errno(r,
					"cache: write-back on close failed, %" PRIu64
					" bytes not written: %m",
					c->st.dirty_bytes);
	}
	pool_done(&c->pool); /* lets queued read-ahead finish */
	bdev_free(c->lower);
	cache_free(c);
}

static uint32_t cache_hint_op(void *state)
{
	struct cache *c = state;

	return bdev_fetch_hint(c->lower);
}

static const struct bdev_ops cache_ops = {
	.name = "cache",
	.read = cache_read_op,
	.write = cache_write_op,
	.flush = cache_flush_op,
	.fetch_hint = cache_hint_op,
	.close = cache_close_op,
};

/* A read-only cache also serves reads in place: nothing can change a chunk while it is held. */
static const struct bdev_ops cache_ro_ops = {
	.name = "cache",
	.read = cache_read_op,
	.fetch_hint = cache_hint_op,
	.map = cache_map,
	.unmap = cache_unmap,
	.close = cache_close_op,
};

static int apply_options(struct cache *c, const struct cache_options *o, unsigned *ret_workers)
{
	uint64_t mem = o->mem_max ? o->mem_max : CACHE_DEFAULT_MEM;
	uint32_t cs = o->chunk_size ? o->chunk_size : CACHE_DEFAULT_CHUNK;
	uint32_t ra = o->readahead_max ? o->readahead_max : CACHE_DEFAULT_READAHEAD_MAX;
	uint32_t fm = o->fetch_max ? o->fetch_max : CACHE_DEFAULT_FETCH_MAX;

	if (cs < CACHE_PAGE || cs > CACHE_MAX_CHUNK || (cs & (cs - 1)) || mem / cs < 4 ||
	    mem / cs > INT32_MAX / 2 || fm < cs || bdev_write_align(c->lower) > CACHE_PAGE)
		return -EINVAL;
	c->chunk_size = cs;
	c->chunk_shift = (unsigned)__builtin_ctz(cs);
	c->nslots = (uint32_t)(mem / cs);
	c->ra_max = ra < mem / 4 ? ra : (uint32_t)(mem / 4);
	c->fetch_max = fm & ~(cs - 1);
	c->hot_chunks = (o->hot_bytes ? o->hot_bytes : CACHE_DEFAULT_HOT) >> c->chunk_shift;
	c->readahead = !o->no_readahead;
	c->size = bdev_size(c->lower);
	c->nchunks = (c->size + cs - 1) >> c->chunk_shift;
	*ret_workers = o->workers ? o->workers : CACHE_DEFAULT_WORKERS;
	return 0;
}

/* Chunk memory: one mapping, touched (and so resident) only as chunks fill, in transparent huge
 * pages where the system allows them: a cache of 64 KiB chunks filled page by page took a page
 * fault per 4 KiB of every fetch, as much CPU as the network receive itself on a VM. */
static int alloc_slab(struct cache *c)
{
	size_t len = (size_t)c->nslots * c->chunk_size;
	size_t align = len >= SLAB_HUGE ? SLAB_HUGE : 4096;
	uint8_t *p;

	c->slab_len = len + align;
	p = mmap(NULL, c->slab_len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		c->slab_len = 0;
		return -ENOMEM;
	}
	c->slab = p;
	p = (uint8_t *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
	if (align == SLAB_HUGE)
		(void)madvise(p, len, MADV_HUGEPAGE); /* a hint: without THP, 4 KiB pages */
	for (uint32_t i = 0; i < c->nslots; i++)
		c->slots[i].data = p + (size_t)i * c->chunk_size;
	return 0;
}

static int alloc_index(struct cache *c)
{
	c->bucket_bits = 1;
	while ((1u << c->bucket_bits) < 2 * c->nslots)
		c->bucket_bits++;
	c->buckets = malloc(sizeof(*c->buckets) << c->bucket_bits);
	c->slots = calloc(c->nslots, sizeof(*c->slots));
	if (!c->buckets || !c->slots)
		return -ENOMEM;
	for (uint32_t i = 0; i < (1u << c->bucket_bits); i++)
		c->buckets[i] = -1;
	for (uint32_t i = 0; i < c->nslots; i++)
		c->slots[i].next = i + 1 < c->nslots ? (int32_t)i + 1 : -1;
	c->free_head = 0;
	return alloc_slab(c);
}

int cache_new(struct bdev *lower, const struct cache_options *opts, struct bdev **ret)
{
	static const struct cache_options defaults;
	struct cache *c;
	unsigned workers;
	int r;

	c = calloc(1, sizeof(*c));
	if (!c) {
		bdev_free(lower);
		return -ENOMEM;
	}
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->flush_lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	c->lower = lower;
	r = apply_options(c, opts ? opts : &defaults, &workers);
	if (r == 0)
		r = alloc_index(c);
	if (r == 0 && c->nchunks > 0)
		r = fresh_init(&c->fresh, c->nchunks);
	if (r == 0)
		r = pool_init(&c->pool, workers);
	if (r < 0) {
		bdev_free(lower);
		cache_free(c);
		return r;
	}
	log_debug("cache: %u chunks of %u KiB over %s (%" PRIu64 " bytes), read-ahead up to %u "
		  "KiB, %u workers",
		  c->nslots, c->chunk_size / 1024, bdev_name(lower), c->size, c->ra_max / 1024,
		  workers);
	/* From here the cache owns lower: bdev_new closes c (and so lower) on failure. */
	if (!bdev_is_writable(lower))
		return bdev_new(&cache_ro_ops, c, c->size, 1, false, ret);
	return bdev_new(&cache_ops, c, c->size, 1, true, ret);
}

int cache_get_stats(struct bdev *b, struct cache_stats *ret)
{
	struct cache *c = bdev_state(b, &cache_ops) ?: bdev_state(b, &cache_ro_ops);
	uint64_t *dst = (uint64_t *)ret;
	const uint64_t *src;

	if (!c)
		return -EINVAL;
	src = (const uint64_t *)&c->st;
	for (size_t i = 0; i < sizeof(*ret) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
	ret->digests = c->fresh.ready ? fresh_count(&c->fresh) : 0;
	return 0;
}
