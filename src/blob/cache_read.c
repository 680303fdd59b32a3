/* SPDX-License-Identifier: MIT */
/*
 * cache_read.c - the cache's read path: hits, de-duplicated misses, runs of missing chunks
 * fetched in parallel pieces of at most fetch_max, and the sequential read-ahead window.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cache_internal.h"
#include "sealmount/log.h"

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

static bool is_retryable(int r)
{
	return r == -EIO || r == -ETIMEDOUT || r == -ECONNRESET || r == -ECONNREFUSED ||
	       r == -EPROTO || r == -EBADMSG || r == -EAGAIN || r == -EHOSTUNREACH;
}

static int lower_readv(struct cache *c, const struct iovec *iov, unsigned cnt, size_t len,
		       uint64_t off)
{
	int r;

	STAT_ADD(c, in_flight, 1);
	STAT_ADD(c, fetches, 1);
	r = bdev_readv(c->lower, iov, cnt, off);
	if (r < 0 && is_retryable(r)) {
		log_debug_errno(r, "cache: fetch of %zu bytes at %" PRIu64 " failed, retrying: %m",
				len, off);
		STAT_ADD(c, retries, 1);
		STAT_ADD(c, fetches, 1);
		r = bdev_readv(c->lower, iov, cnt, off);
	}
	STAT_SUB(c, in_flight, 1);
	if (r == 0)
		STAT_ADD(c, bytes_fetched, len);
	return r;
}

int cache_check_fresh(struct cache *c, uint64_t idx, const uint8_t *data)
{
	uint8_t md[FRESH_DIGEST];
	int r;

	r = fresh_digest(&c->fresh, data, chunk_len(c, idx), md);
	if (r == 0)
		r = fresh_check(&c->fresh, idx, md);
	if (r != -EBADMSG)
		return r;
	STAT_ADD(c, stale, 1);
	/* log-ok: an integrity error on the data path; the reader only sees EIO */
	log_warn("cache: chunk %" PRIu64 " (bytes %" PRIu64 "+%" PRIu32
		 ") came back different from "
		 "what this session fetched or wrote there before (an older version?); the read "
		 "fails",
		 idx, idx << c->chunk_shift, chunk_len(c, idx));
	return -EIO;
}

/* The caller's part of chunk idx (now VALID and ours until published: LOADING). */
static void copy_to_user(const struct fetch_job *j, const uint8_t *data, uint64_t idx)
{
	const struct cache *c = j->c;
	uint64_t start = idx << c->chunk_shift;
	uint64_t lo = MAX(start, j->user_off);
	uint64_t hi = MIN(start + chunk_len(c, idx), j->user_off + j->user_len);

	if (j->user && lo < hi)
		memcpy(j->user + (lo - j->user_off), data + (lo - start), hi - lo);
}

/* Fetch the claimed (LOADING) chunks of j straight into their slots, copy the caller's part,
 * publish them. */
static int fetch_run(struct fetch_job *j)
{
	struct cache *c = j->c;
	_cleanup_free_ struct iovec *iov = calloc(j->count, sizeof(*iov));
	size_t n = 0;
	int r = -ENOMEM;

	for (uint32_t i = 0; iov && i < j->count; i++) {
		iov[i] = (struct iovec){ c->slots[j->slots[i]].data, chunk_len(c, j->first + i) };
		n += iov[i].iov_len;
	}
	if (iov)
		r = lower_readv(c, iov, j->count, n, j->first << c->chunk_shift);
	/* Still LOADING: nobody else reads these slots until they are published below. Every chunk
	 * is checked before any byte is copied out: a stale one fails (and drops) the whole run. */
	for (uint32_t i = 0; r == 0 && i < j->count; i++)
		r = cache_check_fresh(c, j->first + i, c->slots[j->slots[i]].data);
	for (uint32_t i = 0; r == 0 && i < j->count; i++)
		copy_to_user(j, c->slots[j->slots[i]].data, j->first + i);

	pthread_mutex_lock(&c->lock);
	for (uint32_t i = 0; i < j->count; i++) {
		struct chunk *ch = &c->slots[j->slots[i]];

		if (r < 0) {
			cache_release(c, j->slots[i]);
			continue;
		}
		ch->state = CHUNK_VALID;
		ch->weight = j->prefetch ? 2 : 1;
		ch->prefetched = j->prefetch;
	}
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	return r;
}

static int prefetch_fn(struct pool_job *job)
{
	struct fetch_job *j = (struct fetch_job *)job;
	int r = fetch_run(j);

	if (r < 0)
		log_debug_errno(r, "cache: read-ahead of chunk %" PRIu64 " failed: %m", j->first);
	free(j);
	return r;
}

