/* SPDX-License-Identifier: MIT */
/*
 * http_internal.h - pieces of the http module shared between its files:
 *   http.c           client, easy-handle pool, the retry loop, responses
 *   http_transfer.c  one attempt (curl callbacks, response headers) and the request's setup
 *   http_policy.c    URL policy, CURLcode translation, retry classes and timing
 * Not part of the public API: only src/common/http*.c and tests/unit/test_http.c include it.
 * Nothing here takes locks; struct http_call and struct http_attempt belong to one thread.
 */
#pragma once

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "sealmount/buf.h"
#include "sealmount/http.h"
#include "sealmount/macros.h"

/* CURLOPT_PROTOCOLS_STR (7.85), CURLINFO_CAINFO (7.84), CURLOPT_CAINFO_BLOB (7.77). */
#if defined(LIBCURL_VERSION_NUM) && LIBCURL_VERSION_NUM < 0x075500
#error "sealmount needs libcurl >= 7.85"
#endif

/* Header lines accepted per response and their total size (curl caps a single line itself). */
#define HTTP_HEADERS_MAX 128u
#define HTTP_HEADERS_MAX_BYTES (64u * 1024)
#define HTTP_POOL_MAX 32u
#define HTTP_BULK_BUFFER (96u * 1024) /* libcurl's receive buffer for sink transfers */

struct http_client {
	struct http_options opts; /* defaults filled in; ca_file not kept */
	CURLSH *share; /* DNS cache and TLS sessions; locks below */
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
	pthread_mutex_t pool_lock;
	CURL *pool[HTTP_POOL_MAX]; /* idle easy handles, each with its own live connections */
	size_t n_pool;
	struct buf ca_bundle; /* system roots + opts->ca_file; empty when there is no extra file */
};

/* The results of one attempt, reset before each one; the curl callbacks write here. */
struct http_attempt {
	struct buf body;
	const struct iovec *sink; /* the request's sink, or NULL */
	unsigned sink_cnt;
	size_t sink_cap; /* its total length */
	size_t sink_len; /* bytes written to it in this attempt */
	unsigned sink_i; /* write cursor: entry and offset in it */
	size_t sink_off;
	int line_status; /* the status line's code of the current header block, 0 unknown */
	struct http_header *headers;
	size_t n_headers;
	size_t header_bytes;
	size_t max_response;
	bool is_head;
	int cb_error; /* set by a callback that stopped the transfer */
	long status;
	char errbuf[CURL_ERROR_SIZE];
};

/* One http_request() call. */
struct http_call {
	struct http_client *c;
	const struct http_request *req;
	CURL *h;
	unsigned long id; /* for the debug log */
	unsigned max_attempts;
	unsigned busy; /* attempts answered with a busy status (http_status_is_busy) */
	struct http_attempt a;
	char host[256]; /* the URL's host, for http_tls_explain() */
	char why[HTTP_WHY_MAX]; /* the last attempt's failure in words (http_tls.c), or "" */
};

/* ---- http_transfer.c ---- */

/* Free the header array (NULL-safe). */
void http_headers_free(struct http_header *h, size_t n);
/* First header of that name (case-insensitive), or NULL. */
const char *http_headers_find(const struct http_header *h, size_t n, const char *name) _nonnull_(3);
/* Start an attempt afresh: the previous one's headers and (wiped) body go. */
void http_attempt_reset(struct http_attempt *a) _nonnull_(1);
void http_attempt_done(struct http_attempt *a) _nonnull_(1);
/* What the curl callbacks do with one response header line (CRLF included; status lines
 * start a new header block) and one piece of body, exposed for tests and fuzzing: 0, -EFBIG
 * (over a cap, including a declared Content-Length), -EPROTO (malformed line), -ENOMEM.
 * With a sink (http_attempt_set_sink), a 2xx body goes there, any other to a->body. */
_must_check_ int http_attempt_add_header(struct http_attempt *a, const char *p, size_t len)
	_nonnull_(1);
