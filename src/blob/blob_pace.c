/* SPDX-License-Identifier: MIT */
/*
 * blob_pace.c - slowing down for a throttling server (blob.h "Pacing"). Azure answers 503
 * ServerBusy (or 500 OperationTimeout) above a blob's scalability targets and asks for
 * exponential backoff; many clients of one read-only image reach those targets together. Each
 * client here keeps its requests in flight under a limit that is halved on a busy answer (at
 * most once per PACE_CUT_MS, the time a cut takes to show) and grows by one per window of clean
 * answers (AIMD, as TCP does), and asks the layer above for larger fetches while it is being
 * throttled, so that the same bytes take fewer requests.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/random.h>
#include <time.h>

#include "blob_internal.h"
#include "sealmount/log.h"

#define PACE_CUT_MS 1000u
#define BACKOFF_BASE_MS 500u
#define BACKOFF_MAX_MS 8000u

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void blob_pace_init(struct blob_pace *p)
{
	*p = (struct blob_pace){ .limit = BLOB_INFLIGHT_MAX };
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
}

void blob_pace_done(struct blob_pace *p)
{
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
}

void blob_pace_enter(struct blob_pace *p)
{
	LOCK_GUARD(&p->lock);
	while (p->inflight >= p->limit)
		pthread_cond_wait(&p->cond, &p->lock);
	p->inflight++;
}

/* With p->lock held: a busy answer from a request that ran with `running` others in flight. */
static void on_busy(struct blob_pace *p, unsigned running, uint64_t t)
{
	uint32_t hint = p->hint ? p->hint * 2 : BLOB_HINT_MIN;

	__atomic_store_n(&p->hint, hint < BLOB_HINT_MAX ? hint : BLOB_HINT_MAX, __ATOMIC_RELAXED);
	p->last_busy_ms = t;
	p->acked = 0;
	if (p->last_cut_ms && t - p->last_cut_ms < PACE_CUT_MS)
		return;
	p->last_cut_ms = t;
	running = running < p->limit ? running : p->limit;
	p->limit = running / 2 > 1 ? running / 2 : 1;
	log_debug("blob: server busy: %u request(s) in flight at most, fetches of %u KiB", p->limit,
		  p->hint / 1024);
}

/* With p->lock held: a clean answer. */
static void on_clean(struct blob_pace *p, uint64_t t)
{
	if (p->limit < BLOB_INFLIGHT_MAX && ++p->acked >= p->limit) {
		p->limit++;
		p->acked = 0;
	}
	if (p->hint && t - p->last_busy_ms > BLOB_HINT_HOLD_S * 1000ull) {
		__atomic_store_n(&p->hint, p->hint / 2 >= BLOB_HINT_MIN ? p->hint / 2 : 0,
				 __ATOMIC_RELAXED);
		p->last_busy_ms = t; /* one halving per quiet period */
	}
}

void blob_pace_leave(struct blob_pace *p, unsigned busy)
{
	uint64_t t = now_ms();

	LOCK_GUARD(&p->lock);
	if (busy)
		on_busy(p, p->inflight, t);
	else
		on_clean(p, t);
	p->inflight--;
	pthread_cond_broadcast(&p->cond);
}

unsigned blob_pace_limit(struct blob_pace *p)
{
	LOCK_GUARD(&p->lock);
	return p->limit;
}

uint32_t blob_pace_hint(struct blob_pace *p)
{
	return __atomic_load_n(&p->hint, __ATOMIC_RELAXED);
}

void blob_pace_backoff(unsigned n)
{
	uint64_t ceiling = BACKOFF_BASE_MS, rnd;
	struct timespec ts;

	for (unsigned i = 1; i < n && ceiling < BACKOFF_MAX_MS; i++)
		ceiling *= 2;
	if (ceiling > BACKOFF_MAX_MS)
		ceiling = BACKOFF_MAX_MS;
	if (getrandom(&rnd, sizeof(rnd), 0) == (ssize_t)sizeof(rnd))
		ceiling = ceiling / 2 + rnd % (ceiling / 2 + 1); /* equal jitter: never 0 */
	ts = (struct timespec){ .tv_sec = (time_t)(ceiling / 1000),
				.tv_nsec = (long)(ceiling % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}
