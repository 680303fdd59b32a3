/* SPDX-License-Identifier: MIT */
/*
 * test_blob.c - the blob layer against a small range server run in a thread of this test (no
 * node, no network): which URLs name which kind of source, opening a plain HTTP range source
 * (HEAD, the probe, validators), what goes on the wire (Range, If-Match or If-Unmodified-Since,
 * no x-ms-* header or credential for a plain server), read-only and MD5 rules, sources that
 * ignore ranges, lie about ranges or sizes, or change under the reader, the Blob service's
 * answers (MD5 forced on for plain http), and pacing under 503s. The same paths against the real
 * servers (Azurite, nginx) are tests/integration/test-blob-*.sh.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sealmount/blob.h"
#include "sealmount/codec.h"
#include "src/blob/blob_internal.h"
#include "unit.h"

/* ---- URLs ------------------------------------------------------------------------------ */

START_TEST(blob_url_kinds)
{
	static const struct {
		const char *url;
		enum blob_url_kind kind;
		const char *account;
	} cases[] = {
		{ "https://acct.blob.core.windows.net/c/b", BLOB_URL_AZURE, "acct" },
		{ "https://ACCT.BLOB.CORE.WINDOWS.NET:443/c/d/b?sv=1", BLOB_URL_AZURE, "ACCT" },
		{ "https://a.blob.core.usgovcloudapi.net/c/b", BLOB_URL_AZURE, "a" },
		{ "https://a.blob.core.chinacloudapi.cn/c/b", BLOB_URL_AZURE, "a" },
		{ "https://a.z12.blob.storage.azure.net/c/b", BLOB_URL_AZURE, "a" },
		{ "http://127.0.0.1:10000/devstoreaccount1/c/b", BLOB_URL_PATH_STYLE,
		  "devstoreaccount1" },
		{ "http://[::1]:10000/acc/c/b", BLOB_URL_PATH_STYLE, "acc" },
		/* Plain sources: everything else. */
		{ "http://127.0.0.1:8080/images/disk.img", BLOB_URL_HTTP, NULL },
		{ "http://127.0.0.1:8080/", BLOB_URL_HTTP, NULL },
		{ "https://cdn.example.com/x/y/z.img?X-Amz-Signature=abc", BLOB_URL_HTTP, NULL },
		{ "https://acct.blob.core.windows.net.evil.example/c/b", BLOB_URL_HTTP, NULL },
		{ "https://blob.core.windows.net/c/b", BLOB_URL_HTTP, NULL },
		{ "https://10.0.0.1/only/two", BLOB_URL_HTTP, NULL },
	};
	struct blob_url u;

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		ck_assert_msg(blob_url_parse(cases[i].url, &u) == 0, "refused %s", cases[i].url);
		ck_assert_msg(u.kind == cases[i].kind, "%s: kind %d", cases[i].url, u.kind);
		if (cases[i].account)
			ck_assert_str_eq(u.account, cases[i].account);
		else
			ck_assert_ptr_null(u.account);
		blob_url_done(&u);
	}
	ck_assert_int_eq(blob_url_parse("https://cdn.example.com/a.img?sig=S", &u), 0);
	ck_assert_str_eq(u.base, "https://cdn.example.com");
	ck_assert_str_eq(u.path, "/a.img");
	ck_assert_str_eq(u.query, "sig=S");
	ck_assert(!u.plain);
	blob_url_done(&u);
	ck_assert_int_eq(blob_url_parse("http://localhost:1/a", &u), 0);
	ck_assert(u.plain);
	blob_url_done(&u);
}
END_TEST

START_TEST(blob_url_refused)
{
	static const char *const bad[] = {
		"https://acct.blob.core.windows.net/c", /* a Blob host needs container and blob */
		"https://acct.blob.core.windows.net//b", "https://cdn.example.com/a#frag",
		"https://user@cdn.example.com/a",	 "https://cdn.example.com",
		"https://cdn.example.com?x=1",		 "ftp://cdn.example.com/a",
		"https://cdn.example.com/a b",		 "https:///a",
	};
	struct blob_url u;

	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		ck_assert_msg(blob_url_parse(bad[i], &u) == -EINVAL, "accepted %s", bad[i]);
}
END_TEST

