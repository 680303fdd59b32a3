/* SPDX-License-Identifier: MIT */
/*
 * blob_internal.h - shared by blob.c (requests, open), blob_url.c (URLs), blob_props.c
 * (properties and range answers), blob_io.c (ranged reads, Put Page), blob_pace.c (throttling)
 * and blob_lease.c (lease thread). Not a public API.
 *
 * Locking: everything in struct blob is set at open and read-only afterwards, except the lease
 * fields (lease_lock) and the pacing state (pace.lock). http_client is thread-safe by itself.
 */
#pragma once

#include <pthread.h>

#include "sealmount/blob.h"
#include "sealmount/http.h"

#define BLOB_LEASE_ID_MAX 64

/* Pacing (blob_pace.c): requests in flight and requests per second under AIMD limits, and the
 * fetch size hint. Times are CLOCK_MONOTONIC milliseconds. */
struct blob_pace {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned inflight;
	unsigned limit;
	unsigned acked; /* clean answers since the limit last grew */
	double rate; /* requests per second allowed to start; 0 = no limit */
	uint64_t next_us; /* earliest start of the next request under the rate (microseconds) */
	uint64_t win_ms; /* start of the current one-second count */
	unsigned win_cur, win_prev; /* requests started in it, and in the one before */
	uint64_t last_cut_ms; /* the last cut */
	uint64_t last_busy_ms; /* the last busy answer, or the last hint decay */
	uint32_t hint;
	uint32_t hint_max;
};

