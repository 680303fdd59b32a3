/* SPDX-License-Identifier: MIT */
/*
 * blob_internal.h - shared by blob.c (URL, requests, properties, open), blob_io.c (ranged
 * reads, Put Page) and blob_lease.c (lease thread). Not a public API.
 *
 * Locking: everything in struct blob is set at open and read-only afterwards, except the lease
 * fields, which lease_lock protects. http_client is thread-safe by itself.
 */
#pragma once

#include <pthread.h>

#include "sealmount/blob.h"
#include "sealmount/http.h"

#define BLOB_LEASE_ID_MAX 64

struct blob {
	struct blob_url url;
	enum blob_auth auth;
	struct secret *key;
	blob_token_fn token_fn;
	void *token_userdata;
	struct http_client *http;
	bool own_http;
	bool rw;
	uint64_t size;
	char etag[128];

	pthread_mutex_t lease_lock;
	pthread_cond_t lease_cond;
	pthread_t lease_thread;
	bool lease_thread_started;
	bool lease_stop;
	unsigned lease_s;
	char lease_id[BLOB_LEASE_ID_MAX]; /* empty: no lease */

	struct blob_stats st; /* __atomic updates */
};

#define BLOB_STAT_ADD(b, f, v) __atomic_fetch_add(&(b)->st.f, (uint64_t)(v), __ATOMIC_RELAXED)

/* One request against the blob. query is extra query parameters ("comp=page") or NULL; the
 * SAS, if any, is appended. headers are extra "Name: value" lines (NULL-terminated, may be
 * NULL). On 0 the caller owns *ret (http_response_done). Transport errors only; the status is
 * the caller's to check (blob_status_error). */
_must_check_ int blob_request(struct blob *b, const char *method, const char *query,
			      const char *const *headers, const void *body, size_t body_len,
			      size_t max_response, struct http_response *ret) _nonnull_(1, 2, 8);
/* The same with a 2xx body written straight into sink (http_request.sink). */
_must_check_ int blob_request_sink(struct blob *b, const char *method, const char *query,
				   const char *const *headers, const void *body, size_t body_len,
				   size_t max_response, const struct iovec *sink, unsigned sink_cnt,
				   struct http_response *ret) _nonnull_(1, 2, 10);

/* Map an unexpected HTTP status to -errno, logging the service's error code at debug level. */
int blob_status_error(const struct http_response *resp, const char *what) _nonnull_(1, 2);
/* The properties in a Get Blob Properties response (Content-Length, type, ETag, lease): 0 or
 * -EPROTO. */
_must_check_ int blob_parse_props(const struct http_response *resp, struct blob_props *p)
	_nonnull_(1, 2);

/* blob_io.c */
_must_check_ int blob_io_read(void *state, void *buf, size_t len, uint64_t off);
_must_check_ int blob_io_readv(void *state, const struct iovec *iov, unsigned cnt, uint64_t off);
_must_check_ int blob_io_write(void *state, const void *buf, size_t len, uint64_t off);
/* A 206 answer to a ranged GET of len bytes at off (body in resp->body): body length,
 * Content-Range and (up to BLOB_RANGE_MD5_MAX) Content-MD5 must match; else -EBADMSG. */
_must_check_ int blob_check_range_response(const struct http_response *resp, uint64_t off,
					   size_t len) _nonnull_(1);

/* blob_lease.c: acquire (-EBUSY when someone else holds it) and start renewing; stop and
 * release. */
/* The per-blob state for opts (URL parsed, options checked, key copied, HTTP client made when
 * opts has none); no request is sent. rw comes from opts. blob_state_free() stops a lease. */
_must_check_ int blob_state_new(const struct blob_options *o, struct blob **ret) _nonnull_(1, 2);
void blob_state_free(struct blob *b);
DEFINE_CLEANUP_FUNC(struct blob, blob_state_free)

_must_check_ int blob_lease_start(struct blob *b) _nonnull_(1);
void blob_lease_stop(struct blob *b) _nonnull_(1);
/* Copy the current lease id (or "") into out. */
void blob_lease_get(struct blob *b, char out[BLOB_LEASE_ID_MAX]) _nonnull_(1, 2);
