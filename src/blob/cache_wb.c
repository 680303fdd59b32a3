/* SPDX-License-Identifier: MIT */
/*
 * cache_wb.c - the cache's write path: writes land in cached chunks and mark 4 KiB pages dirty;
 * write-back snapshots dirty pages into coalesced runs (up to CACHE_WRITE_MAX), writes them in
 * parallel on the pool, and re-marks the pages of a failed run dirty so nothing is dropped.
 * A chunk with a run in flight is pinned (wb > 0) so it cannot be evicted before the lower
 * device acknowledged it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cache_internal.h"
#include "sealmount/log.h"

#define MIN(a, b) ((a) < (b) ? (a) : (b))

struct wb_run {
	struct pool_job job;
	struct cache *c;
	uint64_t off;
	size_t len;
	uint8_t *data;
	int result;
	struct wb_run *next;
};

static uint32_t page_len(const struct cache *c, uint64_t page_off)
{
	uint64_t left = c->size - page_off;

	return left < CACHE_PAGE ? (uint32_t)left : CACHE_PAGE;
}

/* With c->lock held: copy into a VALID chunk and mark the pages dirty. */
static void write_into(struct cache *c, struct chunk *ch, const uint8_t *src, uint64_t pos,
		       size_t n)
{
	uint64_t cstart = ch->idx << c->chunk_shift;
	unsigned p0 = (unsigned)((pos - cstart) / CACHE_PAGE);
	unsigned p1 = (unsigned)((pos + n - 1 - cstart) / CACHE_PAGE);

	memcpy(ch->data + (pos - cstart), src, n);
	ch->written = true;
	for (unsigned p = p0; p <= p1; p++) {
		if (ch->dirty & (1ull << p))
			continue;
		ch->dirty |= 1ull << p;
		STAT_ADD(c, dirty_bytes, page_len(c, cstart + (uint64_t)p * CACHE_PAGE));
	}
	cache_touch(c, ch);
}

/* With c->lock held, chunk idx absent and fully overwritten: claim it without fetching.
 * Returns the slot, or -1 after making room (caller retries), or -errno. */
static int32_t claim_for_overwrite(struct cache *c, uint64_t idx, int *ret_err)
{
	int32_t s = cache_claim(c, idx);

	*ret_err = 0;
	if (s >= 0) {
		c->slots[s].state = CHUNK_VALID;
		c->slots[s].weight = 1;
		return s;
	}
	*ret_err = cache_make_room(c);
	return -1;
}

/* One chunk's worth of a write. Returns bytes consumed (0: retry), or -errno. */
static long write_chunk(struct cache *c, const uint8_t *src, uint64_t pos, uint64_t end)
{
	uint64_t idx = pos >> c->chunk_shift, cstart = idx << c->chunk_shift;
	size_t n = (size_t)(MIN(end, cstart + chunk_len(c, idx)) - pos);
	bool whole = pos == cstart && n == chunk_len(c, idx);
	int32_t s;
	int r = 0;

	/* Its digest must be re-taken when it leaves the cache: make sure there is room for it. */
	r = fresh_reserve(&c->fresh, idx);
	if (r < 0)
		return r;
	pthread_mutex_lock(&c->lock);
	s = cache_lookup(c, idx);
	if (s >= 0 && c->slots[s].state == CHUNK_LOADING) {
		pthread_cond_wait(&c->cond, &c->lock);
		s = -1;
	} else if (s < 0 && whole) {
		s = claim_for_overwrite(c, idx, &r);
	} else if (s < 0) {
		pthread_mutex_unlock(&c->lock);
		r = cache_fetch_one(c, idx); /* read-modify-write of a partial chunk */
		return r < 0 ? r : 0;
	}
	if (s >= 0)
		write_into(c, &c->slots[s], src, pos, n);
	pthread_mutex_unlock(&c->lock);
	if (r < 0)
		return r;
	return s >= 0 ? (long)n : 0;
}

int cache_do_write(struct cache *c, const uint8_t *buf, size_t len, uint64_t off)
{
	uint64_t pos = off, end = off + len;

	while (pos < end) {
		long n = write_chunk(c, buf + (pos - off), pos, end);

		if (n < 0)
			return (int)n;
		pos += (uint64_t)n;
	}
	return 0;
}

static int compare_idx(const void *a, const void *b)
{
	uint64_t x = (*(struct chunk *const *)a)->idx, y = (*(struct chunk *const *)b)->idx;

	return x < y ? -1 : x > y;
}

/* With c->lock held: append page at off to the run list (extending the last run if it
 * continues it). -ENOMEM. */