START_TEST(blob_content_range_parse)
{
	uint64_t a, b, t;

	ck_assert_int_eq(blob_parse_content_range("bytes 0-0/1", &a, &b, &t), 0);
	ck_assert_int_eq(blob_parse_content_range("bytes 5-9/10", &a, &b, &t), 0);
	ck_assert(a == 5 && b == 9 && t == 10);
	ck_assert_int_eq(blob_parse_content_range("bytes 0-9/10", &a, &b, &t), 0);
	ck_assert_int_eq(blob_parse_content_range("bytes 0-10/10", &a, &b, &t), -EBADMSG);
	ck_assert_int_eq(blob_parse_content_range("bytes 9-5/10", &a, &b, &t), -EBADMSG);
	ck_assert_int_eq(blob_parse_content_range("bytes 0-4/*", &a, &b, &t), -EBADMSG);
	ck_assert_int_eq(blob_parse_content_range("bytes */10", &a, &b, &t), -EBADMSG);
	ck_assert_int_eq(blob_parse_content_range("bytes 0-4/10 ", &a, &b, &t), -EBADMSG);
	ck_assert_int_eq(blob_parse_content_range("bytes -1-4/10", &a, &b, &t), -EBADMSG);
	ck_assert_int_eq(blob_parse_content_range("bytes 0-4/18446744073709551616", &a, &b, &t),
			 -EBADMSG);
	ck_assert_int_eq(blob_parse_content_range("bytes 0-4/18446744073709551615", &a, &b, &t),
			 -EBADMSG); /* over BLOB_SIZE_MAX */
	ck_assert_int_eq(blob_parse_content_range("octets 0-4/10", &a, &b, &t), -EBADMSG);
}
END_TEST

/* ---- a range server in a thread ------------------------------------------------------- */

enum {
	RS_HEAD_405 = 1 << 0, /* HEAD refused, as a pre-signed GET URL refuses it */
	RS_IGNORE_RANGE = 1 << 1, /* 200 and the whole body */
	RS_WEAK_ETAG = 1 << 2,
	RS_NO_ETAG = 1 << 3,
	RS_AZURE = 1 << 4, /* x-ms-blob-type, and Content-MD5 for x-ms-range-get-content-md5 */
	RS_SHIFT = 1 << 5, /* Content-Range of another range */
	RS_HONOUR_IF = 1 << 6, /* 412 when If-Match does not match */
};

struct rs {
	int fd;
	unsigned port;
	pthread_t thread;
	pthread_mutex_t lock;
	const uint8_t *data;
	size_t size;
	unsigned flags;
	const char *head_length; /* Content-Length a HEAD claims (NULL: the size) */
	const char *blob_type; /* x-ms-blob-type with RS_AZURE (NULL: BlockBlob) */
	char etag[64];
	unsigned busy; /* answer this many GETs 503 first */
	bool busy_500; /* ... as 500 OperationTimeout instead */
	/* seen */
	unsigned requests, gets, with_ms, with_auth;
	char last[8192];
};

static const char *hdr(const char *req, const char *name, char *out, size_t n)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\r\n%s:", name);
	p = strcasestr(req, pat);
	if (!p)
		return NULL;
	p += strlen(pat);
	while (*p == ' ')
		p++;
	snprintf(out, n, "%.*s", (int)strcspn(p, "\r"), p);
	return out;
}

static void put(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);

		if (w <= 0)
			return;
		c += w;
		n -= (size_t)w;
	}
}

static void put_str(int fd, const char *s)
{
	put(fd, s, strlen(s));
}

static void md5_b64(const uint8_t *p, size_t n, char out[32])
{
	uint8_t d[16];
	unsigned len = 0;
	char *b = NULL;

	ck_assert(EVP_Digest(p, n, d, &len, EVP_md5(), NULL));
	ck_assert_int_eq(b64_encode(B64_STD, d, sizeof(d), &b), 0);
	snprintf(out, 32, "%s", b);
	free(b);
}

