/* SPDX-License-Identifier: MIT */
/*
 * blob_props.c - what the client believes of a source's answers: error statuses, properties
 * (HEAD), Content-Range, and the checks a ranged GET's answer must pass before its bytes go up
 * the stack. Pure functions over struct http_response (fuzzed: tests/fuzz/fuzz_blob_response.c).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "blob_internal.h"
#include "sealmount/codec.h"
#include "sealmount/log.h"

#define MD5_LEN 16

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

int blob_fail_status(struct blob *b, const struct http_response *resp, const char *what)
{
	int r = blob_status_error(resp, what);

	if (b->diag && !diag_is_set(b->diag)) {
		diag_set_code(b->diag, http_response_header(resp, "x-ms-error-code"));
		diag_set(b->diag, r, "HTTP %ld%s%s%s", resp->status, b->diag->code[0] ? " " : "",
			 b->diag->code,
			 resp->status >= 300 && resp->status < 400 ? " (a redirect: not followed)" :
								     "");
	}
	return r;
}

/* "host" of "scheme://host[:port]" (an IPv6 literal keeps its brackets). */
static void host_of(const char *base, char *out, size_t n)
{
	const char *h = strstr(base, "://");
	size_t len;

	h = h ? h + 3 : base;
	len = h[0] == '[' ? strcspn(h, "]") + (strchr(h, ']') ? 1 : 0) : strcspn(h, ":");
	snprintf(out, n, "%.*s", (int)len, h);
}

int blob_fail_transport(struct blob *b, int r, const char *what)
{
	char host[256];

	log_debug_errno(r, "blob: %s failed: %m", what);
	if (!b->diag || diag_is_set(b->diag))
		return r;
	host_of(b->url.base, host, sizeof(host));
	switch (r) {
	case -EHOSTUNREACH:
		return diag_set(b->diag, r, "Could not resolve host %s", host);
	case -ECONNREFUSED:
		return diag_set(b->diag, r, "Could not connect to %s (connection refused)",
				b->url.base);
	case -ETIMEDOUT:
		return diag_set(b->diag, r, "%s did not answer in time", b->url.base);
	default:
		return diag_set(b->diag, r, "%s to %s failed: %m", what, b->url.base);
	}
}

/* A decimal number of at most 20 digits that fits 64 bits: *ret. -EPROTO otherwise. */
static int parse_u64(const char *s, size_t n, uint64_t *ret)
{
	uint64_t v = 0;

	if (n == 0 || n > 20)
		return -EPROTO;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -EPROTO;
		if (MUL_OVERFLOW(v, 10, &v) || ADD_OVERFLOW(v, (uint64_t)(s[i] - '0'), &v))
			return -EPROTO;
	}
	*ret = v;
	return 0;
}

/* Copy header name into out; absent is "", longer than out is -EPROTO (never cut: a cut
 * validator would never match again). */
static int copy_header(const struct http_response *resp, const char *name, char *out, size_t outlen)
{
	const char *v = http_response_header(resp, name);
	size_t n = v ? strlen(v) : 0;

	if (n >= outlen)
		return log_debug_errno(-EPROTO, "blob: %s of %zu bytes", name, n);
	memcpy(out, v ? v : "", n + 1);
	return 0;
}

static enum blob_type type_of(const char *t)
{
	if (streq(t, "BlockBlob"))
		return BLOB_TYPE_BLOCK;
	if (streq(t, "PageBlob"))
		return BLOB_TYPE_PAGE;
	if (streq(t, "AppendBlob"))
		return BLOB_TYPE_APPEND;
	return BLOB_TYPE_UNKNOWN;
}

int blob_parse_props(const struct http_response *resp, struct blob_props *p)
{
	const char *type = http_response_header(resp, "x-ms-blob-type");
	const char *len = http_response_header(resp, "Content-Length");
	int r;

	*p = (struct blob_props){ .azure = type != NULL, .type = type_of(type) };
	r = len ? parse_u64(len, strlen(len), &p->size) : -EPROTO;
	if (r < 0)
		return log_debug_errno(r, "blob: properties without a valid Content-Length");
	r = blob_size_check(p->size, p->type, p->azure);
	if (r < 0)
		return r;
	r = copy_header(resp, "ETag", p->etag, sizeof(p->etag));
	r = r ?: copy_header(resp, "Last-Modified", p->last_modified, sizeof(p->last_modified));
	r = r ?: copy_header(resp, "x-ms-lease-state", p->lease_state, sizeof(p->lease_state));
	r = r ?: copy_header(resp, "x-ms-lease-status", p->lease_status, sizeof(p->lease_status));
	if (r < 0)
		return r;
	if (!p->etag[0] && (p->azure || !p->last_modified[0]))
		return log_debug_errno(-EPROTO, "blob: properties without an ETag%s",
				       p->azure ? "" : " or Last-Modified");
	return 0;
}

int blob_parse_content_range(const char *v, uint64_t *ret_first, uint64_t *ret_last,
			     uint64_t *ret_total)
{
	uint64_t first, last, total;
	size_t a, b;

	if (strncmp(v, "bytes ", 6) != 0)
		return -EBADMSG;
	v += 6;
	a = strspn(v, "0123456789");
	if (v[a] != '-' || parse_u64(v, a, &first) < 0)
		return -EBADMSG;
	v += a + 1;
	b = strspn(v, "0123456789");
	if (v[b] != '/' || parse_u64(v, b, &last) < 0)
		return -EBADMSG;
	v += b + 1;
	if (parse_u64(v, strlen(v), &total) < 0 || first > last || last >= total ||
	    total > BLOB_SIZE_MAX)
		return -EBADMSG;
	*ret_first = first;
	*ret_last = last;
	*ret_total = total;
	return 0;
}

