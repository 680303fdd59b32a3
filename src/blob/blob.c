/* SPDX-License-Identifier: MIT */
/*
 * blob.c - blob URLs, authorised requests, Get Blob Properties, and opening a blob as a bdev.
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
#define AZURE_SUFFIX ".blob.core.windows.net"

/* ---- URLs ---- */

static bool is_path_style_host(const char *host, size_t n)
{
	size_t i = 0;

	if (n > 0 && host[0] == '[')
		return true; /* IPv6 literal */
	if ((n >= 9 && strncasecmp(host, "localhost", 9) == 0) && (n == 9 || host[9] == ':'))
		return true;
	while (i < n && (isdigit((unsigned char)host[i]) || host[i] == '.'))
		i++;
	return i > 0 && (i == n || host[i] == ':'); /* IPv4 literal */
}

static bool path_chars_ok(const char *p)
{
	for (; *p; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f ||
		    strchr("\"<>\\^`{|}", *p))
			return false;
	return true;
}

/* Number of non-empty '/'-separated segments. */
static unsigned count_segments(const char *p)
{
	unsigned n = 0;
	char prev = '/';

	for (; *p; prev = *p++)
		if (*p != '/' && prev == '/')
			n++;
	return n;
}

static int url_split(const char *url, struct blob_url *u, const char **ret_host, size_t *ret_hlen)
{
	const char *host, *path, *q;

	if (strncmp(url, "https://", 8) == 0)
		host = url + 8;
	else if (strncmp(url, "http://", 7) == 0)
		host = url + 7;
	else
		return -EINVAL;
	path = host + strcspn(host, "/?#");
	if (*path != '/' || strchr(url, '#') || memchr(host, '@', (size_t)(path - host)))
		return -EINVAL;
	q = strchr(path, '?');
	u->base = strndup(url, (size_t)(path - url));
	u->path = q ? strndup(path, (size_t)(q - path)) : strdup(path);
	u->query = q && q[1] ? strdup(q + 1) : NULL;
	if (!u->base || !u->path || (q && q[1] && !u->query))
		return -ENOMEM;
	*ret_host = host;
	*ret_hlen = (size_t)(path - host);
	return 0;
}

int blob_url_parse(const char *url, struct blob_url *ret)
{
	struct blob_url u = { 0 };
	const char *host;
	size_t hlen;
	bool path_style;
	int r;

	if (strlen(url) > URL_MAX)
		return -EINVAL;
	r = url_split(url, &u, &host, &hlen);
	if (r == 0 && (!path_chars_ok(u.path) || hlen == 0))
		r = -EINVAL;
	if (r == 0) {
		path_style = is_path_style_host(host, hlen);
		if (count_segments(u.path) < (path_style ? 3u : 2u) || strstr(u.path, "//"))
			r = -EINVAL;
		else if ((u.path_style = path_style))
			u.account = strndup(u.path + 1, strcspn(u.path + 1, "/"));
		else
			u.account = strndup(host, strcspn(host, ".:"));
		if (r == 0 && !u.account)
			r = -ENOMEM;
	}
	if (r < 0) {
		blob_url_done(&u);
		return log_debug_errno(r,
				       "blob: '%.*s' is not a blob URL (https://ACCOUNT%s/C/B "
				       "or http://127.0.0.1:PORT/ACCOUNT/C/B)",
				       (int)strcspn(url, "?"), url, AZURE_SUFFIX);
	}
	*ret = u;
	return 0;
}

void blob_url_done(struct blob_url *u)
{
	free(u->base);
	free(u->account);
	free(u->path);
	if (u->query)
		wipe(u->query, strlen(u->query)); /* a SAS is a credential */
	free(u->query);
	*u = (struct blob_url){ 0 };
}

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
	http_date(date);
	hdrs[n++] = "x-ms-version: " BLOB_API_VERSION;
	hdrs[n++] = date;
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
	}
	if (authz)
		wipe(authz, strlen(authz)); /* libcurl's own copies are beyond our reach */
	buf_done_wipe(&url);
	return r;
}

int blob_status_error(const struct http_response *resp, const char *what)
{
	const char *code = http_response_header(resp, "x-ms-error-code");
	int r;

	switch (resp->status) {
	case 400:
	case 416:
		r = -EINVAL;
		break;
	case 401:
	case 403:
		r = -EACCES;
		break;
	case 404:
		r = -ENOENT;
		break;
	case 409:
		r = -EBUSY;
		break;
	case 412:
		r = code && strncmp(code, "Lease", 5) == 0 ? -EBUSY : -ESTALE;
		break;
	default:
		r = resp->status >= 500 ? -EIO : -EPROTO;
	}
	return log_debug_errno(r, "blob: %s: HTTP %ld %s", what, resp->status,
			       code ? code : "(no error code)");
}

/* ---- properties ---- */

static int parse_u64(const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	if (!s || !isdigit((unsigned char)s[0]))
		return -EPROTO;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EPROTO;
	*ret = v;
	return 0;
}

