/* SPDX-License-Identifier: MIT */
/*
 * verity_dev.c - the `verity` block layer (verity.h): every 4 KiB data block is hashed and
 * compared with its entry in a level-0 hash block that was itself verified up the tree to the
 * root hash, as the kernel's dm-verity does (drivers/md/dm-verity-target.c, verity_verify_level:
 * a hash block is trusted once its hash matched the entry in its verified parent). Verified hash
 * blocks are kept in a bounded LRU cache; the top block is pinned. A block that fails is never
 * cached and fails every read that covers it.
 *
 * Locking: one mutex for the cache and the first-bad record; hashing and lower reads run outside
 * it. Two threads missing the same hash block both read and verify it (harmless).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "sealmount/log.h"
#include "verity_internal.h"

#define CACHE_MIN 16u
#define KEY(level, index) ((uint64_t)(level) << 56 | (index))

struct centry {
	uint64_t key;
	int32_t hnext; /* bucket chain */
	int32_t prev, next; /* LRU list, most recent first */
	uint8_t *data;
};

struct vdev {
	struct bdev *lower;
	bool owns_lower;
	struct verity_image img;
	uint8_t root[VERITY_DIGEST_SIZE];
	pthread_mutex_t lock;
	/* cache (under lock) */
	struct centry *ent;
	int32_t *bucket;
	uint32_t nbucket, cap, used;
	int32_t head, tail, free_list;
	uint8_t *pool;
	/* stats (atomics), first_bad (under lock) */
	uint64_t data_ok, hash_ok, hits, misses, failures;
	struct verity_bad first_bad;
};

/* ---- cache ---- */

static uint32_t bucket_of(const struct vdev *v, uint64_t key)
{
	return (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 40) & (v->nbucket - 1);
}

static void lru_unlink(struct vdev *v, int32_t i)
{
	struct centry *e = &v->ent[i];

	if (e->prev >= 0)
		v->ent[e->prev].next = e->next;
	else
		v->head = e->next;
	if (e->next >= 0)
		v->ent[e->next].prev = e->prev;
	else
		v->tail = e->prev;
}

static void lru_push(struct vdev *v, int32_t i)
{
	v->ent[i].prev = -1;
	v->ent[i].next = v->head;
	if (v->head >= 0)
		v->ent[v->head].prev = i;
	v->head = i;
	if (v->tail < 0)
		v->tail = i;
}

static int32_t cache_find(struct vdev *v, uint64_t key)
{
	for (int32_t i = v->bucket[bucket_of(v, key)]; i >= 0; i = v->ent[i].hnext)
		if (v->ent[i].key == key)
			return i;
	return -1;
}

static void chain_remove(struct vdev *v, int32_t i)
{
	int32_t *p = &v->bucket[bucket_of(v, v->ent[i].key)];

	while (*p != i)
		p = &v->ent[*p].hnext;
	*p = v->ent[i].hnext;
}

/* A slot for a new entry: a free one, else the least recent that is not the pinned top block. */
static int32_t cache_slot(struct vdev *v)
{
	uint64_t top = KEY(v->img.g.levels - 1, 0);
	int32_t i = v->free_list;

	if (i >= 0) {
		v->free_list = v->ent[i].hnext;
		return i;
	}
	for (i = v->tail; i >= 0 && v->ent[i].key == top; i = v->ent[i].prev)
		;
	if (i < 0)
		return -1;
	lru_unlink(v, i);
	chain_remove(v, i);
	return i;
}

/* Copy a cached block out (and mark it recent); false on a miss. */
static bool cache_get(struct vdev *v, uint64_t key, uint8_t *out)
{
	LOCK_GUARD(&v->lock);
	int32_t i = cache_find(v, key);

	if (i < 0)
		return false;
	memcpy(out, v->ent[i].data, VERITY_BLOCK_SIZE);
	lru_unlink(v, i);
	lru_push(v, i);
	return true;
}