bool blob_etag_is_strong(const char *etag)
{
	return etag[0] && strncmp(etag, "W/", 2) != 0;
}

int blob_md5_iov(const struct iovec *iov, unsigned cnt, uint8_t out[MD5_LEN])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int len = 0;
	int ok;

	if (!ctx)
		return -ENOMEM;
	ok = EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
	for (unsigned i = 0; ok && i < cnt; i++)
		ok = EVP_DigestUpdate(ctx, iov[i].iov_base, iov[i].iov_len);
	ok = ok && EVP_DigestFinal_ex(ctx, out, &len) && len == MD5_LEN;
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -EIO;
}

static int check_md5(const struct http_response *resp, const struct iovec *iov, unsigned cnt)
{
	const char *v = http_response_header(resp, "Content-MD5");
	uint8_t want[MD5_LEN], got[MD5_LEN];
	int r;

	if (!v)
		return log_debug_errno(-EBADMSG, "blob: range response without Content-MD5");
	r = b64_decode_fixed(B64_STD, v, strlen(v), want, sizeof(want));
	if (r < 0)
		return log_debug_errno(-EBADMSG, "blob: malformed Content-MD5");
	r = blob_md5_iov(iov, cnt, got);
	if (r < 0)
		return r;
	if (CRYPTO_memcmp(want, got, MD5_LEN) != 0)
		return log_debug_errno(-EBADMSG, "blob: range body does not match its MD5");
	return 0;
}

/* "bytes <off>-<off+len-1>/<size>": exactly the range asked for, of the size seen at open. */
static int check_content_range(const struct blob *b, const struct http_response *resp, uint64_t off,
			       size_t len)
{
	const char *v = http_response_header(resp, "Content-Range");
	uint64_t first, last, total;

	if (!v || blob_parse_content_range(v, &first, &last, &total) < 0 || first != off ||
	    last - first != len - 1 || total != b->size)
		return log_debug_errno(
			-EBADMSG, "blob: Content-Range '%s' is not bytes %" PRIu64 "+%zu/%" PRIu64,
			v ? v : "", off, len, b->size);
	return 0;
}

/* The answer names the version pinned at open, where it names one. */
static int check_validators(const struct blob *b, const struct http_response *resp)
{
	const char *etag = http_response_header(resp, "ETag");
	const char *lm = http_response_header(resp, "Last-Modified");

	if (b->etag[0] && etag && !streq(etag, b->etag))
		return log_debug_errno(-ESTALE, "blob: the source's ETag changed to %s", etag);
	if (b->last_modified[0] && lm && !streq(lm, b->last_modified))
		return log_debug_errno(-ESTALE, "blob: the source's Last-Modified changed to %s",
				       lm);
	return 0;
}

int blob_check_range(const struct blob *b, const struct http_response *resp, size_t got,
		     const struct iovec *iov, unsigned cnt, uint64_t off, size_t len)
{
	int r;

	if (len == 0 || got != len)
		return log_debug_errno(-EBADMSG, "blob: got %zu bytes for a %zu byte range", got,
				       len);
	r = check_content_range(b, resp, off, len);
	r = r ?: check_validators(b, resp);
	if (r == 0 && b->verify_md5)
		r = check_md5(resp, iov, cnt);
	return r;
}

int blob_check_range_response(const struct blob *b, const struct http_response *resp, uint64_t off,
			      size_t len)
{
	struct iovec body = { resp->body.data, resp->body.len };

	return blob_check_range(b, resp, resp->body.len, &body, 1, off, len);
}

bool blob_is_service_answer(const struct http_response *resp)
{
	static const char *const names[] = { "x-ms-request-id", "x-ms-version", "x-ms-error-code",
					     "x-ms-blob-type" };

	for (size_t i = 0; i < ELEMENTSOF(names); i++)
		if (http_response_header(resp, names[i]))
			return true;
	return false;
}

int blob_parse_probe(const struct http_response *resp, size_t got, struct blob_props *p, bool have)
{
	const char *v = http_response_header(resp, "Content-Range");
	struct blob_props q = { 0 };
	uint64_t first, last;
	int r;

	if (got != 1 || !v || blob_parse_content_range(v, &first, &last, &q.size) < 0 ||
	    first != 0 || last != 0)
		return log_debug_errno(-EPROTO, "blob: the probe got Content-Range '%s', %zu bytes",
				       v ? v : "", got);
	r = copy_header(resp, "ETag", q.etag, sizeof(q.etag));
	r = r ?: copy_header(resp, "Last-Modified", q.last_modified, sizeof(q.last_modified));
	if (r < 0)
		return r;
	if (!have) {
		if (!q.etag[0] && !q.last_modified[0])
			return log_debug_errno(-EPROTO, "blob: no ETag or Last-Modified");
		*p = q;
		return 0;
	}
	if (q.size != p->size)
		return log_debug_errno(-EPROTO,
				       "blob: HEAD says %" PRIu64 " bytes, a ranged GET %" PRIu64,
				       p->size, q.size);
	if ((q.etag[0] && p->etag[0] && !streq(q.etag, p->etag)) ||
	    (q.last_modified[0] && p->last_modified[0] &&
	     !streq(q.last_modified, p->last_modified)))
		return log_debug_errno(-ESTALE, "blob: the source changed between HEAD and GET");
	return 0;
}
