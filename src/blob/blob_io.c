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

static int md5(const void *p, size_t n, uint8_t out[MD5_LEN])
{
	unsigned int len = 0;

	if (!EVP_Digest(p, n, out, &len, EVP_md5(), NULL) || len != MD5_LEN)
		return -EIO;
	return 0;
}

static int check_md5(const struct http_response *resp)
{
	const char *v = http_response_header(resp, "Content-MD5");
	uint8_t want[MD5_LEN], got[MD5_LEN];
	int r;

	if (!v)
		return log_debug_errno(-EBADMSG, "blob: range response without Content-MD5");
	r = b64_decode_fixed(B64_STD, v, strlen(v), want, sizeof(want));
	if (r < 0)
		return log_debug_errno(-EBADMSG, "blob: malformed Content-MD5");
	r = md5(resp->body.data, resp->body.len, got);
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

int blob_check_range_response(const struct http_response *resp, uint64_t off, size_t len)
{
	int r;

	if (resp->body.len != len)
		return log_debug_errno(-EBADMSG, "blob: got %zu bytes for a %zu byte range",
				       resp->body.len, len);
	r = check_content_range(resp, off, len);
	if (r == 0 && len <= BLOB_RANGE_MD5_MAX)
		r = check_md5(resp);
	return r;
}

static int get_range_once(struct blob *b, uint8_t *buf, size_t len, uint64_t off)
{
	char range[80], ifmatch[160];
	const char *hdrs[4] = { range, NULL, NULL, NULL };
	struct http_response resp;
	size_t n = 1;
	int r;

	snprintf(range, sizeof(range), "x-ms-range: bytes=%" PRIu64 "-%" PRIu64, off,
		 off + len - 1);
	if (len <= BLOB_RANGE_MD5_MAX)
		hdrs[n++] = "x-ms-range-get-content-md5: true";
	if (!b->rw) { /* rw consistency comes from the lease: our own writes move the ETag */
		snprintf(ifmatch, sizeof(ifmatch), "If-Match: %s", b->etag);
		hdrs[n++] = ifmatch;
	}
	r = blob_request(b, "GET", NULL, hdrs, NULL, 0, len, &resp);
	if (r == -EFBIG)
		return log_debug_errno(-EBADMSG, "blob: range response larger than asked");
	if (r < 0)
		return r;
	if (resp.status != 206)
		r = blob_status_error(&resp, "Get Blob (range)");
	else
		r = blob_check_range_response(&resp, off, len);
	if (r == 0) {
		memcpy(buf, resp.body.data, len);
		BLOB_STAT_ADD(b, bytes_read, len);
	}
	http_response_done(&resp);
	return r;
}

static int get_range(struct blob *b, uint8_t *buf, size_t len, uint64_t off)
{
	int r = -EBADMSG;

	for (int i = 0; i <= BLOB_VERIFY_RETRIES; i++) {
		r = get_range_once(b, buf, len, off);
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

int blob_io_read(void *state, void *buf, size_t len, uint64_t off)
{
	struct blob *b = state;
	uint8_t *p = buf;

	while (len > 0) {
		size_t n = len < BLOB_RANGE_MD5_MAX ? len : BLOB_RANGE_MD5_MAX;
		int r = get_range(b, p, n, off);

		if (r < 0)
			return r;
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

static int put_page(struct blob *b, const uint8_t *data, size_t len, uint64_t off)
{
	char range[80], md5hdr[64], lease[BLOB_LEASE_ID_MAX + 16], id[BLOB_LEASE_ID_MAX];
	const char *hdrs[] = { "x-ms-page-write: update", range, md5hdr, lease, NULL };
	_cleanup_free_ char *b64 = NULL;
	struct http_response resp;
	uint8_t digest[MD5_LEN];
	int r;

	r = md5(data, len, digest);
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
