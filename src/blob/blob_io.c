/* SPDX-License-Identifier: MIT */
/*
 * blob_io.c - ranged GETs verified against x-ms-range-get-content-md5, and Put Page.
 * Nothing unverified leaves this file: a body whose range, length or MD5 is off is retried and
 * finally refused with -EBADMSG.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blob_internal.h"
#include "sealmount/codec.h"
#include "sealmount/log.h"

#define MD5_LEN 16

static int md5_iov(const struct iovec *iov, unsigned cnt, uint8_t out[MD5_LEN])
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
	r = md5_iov(iov, cnt, got);
	if (r < 0)
		return r;
	if (CRYPTO_memcmp(want, got, MD5_LEN) != 0)
		return log_debug_errno(-EBADMSG, "blob: range body does not match its MD5");
	return 0;
}

/* "bytes <s>-<e>/<total>" must be exactly the range asked for. */
static int check_content_range(const struct http_response *resp, uint64_t off, size_t len)
{
	const char *v = http_response_header(resp, "Content-Range");
	char want[96];
	size_t n;

	n = (size_t)snprintf(want, sizeof(want), "bytes %" PRIu64 "-%" PRIu64 "/", off,
			     off + len - 1);
	if (!v || strncmp(v, want, n) != 0)
		return log_debug_errno(-EBADMSG, "blob: Content-Range '%s' is not '%s...'",
				       v ? v : "", want);
	return 0;
}

/* got bytes arrived into iov; they must be the len bytes at off that the headers vouch for. */
static int check_range(const struct http_response *resp, size_t got, const struct iovec *iov,
		       unsigned cnt, uint64_t off, size_t len)
{
	int r;

	if (got != len)
		return log_debug_errno(-EBADMSG, "blob: got %zu bytes for a %zu byte range", got,
				       len);
	r = check_content_range(resp, off, len);
	if (r == 0 && len <= BLOB_RANGE_MD5_MAX)
		r = check_md5(resp, iov, cnt);
	return r;
}

int blob_check_range_response(const struct http_response *resp, uint64_t off, size_t len)
{
	struct iovec body = { resp->body.data, resp->body.len };

	return check_range(resp, resp->body.len, &body, 1, off, len);
}

/* One ranged GET of len (<= BLOB_RANGE_MD5_MAX) bytes at off, straight into iov (which holds
 * exactly len bytes). On failure iov holds unverified bytes: callers must not use them. */
static int get_range_once(struct blob *b, const struct iovec *iov, unsigned cnt, size_t len,
			  uint64_t off)
{
	char range[80], ifmatch[160];
	const char *hdrs[4] = { range, "x-ms-range-get-content-md5: true", NULL, NULL };
	struct http_response resp;
	int r;

	snprintf(range, sizeof(range), "x-ms-range: bytes=%" PRIu64 "-%" PRIu64, off,
		 off + len - 1);
	if (!b->rw) { /* rw consistency comes from the lease: our own writes move the ETag */
		snprintf(ifmatch, sizeof(ifmatch), "If-Match: %s", b->etag);
		hdrs[2] = ifmatch;
	}
	r = blob_request_sink(b, "GET", NULL, hdrs, NULL, 0, 0, iov, cnt, &resp);
	if (r == -EFBIG)
		return log_debug_errno(-EBADMSG, "blob: range response larger than asked");
	if (r < 0)
		return r;
	if (resp.status != 206)
		r = blob_status_error(&resp, "Get Blob (range)");
	else
		r = check_range(&resp, resp.sink_len, iov, cnt, off, len);
	if (r == 0)
		BLOB_STAT_ADD(b, bytes_read, len);
	http_response_done(&resp);
	return r;
}

static int get_range(struct blob *b, const struct iovec *iov, unsigned cnt, size_t len,
		     uint64_t off)
{
	int r = -EBADMSG;

	for (int i = 0; i <= BLOB_VERIFY_RETRIES; i++) {
		r = get_range_once(b, iov, cnt, len, off);
		if (r != -EBADMSG)
			return r;
		BLOB_STAT_ADD(b, verify_failures, 1);
		if (i < BLOB_VERIFY_RETRIES)
			BLOB_STAT_ADD(b, retries, 1);
		log_debug("blob: verification of %zu bytes at %" PRIu64 " failed (try %d), "
			  "fetching again",
			  len, off, i + 1);
	}
	return r;
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

/* Ranged GETs of at most BLOB_RANGE_MD5_MAX bytes (each one MD5-verified), each written
 * straight into its slice of iov. */
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
		size_t n = total - done < BLOB_RANGE_MD5_MAX ? total - done : BLOB_RANGE_MD5_MAX;
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
	uint8_t digest[MD5_LEN];
	int r;

	r = md5_iov(&(struct iovec){ (void *)data, len }, 1, digest);
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
	r = blob_request(b, "PUT", "comp=page", hdrs, data, len, 0, &resp);
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