static int demand_fn(struct pool_job *job)
{
	int r = fetch_run((struct fetch_job *)job);

	free(job); /* the pool read job->batch before calling us */
	return r;
}

static struct fetch_job *job_new(struct cache *c, uint64_t first, uint32_t count)
{
	struct fetch_job *j = calloc(1, sizeof(*j) + count * sizeof(int32_t));

	if (!j)
		return NULL;
	j->c = c;
	j->first = first;
	return j;
}

/* With c->lock held: claim up to max absent chunks from first on into j->slots. */
static void claim_run(struct cache *c, struct fetch_job *j, uint32_t max)
{
	for (uint32_t i = 0; i < max && j->first + i < c->nchunks; i++) {
		int32_t s;

		if (cache_lookup(c, j->first + i) >= 0)
			break;
		s = cache_claim(c, j->first + i);
		if (s < 0)
			break;
		j->slots[j->count++] = s;
	}
}

/* Fetch j (claimed chunks) in pieces of fetch_max: all but the last on the pool, the last
 * inline; wait for all. Consumes j. */
int cache_fetch_parallel(struct cache *c, struct fetch_job *j)
{
	uint32_t per = c->fetch_max >> c->chunk_shift;
	struct batch b;
	int r, r2;

	batch_init(&b);
	while (j->count > per) {
		struct fetch_job *p = job_new(c, j->first, per);

		if (!p)
			break; /* fetch the rest inline */
		p->prefetch = false;
		p->user = j->user;
		p->user_off = j->user_off;
		p->user_len = j->user_len;
		p->count = per;
		memcpy(p->slots, j->slots, per * sizeof(int32_t));
		p->job = (struct pool_job){ .fn = demand_fn, .batch = &b };
		pool_submit(&c->pool, &p->job);
		j->first += per;
		j->count -= per;
		memmove(j->slots, j->slots + per, j->count * sizeof(int32_t));
	}
	r = fetch_run(j);
	r2 = batch_wait(&b);
	batch_done(&b);
	return r < 0 ? r : r2;
}

/* With c->lock held: find or start the stream this read continues. */
static struct stream *stream_match(struct cache *c, uint64_t off, size_t len)
{
	struct stream *s, *oldest = &c->streams[0];

	for (int i = 0; i < CACHE_STREAMS; i++) {
		uint64_t slack;

		s = &c->streams[i];
		slack = (uint64_t)s->window + 2 * len + c->chunk_size;
		if (s->run && off + len + slack >= s->next && off <= s->next + slack) {
			s->run++;
			s->next = MAX(s->next, off + len);
			s->stamp = ++c->stamp;
			return s;
		}
		if (s->stamp < oldest->stamp)
			oldest = s;
	}
	*oldest = (struct stream){ .next = off + len, .run = 1, .stamp = ++c->stamp };
	return oldest;
}

/* The size of one read-ahead request: fetch_max, or more when the lower layer asks for larger
 * fetches (a throttled source: blob.h "Pacing"), within the read-ahead cap. A sequential stream
 * reads every byte it fetches, so larger requests cost it nothing but cut the request count;
 * random misses are left alone, since enlarging them would spend a byte budget (Azure's
 * page-blob limit) on bytes nobody reads. */
static uint32_t ra_piece(const struct cache *c)
{
	uint64_t hint = bdev_fetch_hint(c->lower);
	uint64_t piece = MIN(MAX(hint, (uint64_t)c->fetch_max), (uint64_t)c->ra_max);

	return (uint32_t)MAX(piece & ~((uint64_t)c->chunk_size - 1), (uint64_t)c->chunk_size);
}

/* With c->lock held: queue read-ahead jobs for the chunks in [from, to) that are absent. */
static void prefetch_range(struct cache *c, uint64_t from, uint64_t to, uint32_t piece)
{
	uint32_t per = piece >> c->chunk_shift;
	uint64_t idx = from >> c->chunk_shift, end = (to + c->chunk_size - 1) >> c->chunk_shift;

	while (idx < end) {
		struct fetch_job *j;

		if (cache_lookup(c, idx) >= 0) {
			idx++;
			continue;
		}
		j = job_new(c, idx, per);
		if (!j)
			return;
		claim_run(c, j, (uint32_t)MIN(per, end - idx));
		if (j->count == 0) {
			free(j); /* cache full of busy chunks: skip read-ahead */
			return;
		}
		idx += j->count;
		j->prefetch = true;
		j->job.fn = prefetch_fn;
		STAT_ADD(c, prefetches, 1);
		pool_submit(&c->pool, &j->job);
	}
}

