/* SPDX-License-Identifier: MIT */
/*
 * test_hostile.c - hostile server responses at the level of the pure handlers the curl callbacks
 * and the blob client use (http_attempt_add_header/_body, blob_parse_props,
 * blob_check_range_response, blob_status_error): caps on header count and bytes that interim
 * responses cannot reset, a 2 GB Content-Length, folded and nameless lines, a body past its cap,
 * property headers that overflow, ranges that lie. The end-to-end forms (through the CLI, against
 * tests/emulators/hostile.mjs) are tests/integration/test-hostile-*.sh.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "src/blob/blob_internal.h"
#include "src/common/http_internal.h"
#include "unit.h"

static struct http_attempt attempt(size_t max_response, bool is_head)
{
	struct http_attempt a = { .max_response = max_response, .is_head = is_head };

	buf_init(&a.body, max_response);
	return a;
}

static int add(struct http_attempt *a, const char *line)
{
	return http_attempt_add_header(a, line, strlen(line));
}

START_TEST(hostile_content_length_over_cap)
{
	struct http_attempt a = attempt(1024, false);

	ck_assert_int_eq(add(&a, "HTTP/1.1 200 OK\r\n"), 0);
	ck_assert_int_eq(add(&a, "Content-Length: 1024\r\n"), 0);
	ck_assert_int_eq(add(&a, "Content-Length: 2147483648\r\n"), -EFBIG);
	ck_assert_int_eq(add(&a, "content-length:99999999999999999999999999999999\r\n"), -EFBIG);
	http_attempt_done(&a);

	/* HEAD: the length describes the resource, not this (empty) response. */
	a = attempt(1024, true);
	ck_assert_int_eq(add(&a, "Content-Length: 2147483648\r\n"), 0);
	ck_assert_str_eq(http_headers_find(a.headers, a.n_headers, "content-length"), "2147483648");
	http_attempt_done(&a);
}
END_TEST

START_TEST(hostile_header_count_and_bytes)
{
	struct http_attempt a = attempt(1024, false);
	char line[64];
	unsigned i;
	int r = 0;

	for (i = 0; i < 1000 && r == 0; i++) {
		snprintf(line, sizeof(line), "X-H%u: v\r\n", i);
		r = add(&a, line);
	}
	ck_assert_int_eq(r, -EFBIG);
	ck_assert_uint_eq(i, HTTP_HEADERS_MAX + 1);
	http_attempt_done(&a);

	/* An interim response starts a new header list, but not a new byte budget. */
	a = attempt(1024, false);
	r = 0;
	for (i = 0; i < 100000 && r == 0; i++) {
		r = add(&a, "HTTP/1.1 100 Continue\r\n");
		r = r ?: add(&a, "X-Filler: 0123456789\r\n");
		r = r ?: add(&a, "\r\n");
	}
	ck_assert_int_eq(r, -EFBIG);
	ck_assert_uint_le(a.header_bytes, HTTP_HEADERS_MAX_BYTES + 64);
	http_attempt_done(&a);
}
END_TEST

START_TEST(hostile_malformed_lines)
{
	struct http_attempt a = attempt(1024, false);

	ck_assert_int_eq(add(&a, "X-A: 1\r\n"), 0);
	ck_assert_int_eq(add(&a, "  folded continuation\r\n"), -EPROTO);
	ck_assert_int_eq(add(&a, "\tfolded\r\n"), -EPROTO);
	ck_assert_int_eq(add(&a, ": no name\r\n"), -EPROTO);
	ck_assert_int_eq(add(&a, "no colon at all\r\n"), -EPROTO);
	ck_assert_int_eq(add(&a, "X A: space in the name\r\n"), -EPROTO);
	ck_assert_int_eq(add(&a, "X-\x1b[31m: escape in the name\r\n"), -EPROTO);
	/* A NUL would make our copy differ from what libcurl parsed ("Content-Length\0x: 5"). */
	ck_assert_int_eq(http_attempt_add_header(&a, "X-N\0ul: v\r\n", 11), -EPROTO);
	ck_assert_int_eq(http_attempt_add_header(&a, "X-Z: a\0b\r\n", 10), -EPROTO);
	ck_assert_ptr_null(http_headers_find(a.headers, a.n_headers, "X-Z"));
	ck_assert_str_eq(http_headers_find(a.headers, a.n_headers, "x-a"), "1");
	http_attempt_done(&a);
}
END_TEST