static void cache_put(struct vdev *v, uint64_t key, const uint8_t *blk)
{
	LOCK_GUARD(&v->lock);
	uint32_t b = bucket_of(v, key);
	int32_t i = cache_find(v, key);

	if (i >= 0)
		return; /* another thread got there first */
	i = cache_slot(v);
	if (i < 0)
		return;
	v->ent[i].key = key;
	memcpy(v->ent[i].data, blk, VERITY_BLOCK_SIZE);
	v->ent[i].hnext = v->bucket[b];
	v->bucket[b] = i;
	lru_push(v, i);
}

static int cache_init(struct vdev *v, unsigned cap)
{
	v->cap = cap;
	for (v->nbucket = 1; v->nbucket < 2 * cap; v->nbucket <<= 1)
		;
	v->ent = calloc(cap, sizeof(*v->ent));
	v->bucket = malloc(v->nbucket * sizeof(*v->bucket));
	v->pool = malloc((size_t)cap * VERITY_BLOCK_SIZE);
	if (!v->ent || !v->bucket || !v->pool)
		return -ENOMEM;
	for (uint32_t i = 0; i < v->nbucket; i++)
		v->bucket[i] = -1;
	for (uint32_t i = 0; i < cap; i++) {
		v->ent[i].data = v->pool + (size_t)i * VERITY_BLOCK_SIZE;
		v->ent[i].hnext = i + 1 < cap ? (int32_t)i + 1 : -1;
	}
	v->free_list = 0;
	v->head = v->tail = -1;
	return 0;
}

/* ---- verification ---- */

static int record_bad(struct vdev *v, enum verity_bad_kind kind, unsigned level, uint64_t index,
		      uint64_t offset)
{
	LOCK_GUARD(&v->lock);

	if (v->failures++ == 0)
		v->first_bad = (struct verity_bad){
			.kind = kind, .level = level, .index = index, .offset = offset
		};
	return -EIO;
}

/* Block `index` of hash level `level`, verified up to the root, into out. */
static int hash_block(struct vdev *v, EVP_MD_CTX *c, unsigned level, uint64_t index, uint8_t *out)
{
	const struct verity_geometry *g = &v->img.g;
	uint8_t parent[VERITY_BLOCK_SIZE], got[VERITY_DIGEST_SIZE];
	const uint8_t *want = v->root;
	uint64_t off = g->level_offset[level] + index * VERITY_BLOCK_SIZE;
	bool top = level + 1 == g->levels;
	int r;

	if (cache_get(v, KEY(level, index), out)) {
		__atomic_add_fetch(&v->hits, 1, __ATOMIC_RELAXED);
		return 0;
	}
	__atomic_add_fetch(&v->misses, 1, __ATOMIC_RELAXED);
	if (!top) {
		r = hash_block(v, c, level + 1, index / VERITY_HASHES_PER_BLOCK, parent);
		if (r < 0)
			return r;
		want = parent + index % VERITY_HASHES_PER_BLOCK * VERITY_DIGEST_SIZE;
	}
	r = bdev_read(v->lower, out, VERITY_BLOCK_SIZE, off);
	r = r ?: vhash(c, &v->img.sb, out, VERITY_BLOCK_SIZE, got);
	if (r < 0)
		return r;
	if (CRYPTO_memcmp(got, want, VERITY_DIGEST_SIZE) != 0)
		return record_bad(v, top ? VERITY_BAD_ROOT : VERITY_BAD_HASH, level, index, off);
	__atomic_add_fetch(&v->hash_ok, 1, __ATOMIC_RELAXED);
	cache_put(v, KEY(level, index), out);
	return 0;
}