static void copy_header(const struct http_response *resp, const char *name, char *out,
			size_t outlen)
{
	const char *v = http_response_header(resp, name);

	snprintf(out, outlen, "%s", v ? v : "");
}

int blob_parse_props(const struct http_response *resp, struct blob_props *p)
{
	const char *type = http_response_header(resp, "x-ms-blob-type");
	int r;

	*p = (struct blob_props){ 0 };
	r = parse_u64(http_response_header(resp, "Content-Length"), &p->size);
	if (r < 0)
		return log_debug_errno(r, "blob: properties without a valid Content-Length");
	if (streq(type, "BlockBlob"))
		p->type = BLOB_TYPE_BLOCK;
	else if (streq(type, "PageBlob"))
		p->type = BLOB_TYPE_PAGE;
	else if (streq(type, "AppendBlob"))
		p->type = BLOB_TYPE_APPEND;
	copy_header(resp, "ETag", p->etag, sizeof(p->etag));
	copy_header(resp, "x-ms-lease-state", p->lease_state, sizeof(p->lease_state));
	copy_header(resp, "x-ms-lease-status", p->lease_status, sizeof(p->lease_status));
	if (!p->etag[0])
		return log_debug_errno(-EPROTO, "blob: properties without an ETag");
	return 0;
}

static int props_request(struct blob *b, struct blob_props *ret)
{
	struct http_response resp;
	int r;

	r = blob_request(b, "HEAD", NULL, NULL, NULL, 0, 0, &resp);
	if (r < 0)
		return log_debug_errno(r, "blob: Get Blob Properties failed: %m");
	if (resp.status != 200)
		r = blob_status_error(&resp, "Get Blob Properties");
	else
		r = blob_parse_props(&resp, ret);
	http_response_done(&resp);
	return r;
}

/* ---- lifecycle ---- */

void blob_state_free(struct blob *b)
{
	if (!b)
		return;
	blob_lease_stop(b);
	if (b->own_http)
		http_client_free(b->http);
	secret_free(b->key);
	blob_url_done(&b->url);
	pthread_cond_destroy(&b->lease_cond);
	pthread_mutex_destroy(&b->lease_lock);
	free(b);
}

static int check_options(const struct blob_options *o, const struct blob_url *u)
{
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
	r = blob_url_parse(o->url, &b->url);
	r = r ?: check_options(o, &b->url);
	if (r < 0)
		return r;
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

int blob_get_properties(const struct blob_options *o, struct blob_props *ret)
{
	_cleanup_(blob_state_freep) struct blob *b = NULL;
	int r;

	r = blob_state_new(o, &b);
	if (r < 0)
		return r;
	return props_request(b, ret);
}

static void blob_close(void *state)
{
	blob_state_free(state);
}

static const struct bdev_ops blob_ops = {
	.name = "blob",
	.read = blob_io_read,
	.readv = blob_io_readv,
	.write = blob_io_write,
	.close = blob_close,
};

static int check_props(const struct blob *b, const struct blob_props *p)
{
	if (b->rw && p->type != BLOB_TYPE_PAGE)
		return log_debug_errno(-EMEDIUMTYPE,
				       "blob: read-write needs a page blob, this is "
				       "a %s",
				       blob_type_name(p->type));
	if (b->rw && p->size % BLOB_PAGE)
		return log_debug_errno(-EPROTO,
				       "blob: page blob size %" PRIu64 " is not a "
				       "multiple of 512",
				       p->size);
	return 0;
}

int blob_get_stats(struct bdev *bd, struct blob_stats *ret)
{
	struct blob *b = bdev_state(bd, &blob_ops);
	const uint64_t *src;
	uint64_t *dst = (uint64_t *)ret;

	if (!b)
		return -EINVAL;
	src = (const uint64_t *)&b->st;
	for (size_t i = 0; i < sizeof(*ret) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
	return 0;
}

int blob_get_etag(struct bdev *bd, char *out, size_t n)
{
	struct blob *b = bdev_state(bd, &blob_ops);
	size_t len;

	if (!b)
		return -EINVAL;
	len = strlen(b->etag);
	if (len >= n)
		return -ENOBUFS;
	memcpy(out, b->etag, len + 1);
	return 0;
}

int blob_open(const struct blob_options *o, struct bdev **ret)
{
	_cleanup_(blob_state_freep) struct blob *b = NULL;
	struct blob_props p;
	int r;

	r = blob_state_new(o, &b);
	r = r ?: props_request(b, &p);
	r = r ?: check_props(b, &p);
	if (r < 0)
		return r;
	b->size = p.size;
	snprintf(b->etag, sizeof(b->etag), "%s", p.etag);
	if (b->rw) {
		r = blob_lease_start(b);
		if (r < 0)
			return r;
	}
	log_debug("blob: opened %s%s (%s, %" PRIu64 " bytes, ETag %s, %s)", b->url.base,
		  b->url.path, blob_type_name(p.type), p.size, p.etag,
		  b->rw ? "read-write, leased" : "read-only");
	return bdev_new(&blob_ops, TAKE_PTR(b), p.size, o->rw ? BLOB_PAGE : 1, o->rw, ret);
}
