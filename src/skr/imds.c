/* SPDX-License-Identifier: MIT */
/*
 * imds.c - managed-identity tokens with retries and a per-resource cache (docs/imds.md).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sealmount/imds.h"
#include "sealmount/jsonx.h"
#include "sealmount/log.h"

struct imds_entry {
	char *resource; /* NULL = free slot */
	struct secret *token;
	int64_t refresh_at;
};

struct imds_client {
	struct http_client *http; /* borrowed */
	struct imds_options o;
	char *endpoint;
	char *client_id;
	char *wid_file; /* workload identity: the federated token file */
	char *tenant_id;
	char *authority;
	char *last_error;
	pthread_mutex_t lock;
	struct imds_entry cache[IMDS_CACHE_MAX];
};

static int64_t clock_now(void)
{
	return (int64_t)time(NULL);
}

static bool is_valid_id(const char *s, const char *extra)
{
	if (!*s || strlen(s) > 64)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr(extra, *s))
			return false;
	return true;
}

static int dup_opt(const char *in, char **out)
{
	if (!in)
		return 0;
	*out = strdup(in);
	return *out ? 0 : -ENOMEM;
}

/* Workload identity settings; 0 also when not configured. */
static int wid_init(struct imds_client *c, const struct imds_options *o)
{
	int r;

	if (!o->federated_token_file)
		return 0;
	if (!o->client_id || !o->tenant_id || !is_valid_id(o->tenant_id, "-."))
		return log_debug_errno(-EINVAL, "Workload identity needs client_id and tenant_id");
	r = dup_opt(o->federated_token_file, &c->wid_file);
	if (r >= 0)
		r = dup_opt(o->tenant_id, &c->tenant_id);
	if (r >= 0)
		r = dup_opt(o->authority ? o->authority : IMDS_DEFAULT_AUTHORITY, &c->authority);
	if (r < 0)
		return r;
	return http_url_check(c->authority);
}

int imds_client_new(struct http_client *http, const struct imds_options *opts,
		    struct imds_client **ret)
{
	_cleanup_(imds_client_freep) struct imds_client *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	c->http = http;
	c->o = opts ? *opts : (struct imds_options){};
	c->o.attempts = c->o.attempts ? c->o.attempts : IMDS_DEFAULT_ATTEMPTS;
	c->o.backoff_ms = c->o.backoff_ms ? c->o.backoff_ms : 1000;
	c->o.backoff_max_ms = c->o.backoff_max_ms ? c->o.backoff_max_ms : 8000;
	c->o.refresh_margin_s =
		c->o.refresh_margin_s ? c->o.refresh_margin_s : IMDS_DEFAULT_REFRESH_MARGIN_S;
	c->o.now = c->o.now ? c->o.now : clock_now;
	c->endpoint = strdup(c->o.endpoint ? c->o.endpoint : IMDS_DEFAULT_ENDPOINT);
	if (!c->endpoint)
		return -ENOMEM;
	c->o.endpoint = NULL;
	r = wid_init(c, &c->o);
	if (r < 0)
		return r;
	c->o.federated_token_file = c->o.tenant_id = c->o.authority = NULL;
	if (c->o.client_id) {
		if (!is_valid_id(c->o.client_id, "-"))
			return log_debug_errno(-EINVAL, "Invalid client_id");
		c->client_id = strdup(c->o.client_id);
		if (!c->client_id)
			return -ENOMEM;
		c->o.client_id = NULL;
	}
	r = http_url_check(c->endpoint);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(c);
	return 0;
}

static void entry_clear(struct imds_entry *e)
{
	free(e->resource);
	secret_free(e->token);
	*e = (struct imds_entry){};
}

void imds_client_free(struct imds_client *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < IMDS_CACHE_MAX; i++)
		entry_clear(&c->cache[i]);
	free(c->endpoint);
	free(c->client_id);
	free(c->wid_file);
	free(c->tenant_id);
	free(c->authority);
	free(c->last_error);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* Percent-encode everything but RFC 3986 unreserved characters. */
