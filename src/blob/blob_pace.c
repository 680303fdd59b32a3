/* SPDX-License-Identifier: MIT */
/*
 * blob_pace.c - slowing down for a throttling server (blob.h "Pacing"). Azure answers 503
 * ServerBusy (or 500 OperationTimeout) above a blob's scalability targets (requests per second,
 * and bytes per second for a page blob) and asks for backoff; many clients of one read-only image
 * reach those targets together. Each client here adapts as TCP does (AIMD), on two limits:
 *   - requests per second: unlimited until the first busy answer, then half of what the client
 *     was starting per second, and again at most once per PACE_CUT_MS (the time a cut takes to
 *     show); each clean answer adds 1/rate, i.e. one request per second per second; past
 *     RATE_OFF the limit is dropped. Requests start evenly spaced, never in bursts. This is what
 *     keeps many clients together under a request target: with answers taking milliseconds, a
 *     limit on requests in flight alone would still allow hundreds a second.
 *   - requests in flight: halved on a busy answer (same spacing), one more per window of clean
 *     answers: what a bandwidth limit needs.
 * And it asks the layer above for larger fetches while it is being throttled (the hint), so
 * that a stream reads the same bytes in fewer requests.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/random.h>
#include <time.h>

#include "blob_internal.h"
#include "sealmount/log.h"

#define PACE_CUT_MS 1000u
#define RATE_MIN 1.0 /* requests per second: never slower than this */
#define RATE_OFF 5000.0 /* a limit this high is no limit */
#define BACKOFF_BASE_MS 500u
#define BACKOFF_MAX_MS 8000u

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void sleep_us(uint64_t us)
{
	struct timespec ts = { .tv_sec = (time_t)(us / 1000000u),
			       .tv_nsec = (long)(us % 1000000u) * 1000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

void blob_pace_init(struct blob_pace *p)
{
	*p = (struct blob_pace){ .limit = BLOB_INFLIGHT_MAX, .hint_max = BLOB_HINT_MAX };
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
}

void blob_pace_done(struct blob_pace *p)
{
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
}

/* With p->lock held: count a start in the per-second window. */
static void count_start(struct blob_pace *p, uint64_t ms)
{
	if (ms - p->win_ms >= 1000) {
		p->win_prev = ms - p->win_ms >= 2000 ? 0 : p->win_cur;
		p->win_cur = 0;
		p->win_ms = ms;
	}
	p->win_cur++;
}

/* With p->lock held: when this request may start under the rate (0: now). */
static uint64_t take_slot(struct blob_pace *p, uint64_t t)
{
	uint64_t slot;

	if (p->rate <= 0)
		return 0;
	slot = p->next_us > t ? p->next_us : t;
	p->next_us = slot + (uint64_t)(1e6 / p->rate);
	return slot > t ? slot : 0;
}

void blob_pace_enter(struct blob_pace *p)
{
	uint64_t t = now_us(), slot;

	{
		LOCK_GUARD(&p->lock);
		while (p->inflight >= p->limit)
			pthread_cond_wait(&p->cond, &p->lock);
		p->inflight++;
		t = now_us();
		count_start(p, t / 1000);
		slot = take_slot(p, t);
	}
	if (slot)
		sleep_us(slot - t);
}

/* With p->lock held: a busy answer from a request that ran with `running` others in flight. */
static void on_busy(struct blob_pace *p, unsigned running, uint64_t ms)
{
	uint32_t hint = p->hint ? p->hint * 2 : BLOB_HINT_MIN;
	double seen = p->win_cur > p->win_prev ? p->win_cur : p->win_prev;

	__atomic_store_n(&p->hint, hint < p->hint_max ? hint : p->hint_max, __ATOMIC_RELAXED);
	p->last_busy_ms = ms;
	p->acked = 0;
	if (p->last_cut_ms && ms - p->last_cut_ms < PACE_CUT_MS)
		return;
	p->last_cut_ms = ms;
	running = running < p->limit ? running : p->limit;
	p->limit = running / 2 > 1 ? running / 2 : 1;
	if (p->rate > 0 && p->rate < seen)
		seen = p->rate;
	p->rate = seen / 2 > RATE_MIN ? seen / 2 : RATE_MIN;
	log_debug("blob: server busy: %.1f requests/s and %u in flight at most, read-ahead in "
		  "requests of %u KiB",
		  p->rate, p->limit, p->hint / 1024);
}

/* With p->lock held: a clean answer. */
static void on_clean(struct blob_pace *p, uint64_t ms)
{
	if (p->limit < BLOB_INFLIGHT_MAX && ++p->acked >= p->limit) {
		p->limit++;
		p->acked = 0;
	}
	if (p->rate > 0) {
		p->rate += 1.0 / p->rate;
		if (p->rate > RATE_OFF)
			p->rate = 0;
	}
	if (p->hint && ms - p->last_busy_ms > BLOB_HINT_HOLD_S * 1000ull) {
		__atomic_store_n(&p->hint, p->hint / 2 >= BLOB_HINT_MIN ? p->hint / 2 : 0,
				 __ATOMIC_RELAXED);
		p->last_busy_ms = ms; /* one halving per quiet period */
	}
}

void blob_pace_leave(struct blob_pace *p, unsigned busy)
{
	uint64_t ms = now_us() / 1000;

	LOCK_GUARD(&p->lock);
	if (busy)
		on_busy(p, p->inflight, ms);
	else
		on_clean(p, ms);
	p->inflight--;
	pthread_cond_broadcast(&p->cond);
}

unsigned blob_pace_limit(struct blob_pace *p)
{
	LOCK_GUARD(&p->lock);
	return p->limit;
}

double blob_pace_rate(struct blob_pace *p)
{
	LOCK_GUARD(&p->lock);
	return p->rate;
}

uint32_t blob_pace_hint(struct blob_pace *p)
{
	return __atomic_load_n(&p->hint, __ATOMIC_RELAXED);
}

void blob_pace_backoff(unsigned n)
{
	uint64_t ceiling = BACKOFF_BASE_MS, rnd;

	for (unsigned i = 1; i < n && ceiling < BACKOFF_MAX_MS; i++)
		ceiling *= 2;
	if (ceiling > BACKOFF_MAX_MS)
		ceiling = BACKOFF_MAX_MS;
	if (getrandom(&rnd, sizeof(rnd), 0) == (ssize_t)sizeof(rnd))
		ceiling = ceiling / 2 + rnd % (ceiling / 2 + 1); /* equal jitter: never 0 */
	sleep_us(ceiling * 1000u);
}
