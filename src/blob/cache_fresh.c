/* SPDX-License-Identifier: MIT */
/*
 * cache_fresh.c - the freshness table (cache_fresh.h): a lazily allocated two-level array of
 * SHA-256 digests indexed by chunk number.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cache_fresh.h"
#include "sealmount/macros.h"

int fresh_init(struct fresh_table *t, uint64_t nchunks)
{
	uint64_t nleaves;

	*t = (struct fresh_table){ .nchunks = nchunks, .depth = 1 };
	if (nchunks == 0)
		return -EINVAL;
	nleaves = ((nchunks - 1) >> FRESH_LEAF_SHIFT) + 1;
	while (t->depth * FRESH_FAN_SHIFT < 64 && (nleaves - 1) >> (t->depth * FRESH_FAN_SHIFT))
		t->depth++;
	t->md = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (!t->md)
		return -ENOSYS;
	pthread_mutex_init(&t->lock, NULL);
	t->ready = true;
	return 0;
}

static void free_node(void *p, unsigned level)
{
	struct fresh_node *n = p;

	if (n && level > 0)
		for (unsigned i = 0; i < FRESH_FAN; i++)
			free_node(n->child[i], level - 1);
	free(p);
}

void fresh_done(struct fresh_table *t)
{
	if (!t->ready)
		return;
	free_node(t->root, t->depth);
	EVP_MD_free(t->md);
	pthread_mutex_destroy(&t->lock);
	*t = (struct fresh_table){ 0 };
}

int fresh_digest(struct fresh_table *t, const void *data, size_t len, uint8_t out[FRESH_DIGEST])
{
	unsigned n = 0;

	if (EVP_Digest(data, len, out, &n, t->md, NULL) != 1 || n != FRESH_DIGEST)
		return -ENOMEM;
	return 0;
}

/* With t->lock held: the leaf of idx, allocated (with the nodes above it) if alloc. NULL: absent
 * (or -ENOMEM). Level 0 is a leaf, level t->depth the root. */
static struct fresh_leaf *leaf_of(struct fresh_table *t, uint64_t idx, bool alloc)
{
	uint64_t li = idx >> FRESH_LEAF_SHIFT;
	void **p = (void **)&t->root;

	for (unsigned level = t->depth;; level--) {
		if (!*p && alloc)
			*p = calloc(1,
				    level ? sizeof(struct fresh_node) : sizeof(struct fresh_leaf));
		if (!*p || level == 0)
			return *p;
		p = &((struct fresh_node *)*p)
			     ->child[(li >> (FRESH_FAN_SHIFT * (level - 1))) & (FRESH_FAN - 1)];
	}
}

static bool is_seen(const struct fresh_leaf *l, unsigned i)
{
	return l->seen[i / 64] & (UINT64_C(1) << (i % 64));
}

/* With t->lock held: set slot i of l. */
static void set(struct fresh_table *t, struct fresh_leaf *l, unsigned i,
		const uint8_t digest[FRESH_DIGEST])
{
	if (!is_seen(l, i)) {
		l->seen[i / 64] |= UINT64_C(1) << (i % 64);
		t->remembered++;
	}
	memcpy(l->digest[i], digest, FRESH_DIGEST);
}

int fresh_check(struct fresh_table *t, uint64_t idx, const uint8_t digest[FRESH_DIGEST])
{
	unsigned i = (unsigned)(idx & (FRESH_LEAF_CHUNKS - 1));
	struct fresh_leaf *l;

	if (idx >= t->nchunks)
		return -EINVAL;
	LOCK_GUARD(&t->lock);
	l = leaf_of(t, idx, true);
	if (!l)
		return -ENOMEM;
	if (!is_seen(l, i)) {
		set(t, l, i, digest); /* first fetch in this session: trusted on first use */
		return 0;
	}
	/* Not secret: the digests are of bytes the storage already holds. */
	return memcmp(l->digest[i], digest, FRESH_DIGEST) == 0 ? 0 : -EBADMSG;
}

int fresh_reserve(struct fresh_table *t, uint64_t idx)
{
	if (idx >= t->nchunks)
		return -EINVAL;
	LOCK_GUARD(&t->lock);
	return leaf_of(t, idx, true) ? 0 : -ENOMEM;
}

bool fresh_remember(struct fresh_table *t, uint64_t idx, const uint8_t digest[FRESH_DIGEST])
{
	struct fresh_leaf *l;

	if (idx >= t->nchunks)
		return false;
	LOCK_GUARD(&t->lock);
	l = leaf_of(t, idx, false);
	if (!l)
		return false;
	set(t, l, (unsigned)(idx & (FRESH_LEAF_CHUNKS - 1)), digest);
	return true;
}

int fresh_lookup(struct fresh_table *t, uint64_t idx, uint8_t out[FRESH_DIGEST])
{
	unsigned i = (unsigned)(idx & (FRESH_LEAF_CHUNKS - 1));
	struct fresh_leaf *l;

	if (idx >= t->nchunks)
		return -EINVAL;
	LOCK_GUARD(&t->lock);
	l = leaf_of(t, idx, false);
	if (!l || !is_seen(l, i))
		return -ENOENT;
	memcpy(out, l->digest[i], FRESH_DIGEST);
	return 0;
}

uint64_t fresh_count(struct fresh_table *t)
{
	LOCK_GUARD(&t->lock);
	return t->remembered;
}