/* Answer one request (with s->lock held for the counters). */
static void rs_answer(struct rs *s, int fd, const char *req)
{
	char h[8192], v[256], extra[512] = "";
	bool is_head = strncmp(req, "HEAD ", 5) == 0;
	unsigned long long a = 0, b = s->size - 1;
	int n;

	s->requests++;
	s->with_ms += strcasestr(req, "\r\nx-ms-") != NULL;
	s->with_auth += strcasestr(req, "\r\nAuthorization:") != NULL;
	snprintf(s->last, sizeof(s->last), "%s", req);
	if (!(s->flags & RS_NO_ETAG))
		snprintf(extra, sizeof(extra), "ETag: %s%s\r\n",
			 s->flags & RS_WEAK_ETAG ? "W/" : "", s->etag);
	n = (int)strlen(extra);
	snprintf(extra + n, sizeof(extra) - (size_t)n,
		 "Last-Modified: Tue, 01 Apr 2025 10:00:00 GMT\r\n%s%s%s",
		 s->flags & RS_AZURE ? "x-ms-blob-type: " : "",
		 s->flags & RS_AZURE ? (s->blob_type ? s->blob_type : "BlockBlob") : "",
		 s->flags & RS_AZURE ? "\r\n" : "");
	if (is_head) {
		if (s->flags & RS_HEAD_405) {
			put_str(fd, "HTTP/1.1 405 Not Allowed\r\nContent-Length: 0\r\n\r\n");
			return;
		}
		n = snprintf(h, sizeof(h), "HTTP/1.1 200 OK\r\nContent-Length: %s\r\n%s\r\n",
			     s->head_length ? s->head_length : "", extra);
		if (!s->head_length)
			n = snprintf(h, sizeof(h),
				     "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n%s\r\n", s->size,
				     extra);
		put(fd, h, (size_t)n);
		return;
	}
	s->gets++;
	if (s->busy > 0) {
		s->busy--;
		put_str(fd, s->busy_500 ? "HTTP/1.1 500 Operation Timeout\r\nx-ms-error-code: "
					  "OperationTimeout\r\nContent-Length: 0\r\n\r\n" :
					  "HTTP/1.1 503 Server Busy\r\nRetry-After: 0\r\n"
					  "Content-Length: 0\r\n\r\n");
		return;
	}
	if ((s->flags & RS_HONOUR_IF) && hdr(req, "If-Match", v, sizeof(v)) && !streq(v, s->etag)) {
		put_str(fd, "HTTP/1.1 412 Precondition Failed\r\nContent-Length: 0\r\n\r\n");
		return;
	}
	if (!(s->flags & RS_IGNORE_RANGE) && hdr(req, "Range", v, sizeof(v))) {
		char *end;

		ck_assert(strncmp(v, "bytes=", 6) == 0);
		a = strtoull(v + 6, &end, 10);
		ck_assert(*end == '-');
		b = strtoull(end + 1, &end, 10);
		ck_assert(*end == '\0' && a <= b && b < s->size);
	}
	if (s->flags & RS_IGNORE_RANGE || !hdr(req, "Range", v, sizeof(v))) {
		n = snprintf(h, sizeof(h), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n%s\r\n",
			     s->size, extra);
	} else {
		char md5[32] = "";

		if ((s->flags & RS_AZURE) && hdr(req, "x-ms-range-get-content-md5", v, sizeof(v)))
			md5_b64(s->data + a, b - a + 1, md5);
		n = snprintf(h, sizeof(h),
			     "HTTP/1.1 206 Partial Content\r\nContent-Length: %llu\r\n"
			     "Content-Range: bytes %llu-%llu/%zu\r\n%s%s%s%s\r\n",
			     b - a + 1, a + (s->flags & RS_SHIFT ? 1 : 0), b, s->size, extra,
			     md5[0] ? "Content-MD5: " : "", md5, md5[0] ? "\r\n" : "");
	}
	put(fd, h, (size_t)n);
	put(fd, s->data + a, b - a + 1);
}

static void *rs_main(void *userp)
{
	struct rs *s = userp;
	char req[8192];

	for (;;) {
		int fd = accept(s->fd, NULL, NULL);
		ssize_t n;
		size_t len = 0;

		if (fd < 0)
			break;
		while (len + 1 < sizeof(req) && !memmem(req, len, "\r\n\r\n", 4)) {
			n = read(fd, req + len, sizeof(req) - 1 - len);
			if (n <= 0)
				break;
			len += (size_t)n;
		}
		req[len] = '\0';
		pthread_mutex_lock(&s->lock);
		rs_answer(s, fd, req);
		pthread_mutex_unlock(&s->lock);
		shutdown(fd, SHUT_RDWR);
		close(fd);
	}
	return NULL;
}

