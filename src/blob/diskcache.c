/* SPDX-License-Identifier: MIT */
/*
 * diskcache.c - the diskcache layer's files, index and slots: open or reset the cache files,
 * load the index, the chunk -> slot map (linear probing) and CLOCK eviction. The read path is
 * in diskcache_io.c.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "diskcache_internal.h"
#include "sealmount/log.h"

static_assert(sizeof(struct dc_header) == 192, "dc_header layout");
static_assert(sizeof(struct dc_header) <= DC_HEADER_SIZE, "dc_header size");
static_assert(sizeof(struct dc_entry) == 48, "dc_entry layout");

int dc_sum(uint64_t chunk, const void *buf, size_t len, uint8_t out[DC_SUM])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok;

	if (!ctx)
		return -ENOMEM;
	ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	     EVP_DigestUpdate(ctx, &chunk, sizeof(chunk)) == 1 &&
	     EVP_DigestUpdate(ctx, buf, len) == 1 && EVP_DigestFinal_ex(ctx, out, NULL) == 1;
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -EIO;
}

static int sha256(const void *buf, size_t len, uint8_t out[DC_SUM])
{
	return EVP_Digest(buf, len, out, NULL, EVP_sha256(), NULL) == 1 ? 0 : -EIO;
}

/* ---- map: chunk -> slot ---- */

static uint32_t home(const struct diskcache *d, uint64_t chunk)
{
	return (uint32_t)((chunk * 0x9E3779B97F4A7C15ull) >> 32) & d->map_mask;
}

uint32_t dc_lookup(struct diskcache *d, uint64_t chunk)
{
	for (uint32_t i = home(d, chunk);; i = (i + 1) & d->map_mask) {
		uint32_t s = d->map[i];

		if (s == DC_NONE || d->slots[s].chunk_plus1 == chunk + 1)
			return s;
	}
}

static void map_insert(struct diskcache *d, uint32_t s)
{
	uint32_t i = home(d, d->slots[s].chunk_plus1 - 1);

	while (d->map[i] != DC_NONE)
		i = (i + 1) & d->map_mask;
	d->map[i] = s;
}

/* Remove s (still holding its chunk) with backward-shift deletion. */
static void map_remove(struct diskcache *d, uint32_t s)
{
	uint32_t i = home(d, d->slots[s].chunk_plus1 - 1), j;

	while (d->map[i] != s)
		i = (i + 1) & d->map_mask;
	for (j = i;;) {
		uint32_t k;
		bool in;

		j = (j + 1) & d->map_mask;
		if (d->map[j] == DC_NONE)
			break;
		k = home(d, d->slots[d->map[j]].chunk_plus1 - 1);
		in = i <= j ? (i < k && k <= j) : (k > i || k <= j);
		if (!in) {
			d->map[i] = d->map[j];
			i = j;
		}
	}
	d->map[i] = DC_NONE;
}

/* ---- slots ---- */

static void write_entry(struct diskcache *d, uint32_t s)
{
	const struct dc_slot *sl = &d->slots[s];
	struct dc_entry e = { .chunk_plus1 = sl->chunk_plus1, .len = sl->len };
	off_t at = (off_t)DC_HEADER_SIZE + (off_t)s * (off_t)sizeof(e);

	memcpy(e.sum, sl->sum, DC_SUM);
	if (pwrite(d->idx_fd, &e, sizeof(e), at) != (ssize_t)sizeof(e))
		DC_STAT_ADD(d, write_errors, 1);
}

/* Forget what slot s holds (in memory and in the index). */
static void clear_slot(struct diskcache *d, uint32_t s)
{
	struct dc_slot *sl = &d->slots[s];

	map_remove(d, s);
	__atomic_fetch_sub(&d->st.cached_bytes, (uint64_t)sl->len, __ATOMIC_RELAXED);
	sl->chunk_plus1 = 0;
	sl->len = 0;
	memset(sl->sum, 0, DC_SUM);
	write_entry(d, s);
}

uint32_t dc_alloc(struct diskcache *d)
{
	if (d->nfree > 0) {
		uint32_t s = d->free_slots[--d->nfree];

		d->slots[s].busy = true;
		return s;
	}
	for (uint64_t i = 0; i < 2ull * d->nslots; i++) {
		uint32_t s = d->hand;
		struct dc_slot *sl = &d->slots[s];

		d->hand = (d->hand + 1) % d->nslots;
		if (sl->busy || sl->chunk_plus1 == 0)
			continue;
		if (sl->ref) {
			sl->ref = false;
			continue;
		}
		clear_slot(d, s);
		DC_STAT_ADD(d, evictions, 1);
		sl->busy = true;
		return s;
	}
	return DC_NONE;
}