static int append_escaped(struct buf *b, const char *s)
{
	int r = 0;

	for (; *s && r >= 0; s++) {
		unsigned char ch = (unsigned char)*s;
		if (isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~')
			r = buf_append(b, s, 1);
		else
			r = buf_printf(b, "%%%02X", ch);
	}
	return r;
}

int imds_token_url(const char *endpoint, const char *resource, const char *client_id, char **ret)
{
	struct buf b;
	int r;

	if (!*resource || strlen(resource) > 2048)
		return -EINVAL;
	buf_init(&b, 8192);
	r = buf_printf(&b, "%s/metadata/identity/oauth2/token?api-version=%s&resource=", endpoint,
		       IMDS_API_VERSION);
	if (r >= 0)
		r = append_escaped(&b, resource);
	if (r >= 0 && client_id) {
		r = buf_append_str(&b, "&client_id=");
		if (r >= 0)
			r = append_escaped(&b, client_id);
	}
	if (r < 0) {
		buf_done(&b);
		return r;
	}
	*ret = (char *)buf_steal(&b, NULL);
	return 0;
}

/* A Unix time given as a JSON string of digits (what IMDS sends) or an integer. */
static int get_time(const json_t *o, const char *key, int64_t *ret)
{
	json_t *v = json_object_get(o, key);
	const char *s;
	int64_t n = 0;

	if (!v)
		return -ENOENT;
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*ret = json_integer_value(v);
		return 0;
	}
	s = json_string_value(v);
	if (!s || !*s || strlen(s) > 12)
		return -EBADMSG;
	for (; *s; s++) {
		if (!isdigit((unsigned char)*s))
			return -EBADMSG;
		n = n * 10 + (*s - '0');
	}
	*ret = n;
	return 0;
}

int imds_token_parse(const void *body, size_t len, int64_t now, struct secret **ret,
		     int64_t *ret_expires_on)
{
	_cleanup_json_ json_t *o = NULL;
	struct secret *tok;
	const char *t, *type = NULL;
	int64_t exp, in;
	size_t n;
	int r;

	r = jsonx_load_object(body, len, IMDS_RESPONSE_MAX, &o);
	if (r < 0)
		return -EBADMSG;
	if (jsonx_get_string(o, "access_token", &t) < 0 || jsonx_opt_string(o, "token_type", &type))
		return log_debug_errno(-EBADMSG, "IMDS answer has no access_token");
	n = strlen(t);
	if (n == 0 || n > IMDS_TOKEN_MAX || strpbrk(t, " \t\r\n"))
		return log_debug_errno(-EBADMSG, "IMDS access_token is empty, huge or not a token");
	if (type && strcasecmp(type, "Bearer") != 0)
		return log_debug_errno(-EBADMSG, "IMDS token_type is '%s'", type);
	r = get_time(o, "expires_on", &exp);
	if (r == -ENOENT) {
		r = get_time(o, "expires_in", &in);
		if (r == 0 && ADD_OVERFLOW(now, in, &exp))
			r = -EBADMSG;
	}
	if (r < 0)
		return log_debug_errno(-EBADMSG, "IMDS answer has no usable expires_on/expires_in");
	r = secret_new(n + 1, &tok);
	if (r < 0)
		return r;
	memcpy(tok->data, t, n);
	tok->len = n; /* the NUL stays behind len (secret_free wipes the whole mapping) */
	/* jansson cannot wipe what it frees: clear its copy of the token ourselves. */
	wipe((char *)t, n);
	*ret = tok;
	*ret_expires_on = exp;
	return 0;
}

static bool is_retryable_status(long status)
{
	return status == 404 || status == 410 || status == 429 || status >= 500;
}

static bool is_retryable_errno(int r)
{
	return r == -ECONNREFUSED || r == -ECONNRESET || r == -ETIMEDOUT || r == -EHOSTUNREACH ||
	       r == -EIO;
}

static void set_last_error(struct imds_client *c, const struct http_response *resp)
{
	_cleanup_json_ json_t *o = NULL;
	const char *e = NULL, *d = NULL;

	free(c->last_error);
	c->last_error = NULL;
	if (jsonx_load_object(resp->body.data, resp->body.len, IMDS_RESPONSE_MAX, &o) < 0 ||
	    jsonx_opt_string(o, "error", &e) < 0 ||
	    jsonx_opt_string(o, "error_description", &d) < 0)
		e = d = NULL;
	if (asprintf(&c->last_error, "HTTP %ld%s%s%s%s", resp->status, e ? " " : "", e ? e : "",
		     d ? ": " : "", d ? d : "") < 0)
		c->last_error = NULL;
}

