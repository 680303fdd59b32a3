/* SPDX-License-Identifier: MIT */
/*
 * blob_io.c - ranged GETs (checked by blob_check_range(): range, length, version and, when
 * asked, MD5), paced and retried while the server is busy, and Put Page. Nothing unverified
 * leaves this file: a body that fails a check is fetched again and finally refused (-EBADMSG).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blob_internal.h"
#include "sealmount/codec.h"
#include "sealmount/log.h"

void blob_range_headers(const struct blob *b, uint64_t off, size_t len, struct blob_range_hdrs *h)
{
	size_t n = 0;

	snprintf(h->range, sizeof(h->range), "Range: bytes=%" PRIu64 "-%" PRIu64, off,
		 off + len - 1);
	h->v[n++] = h->range;
	/* rw consistency comes from the lease: our own writes move the ETag. */
	if (!b->rw && blob_etag_is_strong(b->etag)) {
		snprintf(h->cond, sizeof(h->cond), "If-Match: %s", b->etag);
		h->v[n++] = h->cond;
	} else if (!b->rw && b->last_modified[0]) {
		snprintf(h->cond, sizeof(h->cond), "If-Unmodified-Since: %s", b->last_modified);
		h->v[n++] = h->cond;
	}
	if (b->verify_md5)
		h->v[n++] = "x-ms-range-get-content-md5: true";
	h->v[n] = NULL;
}

/* Azure's other answer above a scalability target: 500 with x-ms-error-code OperationTimeout
 * (the last attempt's; the http layer's busy count has the 429/503 ones). */
static bool is_timeout(const struct http_response *resp)
{
	return resp->status == 500 &&
	       streq(http_response_header(resp, "x-ms-error-code"), "OperationTimeout");
}

/* One ranged GET of len (<= b->range_max) bytes at off, straight into iov (which holds exactly
 * len bytes). On failure iov holds unverified bytes: callers must not use them. */
int blob_get_range_once(struct blob *b, const struct iovec *iov, unsigned cnt, size_t len,
			uint64_t off)
{
	struct blob_range_hdrs h = { 0 };
	struct http_response resp;
	bool timeout;
	int r;

	blob_range_headers(b, off, len, &h);
	blob_pace_enter(&b->pace);
	r = blob_request_sink(b, "GET", NULL, h.v, NULL, 0, 0, iov, cnt, &resp);
	timeout = r == 0 && is_timeout(&resp);
	blob_pace_leave(&b->pace, r == 0 ? resp.busy + timeout : 0);
	if (r == -EFBIG)
		return log_debug_errno(-EBADMSG, "blob: range response larger than asked");
	if (r < 0)
		return r;
	if (timeout)
		BLOB_STAT_ADD(b, busy, 1);
	if (resp.status == 206)
		r = blob_check_range(b, &resp, resp.sink_len, iov, cnt, off, len);
	else if (http_status_is_busy(resp.status) || timeout)
		r = -EAGAIN;
	else
		r = blob_status_error(&resp, "Get Blob (range)");
	if (r == 0)
		BLOB_STAT_ADD(b, bytes_read, len);
	http_response_done(&resp);
	return r;
}

/* Fetch again after a failed check (up to BLOB_VERIFY_RETRIES times) or while the server stays
 * busy (with backoff, up to BLOB_BUSY_MAX_S seconds). */
static int get_range(struct blob *b, const struct iovec *iov, unsigned cnt, size_t len,
		     uint64_t off)
{
	struct timespec t0, t;
	unsigned busy = 0;
	int bad = 0, r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		r = blob_get_range_once(b, iov, cnt, len, off);
		if (r == -EAGAIN) {
			clock_gettime(CLOCK_MONOTONIC, &t);
			if (t.tv_sec - t0.tv_sec >= (time_t)BLOB_BUSY_MAX_S)
				return log_debug_errno(-EIO,
						       "blob: the server stayed busy for %u s",
						       BLOB_BUSY_MAX_S);
			BLOB_STAT_ADD(b, retries, 1);
			blob_pace_backoff(++busy);
			continue;
		}
		if (r != -EBADMSG)
			return r;
		BLOB_STAT_ADD(b, verify_failures, 1);
		if (bad++ == BLOB_VERIFY_RETRIES)
			return r;
		BLOB_STAT_ADD(b, retries, 1);
		log_debug("blob: verification of %zu bytes at %" PRIu64 " failed (try %d), "
			  "fetching again",
			  len, off, bad);
	}
}

