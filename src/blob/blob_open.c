/* SPDX-License-Identifier: MIT */
/*
 * blob_open.c - opening a source (blob.h): Get Blob Properties (HEAD), deciding between the Blob
 * service and a plain range server, the one-byte probe of a plain server, the checks of a
 * read-write open, and the device's counters.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "blob_internal.h"
#include "sealmount/log.h"

/* HEAD into p (*ret_have: p was filled). A plain server that refuses HEAD (a pre-signed GET
 * URL, a server without HEAD) is left to the probe. */
static int head(struct blob *b, struct blob_props *p, bool *ret_have)
{
	struct http_response resp;
	int r;

	*ret_have = false;
	r = blob_request(b, "HEAD", NULL, NULL, NULL, 0, 0, &resp);
	if (r < 0)
		return blob_fail_transport(b, r, "Get Blob Properties");
	if (resp.status == 200) {
		r = blob_parse_props(&resp, p);
		*ret_have = r == 0;
	} else if (b->url.kind != BLOB_URL_AZURE && !blob_is_service_answer(&resp) &&
		   (resp.status == 403 || resp.status == 405 || resp.status == 501)) {
		log_debug("blob: HEAD answered %ld; asking with a ranged GET", resp.status);
	} else {
		r = blob_fail_status(b, &resp, "Get Blob Properties");
	}
	http_response_done(&resp);
	return r;
}

/* Is the source the Blob service? Its host says so (and then its answer must), or a loopback
 * server's answer does. */
static int classify(struct blob *b, const struct blob_props *p, bool have)
{
	bool answer = have && p->azure;

	if (b->url.kind == BLOB_URL_AZURE && !answer)
		return log_debug_errno(-EPROTO, "blob: an Azure Blob host answered without "
						"x-ms-blob-type");
	b->azure = b->url.kind != BLOB_URL_HTTP && answer;
	return 0;
}

/* bytes=0-0 must come back as 206 with the size and validators HEAD gave (or give them). */
static int probe(struct blob *b, struct blob_props *p, bool have)
{
	struct blob_range_hdrs h = { 0 };
	struct http_response resp;
	uint8_t one;
	struct iovec iov = { &one, 1 };
	int r;

	if (have && p->size == 0)
		return 0; /* nothing to read, nothing to probe */
	blob_range_headers(b, 0, 1, &h);
	r = blob_request_sink(b, "GET", NULL, h.v, NULL, 0, 0, &iov, 1, &resp);
	if (r == -EFBIG)
		return log_debug_errno(-EPROTO,
				       "blob: the server ignores Range (a body over 1 byte)");
	if (r < 0)
		return blob_fail_transport(b, r, "ranged GET");
	if (resp.status == 200)
		r = log_debug_errno(-EPROTO, "blob: the server ignores Range (200, not 206)");
	else if (resp.status != 206)
		r = blob_fail_status(b, &resp, "ranged GET");
	else
		r = blob_parse_probe(&resp, resp.sink_len, p, have);
	http_response_done(&resp);
	return r;
}

/* What a plain source may be asked for. */
static int check_plain(const struct blob *b, const struct blob_options *o)
{
	if (o->auth != BLOB_AUTH_ANONYMOUS)
		return log_debug_errno(-EINVAL,
				       "blob: credentials given, but %s is not a Blob "
				       "service",
				       b->url.base);
	if (o->rw)
		return log_debug_errno(-EROFS,
				       "blob: read-write needs an Azure page blob; %s is "
				       "a plain HTTP source",
				       b->url.base);
	if (o->verify_md5)
		return log_debug_errno(-EOPNOTSUPP,
				       "blob: per-range MD5 is a Blob feature; %s "
				       "is a plain HTTP source",
				       b->url.base);
	return 0;
}

static int check_azure(const struct blob *b, const struct blob_props *p)
{
	if (b->rw && p->type != BLOB_TYPE_PAGE)
		return log_debug_errno(-EMEDIUMTYPE,
				       "blob: read-write needs a page blob, this is a %s",
				       blob_type_name(p->type));
	if (b->rw && p->size % BLOB_PAGE)
		return log_debug_errno(-EPROTO,
				       "blob: page blob size %" PRIu64 " is not a multiple of 512",
				       p->size);
	return 0;
}

