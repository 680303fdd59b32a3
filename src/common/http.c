/* SPDX-License-Identifier: MIT */
/*
 * http.c - requests through libcurl (the project's only user of it): client lifecycle, the
 * easy-handle pool, the retry loop and responses. One attempt's setup and callbacks are in
 * http_transfer.c; the decisions that need no transfer (URL policy, error translation,
 * backoff) in http_policy.c.
 *
 * Threads: libcurl forbids sharing a connection cache between concurrent threads, so each call
 * takes an easy handle from a small pool (its own connections stay warm in it) and gives it back
 * afterwards; DNS results and TLS sessions are shared between handles through a CURLSH with one
 * mutex per kind of data.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "sealmount/http.h"
#include "sealmount/log.h"

#include "http_internal.h"

#define HTTP_RETRIES_MAX 100u
#define HTTP_CA_BUNDLE_MAX (16u * 1024 * 1024)
#define HTTP_SYSTEM_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static int global_result = -EIO;
static unsigned long request_counter;

static void global_init_once(void)
{
	global_result = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -EIO;
}

int http_global_init(void)
{
	(void)pthread_once(&global_once, global_init_once);
	return global_result;
}

void http_global_cleanup(void)
{
	if (global_result == 0)
		curl_global_cleanup();
	global_result = -EIO;
}

/* ---- client ---------------------------------------------------------------------------- */

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *userp)
{
	struct http_client *c = userp;

	(void)h;
	(void)access; /* plain mutexes: shared and exclusive access are treated alike */
	if ((unsigned)data < CURL_LOCK_DATA_LAST)
		pthread_mutex_lock(&c->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *userp)
{
	struct http_client *c = userp;

	(void)h;
	if ((unsigned)data < CURL_LOCK_DATA_LAST)
		pthread_mutex_unlock(&c->share_locks[data]);
}

static int share_new(struct http_client *c)
{
	c->share = curl_share_init();
	if (!c->share)
		return -ENOMEM;
	/* Not CURL_LOCK_DATA_CONNECT: libcurl does not support a connection cache shared by
	 * concurrent threads; connections stay with the pooled easy handles instead. */
	if (curl_share_setopt(c->share, CURLSHOPT_USERDATA, c) != CURLSHE_OK ||
	    curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock) != CURLSHE_OK ||
	    curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock) != CURLSHE_OK ||
	    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK ||
	    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK)
		return -ENOMEM;
	return 0;
}

/* CURLOPT_CAINFO_BLOB replaces CURLOPT_CAINFO, so the blob carries the system roots (from the
 * path libcurl was built with) followed by the extra file. */
static int ca_bundle_build(struct buf *b, const char *extra)
{
	static const char marker[] = "-----BEGIN CERTIFICATE-----";
	const char *system = HTTP_SYSTEM_CA_BUNDLE;
	CURL *h = curl_easy_init();
	char *p = NULL;
	size_t start;
	int r;

	if (h && curl_easy_getinfo(h, CURLINFO_CAINFO, &p) == CURLE_OK && p)
		system = p;
	r = buf_append_file(b, system);
	curl_easy_cleanup(h); /* only now: p points into h */
	if (r < 0 && r != -ENOENT)
		return r;
	r = buf_append_str(b, "\n");
	if (r < 0)
		return r;
	start = b->len;
	r = buf_append_file(b, extra);
	if (r < 0) {
		log_debug_errno(r, "http: cannot read CA file %s: %m", extra);
		return r;
	}
	if (!memmem(b->data + start, b->len - start, marker, sizeof(marker) - 1)) {
		log_debug("http: CA file %s holds no PEM certificate", extra);
		return -EINVAL;
	}
	return 0;
}

static void options_fill(struct http_options *o, const struct http_options *in)
{
	if (in)
		*o = *in;
	o->ca_file = NULL;
	o->connect_timeout_ms = o->connect_timeout_ms ?: 10000;
	o->total_timeout_ms = o->total_timeout_ms ?: 60000;
	o->backoff_base_ms = o->backoff_base_ms ?: 200;
	o->backoff_max_ms = o->backoff_max_ms ?: 30000;
	o->low_speed_bytes_sec = o->low_speed_bytes_sec ?: 64;
	o->low_speed_time_s = o->low_speed_time_s ?: 10;
	if (o->max_retries > HTTP_RETRIES_MAX)
		o->max_retries = HTTP_RETRIES_MAX;
}

