/* SPDX-License-Identifier: MIT */
/*
 * http_transfer.c - one attempt of a request as libcurl sees it: the options of the easy handle
 * (security, limits, method, body, headers) and the callbacks that collect the response under
 * its caps. The retry loop around it is in http.c.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "sealmount/http.h"
#include "sealmount/log.h"

#include "http_internal.h"

/* ---- one attempt: callbacks and results ------------------------------------------------ */

void http_headers_free(struct http_header *h, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(h[i].name);
		free(h[i].value);
	}
	free(h);
}

const char *http_headers_find(const struct http_header *h, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(h[i].name, name) == 0)
			return h[i].value;
	return NULL;
}

static void headers_clear(struct http_attempt *a)
{
	http_headers_free(a->headers, a->n_headers);
	a->headers = NULL;
	a->n_headers = 0;
}

void http_attempt_reset(struct http_attempt *a)
{
	headers_clear(a);
	buf_done_wipe(&a->body); /* a failed attempt's body may hold a token too */
	buf_init(&a->body, a->max_response);
	a->header_bytes = 0;
	a->sink_len = 0;
	a->sink_i = 0;
	a->sink_off = 0;
	a->line_status = 0;
	a->cb_error = 0;
	a->status = 0;
	a->errbuf[0] = '\0';
}

static int headers_push(struct http_attempt *a, const char *name, size_t nlen, const char *value,
			size_t vlen)
{
	struct http_header *n;

	if (a->n_headers >= HTTP_HEADERS_MAX)
		return -EFBIG;
	n = reallocarray(a->headers, a->n_headers + 1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	a->headers = n;
	n = &a->headers[a->n_headers];
	n->name = strndup(name, nlen);
	n->value = strndup(value, vlen);
	if (!n->name || !n->value) {
		free(n->name);
		free(n->value);
		return -ENOMEM;
	}
	a->n_headers++;
	return 0;
}

static bool to_sink(const struct http_attempt *a)
{
	return a->sink && a->line_status >= 200 && a->line_status <= 299;
}

/* A declared length over the cap fails now, before a single body byte is read. */
static int check_content_length(const struct http_attempt *a, const char *v, size_t vlen)
{
	size_t cap = to_sink(a) ? a->sink_cap : a->max_response;
	unsigned long long n = 0;

	for (size_t i = 0; i < vlen; i++) {
		if (v[i] < '0' || v[i] > '9')
			return 0; /* not a number: libcurl itself rejects it */
		if (n > cap)
			break;
		n = n * 10 + (unsigned)(v[i] - '0');
	}
	return n > cap ? -EFBIG : 0;
}

/* "HTTP/1.1 206 Partial Content", "HTTP/2 200": the three digits after the first space. */
static int parse_status_line(const char *p, size_t len)
{
	const char *sp = memchr(p, ' ', len);
	size_t rest;

	if (!sp)
		return 0;
	rest = len - (size_t)(sp + 1 - p);
	if (rest < 3 || sp[1] < '1' || sp[1] > '5' || sp[2] < '0' || sp[2] > '9' || sp[3] < '0' ||
	    sp[3] > '9' || (rest > 3 && sp[4] != ' '))
		return 0;
	return (sp[1] - '0') * 100 + (sp[2] - '0') * 10 + (sp[3] - '0');
}

static bool is_ows(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* RFC 9110 tchar: what a field name is made of. */
static bool is_tchar(char ch)
{
	return (ch >= '0' && ch <= '9') || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z') ||
	       (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch));
}

int http_attempt_add_header(struct http_attempt *a, const char *p, size_t len)
{
	const char *colon, *v;
	size_t nlen, vlen;
	int r;

	if (ADD_OVERFLOW(a->header_bytes, len, &a->header_bytes) ||
	    a->header_bytes > HTTP_HEADERS_MAX_BYTES)
		return -EFBIG;
	while (len > 0 && (p[len - 1] == '\n' || p[len - 1] == '\r'))
		len--;
	if (len == 0)
		return 0; /* end of a header block */
	if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
		headers_clear(a); /* a status line: an interim 1xx response was superseded */
		a->line_status = parse_status_line(p, len);
		return 0;
	}
	colon = memchr(p, ':', len);
	if (is_ows(p[0]) || !colon || colon == p)
		return -EPROTO; /* obsolete line folding or no field name */
	/* A NUL would cut our copy short of what libcurl itself parsed (RFC 9110 5.5: reject). */
	if (memchr(p, '\0', len))
		return -EPROTO;
	nlen = (size_t)(colon - p);
	for (size_t i = 0; i < nlen; i++)
		if (!is_tchar(p[i]))
			return -EPROTO;
	v = colon + 1;
	vlen = len - nlen - 1;
	while (vlen > 0 && is_ows(v[0]))
		v++, vlen--;
	while (vlen > 0 && is_ows(v[vlen - 1]))
		vlen--;
	if (!a->is_head && nlen == 14 && strncasecmp(p, "Content-Length", 14) == 0) {
		r = check_content_length(a, v, vlen);
		if (r < 0)
			return r;
	}
	return headers_push(a, p, nlen, v, vlen);
}