void cache_readahead_note(struct cache *c, uint64_t off, size_t len)
{
	uint32_t piece = ra_piece(c);
	struct stream *s;
	uint64_t from, to;

	LOCK_GUARD(&c->lock);
	s = stream_match(c, off, len);
	if (s->run < 2)
		return;
	/* Start small (or at two pieces when they were raised); double whenever the reader got
	 * within half a window of the read-ahead. */
	if (s->window == 0)
		s->window = MIN(MAX(MAX(4 * c->chunk_size, 256u * 1024),
				    piece > c->fetch_max ? 2 * piece : 0),
				c->ra_max);
	else if (s->ra_end <= s->next + s->window / 2)
		s->window = MIN(2 * s->window, c->ra_max);
	from = MAX(s->ra_end, s->next);
	to = MIN(c->size, s->next + s->window);
	/* Top up in whole pieces (or half a window while it is small), never tiny. */
	if (to <= from || (to - from < MIN(piece, s->window / 2) && to < c->size))
		return;
	prefetch_range(c, from, to, piece);
	s->ra_end = to;
}

/* With c->lock held: serve what is cached at pos. Returns bytes copied, 0 if the chunk is
 * absent, -EAGAIN after waiting for a chunk that was loading. */
static long read_hit(struct cache *c, uint8_t *dst, uint64_t pos, uint64_t end)
{
	uint64_t idx = pos >> c->chunk_shift, cstart = idx << c->chunk_shift;
	int32_t s = cache_lookup(c, idx);
	struct chunk *ch;
	size_t n;

	if (s < 0)
		return 0;
	ch = &c->slots[s];
	if (ch->state == CHUNK_LOADING) {
		STAT_ADD(c, misses, 1);
		pthread_cond_wait(&c->cond, &c->lock);
		return -EAGAIN;
	}
	n = (size_t)(MIN(end, cstart + c->chunk_size) - pos);
	memcpy(dst, ch->data + (pos - cstart), n);
	STAT_ADD(c, hits, 1);
	cache_touch(c, ch);
	return (long)n;
}

/* With c->lock held, chunk at pos absent: claim the run of absent chunks up to end. */
int cache_claim_demand(struct cache *c, uint64_t pos, uint64_t end, struct fetch_job **ret)
{
	uint64_t idx = pos >> c->chunk_shift, last = (end - 1) >> c->chunk_shift;
	struct fetch_job *j = job_new(c, idx, (uint32_t)(last - idx + 1));
	int r;

	if (!j)
		return -ENOMEM;
	claim_run(c, j, (uint32_t)(last - idx + 1));
	if (j->count == 0) {
		free(j);
		r = cache_make_room(c);
		return r < 0 ? r : -EAGAIN;
	}
	STAT_ADD(c, misses, j->count);
	*ret = j;
	return 0;
}

int cache_do_read(struct cache *c, uint8_t *buf, size_t len, uint64_t off)
{
	uint64_t pos = off, end = off + len;

	if (c->readahead)
		cache_readahead_note(c, off, len);
	while (pos < end) {
		_cleanup_free_ struct fetch_job *j = NULL;
		long n;
		int r;

		pthread_mutex_lock(&c->lock);
		n = read_hit(c, buf + (pos - off), pos, end);
		r = n == 0 ? cache_claim_demand(c, pos, end, &j) : 0;
		pthread_mutex_unlock(&c->lock);
		if (n > 0)
			pos += (uint64_t)n;
		if (n != 0 || r == -EAGAIN)
			continue;
		if (r < 0)
			return r;
		j->user = buf;
		j->user_off = off;
		j->user_len = len;
		r = cache_fetch_parallel(c, j);
		if (r < 0)
			return r;
		pos = MIN(end, (j->first + j->count) << c->chunk_shift);
	}
	return 0;
}

int cache_fetch_one(struct cache *c, uint64_t idx)
{
	_cleanup_free_ struct fetch_job *j = NULL;
	int r;

	pthread_mutex_lock(&c->lock);
	if (cache_lookup(c, idx) >= 0) {
		pthread_mutex_unlock(&c->lock);
		return 0; /* someone else has it (or is loading it) */
	}
	r = cache_claim_demand(c, idx << c->chunk_shift, (idx << c->chunk_shift) + 1, &j);
	pthread_mutex_unlock(&c->lock);
	if (r == -EAGAIN)
		return 0;
	if (r < 0)
		return r;
	return fetch_run(j);
}