int http_client_new(const struct http_options *opts, struct http_client **ret)
{
	_cleanup_(http_client_freep) struct http_client *c = NULL;
	int r;

	r = http_global_init();
	if (r < 0)
		return r;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	options_fill(&c->opts, opts);
	buf_init(&c->ca_bundle, HTTP_CA_BUNDLE_MAX);
	pthread_mutex_init(&c->pool_lock, NULL);
	for (size_t i = 0; i < ELEMENTSOF(c->share_locks); i++)
		pthread_mutex_init(&c->share_locks[i], NULL);
	r = share_new(c);
	if (r < 0)
		return r;
	if (opts && opts->ca_file) {
		r = ca_bundle_build(&c->ca_bundle, opts->ca_file);
		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(c);
	return 0;
}

void http_client_free(struct http_client *c)
{
	if (!c)
		return;
	/* Easy handles go first: a share cannot be cleaned up while handles still use it. */
	for (size_t i = 0; i < c->n_pool; i++)
		curl_easy_cleanup(c->pool[i]);
	if (c->share)
		curl_share_cleanup(c->share);
	for (size_t i = 0; i < ELEMENTSOF(c->share_locks); i++)
		pthread_mutex_destroy(&c->share_locks[i]);
	pthread_mutex_destroy(&c->pool_lock);
	buf_done(&c->ca_bundle);
	free(c);
}

static int pool_get(struct http_client *c, CURL **ret)
{
	CURL *h = NULL;

	{
		LOCK_GUARD(&c->pool_lock);
		if (c->n_pool > 0)
			h = c->pool[--c->n_pool];
	}
	if (!h)
		h = curl_easy_init();
	if (!h)
		return -ENOMEM;
	*ret = h;
	return 0;
}

/* curl_easy_reset() drops every option (and so every pointer into this call's memory) but
 * keeps the handle's live connections, which is what the pool is for. */
static void pool_put(struct http_client *c, CURL *h)
{
	curl_easy_reset(h);
	{
		LOCK_GUARD(&c->pool_lock);
		if (c->n_pool < HTTP_POOL_MAX) {
			c->pool[c->n_pool++] = h;
			return;
		}
	}
	curl_easy_cleanup(h);
}

/* ---- performing, retrying ------------------------------------------------------------ */

static long elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000L + (t1.tv_nsec - t0->tv_nsec) / 1000000L;
}

/* Debug lines carry the request id, method, URL without its query (SAS tokens), the attempt
 * and the time; never a header value. */
static int attempt_perform(struct http_call *k, unsigned n, bool *ret_transient)
{
	const char *url = k->req->url, *m = k->req->method;
	struct http_attempt *a = &k->a;
	struct timespec t0;
	CURLcode cc;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	cc = curl_easy_perform(k->h);
	if (cc == CURLE_OK)
		cc = curl_easy_getinfo(k->h, CURLINFO_RESPONSE_CODE, &a->status);
	if (cc == CURLE_OK) {
		log_debug("http[%lu] %s %.*s: status %ld, %zu bytes, attempt %u/%u, %ld ms", k->id,
			  m, http_url_log_len(url), url, a->status, a->body.len, n, k->max_attempts,
			  elapsed_ms(&t0));
		return 0;
	}
	r = a->cb_error < 0 ? a->cb_error : http_curl_error(cc, ret_transient);
	/* libcurl before 8.6 reports a response header line over its own limit (100 KiB) as
	 * CURLE_OUT_OF_MEMORY; once a header line of the response arrived, that is the server's
	 * oversized answer (CURLE_TOO_LARGE in later versions), not a failed allocation here. */
	if (cc == CURLE_OUT_OF_MEMORY && a->header_bytes > 0)
		r = -EFBIG;
	log_debug_errno(r, "http[%lu] %s %.*s: failed, attempt %u/%u, %ld ms: %s: %m", k->id, m,
			http_url_log_len(url), url, n, k->max_attempts, elapsed_ms(&t0),
			a->errbuf[0] ? a->errbuf : curl_easy_strerror(cc));
	k->why[0] = '\0';
	if (a->cb_error >= 0) {
		long v = 0;

		if (curl_easy_getinfo(k->h, CURLINFO_SSL_VERIFYRESULT, &v) != CURLE_OK)
			v = 0;
		(void)http_tls_explain(cc, v, k->host, a->errbuf, k->why, sizeof(k->why));
	}
	return r;
}