/* Check n whole blocks at buf, the first being data block `first`. */
static int check_blocks(struct vdev *v, const uint8_t *buf, uint64_t first, uint64_t n)
{
	uint8_t l0[VERITY_BLOCK_SIZE], got[VERITY_DIGEST_SIZE];
	uint64_t have = UINT64_MAX;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int r = c ? 0 : -ENOMEM;

	for (uint64_t i = 0; r == 0 && i < n; i++) {
		uint64_t blk = first + i, idx = blk / VERITY_HASHES_PER_BLOCK;
		const uint8_t *want = l0 + blk % VERITY_HASHES_PER_BLOCK * VERITY_DIGEST_SIZE;

		if (idx != have) {
			r = hash_block(v, c, 0, idx, l0);
			if (r < 0)
				break;
			have = idx;
		}
		r = vhash(c, &v->img.sb, buf + i * VERITY_BLOCK_SIZE, VERITY_BLOCK_SIZE, got);
		if (r == 0 && CRYPTO_memcmp(got, want, VERITY_DIGEST_SIZE) != 0)
			r = record_bad(v, VERITY_BAD_DATA, 0, blk, blk * VERITY_BLOCK_SIZE);
	}
	EVP_MD_CTX_free(c);
	if (r == 0)
		__atomic_add_fetch(&v->data_ok, n, __ATOMIC_RELAXED);
	return r;
}

int vdev_read(struct vdev *v, void *buf, size_t len, uint64_t off)
{
	uint64_t start = off / VERITY_BLOCK_SIZE * VERITY_BLOCK_SIZE;
	uint64_t end = (off + len + VERITY_BLOCK_SIZE - 1) / VERITY_BLOCK_SIZE * VERITY_BLOCK_SIZE;
	bool direct = start == off && end == off + len;
	uint8_t *span = direct ? buf : malloc(end - start);
	int r;

	if (len == 0)
		return 0;
	if (!span)
		return -ENOMEM;
	r = bdev_read(v->lower, span, end - start, start);
	r = r	  ?:
		    check_blocks(v, span, start / VERITY_BLOCK_SIZE,
				 (end - start) / VERITY_BLOCK_SIZE);
	if (r == 0 && !direct)
		memcpy(buf, span + (off - start), len);
	if (r < 0 && direct)
		memset(buf, 0, len); /* never hand out unverified bytes, even on error */
	if (!direct) {
		wipe(span, end - start);
		free(span);
	}
	return r;
}

int vdev_check_open(struct vdev *v)
{
	uint8_t blk[VERITY_BLOCK_SIZE];
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int r;

	if (!c)
		return -ENOMEM;
	r = hash_block(v, c, v->img.g.levels - 1, 0, blk);
	EVP_MD_CTX_free(c);
	r = r ?: vdev_read(v, blk, sizeof(blk), 0);
	return r == -EIO && v->failures ? -EBADMSG : r;
}

/* ---- lifecycle ---- */

void vdev_free(struct vdev *v)
{
	if (!v)
		return;
	if (v->owns_lower)
		bdev_free(v->lower);
	free(v->ent);
	free(v->bucket);
	free(v->pool);
	pthread_mutex_destroy(&v->lock);
	free(v);
}

int vdev_new(struct bdev *lower, bool owns_lower, const struct verity_image *img,
	     const uint8_t root[VERITY_DIGEST_SIZE], unsigned cache_blocks, struct vdev **ret)
{
	struct vdev *v = calloc(1, sizeof(*v));
	int r;

	if (!v) {
		if (owns_lower)
			bdev_free(lower);
		return -ENOMEM;
	}
	v->lower = lower;
	v->owns_lower = owns_lower;
	v->img = *img;
	memcpy(v->root, root, VERITY_DIGEST_SIZE);
	pthread_mutex_init(&v->lock, NULL);
	r = cache_blocks < CACHE_MIN || img->g.levels == 0 ? -EINVAL :
	    bdev_size(lower) < img->g.end		   ? -EINVAL :
							     cache_init(v, cache_blocks);
	if (r < 0) {
		vdev_free(v);
		return r;
	}
	*ret = v;
	return 0;
}

