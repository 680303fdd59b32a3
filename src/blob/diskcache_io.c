/* SPDX-License-Identifier: MIT */
/*
 * diskcache_io.c - the diskcache read path: verified hits from the data file, misses fetched
 * from the lower device in contiguous chunk-aligned runs and stored.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diskcache_internal.h"

#define RUN_MAX_BYTES (4u * 1024 * 1024)

static uint32_t chunk_len(const struct diskcache *d, uint64_t chunk)
{
	uint64_t left = d->size - chunk * d->cs;

	return left < d->cs ? (uint32_t)left : d->cs;
}

/* Serve [coff, coff + n) of chunk from the disk into dst; false (a miss) unless the cached
 * chunk was read whole and its SHA-256 matched. tmp holds one chunk. */
static bool read_hit(struct diskcache *d, uint64_t chunk, uint8_t *dst, uint32_t coff, uint32_t n,
		     uint8_t *tmp)
{
	uint8_t want[DC_SUM], got[DC_SUM];
	uint32_t s, len = 0;
	uint8_t *p;

	pthread_mutex_lock(&d->lock);
	s = dc_lookup(d, chunk);
	if (s != DC_NONE) {
		memcpy(want, d->slots[s].sum, DC_SUM);
		len = d->slots[s].len;
		d->slots[s].ref = true;
	}
	pthread_mutex_unlock(&d->lock);
	if (s == DC_NONE)
		return false;
	p = coff == 0 && n == len ? dst : tmp;
	/* The slot may be evicted and refilled while we read it: the checksum catches that too. */
	if (pread(d->data_fd, p, len, (off_t)s * d->cs) != (ssize_t)len ||
	    dc_sum(chunk, p, len, got) < 0 || memcmp(got, want, DC_SUM) != 0) {
		DC_STAT_ADD(d, corrupt, 1);
		pthread_mutex_lock(&d->lock);
		dc_drop(d, s, chunk, want);
		pthread_mutex_unlock(&d->lock);
		return false;
	}
	if (p != dst)
		memcpy(dst, tmp + coff, n);
	DC_STAT_ADD(d, hits, 1);
	return true;
}

/* Store one fetched chunk; failures only count. */
static void store(struct diskcache *d, uint64_t chunk, const uint8_t *data, uint32_t len)
{
	uint8_t sum[DC_SUM];
	uint32_t s;
	bool ok;

	pthread_mutex_lock(&d->lock);
	s = dc_lookup(d, chunk) == DC_NONE ? dc_alloc(d) : DC_NONE;
	pthread_mutex_unlock(&d->lock);
	if (s == DC_NONE)
		return;
	ok = dc_sum(chunk, data, len, sum) == 0 &&
	     pwrite(d->data_fd, data, len, (off_t)s * d->cs) == (ssize_t)len;
	if (!ok)
		DC_STAT_ADD(d, write_errors, 1);
	pthread_mutex_lock(&d->lock);
	dc_commit(d, s, chunk, len, sum, ok);
	pthread_mutex_unlock(&d->lock);
}

/* Fetch chunks [a, b] with one lower read, copy the caller's part, store them. */
static int fetch_run(struct diskcache *d, uint64_t a, uint64_t b, uint8_t *buf, size_t len,
		     uint64_t off)
{
	uint64_t roff = a * d->cs, rend = (b + 1) * d->cs, lo, hi;
	_cleanup_free_ uint8_t *tmp = NULL;
	size_t rlen;
	int r;

	if (rend > d->size)
		rend = d->size;
	rlen = (size_t)(rend - roff);
	tmp = malloc(rlen);
	if (!tmp)
		return -ENOMEM;
	DC_STAT_ADD(d, fetches, 1);
	DC_STAT_ADD(d, misses, b - a + 1);
	r = bdev_read(d->lower, tmp, rlen, roff);
	if (r < 0)
		return r;
	DC_STAT_ADD(d, bytes_fetched, rlen);
	lo = off > roff ? off : roff;
	hi = off + len < rend ? off + len : rend;
	memcpy(buf + (lo - off), tmp + (lo - roff), (size_t)(hi - lo));
	for (uint64_t c = a; c <= b; c++)
		store(d, c, tmp + (c - a) * d->cs, chunk_len(d, c));
	return 0;
}

int dc_read(void *state, void *buf, size_t len, uint64_t off)
{
	struct diskcache *d = state;
	uint64_t run_max = RUN_MAX_BYTES / d->cs ? RUN_MAX_BYTES / d->cs : 1;
	uint64_t c0 = off / d->cs, c1, run = UINT64_MAX;
	_cleanup_free_ uint8_t *tmp = NULL;
	uint8_t *out = buf;
	int r;

	if (len == 0)
		return 0;
	c1 = (off + len - 1) / d->cs;
	tmp = malloc(d->cs);
	if (!tmp)
		return -ENOMEM;
	for (uint64_t c = c0; c <= c1; c++) {
		uint64_t cstart = c * d->cs, cend = cstart + chunk_len(d, c);
		uint64_t lo = off > cstart ? off : cstart, hi = off + len < cend ? off + len : cend;

		if (read_hit(d, c, out + (lo - off), (uint32_t)(lo - cstart), (uint32_t)(hi - lo),
			     tmp)) {
			if (run != UINT64_MAX) {
				r = fetch_run(d, run, c - 1, out, len, off);
				if (r < 0)
					return r;
				run = UINT64_MAX;
			}
			continue;
		}
		if (run != UINT64_MAX && c - run >= run_max) {
			r = fetch_run(d, run, c - 1, out, len, off);
			if (r < 0)
				return r;
			run = UINT64_MAX;
		}
		if (run == UINT64_MAX)
			run = c;
	}
	return run == UINT64_MAX ? 0 : fetch_run(d, run, c1, out, len, off);
}