static uint8_t payload[300000];

static void rs_start(struct rs *s, unsigned flags)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);

	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7 + i / 251);
	*s = (struct rs){ .data = payload, .size = sizeof(payload), .flags = flags };
	snprintf(s->etag, sizeof(s->etag), "\"v1\"");
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(s->fd, 0);
	ck_assert_int_eq(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(s->fd, 64), 0);
	ck_assert_int_eq(getsockname(s->fd, (struct sockaddr *)&a, &alen), 0);
	s->port = ntohs(a.sin_port);
	pthread_mutex_init(&s->lock, NULL);
	ck_assert_int_eq(pthread_create(&s->thread, NULL, rs_main, s), 0);
}

static void rs_stop(struct rs *s)
{
	shutdown(s->fd, SHUT_RDWR);
	pthread_join(s->thread, NULL);
	close(s->fd);
	pthread_mutex_destroy(&s->lock);
}

static char url_buf[128];

/* A plain-source URL (one segment) or an Azurite-style one. */
static struct blob_options rs_opts(const struct rs *s, bool path_style)
{
	snprintf(url_buf, sizeof(url_buf), "http://127.0.0.1:%u/%s", s->port,
		 path_style ? "acct/c/disk.img" : "disk.img");
	return (struct blob_options){ .url = url_buf, .http_retries = 1 };
}

static unsigned rs_count(struct rs *s, unsigned *field)
{
	unsigned v;

	pthread_mutex_lock(&s->lock);
	v = *field;
	pthread_mutex_unlock(&s->lock);
	return v;
}

static void read_all_and_compare(struct bdev *d)
{
	static uint8_t got[sizeof(payload)];

	ck_assert_uint_eq(bdev_size(d), sizeof(payload));
	ck_assert_int_eq(bdev_read(d, got, sizeof(got), 0), 0);
	ck_assert_mem_eq(got, payload, sizeof(payload));
	ck_assert_int_eq(bdev_read(d, got, 1, sizeof(payload) - 1), 0);
	ck_assert_int_eq(got[0], payload[sizeof(payload) - 1]);
}

/* ---- plain sources ------------------------------------------------------------------- */

START_TEST(blob_plain_source_reads)
{
	struct rs s;
	struct blob_options o;
	struct bdev *d = NULL;
	struct blob_props p;
	char v[128];

	rs_start(&s, 0);
	o = rs_opts(&s, false);
	ck_assert_int_eq(blob_get_properties(&o, &p), 0);
	ck_assert(!p.azure);
	ck_assert_uint_eq(p.size, sizeof(payload));
	ck_assert_str_eq(p.etag, "\"v1\"");
	ck_assert_int_eq(blob_open(&o, &d), 0);
	read_all_and_compare(d);
	/* Standard headers only: Range and the pinned version, no x-ms-*, no credentials. */
	pthread_mutex_lock(&s.lock);
	ck_assert_ptr_nonnull(hdr(s.last, "Range", v, sizeof(v)));
	ck_assert_str_eq(v, "bytes=299999-299999");
	ck_assert_ptr_nonnull(hdr(s.last, "If-Match", v, sizeof(v)));
	ck_assert_str_eq(v, "\"v1\"");
	ck_assert_uint_eq(s.with_ms, 0);
	ck_assert_uint_eq(s.with_auth, 0);
	pthread_mutex_unlock(&s.lock);
	ck_assert_int_eq(blob_get_etag(d, v, sizeof(v)), 0);
	ck_assert_str_eq(v, "\"v1\"");
	bdev_free(d);

	/* A path-style loopback URL whose server is not Blob is a plain source too; its HEAD
	 * carried x-ms-version (harmless), its reads do not. */
	o = rs_opts(&s, true);
	ck_assert_int_eq(blob_open(&o, &d), 0);
	pthread_mutex_lock(&s.lock);
	s.with_ms = 0;
	pthread_mutex_unlock(&s.lock);
	read_all_and_compare(d);
	ck_assert_uint_eq(rs_count(&s, &s.with_ms), 0);
	bdev_free(d);
	rs_stop(&s);
}
END_TEST