/* Retry-After (capped) when the server sent a usable one, otherwise full-jitter backoff. */
static unsigned retry_wait_ms(const struct http_call *k, unsigned retry)
{
	const struct http_options *o = &k->c->opts;
	const char *v = http_headers_find(k->a.headers, k->a.n_headers, "Retry-After");
	unsigned s;

	if (k->a.status && v && http_parse_retry_after(v, (long)time(NULL), &s) >= 0)
		return (unsigned long long)s * 1000 >= o->backoff_max_ms ? o->backoff_max_ms :
									   s * 1000;
	return http_backoff_ms(retry, o->backoff_base_ms, o->backoff_max_ms);
}

static int perform_with_retries(struct http_call *k, unsigned *ret_attempts)
{
	for (unsigned n = 1;; n++) {
		bool transient = false;
		unsigned wait;
		int r;

		http_attempt_reset(&k->a);
		r = attempt_perform(k, n, &transient);
		if (r == 0 && http_status_is_busy(k->a.status))
			k->busy++;
		if (n >= k->max_attempts || (r < 0 && !transient) ||
		    (r == 0 && !http_status_is_retryable(k->a.status))) {
			*ret_attempts = n;
			return r;
		}
		wait = retry_wait_ms(k, n);
		log_debug("http[%lu] retrying in %u ms", k->id, wait);
		http_sleep_ms(wait);
	}
}

static void curl_url_cleanupp(CURLU **u)
{
	curl_url_cleanup(*u);
}

static int call_run(struct http_call *k, unsigned *ret_attempts)
{
	_cleanup_(http_slist_wipe_freep) struct curl_slist *hdrs = NULL;
	_cleanup_(curl_url_cleanupp) CURLU *u = NULL;
	char *host = NULL;
	int r;

	r = http_url_parse(k->req->url, k->req->imds, &u);
	if (r < 0)
		return r;
	if (curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
		(void)snprintf(k->host, sizeof(k->host), "%s", host);
	curl_free(host);
	r = http_headers_build(k->req, &hdrs);
	if (r < 0)
		return r;
	r = pool_get(k->c, &k->h);
	if (r < 0)
		return r;
	r = http_setup_transport(k, u);
	if (r >= 0)
		r = http_setup_exchange(k, hdrs);
	if (r >= 0)
		r = perform_with_retries(k, ret_attempts);
	pool_put(k->c, TAKE_PTR(k->h)); /* before hdrs and u go: h must not point at them */
	return r;
}

int http_request(struct http_client *c, const struct http_request *req, struct http_response *ret)
{
	struct http_call k = {
		.c = c,
		.req = req,
		.id = __atomic_add_fetch(&request_counter, 1, __ATOMIC_RELAXED),
		.max_attempts = req->no_retry ? 1 : c->opts.max_retries + 1,
	};
	unsigned attempts = 0;
	int r;

	http_last_error_set(0, NULL);
	r = http_request_validate(req);
	if (r < 0)
		return r;
	k.a.max_response = req->max_response ?: HTTP_DEFAULT_MAX_RESPONSE;
	k.a.is_head = http_method_is(req, "HEAD");
	buf_init(&k.a.body, k.a.max_response);
	r = http_attempt_set_sink(&k.a, req->sink, req->sink_cnt);
	if (r < 0)
		return -EINVAL;
	r = call_run(&k, &attempts);
	if (r >= 0)
		r = buf_append(&k.a.body, "", 0); /* body.data is never NULL, even when empty */
	if (r < 0) {
		http_last_error_set(r, k.why);
		http_attempt_done(&k.a);
		return r;
	}
	*ret = (struct http_response){
		.status = k.a.status,
		.body = k.a.body,
		.headers = k.a.headers, /* k.a is not cleaned up on this path */
		.n_headers = k.a.n_headers,
		.attempts = attempts,
		.busy = k.busy,
		.sink_len = k.a.sink_len,
	};
	return 0;
}

void http_response_done(struct http_response *r)
{
	http_headers_free(r->headers, r->n_headers);
	buf_done_wipe(&r->body);
	*r = (struct http_response){ 0 };
}

const char *http_response_header(const struct http_response *r, const char *name)
{
	return http_headers_find(r->headers, r->n_headers, name);
}