void vdev_get_stats(struct vdev *v, struct verity_stats *ret)
{
	*ret = (struct verity_stats){
		.data_blocks_verified = __atomic_load_n(&v->data_ok, __ATOMIC_RELAXED),
		.hash_blocks_verified = __atomic_load_n(&v->hash_ok, __ATOMIC_RELAXED),
		.cache_hits = __atomic_load_n(&v->hits, __ATOMIC_RELAXED),
		.cache_misses = __atomic_load_n(&v->misses, __ATOMIC_RELAXED),
	};
	LOCK_GUARD(&v->lock);
	ret->failures = v->failures;
	ret->first_bad = v->first_bad;
}

/* ---- the bdev layer ---- */

static int verity_read(void *state, void *buf, size_t len, uint64_t off)
{
	return vdev_read(state, buf, len, off);
}

static void verity_close(void *state)
{
	vdev_free(state);
}

static const struct bdev_ops verity_ops = {
	.name = "verity",
	.read = verity_read,
	.close = verity_close,
};

int verity_open(struct bdev *lower, const struct verity_image *img,
		const uint8_t root[VERITY_DIGEST_SIZE], const struct verity_options *o,
		struct bdev **ret, struct diag *d)
{
	unsigned cache = o && o->cache_blocks ? o->cache_blocks : VERITY_CACHE_DEFAULT;
	struct verity_stats st;
	struct vdev *v;
	char why[256];
	int r;

	r = vdev_new(lower, true, img, root, cache, &v);
	if (r < 0)
		return diag_set(d, r, "verity: cannot set up the layer: %m");
	r = vdev_check_open(v);
	if (r == -EBADMSG) {
		vdev_get_stats(v, &st);
		verity_bad_describe(&st.first_bad, why, sizeof(why));
		vdev_free(v);
		return diag_set(d, r, "the seal does not verify: %s", why);
	}
	if (r < 0) {
		vdev_free(v);
		return diag_set(d, r, "verity: reading the image failed: %m");
	}
	return bdev_new(&verity_ops, v, img->g.data_size, 1, false, ret);
}

int verity_get_stats(struct bdev *b, struct verity_stats *ret)
{
	struct vdev *v = bdev_state(b, &verity_ops);

	if (!v)
		return -EINVAL;
	vdev_get_stats(v, ret);
	return 0;
}

void verity_bad_describe(const struct verity_bad *b, char *buf, size_t len)
{
	switch (b->kind) {
	case VERITY_BAD_ROOT:
		(void)snprintf(
			buf, len,
			"the root hash does not match the top hash block (image byte %" PRIu64
			"): another or an older image, or its tree was changed",
			b->offset);
		break;
	case VERITY_BAD_HASH:
		(void)snprintf(buf, len,
			       "hash block %" PRIu64 " of level %u (image bytes %" PRIu64
			       "..%" PRIu64 ") does not match the level above",
			       b->index, b->level, b->offset, b->offset + VERITY_BLOCK_SIZE - 1);
		break;
	case VERITY_BAD_DATA:
		(void)snprintf(buf, len,
			       "data block %" PRIu64 " (image bytes %" PRIu64 "..%" PRIu64
			       ") does not match its hash%s",
			       b->index, b->offset, b->offset + VERITY_BLOCK_SIZE - 1,
			       b->index == 0 ? " (the LUKS2 header)" : "");
		break;
	default:
		(void)snprintf(buf, len, "no block failed");
	}
}

/* ---- the unverified view ---- */

static int plain_read(void *state, void *buf, size_t len, uint64_t off)
{
	return bdev_read(state, buf, len, off);
}

static void plain_close(void *state)
{
	bdev_free(state);
}

static const struct bdev_ops plain_ops = {
	.name = "verity-unverified",
	.read = plain_read,
	.close = plain_close,
};

int verity_open_unverified(struct bdev *lower, const struct verity_image *img, struct bdev **ret)
{
	if (bdev_size(lower) < img->g.data_size) {
		bdev_free(lower);
		return -EINVAL;
	}
	return bdev_new(&plain_ops, lower, img->g.data_size, 1, false, ret);
}