START_TEST(blob_plain_source_rules)
{
	struct rs s;
	struct blob_options o;
	struct bdev *d = NULL;
	struct secret *key = NULL;

	rs_start(&s, 0);
	o = rs_opts(&s, false);
	o.rw = true;
	ck_assert_int_eq(blob_open(&o, &d), -EROFS);
	o.rw = false;
	o.verify_md5 = true;
	ck_assert_int_eq(blob_open(&o, &d), -EOPNOTSUPP);
	o.verify_md5 = false;
	/* A credential is never sent to an arbitrary server: refused before any request. */
	ck_assert_int_eq(secret_new_copy("0123456789abcdef", 16, &key), 0);
	o.auth = BLOB_AUTH_SHARED_KEY;
	o.account_key = key;
	pthread_mutex_lock(&s.lock);
	s.requests = 0;
	pthread_mutex_unlock(&s.lock);
	ck_assert_int_eq(blob_open(&o, &d), -EINVAL);
	ck_assert_uint_eq(rs_count(&s, &s.requests), 0);
	/* On a loopback path-style URL it is sent (the emulator), and refused once the server
	 * turns out not to be Blob. */
	o = rs_opts(&s, true);
	o.auth = BLOB_AUTH_SHARED_KEY;
	o.account_key = key;
	ck_assert_int_eq(blob_open(&o, &d), -EINVAL);
	secret_free(key);
	ck_assert_ptr_null(d);
	rs_stop(&s);
}
END_TEST

START_TEST(blob_plain_source_ignoring_range)
{
	struct rs s;
	struct blob_options o;
	struct bdev *d = NULL;

	rs_start(&s, RS_IGNORE_RANGE);
	o = rs_opts(&s, false);
	ck_assert_int_eq(blob_open(&o, &d), -EPROTO);
	ck_assert_ptr_null(d);
	rs_stop(&s);
}
END_TEST

START_TEST(blob_plain_source_hostile_sizes)
{
	struct rs s;
	struct blob_options o;
	struct bdev *d = NULL;

	rs_start(&s, 0);
	o = rs_opts(&s, false);
	s.head_length = "18446744073709551615"; /* 2^64-1 */
	ck_assert_int_eq(blob_open(&o, &d), -EFBIG);
	s.head_length = "18446744073709551616";
	ck_assert_int_eq(blob_open(&o, &d), -EPROTO);
	s.head_length = "300001"; /* HEAD and the probe's Content-Range disagree */
	ck_assert_int_eq(blob_open(&o, &d), -EPROTO);
	s.head_length = NULL;
	s.flags = RS_SHIFT; /* every range answered as another one */
	ck_assert_int_eq(blob_open(&o, &d), -EPROTO);
	rs_stop(&s);
}
END_TEST

/* Each Azure blob type's own cap, the general one, and sizes that are not sector multiples. */
START_TEST(blob_size_caps)
{
	ck_assert_uint_eq(blob_size_cap(BLOB_TYPE_PAGE, true), 8796093022208ull);
	ck_assert_uint_eq(blob_size_cap(BLOB_TYPE_BLOCK, true), 209715200000000ull);
	ck_assert_uint_eq(blob_size_cap(BLOB_TYPE_APPEND, true), 209715200000ull);
	ck_assert_uint_eq(blob_size_cap(BLOB_TYPE_UNKNOWN, true), BLOB_SIZE_MAX);
	ck_assert_uint_eq(blob_size_cap(BLOB_TYPE_PAGE, false), BLOB_SIZE_MAX);
	ck_assert_uint_le(BLOB_SIZE_MAX, (uint64_t)INT64_MAX);

	ck_assert_int_eq(blob_size_check(BLOB_PAGE_SIZE_MAX, BLOB_TYPE_PAGE, true), 0);
	ck_assert_int_eq(blob_size_check(BLOB_PAGE_SIZE_MAX + 512, BLOB_TYPE_PAGE, true), -EFBIG);
	ck_assert_int_eq(blob_size_check(4096 + 100, BLOB_TYPE_PAGE, true), -EPROTO);
	ck_assert_int_eq(blob_size_check(4096 + 100, BLOB_TYPE_BLOCK, true), 0);
	ck_assert_int_eq(blob_size_check(4096 + 100, BLOB_TYPE_PAGE, false), 0);
	ck_assert_int_eq(blob_size_check(BLOB_BLOCK_SIZE_MAX, BLOB_TYPE_BLOCK, true), 0);
	ck_assert_int_eq(blob_size_check(BLOB_BLOCK_SIZE_MAX + 1, BLOB_TYPE_BLOCK, true), -EFBIG);
	ck_assert_int_eq(blob_size_check(BLOB_APPEND_SIZE_MAX + 1, BLOB_TYPE_APPEND, true), -EFBIG);
	ck_assert_int_eq(blob_size_check(BLOB_SIZE_MAX, BLOB_TYPE_UNKNOWN, false), 0);
	ck_assert_int_eq(blob_size_check(BLOB_SIZE_MAX + 1, BLOB_TYPE_UNKNOWN, false), -EFBIG);
	ck_assert_int_eq(blob_size_check(1ull << 63, BLOB_TYPE_BLOCK, false), -EFBIG);
	ck_assert_int_eq(blob_size_check(UINT64_MAX, BLOB_TYPE_PAGE, true), -EFBIG);
}
END_TEST