START_TEST(hostile_body_over_cap)
{
	struct http_attempt a = attempt(100, false);
	char chunk[64] = { 0 };

	ck_assert_int_eq(http_attempt_add_body(&a, chunk, sizeof(chunk)), 0);
	ck_assert_int_eq(http_attempt_add_body(&a, chunk, 36), 0);
	ck_assert_int_eq(http_attempt_add_body(&a, chunk, 1), -EFBIG);
	ck_assert_uint_eq(a.body.len, 100);
	http_attempt_done(&a);
}
END_TEST

/* A 2xx body goes to the caller's scatter list, exactly, and no further; an error document
 * (any other status, interim responses included) still goes to the capped body buffer. */
START_TEST(hostile_body_sink)
{
	struct http_attempt a = attempt(64, false);
	char x[5], y[3], z[8], big[100];
	struct iovec iov[] = { { x, sizeof(x) }, { y, 0 }, { y, sizeof(y) }, { z, sizeof(z) } };

	memset(big, 'e', sizeof(big));
	ck_assert_int_eq(http_attempt_set_sink(&a, iov, 4), 0);
	ck_assert_uint_eq(a.sink_cap, 16);
	/* A 100 Continue is not 2xx; its (empty) body would not reach the sink either. */
	ck_assert_int_eq(add(&a, "HTTP/1.1 100 Continue\r\n"), 0);
	ck_assert_int_eq(add(&a, "HTTP/1.1 206 Partial Content\r\n"), 0);
	ck_assert_int_eq(add(&a, "Content-Length: 17\r\n"), -EFBIG); /* over the sink, not 64 */
	ck_assert_int_eq(add(&a, "Content-Length: 16\r\n"), 0);
	ck_assert_int_eq(http_attempt_add_body(&a, "abcdefg", 7), 0);
	ck_assert_int_eq(http_attempt_add_body(&a, "hijklmnop", 9), 0);
	ck_assert_int_eq(http_attempt_add_body(&a, "q", 1), -EFBIG);
	ck_assert_uint_eq(a.sink_len, 16);
	ck_assert_uint_eq(a.body.len, 0);
	ck_assert_mem_eq(x, "abcde", 5);
	ck_assert_mem_eq(y, "fgh", 3);
	ck_assert_mem_eq(z, "ijklmnop", 8);

	/* A retried attempt starts the sink afresh; a 503's document goes to the body buffer. */
	http_attempt_reset(&a);
	ck_assert_int_eq(add(&a, "HTTP/1.1 503 Server Busy\r\n"), 0);
	ck_assert_int_eq(add(&a, "Content-Length: 40\r\n"), 0);
	ck_assert_int_eq(http_attempt_add_body(&a, big, 40), 0);
	ck_assert_uint_eq(a.sink_len, 0);
	ck_assert_uint_eq(a.body.len, 40);
	ck_assert_int_eq(http_attempt_add_body(&a, big, 25), -EFBIG); /* max_response 64 */
	ck_assert_mem_eq(x, "abcde", 5);

	/* A malformed status line is not taken for a 2xx. */
	http_attempt_reset(&a);
	ck_assert_int_eq(add(&a, "HTTP/1.1 2000 OK\r\n"), 0);
	ck_assert_int_eq(a.line_status, 0);
	ck_assert_int_eq(add(&a, "HTTP/2 200\r\n"), 0);
	ck_assert_int_eq(a.line_status, 200);
	ck_assert_int_eq(add(&a, "HTTP/1.1 20x OK\r\n"), 0);
	ck_assert_int_eq(a.line_status, 0);

	struct iovec huge[] = { { x, SIZE_MAX }, { y, 2 } };
	ck_assert_int_eq(http_attempt_set_sink(&a, huge, 2), -EOVERFLOW);
	http_attempt_done(&a);
}
END_TEST

/* A response made of header lines (NULL-terminated) and a body; no body: a HEAD's. */
static void response(long status, const char *const *lines, const char *body,
		     struct http_response *ret)
{
	struct http_attempt a = attempt(1u << 20, body[0] == '\0');