struct blob {
	struct blob_url url;
	enum blob_auth auth;
	struct secret *key;
	blob_token_fn token_fn;
	void *token_userdata;
	struct http_client *http;
	bool own_http;
	bool rw;
	bool azure; /* the source is the Blob service: x-ms-* headers, MD5, leases, writes */
	bool verify_md5;
	uint64_t size;
	uint64_t range_max; /* largest single ranged GET */
	char etag[128]; /* pinned at a read-only open ("" if the source has none) */
	char last_modified[64];
	struct blob_pace pace;
	struct diag *diag; /* blob_options.diag while opening or uploading, then NULL */

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

/* blob_props.c */
/* Map an unexpected HTTP status to -errno, logging the service's error code at debug level. */
int blob_status_error(const struct http_response *resp, const char *what) _nonnull_(1, 2);
/* blob_status_error(), and while b->diag is set: "HTTP STATUS CODE" (the code sanitised, also as
 * diag.code) into it. */
int blob_fail_status(struct blob *b, const struct http_response *resp, const char *what)
	_nonnull_(1, 2, 3);
/* A transport error r of a request (blob_request()), described into b->diag when set: "Could
 * not resolve host NAME", "Connection refused by HOST", ... Returns r. */
int blob_fail_transport(struct blob *b, int r, const char *what) _nonnull_(1, 3);
/* The properties in a HEAD answer: Content-Length (required; -EFBIG over BLOB_SIZE_MAX), Blob
 * type, ETag, Last-Modified, lease. A validator (ETag or Last-Modified) is required; an Azure
 * answer needs an ETag. 0, -EPROTO or -EFBIG. */
_must_check_ int blob_parse_props(const struct http_response *resp, struct blob_props *p)
	_nonnull_(1, 2);
/* "bytes FIRST-LAST/TOTAL" exactly (decimal, no sign or space, FIRST <= LAST < TOTAL <=
 * BLOB_SIZE_MAX). 0 or -EBADMSG. */
_must_check_ int blob_parse_content_range(const char *v, uint64_t *ret_first, uint64_t *ret_last,
					  uint64_t *ret_total) _nonnull_(1, 2, 3, 4);
/* Is the ETag strong (not W/"...")? Only a strong one may go in If-Match. */
bool blob_etag_is_strong(const char *etag) _nonnull_(1);
/* got bytes of a 206 answer to a ranged GET of len bytes at off arrived in iov (cnt entries):
 * the count, Content-Range (exact, total == b->size), the validators pinned in b (b->etag and
 * b->last_modified when set: -ESTALE if the answer names another version) and, with
 * b->verify_md5, Content-MD5 must all hold. 0, -EBADMSG or -ESTALE. */
_must_check_ int blob_check_range(const struct blob *b, const struct http_response *resp,
				  size_t got, const struct iovec *iov, unsigned cnt, uint64_t off,
				  size_t len) _nonnull_(1, 2);
/* The same for a body held in resp->body (tests, fuzzing). */
_must_check_ int blob_check_range_response(const struct blob *b, const struct http_response *resp,
					   uint64_t off, size_t len) _nonnull_(1, 2);
/* A probe's answer (206 to bytes=0-0, got body bytes): size from the Content-Range total, ETag
 * and Last-Modified into p. With have, p already holds HEAD's properties and the answer must
 * agree with them (-EPROTO for the size, -ESTALE for a validator). 0, -EPROTO, -ESTALE, -EFBIG. */
_must_check_ int blob_parse_probe(const struct http_response *resp, size_t got,
				  struct blob_props *p, bool have) _nonnull_(1, 3);
/* Does the answer come from the Blob service (any x-ms-request-id, -version, -error-code or
 * -blob-type header)? */
bool blob_is_service_answer(const struct http_response *resp) _nonnull_(1);
/* MD5 over iov. 0, -ENOMEM or -EIO. */
_must_check_ int blob_md5_iov(const struct iovec *iov, unsigned cnt, uint8_t out[16]);

/* blob_url.c: is host (n bytes, may end in ":port") one of BLOB_AZURE_SUFFIXES' hosts? */
bool blob_host_is_azure(const char *host, size_t n) _nonnull_(1);

/* blob_io.c */
_must_check_ int blob_io_read(void *state, void *buf, size_t len, uint64_t off);
_must_check_ int blob_io_readv(void *state, const struct iovec *iov, unsigned cnt, uint64_t off);
_must_check_ int blob_io_write(void *state, const void *buf, size_t len, uint64_t off);
/* The headers of a ranged GET of len bytes at off: Range, the version pin of a read-only open
 * (If-Match with a strong ETag, else If-Unmodified-Since) and, with verify_md5,
 * x-ms-range-get-content-md5. h->v is the NULL-terminated list. */
struct blob_range_hdrs {
	char range[80];
	char cond[200];
	const char *v[4];
};
void blob_range_headers(const struct blob *b, uint64_t off, size_t len, struct blob_range_hdrs *h)
	_nonnull_(1, 4);
/* One ranged GET of len bytes at off into iov (exactly len bytes), paced, checked with
 * blob_check_range(). -EAGAIN: still answered busy after the HTTP retries. */
_must_check_ int blob_get_range_once(struct blob *b, const struct iovec *iov, unsigned cnt,
				     size_t len, uint64_t off) _nonnull_(1, 2);

/* blob_pace.c */
void blob_pace_init(struct blob_pace *p) _nonnull_(1);
void blob_pace_done(struct blob_pace *p) _nonnull_(1);
/* Wait for a slot under the limits. */
void blob_pace_enter(struct blob_pace *p) _nonnull_(1);
/* Give the slot back; busy: how many of its attempts the server answered busy. */
void blob_pace_leave(struct blob_pace *p, unsigned busy) _nonnull_(1);
/* Current limits (in flight; requests per second, 0 = none) and fetch hint (bytes, 0 = none). */
unsigned blob_pace_limit(struct blob_pace *p) _nonnull_(1);
double blob_pace_rate(struct blob_pace *p) _nonnull_(1);
uint32_t blob_pace_hint(struct blob_pace *p) _nonnull_(1);
/* Sleep before another try of a request still busy after n tries (n >= 1), with full jitter. */
void blob_pace_backoff(unsigned n);

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