/* An Azure answer's size is held to its blob type's cap, before any ranged read. */
START_TEST(blob_azure_hostile_sizes)
{
	static const struct {
		const char *type, *length;
		int want;
	} cases[] = {
		{ "PageBlob", "8796093022720", -EFBIG }, /* 8 TiB + 512 */
		{ "PageBlob", "1048676", -EPROTO }, /* 1 MiB + 100: not in pages */
		{ "BlockBlob", "209715200000001", -EFBIG }, /* 190.7 TiB + 1 */
		{ "AppendBlob", "209715200001", -EFBIG }, /* 195 GiB + 1 */
		{ "BlockBlob", "9223372036854775808", -EFBIG }, /* 2^63 */
		{ "BlockBlob", "18446744073709551615", -EFBIG }, /* 2^64-1 */
		{ "BlockBlob", "18446744073709551616", -EPROTO }, /* 2^64: not a number we read */
	};
	struct rs s;
	struct blob_options o;
	struct blob_props p;
	struct bdev *d = NULL;

	rs_start(&s, RS_AZURE);
	o = rs_opts(&s, true);
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		s.blob_type = cases[i].type;
		s.head_length = cases[i].length;
		ck_assert_msg(blob_get_properties(&o, &p) == cases[i].want, "%s of %s",
			      cases[i].type, cases[i].length);
		ck_assert_msg(blob_open(&o, &d) == cases[i].want, "open %s of %s", cases[i].type,
			      cases[i].length);
		ck_assert_ptr_null(d);
	}
	ck_assert_uint_eq(rs_count(&s, &s.gets), 0); /* refused on the properties alone */
	s.blob_type = "PageBlob";
	s.head_length = NULL; /* 300000 bytes: not in pages either, and honest */
	ck_assert_int_eq(blob_open(&o, &d), -EPROTO);
	s.blob_type = "BlockBlob"; /* a block blob may have any size */
	ck_assert_int_eq(blob_open(&o, &d), 0);
	read_all_and_compare(d);
	bdev_free(d);
	rs_stop(&s);
}
END_TEST

START_TEST(blob_plain_source_head_refused)
{
	struct rs s;
	struct blob_options o;
	struct bdev *d = NULL;

	/* A pre-signed GET URL answers HEAD 403/405: the probe gives size and validators. */
	rs_start(&s, RS_HEAD_405);
	o = rs_opts(&s, false);
	ck_assert_int_eq(blob_open(&o, &d), 0);
	read_all_and_compare(d);
	bdev_free(d);
	rs_stop(&s);
}
END_TEST

