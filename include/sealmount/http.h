/* SPDX-License-Identifier: MIT */
/*
 * http.h - the project's only libcurl user.
 *
 * Policy, fixed here and not configurable by callers:
 *   - https only, with peer and host verification always on (TLS 1.2 or later); plain http is
 *     allowed only to loopback (127.0.0.0/8, [::1], "localhost") and, for a request marked
 *     request.imds (the IMDS client, THIM) alone, to the IMDS address 169.254.169.254 - written
 *     out in those forms; MAA, the vault and Blob Storage get https there like anywhere else.
 *     URLs with user information are refused.
 *     The URL is parsed once, by libcurl's own parser, and that parsed form is what is fetched;
 *   - no redirects (a 3xx is returned to the caller as a status, never followed);
 *   - every response body is capped (request.max_response, default HTTP_DEFAULT_MAX_RESPONSE);
 *     a larger Content-Length fails at once, a larger body as soon as it passes the cap, both
 *     with -EFBIG; response headers are capped too (128 lines, 64 KiB, and libcurl's own
 *     100 KiB per line: -EFBIG);
 *   - transport errors and statuses 408/429/500/502/503/504 are retried with exponential
 *     backoff and full jitter, honouring Retry-After (seconds or HTTP date, capped), up to
 *     max_retries; the last response (or error) is returned. Policy refusals, TLS verification
 *     failures and caps are never retried.
 *
 * Errors (curl's CURLcode is translated here, once): -EINVAL (bad URL or scheme refused, bad
 * request), -ETIMEDOUT (connect, total or low-speed timeout), -ECONNREFUSED, -EHOSTUNREACH
 * (DNS), -ECONNRESET (connection dropped, nothing received), -EPROTO (TLS or protocol failure,
 * including certificate verification and malformed response headers; http_last_error() says
 * which certificate problem), -EFBIG (over a cap),
 * -ENOMEM, -EIO. An HTTP error status is NOT an error: http_request() returns 0 and the caller
 * reads status.
 *
 * struct http_client is thread-safe: many threads may call http_request() at once. Each call
 * uses an easy handle from a small pool (keeping its connections alive); DNS results and TLS
 * sessions are shared. Debug logs name the request (id, method, URL without its query string,
 * status, attempt, time), never a header value. Headers passed in may carry secrets
 * (Authorization): our copies are wiped after each request; libcurl's internal copies are not
 * under our control. Response bodies are wiped when freed.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "sealmount/buf.h"
#include "sealmount/macros.h"

#define HTTP_DEFAULT_MAX_RESPONSE (1u * 1024 * 1024)

struct http_options {
	/* Extra CA bundle (PEM, tests), trusted besides the system roots; NULL = system only. */
	const char *ca_file;
	unsigned connect_timeout_ms; /* 0 = 10 s */
	unsigned total_timeout_ms; /* per attempt; 0 = 60 s */
	unsigned max_retries; /* retries after the first attempt; 0 = none; at most 100 */
	unsigned backoff_base_ms; /* first backoff; 0 = 200 ms */
	unsigned backoff_max_ms; /* cap per wait, also caps Retry-After; 0 = 30 s */
	/* Abort an attempt that moves fewer than low_speed_bytes_sec bytes per second for
	 * low_speed_time_s seconds (-ETIMEDOUT), waiting for the answer included; 0 = the
	 * defaults, 64 bytes/s and 10 s, so a server that trickles (or says nothing) cannot hold
	 * a request for the whole total timeout. */
	unsigned low_speed_bytes_sec;
	unsigned low_speed_time_s;
};

struct http_client;

_must_check_ int http_client_new(const struct http_options *opts, struct http_client **ret)
	_nonnull_(2);
void http_client_free(struct http_client *c);
DEFINE_CLEANUP_FUNC(struct http_client, http_client_free)

struct http_header {
	char *name; /* as received; compare case-insensitively */
	char *value; /* leading/trailing whitespace trimmed */
};