/* Properties, kind, probe: everything an open needs before the device exists. A read-only open
 * pins the version into b (the probe already carries the pin). */
static int open_props(struct blob *b, const struct blob_options *o, struct blob_props *p)
{
	bool have;
	int r;

	r = head(b, p, &have);
	r = r ?: classify(b, p, have);
	if (r < 0)
		return r;
	if (!b->rw && have) {
		snprintf(b->etag, sizeof(b->etag), "%s", p->etag);
		snprintf(b->last_modified, sizeof(b->last_modified), "%s", p->last_modified);
	}
	if (b->azure) {
		/* Plain http to the service: nothing else protects the bytes in transit. */
		b->verify_md5 = o->verify_md5 || b->url.plain;
		b->range_max = b->verify_md5 ? BLOB_RANGE_MD5_MAX : BLOB_RANGE_MAX;
		r = check_azure(b, p);
	} else {
		b->verify_md5 = false;
		b->range_max = BLOB_RANGE_MAX;
		r = check_plain(b, o);
		r = r ?: probe(b, p, have);
		if (r == 0 && !b->rw) {
			snprintf(b->etag, sizeof(b->etag), "%s", p->etag);
			snprintf(b->last_modified, sizeof(b->last_modified), "%s",
				 p->last_modified);
		}
	}
	if (r == 0)
		b->size = p->size;
	b->pace.hint_max = (uint32_t)(b->range_max < BLOB_HINT_MAX ? b->range_max : BLOB_HINT_MAX);
	return r;
}

int blob_get_properties(const struct blob_options *o, struct blob_props *ret)
{
	_cleanup_(blob_state_freep) struct blob *b = NULL;
	struct blob_props p = { 0 };
	int r;

	r = blob_state_new(o, &b);
	r = r ?: open_props(b, o, &p);
	if (r < 0)
		return r;
	*ret = p;
	return 0;
}

static void blob_close(void *state)
{
	blob_state_free(state);
}

static uint32_t blob_fetch_hint_op(void *state)
{
	struct blob *b = state;

	return blob_pace_hint(&b->pace);
}

static const struct bdev_ops blob_ops = {
	.name = "blob",
	.read = blob_io_read,
	.readv = blob_io_readv,
	.write = blob_io_write,
	.fetch_hint = blob_fetch_hint_op,
	.close = blob_close,
};

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
	ret->inflight_limit = blob_pace_limit(&b->pace);
	ret->rate_limit = (uint64_t)blob_pace_rate(&b->pace);
	ret->fetch_hint = blob_pace_hint(&b->pace);
	return 0;
}

int blob_get_etag(struct bdev *bd, char *out, size_t n)
{
	struct blob *b = bdev_state(bd, &blob_ops);
	const char *v;
	size_t len;

	if (!b)
		return -EINVAL;
	v = b->etag[0] ? b->etag : b->last_modified;
	len = strlen(v);
	if (len >= n)
		return -ENOBUFS;
	memcpy(out, v, len + 1);
	return 0;
}

int blob_open(const struct blob_options *o, struct bdev **ret)
{
	_cleanup_(blob_state_freep) struct blob *b = NULL;
	struct blob_props p = { 0 };
	int r;

	r = blob_state_new(o, &b);
	r = r ?: open_props(b, o, &p);
	if (r < 0)
		return r;
	if (b->rw) {
		r = blob_lease_start(b);
		if (r < 0)
			return r;
	}
	log_debug("blob: opened %s%s (%s, %" PRIu64 " bytes, ETag %s, %s%s)", b->url.base,
		  b->url.path, b->azure ? blob_type_name(p.type) : "plain HTTP source", p.size,
		  p.etag[0] ? p.etag : "none", b->rw ? "read-write, leased" : "read-only",
		  b->verify_md5 ? ", MD5 per range" : "");
	b->diag = NULL; /* the device's reads and the lease thread report through errno only */
	return bdev_new(&blob_ops, TAKE_PTR(b), p.size, o->rw ? BLOB_PAGE : 1, o->rw, ret);
}