START_TEST(blob_plain_source_weak_or_no_etag)
{
	struct rs s;
	struct blob_options o;
	struct bdev *d = NULL;
	char v[128];

	rs_start(&s, RS_WEAK_ETAG);
	o = rs_opts(&s, false);
	ck_assert_int_eq(blob_open(&o, &d), 0);
	read_all_and_compare(d);
	pthread_mutex_lock(&s.lock);
	ck_assert_ptr_null(hdr(s.last, "If-Match", v, sizeof(v))); /* never with a weak ETag */
	ck_assert_ptr_nonnull(hdr(s.last, "If-Unmodified-Since", v, sizeof(v)));
	ck_assert_str_eq(v, "Tue, 01 Apr 2025 10:00:00 GMT");
	pthread_mutex_unlock(&s.lock);
	bdev_free(d);
	s.flags = RS_NO_ETAG;
	ck_assert_int_eq(blob_open(&o, &d), 0);
	ck_assert_int_eq(blob_get_etag(d, v, sizeof(v)), 0);
	ck_assert_str_eq(v, "Tue, 01 Apr 2025 10:00:00 GMT"); /* the version for a disk cache */
	read_all_and_compare(d);
	bdev_free(d);
	rs_stop(&s);
}
END_TEST

START_TEST(blob_plain_source_changes)
{
	struct rs s;
	struct blob_options o;
	struct bdev *d = NULL;
	uint8_t got[1000];
	struct blob_stats st;

	rs_start(&s, RS_HONOUR_IF);
	o = rs_opts(&s, false);
	ck_assert_int_eq(blob_open(&o, &d), 0);
	ck_assert_int_eq(bdev_read(d, got, sizeof(got), 0), 0);
	pthread_mutex_lock(&s.lock);
	snprintf(s.etag, sizeof(s.etag), "\"v2\""); /* replaced: If-Match fails with 412 */
	pthread_mutex_unlock(&s.lock);
	ck_assert_int_eq(bdev_read(d, got, sizeof(got), 1000), -ESTALE);
	pthread_mutex_lock(&s.lock);
	s.flags = 0; /* a server that ignores If-Match: the answer's ETag gives it away */
	pthread_mutex_unlock(&s.lock);
	ck_assert_int_eq(bdev_read(d, got, sizeof(got), 1000), -ESTALE);
	/* A wrong Content-Range is fetched again a few times, then refused. */
	pthread_mutex_lock(&s.lock);
	snprintf(s.etag, sizeof(s.etag), "\"v1\"");
	s.flags = RS_SHIFT;
	s.gets = 0;
	pthread_mutex_unlock(&s.lock);
	ck_assert_int_eq(bdev_read(d, got, sizeof(got), 1000), -EBADMSG);
	ck_assert_uint_eq(rs_count(&s, &s.gets), BLOB_VERIFY_RETRIES + 1);
	ck_assert_int_eq(blob_get_stats(d, &st), 0);
	ck_assert_uint_eq(st.verify_failures, BLOB_VERIFY_RETRIES + 1);
	bdev_free(d);
	rs_stop(&s);
}
END_TEST

/* ---- the Blob service ----------------------------------------------------------------- */

START_TEST(blob_service_over_plain_http_verifies_md5)
{
	struct rs s;
	struct blob_options o;
	struct bdev *d = NULL;
	char v[128];

	rs_start(&s, RS_AZURE);
	o = rs_opts(&s, true);
	ck_assert_int_eq(blob_open(&o, &d), 0);
	read_all_and_compare(d);
	pthread_mutex_lock(&s.lock);
	ck_assert_ptr_nonnull(hdr(s.last, "x-ms-version", v, sizeof(v)));
	ck_assert_ptr_nonnull(hdr(s.last, "x-ms-range-get-content-md5", v, sizeof(v)));
	pthread_mutex_unlock(&s.lock);
	bdev_free(d);
	rs_stop(&s);
}
END_TEST

/* ---- pacing ---------------------------------------------------------------------------- */