_must_check_ int http_attempt_add_body(struct http_attempt *a, const char *p, size_t n)
	_nonnull_(1);
/* Direct 2xx bodies to sink (cnt entries; NULL = none), before the first attempt's reset.
 * -EOVERFLOW if its length overflows. */
_must_check_ int http_attempt_set_sink(struct http_attempt *a, const struct iovec *sink,
				       unsigned cnt) _nonnull_(1);

bool http_method_is(const struct http_request *req, const char *m) _nonnull_(1, 2);
/* Method known, body only where it belongs, url and method set: 0 or -EINVAL. */
_must_check_ int http_request_validate(const struct http_request *req) _nonnull_(1);
/* The request's header list for CURLOPT_HTTPHEADER, validated (-EINVAL), plus the lines that
 * switch off curl's own Content-Type and Expect. Free with http_slist_wipe_freep(). */
_must_check_ int http_headers_build(const struct http_request *req, struct curl_slist **l)
	_nonnull_(1, 2);
void http_slist_wipe_freep(struct curl_slist **l) _nonnull_(1);
/* Options of k->h: security, limits, the CURLU to fetch; then method, body, headers and the
 * callbacks into k->a. -ENOMEM when libcurl refuses an option. */
_must_check_ int http_setup_transport(struct http_call *k, CURLU *u) _nonnull_(1, 2);
_must_check_ int http_setup_exchange(struct http_call *k, struct curl_slist *hdrs) _nonnull_(1);

/* ---- http_tls.c ---- */

/*
 * Why a transfer that ended with cc failed, when it is TLS: the certificate problem named from
 * OpenSSL's verify result (self-signed, issuer unknown, expired, not yet valid, host name
 * mismatch; libcurl's own name check leaves the result X509_V_OK) and the CA settings to check,
 * into out. Returns what snprintf() returns, 0 (out untouched) when cc is not a TLS failure.
 * curl_text is libcurl's error buffer (may be NULL or "").
 */
int http_tls_explain(CURLcode cc, long verify_result, const char *host, const char *curl_text,
		     char *out, size_t len) _nonnull_(3, 5);
/* Record (text "" or NULL: forget) why the current http_request() on this thread failed. */
void http_last_error_set(int err, const char *text);

/* ---- http_policy.c ---- */

/*
 * Parse url with curl's own parser and apply the policy of http.h (scheme, host, no userinfo).
 * On 0, *ret is a CURLU the caller frees with curl_url_cleanup(); hand that same handle to
 * libcurl (CURLOPT_CURLU) so what was checked is exactly what is fetched. -EINVAL when refused
 * (debug log says why, without the query string), -ENOMEM.
 */
_must_check_ int http_url_parse(const char *url, bool imds, CURLU **ret) _nonnull_(1, 3);

/* Is this an http (not https) URL? Only meaningful after http_url_parse() accepted it. */
bool http_url_is_plain(CURLU *u) _nonnull_(1);

/* Length of the part of url that may be logged (with "%.*s"): everything before the query or
 * fragment, a control character, space or quote, and at most 512 bytes. */
int http_url_log_len(const char *url) _nonnull_(1);

/*
 * Translate a CURLcode into -errno (the only place that does). *ret_transient says whether
 * the failure is worth retrying (connection-level trouble, not policy or verification).
 */
int http_curl_error(CURLcode code, bool *ret_transient) _nonnull_(2);

/* 408 429 500 502 503 504. */
bool http_status_is_retryable(long status);

/*
 * Full-jitter backoff before retry number `retry` (1 = first retry): a uniformly random value
 * in [0, min(max_ms, base_ms * 2^(retry-1))]. Randomness from getrandom(); if that fails the
 * ceiling itself is used (slower, never faster).
 */
unsigned http_backoff_ms(unsigned retry, unsigned base_ms, unsigned max_ms);

/* Sleep ms milliseconds, resuming after signals. */
void http_sleep_ms(unsigned ms);