void dc_commit(struct diskcache *d, uint32_t s, uint64_t chunk, uint32_t len,
	       const uint8_t sum[DC_SUM], bool ok)
{
	struct dc_slot *sl = &d->slots[s];

	sl->busy = false;
	if (!ok || dc_lookup(d, chunk) != DC_NONE) {
		d->free_slots[d->nfree++] = s;
		return;
	}
	sl->chunk_plus1 = chunk + 1;
	sl->len = len;
	sl->ref = false;
	memcpy(sl->sum, sum, DC_SUM);
	map_insert(d, s);
	DC_STAT_ADD(d, cached_bytes, len);
	write_entry(d, s);
}

void dc_drop(struct diskcache *d, uint32_t s, uint64_t chunk, const uint8_t sum[DC_SUM])
{
	struct dc_slot *sl = &d->slots[s];

	if (sl->busy || sl->chunk_plus1 != chunk + 1 || memcmp(sl->sum, sum, DC_SUM) != 0)
		return;
	clear_slot(d, s);
	d->free_slots[d->nfree++] = s;
}

/* ---- files ---- */

static int open_file(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
	struct stat st;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	return fd;
}

static int open_files(struct diskcache *d, const struct diskcache_options *o)
{
	_cleanup_close_ int dirfd = -EBADF;
	uint8_t h[DC_SUM];
	char name[64];
	int r;

	r = sha256(o->key, strlen(o->key), h);
	if (r < 0)
		return r;
	dirfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return log_debug_errno(-errno, "diskcache: cannot open %s: %m", o->dir);
	snprintf(name, sizeof(name), "sealmount-%02x%02x%02x%02x%02x%02x%02x%02x.idx", h[0], h[1],
		 h[2], h[3], h[4], h[5], h[6], h[7]);
	d->idx_fd = open_file(dirfd, name);
	if (d->idx_fd < 0)
		return log_debug_errno(d->idx_fd, "diskcache: cannot open %s/%s: %m", o->dir, name);
	if (flock(d->idx_fd, LOCK_EX | LOCK_NB) < 0)
		return errno == EWOULDBLOCK ? -EBUSY : -errno;
	memcpy(name + strlen(name) - 3, "data", 5); /* fits: 35 of 64 bytes used */
	d->data_fd = open_file(dirfd, name);
	if (d->data_fd < 0)
		return log_debug_errno(d->data_fd, "diskcache: cannot open %s/%s: %m", o->dir,
				       name);
	return 0;
}

static int make_header(const struct diskcache *d, const char *etag, struct dc_header *h)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->magic, DC_MAGIC, sizeof(h->magic));
	h->version = DC_VERSION;
	h->chunk_size = d->cs;
	h->dev_size = d->size;
	h->nslots = d->nslots;
	memcpy(h->etag, etag, strnlen(etag, sizeof(h->etag) - 1)); /* checked at open */
	return sha256(h, offsetof(struct dc_header, sum), h->sum);
}

/* Empty both files and write a fresh header (entries read back as zeros = empty). */
static int reset_files(struct diskcache *d, const struct dc_header *want)
{
	off_t idx_size = (off_t)DC_HEADER_SIZE + (off_t)d->nslots * (off_t)sizeof(struct dc_entry);

	if (ftruncate(d->data_fd, 0) < 0 || ftruncate(d->idx_fd, 0) < 0 ||
	    ftruncate(d->idx_fd, idx_size) < 0)
		return -errno;
	if (pwrite(d->idx_fd, want, sizeof(*want), 0) != (ssize_t)sizeof(*want))
		return -EIO;
	DC_STAT_ADD(d, reset, 1);
	return 0;
}

static uint32_t chunk_len(const struct diskcache *d, uint64_t chunk)
{
	uint64_t left = d->size - chunk * d->cs;

	return left < d->cs ? (uint32_t)left : d->cs;
}

/* Load the entries of a valid index; entries that make no sense are dropped. */
static void load_entries(struct diskcache *d)
{
	uint64_t nchunks = (d->size + d->cs - 1) / d->cs;

	for (uint32_t s = 0; s < d->nslots; s++) {
		struct dc_slot *sl = &d->slots[s];
		struct dc_entry e;
		off_t at = (off_t)DC_HEADER_SIZE + (off_t)s * (off_t)sizeof(e);

		if (pread(d->idx_fd, &e, sizeof(e), at) == (ssize_t)sizeof(e) &&
		    e.chunk_plus1 > 0 && e.chunk_plus1 <= nchunks &&
		    e.len == chunk_len(d, e.chunk_plus1 - 1) &&
		    dc_lookup(d, e.chunk_plus1 - 1) == DC_NONE) {
			sl->chunk_plus1 = e.chunk_plus1;
			sl->len = e.len;
			memcpy(sl->sum, e.sum, DC_SUM);
			map_insert(d, s);
			DC_STAT_ADD(d, cached_bytes, e.len);
		} else
			d->free_slots[d->nfree++] = s;
	}
}