START_TEST(blob_busy_server_slows_the_client)
{
	struct rs s;
	struct blob_options o;
	struct bdev *d = NULL;
	struct blob_stats st;
	uint8_t got[4096];

	rs_start(&s, 0);
	o = rs_opts(&s, false);
	ck_assert_int_eq(blob_open(&o, &d), 0);
	ck_assert_int_eq(blob_get_stats(d, &st), 0);
	ck_assert_uint_eq(st.inflight_limit, BLOB_INFLIGHT_MAX);
	ck_assert_uint_eq(st.fetch_hint, 0);
	ck_assert_uint_eq(bdev_fetch_hint(d), 0);
	/* Busier than the HTTP retries (1 here) cover: the layer backs off and tries again. */
	pthread_mutex_lock(&s.lock);
	s.busy = 3;
	pthread_mutex_unlock(&s.lock);
	ck_assert_int_eq(bdev_read(d, got, sizeof(got), 5000), 0);
	ck_assert_mem_eq(got, payload + 5000, sizeof(got));
	ck_assert_int_eq(blob_get_stats(d, &st), 0);
	ck_assert_uint_eq(st.busy, 3);
	ck_assert_uint_lt(st.inflight_limit, BLOB_INFLIGHT_MAX);
	ck_assert_uint_ge(st.rate_limit, 1);
	ck_assert_uint_ge(st.fetch_hint, BLOB_HINT_MIN);
	ck_assert_uint_eq(bdev_fetch_hint(d), st.fetch_hint);
	bdev_free(d);

	/* Azure's other throttling answer, 500 OperationTimeout (a plain 500 is a failure). */
	ck_assert_int_eq(blob_open(&o, &d), 0);
	pthread_mutex_lock(&s.lock);
	s.busy = 2; /* both attempts of the first request */
	s.busy_500 = true;
	pthread_mutex_unlock(&s.lock);
	ck_assert_int_eq(bdev_read(d, got, sizeof(got), 7000), 0);
	ck_assert_mem_eq(got, payload + 7000, sizeof(got));
	ck_assert_int_eq(blob_get_stats(d, &st), 0);
	ck_assert_uint_eq(st.busy, 1); /* the last answer of the exhausted request */
	ck_assert_uint_ge(st.rate_limit, 1);
	bdev_free(d);
	rs_stop(&s);
}
END_TEST

START_TEST(blob_pace_aimd)
{
	struct blob_pace p;

	blob_pace_init(&p);
	for (unsigned i = 0; i < 10; i++)
		blob_pace_enter(&p);
	ck_assert(blob_pace_rate(&p) == 0); /* no rate limit before a busy answer */
	blob_pace_leave(&p, 1); /* 10 in flight (10 started this second), busy: cut to 5 */
	ck_assert_uint_eq(blob_pace_limit(&p), 5);
	ck_assert(blob_pace_rate(&p) == 5.0); /* half the requests per second it was starting */
	ck_assert_uint_eq(blob_pace_hint(&p), BLOB_HINT_MIN);
	blob_pace_leave(&p, 1); /* within a second: no second cut, but larger fetches */
	ck_assert_uint_eq(blob_pace_limit(&p), 5);
	ck_assert_uint_eq(blob_pace_hint(&p), 2 * BLOB_HINT_MIN);
	for (unsigned i = 0; i < 8; i++)
		blob_pace_leave(&p, 0);
	/* Additive increase: one more per window (5) of clean answers; the rate by 1/rate each. */
	ck_assert_uint_eq(blob_pace_limit(&p), 6);
	ck_assert(blob_pace_rate(&p) > 6.0 && blob_pace_rate(&p) < 7.0);
	for (unsigned i = 0; i < 10; i++) {
		blob_pace_enter(&p);
		blob_pace_leave(&p, 1);
	}
	ck_assert_uint_eq(blob_pace_hint(&p), BLOB_HINT_MAX); /* capped */
	blob_pace_done(&p);
}
END_TEST

static Suite *blob_suite(void)
{
	Suite *s = suite_create("blob");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, blob_url_kinds);
	tcase_add_test(tc, blob_url_refused);
	tcase_add_test(tc, blob_content_range_parse);
	tcase_add_test(tc, blob_plain_source_reads);
	tcase_add_test(tc, blob_plain_source_rules);
	tcase_add_test(tc, blob_plain_source_ignoring_range);
	tcase_add_test(tc, blob_plain_source_hostile_sizes);
	tcase_add_test(tc, blob_size_caps);
	tcase_add_test(tc, blob_azure_hostile_sizes);
	tcase_add_test(tc, blob_plain_source_head_refused);
	tcase_add_test(tc, blob_plain_source_weak_or_no_etag);
	tcase_add_test(tc, blob_plain_source_changes);
	tcase_add_test(tc, blob_service_over_plain_http_verifies_md5);
	tcase_add_test(tc, blob_busy_server_slows_the_client);
	tcase_add_test(tc, blob_pace_aimd);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(blob_suite)
