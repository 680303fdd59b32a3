/* SPDX-License-Identifier: MIT */
/*
 * blob.c - authorised requests and the per-source state. Opening (properties, the probe of a
 * plain source) is in blob_open.c.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "blob_internal.h"
#include "sealmount/buf.h"
#include "sealmount/log.h"

#define URL_MAX 8192

const char *blob_type_name(enum blob_type t)
{
	switch (t) {
	case BLOB_TYPE_BLOCK:
		return "BlockBlob";
	case BLOB_TYPE_PAGE:
		return "PageBlob";
	case BLOB_TYPE_APPEND:
		return "AppendBlob";
	default:
		return "unknown";
	}
}

uint64_t blob_size_cap(enum blob_type t, bool azure)
{
	if (!azure)
		return BLOB_SIZE_MAX;
	switch (t) {
	case BLOB_TYPE_PAGE:
		return BLOB_PAGE_SIZE_MAX;
	case BLOB_TYPE_BLOCK:
		return BLOB_BLOCK_SIZE_MAX;
	case BLOB_TYPE_APPEND:
		return BLOB_APPEND_SIZE_MAX;
	default:
		return BLOB_SIZE_MAX;
	}
}

int blob_size_check(uint64_t size, enum blob_type t, bool azure)
{
	uint64_t cap = blob_size_cap(t, azure);

	if (size > cap)
		return log_debug_errno(-EFBIG,
				       "blob: a size of %" PRIu64 " bytes is over the %" PRIu64
				       " bytes %s%s can hold",
				       size, cap, azure ? "a " : "",
				       azure ? blob_type_name(t) : "any source");
	if (azure && t == BLOB_TYPE_PAGE && size % BLOB_PAGE)
		return log_debug_errno(
			-EPROTO, "blob: a page blob of %" PRIu64 " bytes (not a multiple of 512)",
			size);
	return 0;
}

/* ---- requests ---- */

#define REQ_HEADERS_MAX 24

static int build_url(const struct blob *b, const char *query, struct buf *u)
{
	bool q = query && query[0], sas = b->url.query != NULL;

	return buf_printf(u, "%s%s%s%s%s%s", b->url.base, b->url.path, q || sas ? "?" : "",
			  q ? query : "", q && sas ? "&" : "", sas ? b->url.query : "");
}

/* "Authorization: ..." for this request, malloc'd (wiped and freed by the caller). */
static int build_auth(struct blob *b, const char *method, const char *const *hdrs, size_t body_len,
		      const char *query, char **ret)
{
	_cleanup_free_ char *sts = NULL, *token = NULL;
	const char *signed_hdrs[REQ_HEADERS_MAX + 2];
	char clen[48];
	size_t n = 0;
	int r;

	if (b->auth == BLOB_AUTH_BEARER) {
		r = b->token_fn(b->token_userdata, &token);
		if (r < 0)
			return r;
		r = asprintf(ret, "Authorization: Bearer %s", token) < 0 ? -ENOMEM : 0;
		wipe(token, strlen(token));
		return r;
	}
	for (; hdrs[n]; n++)
		signed_hdrs[n] = hdrs[n];
	if (body_len > 0) { /* libcurl adds it; it is signed too */
		snprintf(clen, sizeof(clen), "Content-Length: %zu", body_len);
		signed_hdrs[n++] = clen;
	}
	signed_hdrs[n] = NULL;
	r = blob_sharedkey_string_to_sign(method, signed_hdrs, b->url.account, b->url.path, query,
					  &sts);
	if (r < 0)
		return r;
	r = blob_sharedkey_authorization(b->key, b->url.account, sts, &token);
	if (r < 0)
		return r;
	r = asprintf(ret, "Authorization: %s", token) < 0 ? -ENOMEM : 0;
	wipe(token, strlen(token));
	return r;
}

static void http_date(char out[64])
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(out, 64, "x-ms-date: %a, %d %b %Y %H:%M:%S GMT", &tm);
}

int blob_request(struct blob *b, const char *method, const char *query, const char *const *headers,
		 const void *body, size_t body_len, size_t max_response, struct http_response *ret)
{
	return blob_request_sink(b, method, query, headers, body, body_len, max_response, NULL, 0,
				 ret);
}

int blob_request_sink(struct blob *b, const char *method, const char *query,
		      const char *const *headers, const void *body, size_t body_len,
		      size_t max_response, const struct iovec *sink, unsigned sink_cnt,
		      struct http_response *ret)
{
	const char *hdrs[REQ_HEADERS_MAX + 2];
	char date[64];
	_cleanup_free_ char *authz = NULL;
	struct buf url;
	size_t n = 0;
	int r;