	for (; *lines; lines++)
		ck_assert_int_eq(add(&a, *lines), 0);
	ck_assert_int_eq(buf_append(&a.body, body, strlen(body)), 0);
	*ret = (struct http_response){
		.status = status, .body = a.body, .headers = a.headers, .n_headers = a.n_headers
	};
}

START_TEST(hostile_blob_props)
{
	static const char *const overflow[] = { "Content-Length: 18446744073709551616",
						"ETag: \"0x1\"", NULL };
	static const char *const maxed[] = { "Content-Length: 18446744073709551615",
					     "ETag: \"0x1\"", NULL };
	static const char *const overcap[] = { "Content-Length: 1125899906842625", "ETag: \"0x1\"",
					       NULL };
	static const char *const negative[] = { "Content-Length: -1", "ETag: \"0x1\"", NULL };
	static const char *const noetag[] = { "Content-Length: 512", "x-ms-blob-type: PageBlob",
					      NULL };
	static const char *const plain_lm[] = { "Content-Length: 512",
						"Last-Modified: Tue, 01 Apr 2025 10:00:00 GMT",
						NULL };
	static const char *const novalidator[] = { "Content-Length: 512", NULL };
	static const char *const spaces[] = { "Content-Length: 512 512", "ETag: x", NULL };
	char big[300];
	const char *const longetag[] = { "Content-Length: 512", big, NULL };
	struct http_response r;
	struct blob_props p;

	response(200, overflow, "", &r);
	ck_assert_int_eq(blob_parse_props(&r, &p), -EPROTO);
	http_response_done(&r);
	/* 2^64-1 parses, and is refused by the size cap, never wrapped by later arithmetic. */
	response(200, maxed, "", &r);
	ck_assert_int_eq(blob_parse_props(&r, &p), -EFBIG);
	http_response_done(&r);
	response(200, overcap, "", &r);
	ck_assert_int_eq(blob_parse_props(&r, &p), -EFBIG);
	http_response_done(&r);
	response(200, negative, "", &r);
	ck_assert_int_eq(blob_parse_props(&r, &p), -EPROTO);
	http_response_done(&r);
	response(200, noetag, "", &r); /* the Blob service always sends an ETag */
	ck_assert_int_eq(blob_parse_props(&r, &p), -EPROTO);
	http_response_done(&r);
	response(200, plain_lm, "", &r); /* a plain server may pin with Last-Modified */
	ck_assert_int_eq(blob_parse_props(&r, &p), 0);
	ck_assert(!p.azure);
	ck_assert_str_eq(p.last_modified, "Tue, 01 Apr 2025 10:00:00 GMT");
	http_response_done(&r);
	response(200, novalidator, "", &r); /* no way to see a change: refused */
	ck_assert_int_eq(blob_parse_props(&r, &p), -EPROTO);
	http_response_done(&r);
	response(200, spaces, "", &r);
	ck_assert_int_eq(blob_parse_props(&r, &p), -EPROTO);
	http_response_done(&r);

	/* An ETag longer than we keep is refused, never cut (a cut one would never match). */
	snprintf(big, sizeof(big), "ETag: %0*d", (int)sizeof(big) - 7, 0);
	response(200, longetag, "", &r);
	ck_assert_int_eq(blob_parse_props(&r, &p), -EPROTO);
	http_response_done(&r);
}
END_TEST