static int status_errno(long status)
{
	if (status == 400)
		return -EINVAL;
	if (status == 401 || status == 403)
		return -EACCES;
	if (is_retryable_status(status))
		return -EIO;
	return -EPROTO;
}

static void backoff(const struct imds_client *c, unsigned attempt)
{
	uint64_t ms = c->o.backoff_ms;
	struct timespec ts;

	for (unsigned i = 0; i < attempt && ms < c->o.backoff_max_ms; i++)
		ms *= 2;
	if (ms > c->o.backoff_max_ms)
		ms = c->o.backoff_max_ms;
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* The federated token, read fresh (the kubelet rotates it), whitespace trimmed. */
static int wid_assertion(const char *path, struct secret **ret)
{
	_cleanup_(secret_freep) struct secret *s = NULL;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t n = 0;
	ssize_t k;
	int r;

	if (fd < 0)
		return log_debug_errno(-errno, "Cannot open the federated token file %s: %m", path);
	r = secret_new(IMDS_TOKEN_MAX, &s);
	if (r < 0)
		return r;
	while ((k = read(fd, s->data + n, s->len - n)) != 0) {
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		n += (size_t)k;
		if (n == s->len)
			return log_debug_errno(-EFBIG, "Federated token file %s is too big", path);
	}
	while (n && isspace(s->data[n - 1]))
		n--;
	if (n == 0 || memchr(s->data, '\n', n))
		return log_debug_errno(-EBADMSG, "Federated token file %s holds no token", path);
	r = secret_truncate(s, n);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(s);
	return 0;
}

#define WID_BODY_MAX (4 * IMDS_TOKEN_MAX)

/* The client-credentials form with the assertion. body: an empty buf with room allocated up front
 * (no realloc copies of the assertion); the caller wipes it. */
static int wid_body(const struct imds_client *c, const char *resource, struct buf *body)
{
	static const uint8_t zeros[WID_BODY_MAX];
	_cleanup_(secret_freep) struct secret *assertion = NULL;
	_cleanup_free_ char *a = NULL;
	int r;

	r = wid_assertion(c->wid_file, &assertion);
	if (r < 0)
		return r;
	r = buf_append(body, zeros, sizeof(zeros) - 1);
	if (r < 0)
		return r;
	body->len = 0;
	r = buf_append_str(body, "grant_type=client_credentials&client_id=");
	if (r >= 0)
		r = append_escaped(body, c->client_id);
	if (r >= 0)
		r = buf_append_str(body, "&scope=");
	if (r >= 0)
		r = append_escaped(body, resource);
	if (r >= 0)
		r = buf_append_str(body,
				   "%2F.default&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth"
				   "%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=");
	if (r < 0)
		return r;
	/* A JWT is all base64url and dots: no escaping, and no copy outside secret memory. */
	for (size_t i = 0; i < assertion->len; i++)
		if (!isalnum(assertion->data[i]) && !strchr("-_.", assertion->data[i]))
			return log_debug_errno(-EBADMSG, "The federated token is not a JWT");
	return buf_append(body, assertion->data, assertion->len);
}

/* One request (IMDS GET, or the workload identity POST); 0 with a 200 response in *resp, or the
 * errno of the failure. */
static int fetch_once(struct imds_client *c, const char *url, const char *resource,
		      struct http_response *resp)
{
	static const char *const get_headers[] = { "Metadata: true", NULL };
	static const char *const post_headers[] = {
		"Content-Type: application/x-www-form-urlencoded", "Accept: application/json", NULL
	};
	_cleanup_(buf_done_wipe) struct buf body = {};
	int r;

	buf_init(&body, WID_BODY_MAX);
	if (c->wid_file) {
		r = wid_body(c, resource, &body);
		if (r < 0)
			return r;
	}
	r = http_request(
		c->http,
		&(struct http_request){ .method = c->wid_file ? "POST" : "GET",
					.url = url,
					.headers = c->wid_file ? post_headers : get_headers,
					.body = c->wid_file ? body.data : NULL,
					.body_len = body.len,
					.max_response = IMDS_RESPONSE_MAX,
					.no_retry = true },
		resp);
	if (r < 0)
		return r;
	if (resp->status == 200)
		return 0;
	set_last_error(c, resp);
	r = status_errno(resp->status);
	http_response_done(resp);
	return r;
}

static int token_url(const struct imds_client *c, const char *resource, char **ret)
{
	if (!c->wid_file)
		return imds_token_url(c->endpoint, resource, c->client_id, ret);
	if (!*resource || asprintf(ret, "%s/%s/oauth2/v2.0/token", c->authority, c->tenant_id) < 0)
		return *resource ? -ENOMEM : -EINVAL;
	return 0;
}

static int fetch(struct imds_client *c, const char *resource, struct secret **ret, int64_t *ret_exp)
{
	_cleanup_free_ char *url = NULL;
	int r;

	r = token_url(c, resource, &url);
	if (r < 0)
		return r;
	for (unsigned attempt = 0;; attempt++) {
		_cleanup_(http_response_done) struct http_response resp = {};

		r = fetch_once(c, url, resource, &resp);
		if (r == 0)
			return imds_token_parse(resp.body.data, resp.body.len, c->o.now(), ret,
						ret_exp);
		log_debug_errno(r, "Token for %s, attempt %u of %u: %m%s%s", resource, attempt + 1,
				c->o.attempts, c->last_error ? " - " : "",
				c->last_error ? c->last_error : "");
		if (!is_retryable_errno(r) || attempt + 1 >= c->o.attempts)
			return r;
		backoff(c, attempt);
	}
}

static struct imds_entry *cache_find(struct imds_client *c, const char *resource)
{
	for (size_t i = 0; i < IMDS_CACHE_MAX; i++)
		if (streq(c->cache[i].resource, resource))
			return &c->cache[i];
	return NULL;
}

/* A slot for resource: its own, a free one, or the one due for refresh first. */
static struct imds_entry *cache_slot(struct imds_client *c, const char *resource)
{
	struct imds_entry *e = cache_find(c, resource), *oldest = &c->cache[0];

	if (e)
		return e;
	for (size_t i = 0; i < IMDS_CACHE_MAX; i++) {
		if (!c->cache[i].resource)
			return &c->cache[i];
		if (c->cache[i].refresh_at < oldest->refresh_at)
			oldest = &c->cache[i];
	}
	return oldest;
}

static int64_t refresh_time(const struct imds_client *c, int64_t now, int64_t exp)
{
	int64_t life = exp - now;

	if (life <= 0)
		return now;
	if (life < 2 * (int64_t)c->o.refresh_margin_s)
		return now + life / 2;
	return exp - c->o.refresh_margin_s;
}

/* A NUL-terminated copy for the caller. */
static int token_copy(const struct secret *tok, struct secret **ret)
{
	struct secret *s;
	int r;

	r = secret_new_copy(tok->data, tok->len + 1, &s);
	if (r < 0)
		return r;
	r = secret_truncate(s, tok->len); /* wipes the byte past len: the NUL stays */
	if (r < 0) {
		secret_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

int imds_get_token(struct imds_client *c, const char *resource, struct secret **ret)
{
	LOCK_GUARD(&c->lock);
	struct secret *tok = NULL;
	struct imds_entry *e;
	int64_t now = c->o.now(), exp;
	char *res;
	int r;

	e = cache_find(c, resource);
	if (e && now < e->refresh_at)
		return token_copy(e->token, ret);
	r = fetch(c, resource, &tok, &exp);
	if (r < 0)
		return r;
	res = strdup(resource);
	if (!res) {
		secret_free(tok);
		return -ENOMEM;
	}
	e = cache_slot(c, resource);
	entry_clear(e);
	*e = (struct imds_entry){ .resource = res,
				  .token = tok,
				  .refresh_at = refresh_time(c, now, exp) };
	log_debug("IMDS token for %s cached, %lld s to expiry", resource, (long long)(exp - now));
	return token_copy(tok, ret);
}

void imds_invalidate(struct imds_client *c, const char *resource)
{
	LOCK_GUARD(&c->lock);
	struct imds_entry *e = cache_find(c, resource);

	if (e)
		entry_clear(e);
}

char *imds_client_last_error(struct imds_client *c)
{
	LOCK_GUARD(&c->lock);

	return c->last_error ? strdup(c->last_error) : NULL;
}