/* The entries of iov covering [skip, skip + len) into out (room for cnt entries): *out_cnt. */
static void iov_slice(const struct iovec *iov, unsigned cnt, size_t skip, size_t len,
		      struct iovec *out, unsigned *out_cnt)
{
	unsigned n = 0;

	for (unsigned i = 0; i < cnt && len > 0; i++) {
		size_t l = iov[i].iov_len, k;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		k = l - skip < len ? l - skip : len;
		out[n++] = (struct iovec){ (uint8_t *)iov[i].iov_base + skip, k };
		len -= k;
		skip = 0;
	}
	*out_cnt = n;
}

/* Ranged GETs of at most b->range_max bytes, each written straight into its slice of iov. */
int blob_io_readv(void *state, const struct iovec *iov, unsigned cnt, uint64_t off)
{
	struct blob *b = state;
	_cleanup_free_ struct iovec *part = calloc(cnt, sizeof(*part));
	size_t total = 0;

	if (!part)
		return -ENOMEM;
	for (unsigned i = 0; i < cnt; i++)
		total += iov[i].iov_len; /* bdev_readv() checked that this does not overflow */
	for (size_t done = 0; done < total;) {
		size_t n = total - done < b->range_max ? total - done : b->range_max;
		unsigned pc;
		int r;

		iov_slice(iov, cnt, done, n, part, &pc);
		r = get_range(b, part, pc, n, off + done);
		if (r < 0)
			return r;
		done += n;
	}
	return 0;
}

int blob_io_read(void *state, void *buf, size_t len, uint64_t off)
{
	struct iovec one = { buf, len };

	return blob_io_readv(state, &one, 1, off);
}

static int put_page(struct blob *b, const uint8_t *data, size_t len, uint64_t off)
{
	char range[80], md5hdr[64], lease[BLOB_LEASE_ID_MAX + 16], id[BLOB_LEASE_ID_MAX];
	const char *hdrs[] = { "x-ms-page-write: update", range, md5hdr, lease, NULL };
	_cleanup_free_ char *b64 = NULL;
	struct http_response resp;
	uint8_t digest[16];
	int r;

	r = blob_md5_iov(&(struct iovec){ (void *)data, len }, 1, digest);
	r = r ?: b64_encode(B64_STD, digest, sizeof(digest), &b64);
	if (r < 0)
		return r;
	blob_lease_get(b, id);
	snprintf(range, sizeof(range), "x-ms-range: bytes=%" PRIu64 "-%" PRIu64, off,
		 off + len - 1);
	snprintf(md5hdr, sizeof(md5hdr), "Content-MD5: %s", b64);
	snprintf(lease, sizeof(lease), "x-ms-lease-id: %s", id);
	if (!id[0])
		hdrs[3] = NULL;
	blob_pace_enter(&b->pace);
	r = blob_request(b, "PUT", "comp=page", hdrs, data, len, 0, &resp);
	blob_pace_leave(&b->pace, r == 0 ? resp.busy : 0);
	if (r < 0)
		return log_debug_errno(r, "blob: Put Page failed: %m");
	if (resp.status != 201)
		r = blob_status_error(&resp, "Put Page");
	else
		BLOB_STAT_ADD(b, bytes_written, len);
	http_response_done(&resp);
	return r;
}

int blob_io_write(void *state, const void *buf, size_t len, uint64_t off)
{
	struct blob *b = state;
	const uint8_t *p = buf;

	while (len > 0) {
		size_t n = len < BLOB_WRITE_MAX ? len : BLOB_WRITE_MAX;
		int r = put_page(b, p, n, off);

		if (r < 0)
			return r;
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}
