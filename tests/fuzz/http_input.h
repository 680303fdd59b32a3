/* SPDX-License-Identifier: MIT */
/*
 * http_input.h - turn fuzz bytes into a response the way the http module's curl callbacks build
 * one (shared by fuzz_http_response.c and fuzz_blob_response.c). Input layout:
 *   byte 0        flags: bit 0 HEAD request, bit 1 a small body cap (256 bytes), bits 2-7
 *                 pick the status (see STATUSES)
 *   then          header lines, each ending in '\n' (a "\r" before it is kept), up to the
 *                 first empty line; lines are handed over one by one, as curl does
 *   then          the body, handed over in pieces of at most 97 bytes
 * On 0, *ret is a struct http_response the caller frees with http_response_done().
 * http_input_response_sink() does the same with a 2xx body directed into sink.
 */
#pragma once

#include <string.h>

#include "sealmount/http.h"
#include "src/common/http_internal.h"

static const long STATUSES[] = { 200, 201, 202, 206, 304, 400, 401, 403, 404, 409,
				 412, 416, 429, 500, 503, 302, 100, 0,	 999, 204 };

static inline int http_input_response_sink(const uint8_t *data, size_t size,
					   const struct iovec *sink, unsigned sink_cnt,
					   struct http_response *ret)
{
	struct http_attempt a = {};
	const char *p = (const char *)data + 1, *end = (const char *)data + size;
	int r = 0;

	if (size < 1)
		return -EINVAL;
	a.is_head = data[0] & 1;
	a.max_response = (data[0] & 2) ? 256 : HTTP_DEFAULT_MAX_RESPONSE;
	a.status = STATUSES[(data[0] >> 2) % (sizeof(STATUSES) / sizeof(STATUSES[0]))];
	buf_init(&a.body, a.max_response);
	r = http_attempt_set_sink(&a, sink, sink_cnt);
	while (r == 0 && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		bool blank = len == 1 || (len == 2 && p[0] == '\r');

		r = http_attempt_add_header(&a, p, len);
		p += len;
		if (blank)
			break;
	}
	while (r == 0 && p < end) {
		size_t n = (size_t)(end - p) < 97 ? (size_t)(end - p) : 97;

		r = http_attempt_add_body(&a, p, n);
		p += n;
	}
	if (r == 0)
		r = buf_append(&a.body, "", 0); /* as http_request(): never NULL */
	if (r < 0) {
		http_attempt_done(&a);
		return r;
	}
	*ret = (struct http_response){ .status = a.status,
				       .body = a.body,
				       .headers = a.headers,
				       .n_headers = a.n_headers,
				       .attempts = 1,
				       .sink_len = a.sink_len };
	return 0;
}

static inline int http_input_response(const uint8_t *data, size_t size, struct http_response *ret)
{
	return http_input_response_sink(data, size, NULL, 0, ret);
}