struct http_response {
	long status;
	struct buf body; /* body.data is never NULL and always NUL-terminated */
	struct http_header *headers; /* of the final attempt */
	size_t n_headers;
	unsigned attempts; /* how many attempts were made */
	unsigned busy; /* attempts the server answered 429 or 503 (it is overloaded or throttling:
			* a caller that paces itself slows down on these) */
	size_t sink_len; /* bytes of a 2xx body written to request.sink (0 without a sink) */
};

struct http_request {
	const char *method; /* "GET", "HEAD", "POST", "PUT", "PATCH" or "DELETE" */
	const char *url;
	const char *const *headers; /* NULL-terminated "Name: value" lines, may be NULL */
	const void *body;
	size_t body_len;
	/* 0 = HTTP_DEFAULT_MAX_RESPONSE. Not applied to a HEAD response's Content-Length, which
	 * describes the resource, not this response. */
	size_t max_response;
	bool no_retry; /* do not retry this request at all (non-idempotent) */
	/* An Azure IMDS request (managed identity tokens, THIM): the one kind allowed plain http
	 * to 169.254.169.254 (Azure serves IMDS there over http only). */
	bool imds;
	/*
	 * Optional: where a 2xx answer's body goes instead of response.body (for bulk data; the
	 * other layers keep no copy). The body may fill at most the sink's total length; more, or
	 * a larger Content-Length, is -EFBIG. Bodies of other statuses (error documents) still go
	 * to response.body under max_response. The caller owns the memory: after a failed request
	 * or a retried attempt its contents are unspecified, and nothing here wipes it.
	 */
	const struct iovec *sink;
	unsigned sink_cnt;
};

/*
 * Perform the request; on 0 the caller owns *ret and frees it with http_response_done() (which
 * wipes the body: it may hold a token). *ret is written only on success. Header lines must be
 * "Name: value" without CR/LF (-EINVAL otherwise); "Name:" removes a header libcurl would add.
 * A body-carrying method (POST, PUT, PATCH) always sends Content-Length, and no Content-Type
 * unless the caller gives one. GET/HEAD with a body, or an unknown method, is -EINVAL.
 * https may go through a proxy named in the environment (libcurl reads https_proxy/no_proxy;
 * TLS is still verified end to end); plain http never does.
 */
_must_check_ int http_request(struct http_client *c, const struct http_request *req,
			      struct http_response *ret) _nonnull_(1, 2, 3);
void http_response_done(struct http_response *r) _nonnull_(1);
/* Case-insensitive header lookup on the response; NULL if absent. */
const char *http_response_header(const struct http_response *r, const char *name) _nonnull_(1, 2);

/*
 * Why the last http_request() on this thread failed with err, when libcurl knew more than the
 * errno says: a TLS failure names the certificate problem (self-signed, issuer unknown, host
 * name mismatch, expired, not yet valid) and the CA settings to check (docs/http.md, "TLS
 * errors"). "" when that request succeeded, failed with another errno, or there is nothing to
 * add. Thread-local: valid until this thread's next http_request(). Coordinators add it to
 * what they report (the pipeline's pl_fail()).
 */
#define HTTP_WHY_MAX 512
const char *http_last_error(int err);

/* 429 or 503: the server is throttling or overloaded (Azure answers 503 ServerBusy above its
 * scalability targets), as opposed to failing (500) or a gateway failing (502, 504). */
bool http_status_is_busy(long status);

/* Is this URL allowed by the policy above? 0 or -EINVAL (with a debug log saying why).
 * http_url_check_imds() is the same for an IMDS request (request.imds). */
_must_check_ int http_url_check(const char *url) _nonnull_(1);
_must_check_ int http_url_check_imds(const char *url) _nonnull_(1);

/* Parse a Retry-After value relative to now (seconds since the epoch): delta-seconds (values
 * past UINT_MAX saturate) or an IMF-fixdate (a past date gives 0). The obsolete RFC 850 and
 * asctime date forms, signs, spaces and anything else are -EINVAL. */
_must_check_ int http_parse_retry_after(const char *v, long now, unsigned *ret_seconds)
	_nonnull_(1, 3);

/* Global init (curl_global_init), once per process however often it is called (http_client_new
 * calls it too); call it from main before starting threads. http_global_cleanup() once at exit,
 * after every client is freed. */
_must_check_ int http_global_init(void);
void http_global_cleanup(void);