	buf_init(&url, URL_MAX * 2);
	r = build_url(b, query, &url);
	if (r < 0)
		return r;
	if (b->azure) { /* a plain source gets no x-ms-* header */
		http_date(date);
		hdrs[n++] = "x-ms-version: " BLOB_API_VERSION;
		hdrs[n++] = date;
	}
	for (size_t i = 0; headers && headers[i] && r == 0; i++)
		r = n < REQ_HEADERS_MAX ? (hdrs[n++] = headers[i], 0) : -EINVAL;
	hdrs[n] = NULL;
	if (r == 0 && b->auth != BLOB_AUTH_ANONYMOUS) {
		r = build_auth(b, method, hdrs, body_len, query, &authz);
		hdrs[n++] = authz;
		hdrs[n] = NULL;
	}
	if (r == 0)
		r = http_request(b->http,
				 &(struct http_request){ .method = method,
							 .url = (const char *)url.data,
							 .headers = hdrs,
							 .body = body,
							 .body_len = body_len,
							 .max_response = max_response,
							 .sink = sink,
							 .sink_cnt = sink_cnt },
				 ret);
	if (r == 0) {
		BLOB_STAT_ADD(b, requests, 1);
		BLOB_STAT_ADD(b, retries, ret->attempts > 1 ? ret->attempts - 1 : 0);
		BLOB_STAT_ADD(b, busy, ret->busy);
	}
	if (authz)
		wipe(authz, strlen(authz)); /* libcurl's own copies are beyond our reach */
	buf_done_wipe(&url);
	return r;
}

void blob_state_free(struct blob *b)
{
	if (!b)
		return;
	blob_lease_stop(b);
	if (b->own_http)
		http_client_free(b->http);
	secret_free(b->key);
	blob_url_done(&b->url);
	blob_pace_done(&b->pace);
	pthread_cond_destroy(&b->lease_cond);
	pthread_mutex_destroy(&b->lease_lock);
	free(b);
}

/* Why url is not a source URL, for the user: what one looks like. Never the query (a SAS). */
static int url_refused(struct diag *d, const char *url)
{
	int n = (int)strcspn(url, "?");

	if (!strstr(url, "://"))
		return diag_set(d, -EINVAL,
				"'%.*s' is not a blob URL: it needs https:// in front "
				"(https://ACCOUNT.blob.core.windows.net/CONTAINER/BLOB)",
				n, url);
	if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)
		return diag_set(d, -EINVAL,
				"'%.*s' is not a blob URL: only https:// is read "
				"(https://ACCOUNT.blob.core.windows.net/CONTAINER/BLOB)",
				n, url);
	return diag_set(
		d, -EINVAL,
		"'%.*s' is not a blob URL: https://ACCOUNT.blob.core.windows.net/CONTAINER/BLOB"
		"[?SAS] (an Azure host needs a container and a blob name; the emulator's is "
		"http://127.0.0.1:PORT/ACCOUNT/CONTAINER/BLOB)",
		n, url);
}

static int check_options(const struct blob_options *o, const struct blob_url *u)
{
	/* A credential goes to Blob hosts and loopback only, never to an arbitrary server. */
	if (o->auth != BLOB_AUTH_ANONYMOUS && u->kind == BLOB_URL_HTTP)
		return log_debug_errno(-EINVAL,
				       "blob: credentials are sent to Azure Blob endpoints only");
	if (o->auth == BLOB_AUTH_SHARED_KEY && (!o->account_key || u->query))
		return log_debug_errno(-EINVAL,
				       "blob: SharedKey needs a key and a URL without SAS");
	if (o->auth == BLOB_AUTH_BEARER && !o->token_fn)
		return log_debug_errno(-EINVAL, "blob: bearer auth needs a token provider");
	if (o->lease_seconds && (o->lease_seconds < 15 || o->lease_seconds > 60))
		return log_debug_errno(-EINVAL, "blob: lease duration must be 15..60 s");
	return 0;
}

int blob_state_new(const struct blob_options *o, struct blob **ret)
{
	_cleanup_(blob_state_freep) struct blob *b = calloc(1, sizeof(*b));
	int r;

	if (!b)
		return -ENOMEM;
	pthread_mutex_init(&b->lease_lock, NULL);
	pthread_cond_init(&b->lease_cond, NULL);
	blob_pace_init(&b->pace);
	b->diag = o->diag;
	r = blob_url_parse(o->url, &b->url);
	if (r == -EINVAL)
		return url_refused(o->diag, o->url);
	r = r ?: check_options(o, &b->url);
	if (r < 0)
		return r;
	b->azure = b->url.kind != BLOB_URL_HTTP; /* until an answer says otherwise */
	b->verify_md5 = o->verify_md5;
	b->range_max = BLOB_RANGE_MD5_MAX;
	b->auth = o->auth;
	b->token_fn = o->token_fn;
	b->token_userdata = o->token_userdata;
	b->rw = o->rw;
	b->lease_s = o->lease_seconds ? o->lease_seconds : BLOB_LEASE_DEFAULT_S;
	if (o->auth == BLOB_AUTH_SHARED_KEY) {
		r = secret_new_copy(o->account_key->data, o->account_key->len, &b->key);
		if (r < 0)
			return r;
	}
	b->http = o->http;
	if (!b->http) {
		struct http_options ho = { .max_retries = o->http_retries ? o->http_retries : 4,
					   .ca_file = o->ca_file };

		r = http_client_new(&ho, &b->http);
		if (r < 0)
			return r;
		b->own_http = true;
	}
	*ret = TAKE_PTR(b);
	return 0;
}