static int add_page(struct cache *c, struct wb_run **head, struct wb_run **tail, uint64_t off)
{
	uint32_t n = page_len(c, off);
	struct wb_run *r = *tail;

	if (r && r->off + r->len == off && r->len + n <= CACHE_WRITE_MAX) {
		r->len += n;
		return 0;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	*r = (struct wb_run){ .c = c, .off = off, .len = n };
	if (*tail)
		(*tail)->next = r;
	else
		*head = r;
	*tail = r;
	return 0;
}

/* With c->lock held: turn dirty pages (in device order) into runs, up to cap bytes. */
static int collect_runs(struct cache *c, struct chunk **sorted, size_t cap, struct wb_run **ret)
{
	struct wb_run *head = NULL, *tail = NULL;
	size_t n = 0, total = 0;
	int r = 0;

	for (uint32_t i = 0; i < c->nslots; i++)
		if (c->slots[i].dirty && c->slots[i].state == CHUNK_VALID)
			sorted[n++] = &c->slots[i];
	qsort(sorted, n, sizeof(*sorted), compare_idx);
	for (size_t i = 0; i < n && r == 0 && total < cap; i++) {
		uint64_t cstart = sorted[i]->idx << c->chunk_shift;

		for (unsigned p = 0; p < 64 && r == 0; p++)
			if (sorted[i]->dirty & (1ull << p)) {
				r = add_page(c, &head, &tail, cstart + (uint64_t)p * CACHE_PAGE);
				total += CACHE_PAGE;
			}
	}
	*ret = head;
	return r;
}

/* With c->lock held: for every page of run, call fn on its chunk and page bit. */
static void for_run_pages(struct cache *c, const struct wb_run *run, bool redirty)
{
	for (uint64_t off = run->off; off < run->off + run->len; off += CACHE_PAGE) {
		struct chunk *ch = &c->slots[cache_lookup(c, off >> c->chunk_shift)];
		uint64_t bit = 1ull << ((off & (c->chunk_size - 1)) / CACHE_PAGE);

		if (redirty && !(ch->dirty & bit)) {
			ch->dirty |= bit;
			STAT_ADD(c, dirty_bytes, page_len(c, off));
		} else if (!redirty) {
			memcpy(run->data + (off - run->off), ch->data + (off & (c->chunk_size - 1)),
			       page_len(c, off));
			ch->dirty &= ~bit;
			STAT_SUB(c, dirty_bytes, page_len(c, off));
		}
	}
}

/* With c->lock held: pin (+1) or unpin (-1) every chunk the run touches. */
static void pin_run(struct cache *c, const struct wb_run *run, int delta)
{
	uint64_t first = run->off >> c->chunk_shift;
	uint64_t last = (run->off + run->len - 1) >> c->chunk_shift;

	for (uint64_t i = first; i <= last; i++)
		c->slots[cache_lookup(c, i)].wb += delta;
}

static int wb_fn(struct pool_job *job)
{
	struct wb_run *run = (struct wb_run *)job;
	struct cache *c = run->c;

	STAT_ADD(c, in_flight, 1);
	STAT_ADD(c, writes, 1);
	run->result = bdev_write(c->lower, run->data, run->len, run->off);
	STAT_SUB(c, in_flight, 1);
	if (run->result < 0) {
		STAT_ADD(c, write_errors, 1);
		log_debug_errno(run->result,
				"cache: write-back of %zu bytes at %" PRIu64 " failed: %m",
				run->len, run->off);
		return run->result;
	}
	STAT_ADD(c, bytes_written, run->len);
	return 0;
}

static void free_runs(struct wb_run *run)
{
	while (run) {
		struct wb_run *next = run->next;

		free(run->data);
		free(run);
		run = next;
	}
}

/* With c->lock held: allocate snapshots; on success clear the dirty bits and pin chunks. */
static int snapshot_runs(struct cache *c, struct wb_run *runs)
{
	for (struct wb_run *r = runs; r; r = r->next) {
		r->data = malloc(r->len);
		if (!r->data)
			return -ENOMEM;
	}
	for (struct wb_run *r = runs; r; r = r->next) {
		for_run_pages(c, r, false);
		pin_run(c, r, +1);
	}
	return 0;
}

/* One round: snapshot up to cap bytes of dirty pages, write them in parallel, settle.
 * Returns 1 if something was written, 0 if nothing was dirty, or -errno. */
static int writeback_round(struct cache *c, struct chunk **sorted, size_t cap)
{
	struct wb_run *runs = NULL;
	struct batch b;
	int r, failed = 0;

	pthread_mutex_lock(&c->lock);
	r = collect_runs(c, sorted, cap, &runs);
	if (r == 0)
		r = snapshot_runs(c, runs);
	pthread_mutex_unlock(&c->lock);
	if (r < 0 || !runs) {
		free_runs(runs);
		return r;
	}
	batch_init(&b);
	for (struct wb_run *w = runs; w; w = w->next) {
		w->job = (struct pool_job){ .fn = wb_fn, .batch = &b };
		pool_submit(&c->pool, &w->job);
	}
	r = batch_wait(&b); /* the per-run results are settled below */
	batch_done(&b);
	pthread_mutex_lock(&c->lock);
	for (struct wb_run *w = runs; w; w = w->next) {
		if (w->result < 0) {
			for_run_pages(c, w, true); /* keep it dirty: retried by the next flush */
			failed = w->result;
		}
		pin_run(c, w, -1);
	}
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	free_runs(runs);
	return failed < 0 ? -EIO : 1;
}

int cache_writeback(struct cache *c)
{
	_cleanup_free_ struct chunk **sorted = NULL;
	size_t cap = (size_t)CACHE_WRITE_MAX * c->pool.nthreads;
	int r;

	LOCK_GUARD(&c->flush_lock);
	sorted = calloc(c->nslots, sizeof(*sorted));
	if (!sorted)
		return -ENOMEM;
	do
		r = writeback_round(c, sorted, cap);
	while (r > 0);
	return r;
}