static int load_or_reset(struct diskcache *d, const char *etag)
{
	struct dc_header want, have;
	int r;

	r = make_header(d, etag, &want);
	if (r < 0)
		return r;
	if (pread(d->idx_fd, &have, sizeof(have), 0) == (ssize_t)sizeof(have) &&
	    memcmp(&have, &want, sizeof(have)) == 0) {
		load_entries(d);
		return 0;
	}
	log_debug("diskcache: empty, or for another version of the device; starting afresh");
	r = reset_files(d, &want);
	for (uint32_t s = d->nslots; r == 0 && s-- > 0;)
		d->free_slots[d->nfree++] = s; /* popped from the end: slot 0 first */
	return r;
}

/* ---- lifecycle ---- */

static void dc_free(struct diskcache *d)
{
	if (!d)
		return;
	if (d->data_fd >= 0)
		close(d->data_fd);
	if (d->idx_fd >= 0)
		close(d->idx_fd); /* drops the flock */
	pthread_mutex_destroy(&d->lock);
	free(d->slots);
	free(d->map);
	free(d->free_slots);
	bdev_free(d->lower);
	free(d);
}

static void dc_close(void *state)
{
	dc_free(state);
}

static uint32_t dc_fetch_hint(void *state)
{
	struct diskcache *d = state;

	return bdev_fetch_hint(d->lower);
}

static const struct bdev_ops diskcache_ops = {
	.name = "diskcache",
	.read = dc_read,
	.fetch_hint = dc_fetch_hint,
	.close = dc_close,
};

static int check_options(const struct diskcache_options *o, uint32_t cs, uint64_t *ret_nslots)
{
	uint64_t n = o->max_bytes / cs;

	if (!o->key[0] || strlen(o->etag) >= DISKCACHE_ETAG_MAX)
		return -EINVAL;
	if (cs < 4096 || cs > 4u * 1024 * 1024 || (cs & (cs - 1)) != 0)
		return -EINVAL;
	if (n < DISKCACHE_MIN_SLOTS || n > DISKCACHE_MAX_SLOTS)
		return -EINVAL;
	*ret_nslots = n;
	return 0;
}

static int dc_alloc_tables(struct diskcache *d)
{
	uint32_t cap = 1;

	while (cap < 2 * d->nslots)
		cap <<= 1;
	d->map_mask = cap - 1;
	d->slots = calloc(d->nslots, sizeof(*d->slots));
	d->free_slots = calloc(d->nslots, sizeof(*d->free_slots));
	d->map = malloc((size_t)cap * sizeof(*d->map));
	if (!d->slots || !d->free_slots || !d->map)
		return -ENOMEM;
	memset(d->map, 0xff, (size_t)cap * sizeof(*d->map)); /* DC_NONE */
	return 0;
}

int diskcache_new(struct bdev *lower, const struct diskcache_options *o, struct bdev **ret)
{
	uint32_t cs = o->chunk_size ? o->chunk_size : DISKCACHE_DEFAULT_CHUNK;
	struct diskcache *d;
	uint64_t nslots = 0;
	int r;

	r = check_options(o, cs, &nslots);
	if (r == 0 && (bdev_is_writable(lower) || bdev_size(lower) == 0))
		r = log_debug_errno(-EINVAL, "diskcache: the lower device must be read-only, "
					     "non-empty");
	d = r == 0 ? calloc(1, sizeof(*d)) : NULL;
	if (!d) {
		bdev_free(lower);
		return r < 0 ? r : -ENOMEM;
	}
	*d = (struct diskcache){ .lower = lower,
				 .size = bdev_size(lower),
				 .cs = cs,
				 .nslots = (uint32_t)nslots,
				 .data_fd = -EBADF,
				 .idx_fd = -EBADF };
	r = -pthread_mutex_init(&d->lock, NULL);
	r = r ?: dc_alloc_tables(d);
	r = r ?: open_files(d, o);
	r = r ?: load_or_reset(d, o->etag);
	if (r < 0) {
		dc_free(d);
		return r;
	}
	log_debug("diskcache: %" PRIu32 " slots of %" PRIu32 " bytes, %" PRIu64 " bytes cached",
		  d->nslots, d->cs, d->st.cached_bytes);
	return bdev_new(&diskcache_ops, d, d->size, 1, false, ret);
}

int diskcache_get_stats(struct bdev *b, struct diskcache_stats *ret)
{
	struct diskcache *d = bdev_state(b, &diskcache_ops);
	const uint64_t *src;
	uint64_t *dst = (uint64_t *)ret;

	if (!d)
		return -EINVAL;
	src = (const uint64_t *)&d->st;
	for (size_t i = 0; i < sizeof(*ret) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
	return 0;
}