static size_t header_cb(char *p, size_t size, size_t nmemb, void *userp)
{
	struct http_attempt *a = userp;
	int r;

	r = http_attempt_add_header(a, p, size * nmemb);
	if (r < 0) {
		a->cb_error = r;
		return 0;
	}
	return size * nmemb;
}

int http_attempt_set_sink(struct http_attempt *a, const struct iovec *sink, unsigned cnt)
{
	size_t cap = 0;

	for (unsigned i = 0; sink && i < cnt; i++)
		if (ADD_OVERFLOW(cap, sink[i].iov_len, &cap))
			return -EOVERFLOW;
	a->sink = sink;
	a->sink_cnt = sink ? cnt : 0;
	a->sink_cap = cap; /* the write cursor starts at 0 with every attempt (reset) */
	return 0;
}

/* Scatter n bytes into the sink after what is there already (cursor: sink_i, sink_off). */
static int sink_add(struct http_attempt *a, const char *p, size_t n)
{
	if (n > a->sink_cap - a->sink_len)
		return -EFBIG;
	a->sink_len += n;
	while (n > 0) {
		const struct iovec *v = &a->sink[a->sink_i];
		size_t k = v->iov_len - a->sink_off < n ? v->iov_len - a->sink_off : n;

		if (k > 0) /* an empty entry's base may be NULL */
			memcpy((char *)v->iov_base + a->sink_off, p, k);
		p += k;
		n -= k;
		a->sink_off += k;
		if (a->sink_off == v->iov_len) {
			a->sink_i++;
			a->sink_off = 0;
		}
	}
	return 0;
}

int http_attempt_add_body(struct http_attempt *a, const char *p, size_t n)
{
	if (to_sink(a))
		return sink_add(a, p, n);
	/* Checked here rather than left to buf_append() so the partial body is still ours to
	 * wipe. */
	if (n > a->max_response - a->body.len)
		return -EFBIG;
	return buf_append(&a->body, p, n);
}

static size_t write_cb(char *p, size_t size, size_t nmemb, void *userp)
{
	struct http_attempt *a = userp;
	size_t n = size * nmemb;
	int r;

	r = http_attempt_add_body(a, p, n);
	if (r < 0) {
		a->cb_error = r;
		return 0; /* n > 0 here, so 0 means failure */
	}
	return n;
}

void http_attempt_done(struct http_attempt *a)
{
	headers_clear(a);
	buf_done_wipe(&a->body);
}

/* ---- the request's setup ------------------------------------------------------------- */

bool http_method_is(const struct http_request *req, const char *m)
{
	return strcmp(req->method, m) == 0;
}

static bool method_sends_body(const struct http_request *req)
{
	return http_method_is(req, "POST") || http_method_is(req, "PUT") ||
	       http_method_is(req, "PATCH") || (http_method_is(req, "DELETE") && req->body_len > 0);
}

int http_request_validate(const struct http_request *req)
{
	static const char *const methods[] = { "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE" };
	bool known = false;

	if (!req->method || !req->url || (!req->body && req->body_len > 0))
		return -EINVAL;
	for (size_t i = 0; i < ELEMENTSOF(methods); i++)
		known = known || http_method_is(req, methods[i]);
	if (!known ||
	    ((http_method_is(req, "GET") || http_method_is(req, "HEAD")) && req->body_len > 0))
		return -EINVAL;
	return 0;
}

/* "Name: value" with a non-empty token name and no CR or LF anywhere (header injection). */
static bool header_line_is_valid(const char *line)
{
	size_t nlen = strcspn(line, ":");

	if (nlen == 0 || line[nlen] != ':' || line[strcspn(line, "\r\n")] != '\0')
		return false;
	for (size_t i = 0; i < nlen; i++)
		if (!is_tchar(line[i]))
			return false;
	return true;
}

static bool has_header(const char *const *lines, const char *name)
{
	size_t n = strlen(name);

	for (; lines && *lines; lines++)
		if (strncasecmp(*lines, name, n) == 0 && (*lines)[n] == ':')
			return true;
	return false;
}

/*
 * curl_slist_append() copies each line (an Authorization header among them) into memory that
 * we own until curl_slist_free_all(), so we wipe it first. libcurl also assembles the request
 * head in buffers of its own and frees them without wiping; those copies are outside our
 * control (see curl's docs/libcurl/libcurl-security.md, "Secrets in memory").
 */
void http_slist_wipe_freep(struct curl_slist **l)
{
	for (struct curl_slist *i = *l; i; i = i->next)
		explicit_bzero(i->data, strlen(i->data));
	curl_slist_free_all(*l);
}

static int slist_add(struct curl_slist **l, const char *line)
{
	struct curl_slist *n = curl_slist_append(*l, line);

	if (!n)
		return -ENOMEM;
	*l = n;
	return 0;
}