START_TEST(hostile_blob_range_lies)
{
	/* MD5 of "hello" is XUFAKrxLKna5cZ2REBfFkg==. */
	static const char *const good[] = { "Content-Range: bytes 0-4/10",
					    "Content-MD5: XUFAKrxLKna5cZ2REBfFkg==", NULL };
	static const char *const shifted[] = { "Content-Range: bytes 5-9/10",
					       "Content-MD5: XUFAKrxLKna5cZ2REBfFkg==", NULL };
	static const char *const total[] = { "Content-Range: bytes 0-4/11",
					     "Content-MD5: XUFAKrxLKna5cZ2REBfFkg==", NULL };
	static const char *const star[] = { "Content-Range: bytes 0-4/*", NULL };
	static const char *const nomd5[] = { "Content-Range: bytes 0-4/10", NULL };
	static const char *const badmd5[] = { "Content-Range: bytes 0-4/10", "Content-MD5: !!!!",
					      NULL };
	static const char *const etag[] = { "Content-Range: bytes 0-4/10", "ETag: \"v2\"", NULL };
	static const char *const lm[] = { "Content-Range: bytes 0-4/10",
					  "Last-Modified: Wed, 02 Apr 2025 10:00:00 GMT", NULL };
	struct blob b = { .size = 10, .verify_md5 = true };
	struct http_response r;

	response(206, good, "hello", &r);
	ck_assert_int_eq(blob_check_range_response(&b, &r, 0, 5), 0); /* the control */
	ck_assert_int_eq(blob_check_range_response(&b, &r, 0, 4), -EBADMSG); /* longer than asked */
	ck_assert_int_eq(blob_check_range_response(&b, &r, UINT64_MAX - 5, 5), -EBADMSG);
	b.size = 11; /* the source's size changed since open */
	ck_assert_int_eq(blob_check_range_response(&b, &r, 0, 5), -EBADMSG);
	b.size = 10;
	http_response_done(&r);
	response(206, good, "hellp", &r); /* one bit flipped, MD5 unchanged */
	ck_assert_int_eq(blob_check_range_response(&b, &r, 0, 5), -EBADMSG);
	b.verify_md5 = false; /* without MD5 the transport (TLS) and the layers above protect it */
	ck_assert_int_eq(blob_check_range_response(&b, &r, 0, 5), 0);
	b.verify_md5 = true;
	http_response_done(&r);
	for (size_t i = 0; i < 4; i++) {
		const char *const *lines[] = { shifted, total, star, nomd5 };

		response(206, lines[i], "hello", &r);
		ck_assert_int_eq(blob_check_range_response(&b, &r, 0, 5), -EBADMSG);
		http_response_done(&r);
	}
	response(206, badmd5, "hello", &r);
	ck_assert_int_eq(blob_check_range_response(&b, &r, 0, 5), -EBADMSG);
	http_response_done(&r);

	/* A source that changed its version under a read-only open: stale, not retried. */
	b.verify_md5 = false;
	snprintf(b.etag, sizeof(b.etag), "\"v1\"");
	response(206, etag, "hello", &r);
	ck_assert_int_eq(blob_check_range_response(&b, &r, 0, 5), -ESTALE);
	http_response_done(&r);
	b.etag[0] = '\0';
	snprintf(b.last_modified, sizeof(b.last_modified), "Tue, 01 Apr 2025 10:00:00 GMT");
	response(206, lm, "hello", &r);
	ck_assert_int_eq(blob_check_range_response(&b, &r, 0, 5), -ESTALE);
	http_response_done(&r);
}
END_TEST

START_TEST(hostile_blob_error_code)
{
	char code[9000];
	const char *const lines[] = { code, NULL };
	struct http_response r;

	/* 8 KiB of error code with terminal escapes: an error, the log line sanitised by log.c. */
	snprintf(code, sizeof(code), "x-ms-error-code: Lease\x1b[31m%08000d", 0);
	response(412, lines, "<?xml version=\"1.0\"?><!DOCTYPE e [<!ENTITY a \"a\">]><Error/>", &r);
	ck_assert_int_eq(blob_status_error(&r, "test"), -EBUSY);
	r.status = 200; /* an unexpected status, even a success one, is never 0 */
	ck_assert_int_lt(blob_status_error(&r, "test"), 0);
	r.status = 0;
	ck_assert_int_lt(blob_status_error(&r, "test"), 0);
	r.status = 2147483647L;
	ck_assert_int_eq(blob_status_error(&r, "test"), -EIO);
	http_response_done(&r);
}
END_TEST

static Suite *hostile_suite(void)
{
	Suite *s = suite_create("hostile");
	TCase *tc = tcase_create("responses");

	tcase_add_test(tc, hostile_content_length_over_cap);
	tcase_add_test(tc, hostile_header_count_and_bytes);
	tcase_add_test(tc, hostile_malformed_lines);
	tcase_add_test(tc, hostile_body_over_cap);
	tcase_add_test(tc, hostile_body_sink);
	tcase_add_test(tc, hostile_blob_props);
	tcase_add_test(tc, hostile_blob_range_lies);
	tcase_add_test(tc, hostile_blob_error_code);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(hostile_suite)
