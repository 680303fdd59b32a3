/* SPDX-License-Identifier: MIT */
/*
 * blob_lease.c - the single-writer lease: acquire at a read-write open, renew from a background
 * thread every third of the lease duration, release on close.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "blob_internal.h"
#include "sealmount/log.h"

#define RENEW_RETRY_S 5

static int lease_action(struct blob *b, const char *action, const char *id, char *ret_id)
{
	char act[64], idh[BLOB_LEASE_ID_MAX + 32], dur[48];
	const char *hdrs[] = { act, idh, dur, NULL };
	struct http_response resp;
	bool acquire = streq(action, "acquire");
	const char *got;
	int r;

	snprintf(act, sizeof(act), "x-ms-lease-action: %s", action);
	snprintf(idh, sizeof(idh), "%s: %s", acquire ? "x-ms-proposed-lease-id" : "x-ms-lease-id",
		 id);
	snprintf(dur, sizeof(dur), "x-ms-lease-duration: %u", b->lease_s);
	if (!acquire)
		hdrs[2] = NULL;
	r = blob_request(b, "PUT", "comp=lease", hdrs, NULL, 0, 0, &resp);
	if (r < 0)
		return log_debug_errno(r, "blob: lease %s failed: %m", action);
	if (resp.status != (acquire ? 201 : 200))
		r = blob_status_error(&resp, action);
	got = http_response_header(&resp, "x-ms-lease-id");
	if (r == 0 && acquire && (!got || strlen(got) >= BLOB_LEASE_ID_MAX))
		r = log_debug_errno(-EPROTO, "blob: lease acquired without a usable lease id");
	if (r == 0 && ret_id)
		snprintf(ret_id, BLOB_LEASE_ID_MAX, "%s", got);
	http_response_done(&resp);
	return r;
}

static int new_lease_id(char out[BLOB_LEASE_ID_MAX])
{
	uint8_t u[16];

	if (getrandom(u, sizeof(u), 0) != sizeof(u))
		return -EIO;
	u[6] = (u[6] & 0x0f) | 0x40; /* UUID v4 */
	u[8] = (u[8] & 0x3f) | 0x80;
	snprintf(out, BLOB_LEASE_ID_MAX,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
		 u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
		 u[15]);
	return 0;
}

void blob_lease_get(struct blob *b, char out[BLOB_LEASE_ID_MAX])
{
	LOCK_GUARD(&b->lease_lock);
	memcpy(out, b->lease_id, BLOB_LEASE_ID_MAX);
}

/* Wait up to s seconds or until stopped. Returns true when stopping. */
static bool wait_or_stop(struct blob *b, unsigned s)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += s;
	LOCK_GUARD(&b->lease_lock);
	while (!b->lease_stop)
		if (pthread_cond_timedwait(&b->lease_cond, &b->lease_lock, &until) == ETIMEDOUT)
			break;
	return b->lease_stop;
}

static void *renew_main(void *arg)
{
	struct blob *b = arg;
	char id[BLOB_LEASE_ID_MAX];
	unsigned delay = b->lease_s / 3;

	while (!wait_or_stop(b, delay)) {
		int r;

		blob_lease_get(b, id);
		r = lease_action(b, "renew", id, NULL);
		if (r < 0)
			/* log-ok: an event in the renewal thread: no caller to hand it to */
			log_warn_errno(r, "Renewing the lease on %s%s failed, retrying in %d s: %m",
				       b->url.base, b->url.path, RENEW_RETRY_S);
		delay = r < 0 ? RENEW_RETRY_S : b->lease_s / 3;
	}
	return NULL;
}

int blob_lease_start(struct blob *b)
{
	char proposed[BLOB_LEASE_ID_MAX], got[BLOB_LEASE_ID_MAX];
	int r;

	r = new_lease_id(proposed);
	r = r ?: lease_action(b, "acquire", proposed, got);
	if (r < 0)
		return r == -EBUSY ? log_debug_errno(r, "blob: already leased: another read-write "
							"open holds it") :
				     r;
	pthread_mutex_lock(&b->lease_lock);
	memcpy(b->lease_id, got, sizeof(got));
	pthread_mutex_unlock(&b->lease_lock);
	r = -pthread_create(&b->lease_thread, NULL, renew_main, b);
	if (r < 0)
		return r; /* blob_lease_stop() (from blob_free) still releases the lease */
	b->lease_thread_started = true;
	return 0;
}

void blob_lease_stop(struct blob *b)
{
	char id[BLOB_LEASE_ID_MAX];
	int r;

	if (b->lease_thread_started) {
		pthread_mutex_lock(&b->lease_lock);
		b->lease_stop = true;
		pthread_cond_broadcast(&b->lease_cond);
		pthread_mutex_unlock(&b->lease_lock);
		pthread_join(b->lease_thread, NULL);
		b->lease_thread_started = false;
	}
	blob_lease_get(b, id);
	if (!id[0])
		return;
	r = lease_action(b, "release", id, NULL);
	if (r < 0)
		/* log-ok: in the close path, which cannot fail: the lease just expires */
		log_warn_errno(r, "Releasing the lease on %s%s failed; it expires in %u s: %m",
			       b->url.base, b->url.path, b->lease_s);
	memset(b->lease_id, 0, sizeof(b->lease_id));
}