int http_headers_build(const struct http_request *req, struct curl_slist **l)
{
	int r;

	for (const char *const *h = req->headers; h && *h; h++) {
		if (!header_line_is_valid(*h)) {
			log_debug("http: invalid request header line refused");
			return -EINVAL;
		}
		r = slist_add(l, *h);
		if (r < 0)
			return r;
	}
	/* An empty value removes the header curl would add: no guessed form Content-Type on
	 * our bodies (it would enter SharedKey signatures), no 1 s "Expect: 100-continue" wait. */
	if (method_sends_body(req) && !has_header(req->headers, "Content-Type")) {
		r = slist_add(l, "Content-Type:");
		if (r < 0)
			return r;
	}
	if (!has_header(req->headers, "Expect"))
		return slist_add(l, "Expect:");
	return 0;
}

static const struct {
	CURLoption opt;
	long val;
} fixed_opts[] = {
	{ CURLOPT_NOSIGNAL, 1L }, /* threads: no SIGALRM around DNS timeouts */
	{ CURLOPT_SSL_VERIFYPEER, 1L },
	{ CURLOPT_SSL_VERIFYHOST, 2L },
	{ CURLOPT_PROXY_SSL_VERIFYPEER, 1L },
	{ CURLOPT_PROXY_SSL_VERIFYHOST, 2L },
	{ CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2 },
	{ CURLOPT_FOLLOWLOCATION, 0L },
	{ CURLOPT_MAXREDIRS, 0L },
	{ CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L },
	{ CURLOPT_TCP_KEEPALIVE, 1L },
	{ CURLOPT_NETRC, (long)CURL_NETRC_IGNORED },
	{ CURLOPT_VERBOSE, 0L }, /* it would print header values */
};

int http_setup_transport(struct http_call *k, CURLU *u)
{
	const struct http_options *o = &k->c->opts;
	CURL *h = k->h;
	CURLcode cc = CURLE_OK;

	for (size_t i = 0; i < ELEMENTSOF(fixed_opts) && cc == CURLE_OK; i++)
		cc = curl_easy_setopt(h, fixed_opts[i].opt, fixed_opts[i].val);
	/* Each of these runs only while everything before it succeeded. */
	cc = cc ?: curl_easy_setopt(h, CURLOPT_CURLU, u);
	cc = cc ?: curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https,http");
	cc = cc ?: curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "https");
	cc = cc ?: curl_easy_setopt(h, CURLOPT_SHARE, k->c->share);
	cc = cc ?: curl_easy_setopt(h, CURLOPT_USERAGENT, "sealmount/" SEALMOUNT_VERSION);
	cc = cc ?: curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)o->connect_timeout_ms);
	cc = cc ?: curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)o->total_timeout_ms);
	cc = cc ?: curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, (long)o->low_speed_bytes_sec);
	cc = cc ?: curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)o->low_speed_time_s);
	/* Plain http goes only to loopback or IMDS: never through a proxy from the environment. */
	if (http_url_is_plain(u))
		cc = cc ?: curl_easy_setopt(h, CURLOPT_PROXY, "");
	if (k->c->ca_bundle.len > 0) {
		struct curl_blob blob = { .data = k->c->ca_bundle.data,
					  .len = k->c->ca_bundle.len,
					  .flags = CURL_BLOB_NOCOPY }; /* the client outlives h */
		cc = cc ?: curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
	}
	return cc == CURLE_OK ? 0 : -ENOMEM;
}

int http_setup_exchange(struct http_call *k, struct curl_slist *hdrs)
{
	const struct http_request *req = k->req;
	struct http_attempt *a = &k->a;
	CURL *h = k->h;
	CURLcode cc = CURLE_OK;

	cc = cc ?: curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	cc = cc ?: curl_easy_setopt(h, CURLOPT_ERRORBUFFER, a->errbuf);
	cc = cc ?: curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
	cc = cc ?: curl_easy_setopt(h, CURLOPT_HEADERDATA, a);
	cc = cc ?: curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
	cc = cc ?: curl_easy_setopt(h, CURLOPT_WRITEDATA, a);
	if (a->is_head) {
		cc = cc ?: curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else {
		/* curl's own early cap: the larger of the two; ours (per status) is exact. */
		size_t cap = a->sink_cap > a->max_response ? a->sink_cap : a->max_response;

		cc = cc ?: curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)cap);
		/* Bulk bodies: a larger receive buffer means fewer recv/poll rounds per byte. */
		if (a->sink_cap >= HTTP_BULK_BUFFER)
			cc = cc ?: curl_easy_setopt(h, CURLOPT_BUFFERSIZE, (long)HTTP_BULK_BUFFER);
	}
	if (method_sends_body(req)) {
		/* Always a Content-Length, even 0 (Azure wants one on an empty PUT). */
		cc = cc	   ?:
			     curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
					      (curl_off_t)req->body_len);
		cc = cc ?: curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body ? req->body : "");
	}
	if (!http_method_is(req, "GET") && !http_method_is(req, "HEAD") &&
	    !http_method_is(req, "POST"))
		cc = cc ?: curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
	return cc == CURLE_OK ? 0 : -ENOMEM;
}
