/* SPDX-License-Identifier: MIT */
/*
 * test_http.c - the http module: URL policy, Retry-After, error translation and backoff, and
 * whole requests against a canned HTTP/1.1 server on 127.0.0.1 run in a thread of this test
 * (no node, no network): retries, caps, header handling, what goes on the wire and in the log.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/x509_vfy.h>

#include "sealmount/http.h"
#include "src/common/http_internal.h"
#include "unit.h"

/* ---- URL policy ---------------------------------------------------------------------- */

static const char *const good_urls[] = {
	"https://example.com/",
	"HTTPS://Example.COM:8443/a/b?c=d#e",
	"https://acct.blob.core.windows.net/c/disk.img?sv=2022-11-02&sig=SECRET",
	"https://169.254.169.254/",
	"http://127.0.0.1:8080/ok",
	"http://127.0.0.1/",
	"http://127.255.1.2:1/x",
	"http://[::1]/",
	"http://[::1]:9000/path",
	"http://localhost/",
	"http://LocalHost:3000/x",
};

static const char *const bad_urls[] = {
	"http://example.com/",
	"http://10.0.0.1/",
	"http://169.254.169.253/",
	/* IMDS's address takes plain http only for an IMDS request (http_url_check_imds) */
	"http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01",
	"http://169.254.169.254/",
	"http://169.254.169.254:80/attest/SevSnpVm?api-version=2022-08-01",
	"http://169.254.169.254/keys/k/release?api-version=7.4",
	"http://169.254.169.254/container/blob.img",
	"http://0.0.0.0:80/",
	"http://[::]/",
	"http://[::ffff:127.0.0.1]/",
	"http://[::2]/",
	"http://128.0.0.1/",
	"ftp://127.0.0.1/",
	"ftp://example.com/file",
	"file:///etc/passwd",
	"gopher://127.0.0.1/",
	"dict://localhost/",
	"ldap://localhost/",
	"garbage",
	"",
	"127.0.0.1:8080/ok",
	"//127.0.0.1/",
	"localhost",
	"http://",
	"https://",
	"http://127.0.0.1@evil.com/",
	"http://localhost@evil.com/",
	"http://user:pass@127.0.0.1/",
	"https://user:pass@example.com/",
	"https://token@example.com/",
	"http://127.0.0.1.evil.com/",
	"http://127.0.0.1.nip.io/",
	"http://localhost.evil.com/",
	"http://evil.localhost.com/",
	"http://localhost./",
	"http://169.254.169.254.evil.com/",
	"http://127.0.0.1 /",
	"http://127.0.0.1/\r\nX-Injected: 1",
	"http://[::1%25lo]/",
	"javascript:alert(1)",
};

START_TEST(http_url_check_accepts)
{
	ck_assert_msg(http_url_check(good_urls[_i]) == 0, "refused: %s", good_urls[_i]);
}
END_TEST

START_TEST(http_url_check_refuses)
{
	ck_assert_msg(http_url_check(bad_urls[_i]) == -EINVAL, "accepted: %s", bad_urls[_i]);
}
END_TEST

/* The IMDS exception: 169.254.169.254 over plain http for an IMDS request, and nothing else
 * gains from it. */
START_TEST(http_url_check_imds_only_there)
{
	static const char *const imds_ok[] = {
		"http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01",
		"http://169.254.169.254/metadata/THIM/amd/certification",
		"http://127.0.0.1:8080/metadata/identity/oauth2/token",
		"https://169.254.169.254/",
	};
	static const char *const imds_bad[] = {
		"http://169.254.169.253/",  "http://169.254.169.254.evil.com/",
		"http://imds.example.com/", "http://user@169.254.169.254/",
		"ftp://169.254.169.254/",
	};

	for (size_t i = 0; i < ELEMENTSOF(imds_ok); i++) {
		ck_assert_msg(http_url_check_imds(imds_ok[i]) == 0, "refused: %s", imds_ok[i]);
		if (strncmp(imds_ok[i], "http://169", 10) == 0)
			ck_assert_msg(http_url_check(imds_ok[i]) == -EINVAL, "accepted: %s",
				      imds_ok[i]);
	}
	for (size_t i = 0; i < ELEMENTSOF(imds_bad); i++)
		ck_assert_msg(http_url_check_imds(imds_bad[i]) == -EINVAL, "accepted: %s",
			      imds_bad[i]);
}
END_TEST

/* TLS failures in words: each certificate problem named, the CA settings pointed at; other
 * failures get nothing. */
START_TEST(http_tls_explain_names_the_problem)
{
	static const struct {
		CURLcode cc;
		long v;
		const char *text, *want;
	} cases[] = {
		{ CURLE_PEER_FAILED_VERIFICATION, X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, "",
		  "is self-signed" },
		{ CURLE_PEER_FAILED_VERIFICATION, X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN, "",
		  "self-signed root that is not trusted" },
		{ CURLE_PEER_FAILED_VERIFICATION, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, "",
		  "unknown CA" },
		{ CURLE_PEER_FAILED_VERIFICATION, X509_V_ERR_CERT_HAS_EXPIRED, "", "has expired" },
		{ CURLE_PEER_FAILED_VERIFICATION, X509_V_ERR_CERT_NOT_YET_VALID, "",
		  "not yet valid" },
		{ CURLE_PEER_FAILED_VERIFICATION, X509_V_OK,
		  "SSL: no alternative certificate subject name matches target host name 'h'",
		  "host name mismatch" },
		{ CURLE_PEER_FAILED_VERIFICATION, X509_V_ERR_CERT_REVOKED, "", "revoked" },
		{ CURLE_SSL_CACERT_BADFILE, X509_V_OK, "", "CA bundle cannot be read" },
	};
	char out[HTTP_WHY_MAX];

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		ck_assert_int_gt(http_tls_explain(cases[i].cc, cases[i].v, "h.example",
						  cases[i].text, out, sizeof(out)),
				 0);
		ck_assert_msg(strstr(out, cases[i].want), "case %zu: %s", i, out);
		ck_assert_msg(strstr(out, "TLS to h.example"), "case %zu: %s", i, out);
		if (i != 5)
			ck_assert_msg(strstr(out, "sealmount.ca_file (--ca-file)"), "%s", out);
	}
	out[0] = '\0';
	ck_assert_int_eq(http_tls_explain(CURLE_COULDNT_CONNECT, 0, "h", NULL, out, sizeof(out)),
			 0);
	ck_assert_int_eq(http_tls_explain(CURLE_OPERATION_TIMEDOUT, 0, "h", "", out, sizeof(out)),
			 0);
	ck_assert_str_eq(out, "");
	/* The per-thread record answers only for the errno it was set with. */
	http_last_error_set(-EPROTO, "TLS to h: why");
	ck_assert_str_eq(http_last_error(-EPROTO), "TLS to h: why");
	ck_assert_str_eq(http_last_error(-EIO), "");
	http_last_error_set(-EPROTO, "");
	ck_assert_str_eq(http_last_error(-EPROTO), "");
}
END_TEST

START_TEST(http_url_check_refuses_overlong)
{
	size_t n = 20000;
	char *u = malloc(n + 1);

	ck_assert_ptr_nonnull(u);
	memset(u, 'a', n);
	memcpy(u, "https://example.com/", 20);
	u[n] = '\0';
	ck_assert_int_eq(http_url_check(u), -EINVAL);
	free(u);
}
END_TEST

/* Numeric shorthands either stay refused or are normalised by curl to the very address that is
 * then fetched: whatever curl makes of them, a non-loopback result must be refused. */
START_TEST(http_url_check_numeric_forms_follow_normalisation)
{
	static const char *const forms[] = { "http://2130706433/", "http://0x7f000001/",
					     "http://127.1/", "http://017700000001/" };
	static const char *const outside[] = { "http://167772161/", "http://0x0a000001/",
					       "http://10.1/" };

	for (size_t i = 0; i < ELEMENTSOF(forms); i++) {
		int r = http_url_check(forms[i]);
		ck_assert_msg(r == 0 || r == -EINVAL, "%s: %d", forms[i], r);
	}
	for (size_t i = 0; i < ELEMENTSOF(outside); i++)
		ck_assert_msg(http_url_check(outside[i]) == -EINVAL, "accepted %s", outside[i]);
}
END_TEST

START_TEST(http_url_log_len_stops_at_query)
{
	ck_assert_int_eq(http_url_log_len("https://a/b?sig=x"), 11);
	ck_assert_int_eq(http_url_log_len("https://a/b#frag?x"), 11);
	ck_assert_int_eq(http_url_log_len("https://a/b"), 11);
	ck_assert_int_eq(http_url_log_len("http://a/\r\nX-Forged: 1"), 9);
	ck_assert_int_eq(http_url_log_len("http://a/ b"), 9);
	ck_assert_int_eq(http_url_log_len("http://a/\"b"), 9);
	ck_assert_int_eq(http_url_log_len(""), 0);
}
END_TEST

/* ---- Retry-After --------------------------------------------------------------------- */

/* 1994-11-06 08:49:00 UTC */
#define NOW_1994 784111740L

START_TEST(http_parse_retry_after_seconds)
{
	unsigned s = 7;

	ck_assert_int_eq(http_parse_retry_after("0", 0, &s), 0);
	ck_assert_uint_eq(s, 0);
	ck_assert_int_eq(http_parse_retry_after("120", 0, &s), 0);
	ck_assert_uint_eq(s, 120);
	ck_assert_int_eq(http_parse_retry_after("007", 0, &s), 0);
	ck_assert_uint_eq(s, 7);
	ck_assert_int_eq(http_parse_retry_after("4294967295", 0, &s), 0);
	ck_assert_uint_eq(s, UINT_MAX);
}
END_TEST

START_TEST(http_parse_retry_after_huge_saturates)
{
	unsigned s = 0;

	ck_assert_int_eq(http_parse_retry_after("4294967296", 0, &s), 0);
	ck_assert_uint_eq(s, UINT_MAX);
	ck_assert_int_eq(http_parse_retry_after("99999999999999999999999999999999999", 0, &s), 0);
	ck_assert_uint_eq(s, UINT_MAX);
}
END_TEST

START_TEST(http_parse_retry_after_date)
{
	unsigned s = 0;

	ck_assert_int_eq(http_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", NOW_1994, &s), 0);
	ck_assert_uint_eq(s, 37);
	/* In the past: no wait at all. */
	ck_assert_int_eq(http_parse_retry_after("Sun, 06 Nov 1994 08:48:00 GMT", NOW_1994, &s), 0);
	ck_assert_uint_eq(s, 0);
	ck_assert_int_eq(http_parse_retry_after("Mon, 07 Nov 1994 08:49:00 GMT", NOW_1994, &s), 0);
	ck_assert_uint_eq(s, 86400);
	ck_assert_int_eq(http_parse_retry_after("Tue, 29 Feb 2000 00:00:00 GMT", 951782400L, &s),
			 0);
	ck_assert_uint_eq(s, 0);
	/* Further away than UINT_MAX seconds: saturates like delta-seconds. */
	ck_assert_int_eq(http_parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", 0, &s), 0);
	ck_assert_uint_eq(s, UINT_MAX);
}
END_TEST

static const char *const bad_retry_after[] = {
	"",
	" ",
	"-5",
	"-0",
	"+5",
	" 5",
	"5 ",
	"5s",
	"1.5",
	"1e3",
	"0x10",
	"garbage",
	"Sun, 06 Nov 1994 08:49:37 UTC",
	"Sun, 06 Nov 1994 08:49:37 GMT ",
	" Sun, 06 Nov 1994 08:49:37 GMT",
	"Sun, 06 Nov 1994 08:49:37 GM",
	"Sun, 6 Nov 1994 08:49:37 GMT",
	"Sunday, 06-Nov-94 08:49:37 GMT",
	"Sun Nov  6 08:49:37 1994",
	"Xyz, 06 Nov 1994 08:49:37 GMT",
	"sun, 06 Nov 1994 08:49:37 GMT",
	"Sun, 06 Foo 1994 08:49:37 GMT",
	"Sun, 31 Feb 1994 08:49:37 GMT",
	"Sun, 00 Nov 1994 08:49:37 GMT",
	"Sun, 32 Nov 1994 08:49:37 GMT",
	"Sun, 06 Nov 1994 24:00:00 GMT",
	"Sun, 06 Nov 1994 08:60:00 GMT",
	"Sun, 06 Nov 1994 08:49:61 GMT",
	"Sun, 06 Nov 1969 08:49:37 GMT",
	"Sun, 06 Nov 19x4 08:49:37 GMT",
	"Sun; 06 Nov 1994 08:49:37 GMT",
	"Sun, 06 Nov 1994 08-49-37 GMT",
};

START_TEST(http_parse_retry_after_refuses)
{
	unsigned s = 4242;

	ck_assert_msg(http_parse_retry_after(bad_retry_after[_i], NOW_1994, &s) == -EINVAL,
		      "accepted \"%s\"", bad_retry_after[_i]);
	ck_assert_uint_eq(s, 4242); /* out-param untouched on failure */
}
END_TEST

/* ---- error translation, retry classes, backoff --------------------------------------- */

START_TEST(http_curl_error_translates)
{
	static const struct {
		CURLcode cc;
		int r;
		bool transient;
	} map[] = {
		{ CURLE_OK, 0, false },
		{ CURLE_UNSUPPORTED_PROTOCOL, -EPROTO, false }, /* an HTTP/0.9 reply */
		{ CURLE_URL_MALFORMAT, -EINVAL, false },
		{ CURLE_OUT_OF_MEMORY, -ENOMEM, false },
		{ CURLE_FILESIZE_EXCEEDED, -EFBIG, false },
		{ CURLE_PEER_FAILED_VERIFICATION, -EPROTO, false },
		{ CURLE_SSL_CACERT_BADFILE, -EPROTO, false },
		{ CURLE_WEIRD_SERVER_REPLY, -EPROTO, false },
		{ CURLE_COULDNT_RESOLVE_HOST, -EHOSTUNREACH, true },
		{ CURLE_COULDNT_CONNECT, -ECONNREFUSED, true },
		{ CURLE_OPERATION_TIMEDOUT, -ETIMEDOUT, true },
		{ CURLE_GOT_NOTHING, -ECONNRESET, true },
		{ CURLE_RECV_ERROR, -ECONNRESET, true },
		{ CURLE_SEND_ERROR, -ECONNRESET, true },
		{ CURLE_SSL_CONNECT_ERROR, -EPROTO, true },
		{ CURLE_PARTIAL_FILE, -EIO, true },
	};

	for (size_t i = 0; i < ELEMENTSOF(map); i++) {
		bool t = !map[i].transient;

		ck_assert_int_eq(http_curl_error(map[i].cc, &t), map[i].r);
		ck_assert_msg(t == map[i].transient, "code %d", (int)map[i].cc);
	}
}
END_TEST

START_TEST(http_status_retry_classes)
{
	static const long yes[] = { 408, 429, 500, 502, 503, 504 };
	static const long no[] = { 0,	200, 201, 204, 301, 302, 304, 400, 401,
				   403, 404, 409, 412, 416, 501, 505, 599 };

	for (size_t i = 0; i < ELEMENTSOF(yes); i++)
		ck_assert(http_status_is_retryable(yes[i]));
	for (size_t i = 0; i < ELEMENTSOF(no); i++)
		ck_assert_msg(!http_status_is_retryable(no[i]), "%ld", no[i]);
	/* Busy: the server itself is overloaded or throttling, not failing or a gateway. */
	ck_assert(http_status_is_busy(429) && http_status_is_busy(503));
	ck_assert(!http_status_is_busy(408) && !http_status_is_busy(500) &&
		  !http_status_is_busy(502) && !http_status_is_busy(504) &&
		  !http_status_is_busy(200));
}
END_TEST

START_TEST(http_backoff_is_bounded_and_jittered)
{
	unsigned seen_min = UINT_MAX, seen_max = 0;

	for (unsigned retry = 1; retry <= 12; retry++) {
		unsigned long long ceiling = 100ull << (retry - 1);

		if (ceiling > 5000)
			ceiling = 5000;
		for (int i = 0; i < 200; i++) {
			unsigned w = http_backoff_ms(retry, 100, 5000);

			ck_assert_uint_le(w, ceiling);
			if (retry == 12) {
				seen_min = w < seen_min ? w : seen_min;
				seen_max = w > seen_max ? w : seen_max;
			}
		}
	}
	/* Full jitter: 200 draws in [0, 5000] are not all alike. */
	ck_assert_uint_lt(seen_min, seen_max);
	ck_assert_uint_le(http_backoff_ms(1000, 200, 30000), 30000);
	ck_assert_uint_le(http_backoff_ms(UINT_MAX, UINT_MAX, UINT_MAX), UINT_MAX);
	ck_assert_uint_eq(http_backoff_ms(3, 0, 0), 0);
}
END_TEST

/* ---- a canned HTTP/1.1 server in a thread -------------------------------------------- */

#define CANNED_MAX 96
#define CANNED_CLOSE "" /* close the connection without answering */

struct canned {
	int fd;
	unsigned port;
	const char *responses[CANNED_MAX];
	size_t n;
	size_t served;
	char request[16384]; /* the last request received */
	pthread_t thread;
	pthread_mutex_t lock;
};

static size_t read_request(int fd, char *req, size_t max)
{
	size_t len = 0, want = SIZE_MAX;
	ssize_t n;

	while (len + 1 < max && len < want) {
		n = read(fd, req + len, max - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		req[len] = '\0';
		char *end = strstr(req, "\r\n\r\n");
		if (end && want == SIZE_MAX) {
			char *cl = strcasestr(req, "\r\nContent-Length:");
			want = (size_t)(end + 4 - req) +
			       (cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0);
		}
	}
	req[len] = '\0';
	return len;
}

static void *canned_main(void *userp)
{
	struct canned *s = userp;

	for (size_t i = 0; i < s->n; i++) {
		int fd = accept(s->fd, NULL, NULL);
		const char *resp = s->responses[i];

		if (fd < 0)
			break;
		pthread_mutex_lock(&s->lock);
		(void)read_request(fd, s->request, sizeof(s->request));
		s->served++;
		pthread_mutex_unlock(&s->lock);
		for (size_t off = 0, len = strlen(resp); off < len;) {
			ssize_t w = write(fd, resp + off, len - off);
			if (w <= 0)
				break;
			off += (size_t)w;
		}
		shutdown(fd, SHUT_RDWR);
		close(fd);
	}
	return NULL;
}

static void canned_start(struct canned *s)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);

	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(s->fd, 0);
	ck_assert_int_eq(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(s->fd, 64), 0);
	ck_assert_int_eq(getsockname(s->fd, (struct sockaddr *)&a, &alen), 0);
	s->port = ntohs(a.sin_port);
	pthread_mutex_init(&s->lock, NULL);
	ck_assert_int_eq(pthread_create(&s->thread, NULL, canned_main, s), 0);
}

static size_t canned_served(struct canned *s)
{
	size_t n;

	pthread_mutex_lock(&s->lock);
	n = s->served;
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* Stop accepting (wakes accept() up) and join. */
static void canned_stop(struct canned *s)
{
	shutdown(s->fd, SHUT_RDWR);
	pthread_join(s->thread, NULL);
	close(s->fd);
}

static char *canned_url(const struct canned *s, const char *path)
{
	char *u = NULL;

	ck_assert_int_ge(asprintf(&u, "http://127.0.0.1:%u%s", s->port, path), 0);
	return u;
}

static struct http_client *client_new(unsigned retries, unsigned backoff_max_ms)
{
	struct http_options o = {
		.connect_timeout_ms = 2000,
		.total_timeout_ms = 5000,
		.max_retries = retries,
		.backoff_base_ms = 5,
		.backoff_max_ms = backoff_max_ms,
	};
	struct http_client *c = NULL;

	ck_assert_int_eq(http_client_new(&o, &c), 0);
	ck_assert_ptr_nonnull(c);
	return c;
}

static long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

#define OK_CLOSE(extra, body)                                                                      \
	"HTTP/1.1 200 OK\r\nConnection: close\r\n" extra "Content-Length: " body

static int get(struct http_client *c, struct canned *s, const char *path,
	       struct http_response *resp)
{
	char *url = canned_url(s, path);
	struct http_request req = { .method = "GET", .url = url };
	int r = http_request(c, &req, resp);

	free(url);
	return r;
}

START_TEST(http_request_ok_with_headers)
{
	struct canned s = { .n = 1 };
	struct http_response resp = { 0 };
	struct http_client *c = client_new(0, 100);

	s.responses[0] =
		OK_CLOSE("X-Test:   spaced value \t\r\nx-dup: 1\r\nX-Dup: 2\r\n", "5\r\n\r\nhello");
	canned_start(&s);
	ck_assert_int_eq(get(c, &s, "/ok", &resp), 0);
	ck_assert_int_eq(resp.status, 200);
	ck_assert_uint_eq(resp.attempts, 1);
	ck_assert_uint_eq(resp.body.len, 5);
	ck_assert_str_eq((char *)resp.body.data, "hello");
	ck_assert_str_eq(http_response_header(&resp, "x-test"), "spaced value");
	ck_assert_str_eq(http_response_header(&resp, "X-DUP"), "1");
	ck_assert_str_eq(http_response_header(&resp, "content-length"), "5");
	ck_assert_ptr_null(http_response_header(&resp, "X-Absent"));
	ck_assert_ptr_nonnull(strstr(s.request, "GET /ok HTTP/1.1\r\n"));
	http_response_done(&resp);
	ck_assert_ptr_null(resp.body.data);
	ck_assert_uint_eq(resp.n_headers, 0);
	canned_stop(&s);
	http_client_free(c);
}
END_TEST

START_TEST(http_request_empty_body_is_a_string)
{
	struct canned s = { .n = 1 };
	struct http_response resp = { 0 };
	struct http_client *c = client_new(0, 100);

	s.responses[0] = "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";
	canned_start(&s);
	ck_assert_int_eq(get(c, &s, "/", &resp), 0);
	ck_assert_int_eq(resp.status, 204);
	ck_assert_uint_eq(resp.body.len, 0);
	ck_assert_ptr_nonnull(resp.body.data);
	ck_assert_str_eq((char *)resp.body.data, "");
	http_response_done(&resp);
	canned_stop(&s);
	http_client_free(c);
}
END_TEST

START_TEST(http_request_retries_and_resets_headers)
{
	struct canned s = { .n = 2 };
	struct http_response resp = { 0 };
	struct http_client *c = client_new(3, 100);

	s.responses[0] = "HTTP/1.1 503 Busy\r\nConnection: close\r\nX-First: 1\r\n"
			 "Content-Length: 4\r\n\r\nbusy";
	s.responses[1] = OK_CLOSE("X-Second: 2\r\n", "2\r\n\r\nok");
	canned_start(&s);
	ck_assert_int_eq(get(c, &s, "/flaky", &resp), 0);
	ck_assert_int_eq(resp.status, 200);
	ck_assert_uint_eq(resp.attempts, 2);
	ck_assert_uint_eq(resp.busy, 1); /* the 503: a caller that paces itself slows down */
	ck_assert_str_eq((char *)resp.body.data, "ok");
	ck_assert_ptr_null(http_response_header(&resp, "X-First"));
	ck_assert_str_eq(http_response_header(&resp, "X-Second"), "2");
	http_response_done(&resp);
	canned_stop(&s);
	http_client_free(c);
}
END_TEST

START_TEST(http_request_retries_exhausted_returns_last_status)
{
	struct canned s = { .n = 4 };
	struct http_response resp = { 0 };
	struct http_client *c = client_new(2, 20);

	for (size_t i = 0; i < s.n; i++)
		s.responses[i] =
			"HTTP/1.1 500 Oops\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
	canned_start(&s);
	ck_assert_int_eq(get(c, &s, "/", &resp), 0);
	ck_assert_int_eq(resp.status, 500);
	ck_assert_uint_eq(resp.attempts, 3);
	ck_assert_uint_eq(resp.busy, 0); /* 500: failing, not throttling */
	ck_assert_uint_eq(canned_served(&s), 3);
	http_response_done(&resp);
	http_client_free(c);
	canned_stop(&s); /* the fourth response was never asked for */
}
END_TEST

START_TEST(http_request_no_retry_on_client_error)
{
	static const char *const statuses[] = { "400", "401", "403", "404", "409", "501" };
	struct http_client *c = client_new(3, 20);

	for (size_t i = 0; i < ELEMENTSOF(statuses); i++) {
		struct canned s = { .n = 2 };
		struct http_response resp = { 0 };
		char *r0 = NULL;

		ck_assert_int_ge(asprintf(&r0,
					  "HTTP/1.1 %s X\r\nConnection: close\r\n"
					  "Content-Length: 0\r\n\r\n",
					  statuses[i]),
				 0);
		s.responses[0] = s.responses[1] = r0;
		canned_start(&s);
		ck_assert_int_eq(get(c, &s, "/", &resp), 0);
		ck_assert_int_eq(resp.status, strtol(statuses[i], NULL, 10));
		ck_assert_uint_eq(resp.attempts, 1);
		ck_assert_uint_eq(canned_served(&s), 1);
		http_response_done(&resp);
		canned_stop(&s);
		free(r0);
	}
	http_client_free(c);
}
END_TEST

START_TEST(http_request_no_retry_flag)
{
	struct canned s = { .n = 2 };
	struct http_response resp = { 0 };
	struct http_client *c = client_new(3, 20);
	char *url;

	s.responses[0] = s.responses[1] =
		"HTTP/1.1 503 X\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
	canned_start(&s);
	url = canned_url(&s, "/");
	struct http_request req = {
		.method = "POST", .url = url, .body = "x", .body_len = 1, .no_retry = true
	};
	ck_assert_int_eq(http_request(c, &req, &resp), 0);
	ck_assert_int_eq(resp.status, 503);
	ck_assert_uint_eq(resp.attempts, 1);
	http_response_done(&resp);
	free(url);
	http_client_free(c);
	canned_stop(&s);
}
END_TEST

START_TEST(http_request_honours_retry_after)
{
	struct canned s = { .n = 2 };
	struct http_response resp = { 0 };
	struct http_client *c = client_new(1, 5000);
	long t0;

	s.responses[0] = "HTTP/1.1 429 Slow down\r\nConnection: close\r\nRetry-After: 1\r\n"
			 "Content-Length: 0\r\n\r\n";
	s.responses[1] = OK_CLOSE("", "0\r\n\r\n");
	canned_start(&s);
	t0 = now_ms();
	ck_assert_int_eq(get(c, &s, "/", &resp), 0);
	ck_assert_int_ge(now_ms() - t0, 1000);
	ck_assert_int_eq(resp.status, 200);
	ck_assert_uint_eq(resp.attempts, 2);
	http_response_done(&resp);
	canned_stop(&s);
	http_client_free(c);
}
END_TEST

START_TEST(http_request_caps_retry_after)
{
	struct canned s = { .n = 2 };
	struct http_response resp = { 0 };
	struct http_client *c = client_new(1, 200);
	long t0;

	s.responses[0] = "HTTP/1.1 503 X\r\nConnection: close\r\nRetry-After: 3600\r\n"
			 "Content-Length: 0\r\n\r\n";
	s.responses[1] = OK_CLOSE("", "0\r\n\r\n");
	canned_start(&s);
	t0 = now_ms();
	ck_assert_int_eq(get(c, &s, "/", &resp), 0);
	ck_assert_int_lt(now_ms() - t0, 3000);
	ck_assert_int_ge(now_ms() - t0, 200);
	ck_assert_int_eq(resp.status, 200);
	http_response_done(&resp);
	canned_stop(&s);
	http_client_free(c);
}
END_TEST

START_TEST(http_request_redirect_not_followed)
{
	struct canned s = { .n = 2 };
	struct http_response resp = { 0 };
	struct http_client *c = client_new(2, 20);

	s.responses[0] = "HTTP/1.1 302 Found\r\nConnection: close\r\nLocation: /elsewhere\r\n"
			 "Content-Length: 0\r\n\r\n";
	s.responses[1] = OK_CLOSE("", "0\r\n\r\n");
	canned_start(&s);
	ck_assert_int_eq(get(c, &s, "/", &resp), 0);
	ck_assert_int_eq(resp.status, 302);
	ck_assert_str_eq(http_response_header(&resp, "Location"), "/elsewhere");
	ck_assert_uint_eq(canned_served(&s), 1);
	http_response_done(&resp);
	http_client_free(c);
	canned_stop(&s);
}
END_TEST

START_TEST(http_request_content_length_over_cap)
{
	struct canned s = { .n = 2 };
	struct http_response resp = { .status = 4242 };
	struct http_client *c = client_new(2, 20);
	char *url;

	s.responses[0] = s.responses[1] = OK_CLOSE("", "2000000000\r\n\r\nabc");
	canned_start(&s);
	url = canned_url(&s, "/");
	struct http_request req = { .method = "GET", .url = url, .max_response = 1024 };
	ck_assert_int_eq(http_request(c, &req, &resp), -EFBIG);
	ck_assert_int_eq(resp.status, 4242); /* untouched on failure */
	ck_assert_uint_eq(canned_served(&s), 1); /* not retried */
	free(url);
	http_client_free(c);
	canned_stop(&s);
}
END_TEST

START_TEST(http_request_chunked_body_over_cap)
{
	struct canned s = { .n = 1 };
	struct http_response resp = { 0 };
	struct http_client *c = client_new(0, 20);
	char *url, *big = NULL;
	char chunk[2001];

	memset(chunk, 'x', 2000);
	chunk[2000] = '\0';
	ck_assert_int_ge(asprintf(&big,
				  "HTTP/1.1 200 OK\r\nConnection: close\r\n"
				  "Transfer-Encoding: chunked\r\n\r\n7d0\r\n%s\r\n0\r\n\r\n",
				  chunk),
			 0);
	s.responses[0] = big;
	canned_start(&s);
	url = canned_url(&s, "/");
	struct http_request req = { .method = "GET", .url = url, .max_response = 1999 };
	ck_assert_int_eq(http_request(c, &req, &resp), -EFBIG);
	free(url);
	canned_stop(&s);
	free(big);
	http_client_free(c);
}
END_TEST

START_TEST(http_request_body_exactly_at_cap)
{
	struct canned s = { .n = 1 };
	struct http_response resp = { 0 };
	struct http_client *c = client_new(0, 20);
	char *url;

	s.responses[0] = OK_CLOSE("", "10\r\n\r\n0123456789");
	canned_start(&s);
	url = canned_url(&s, "/");
	struct http_request req = { .method = "GET", .url = url, .max_response = 10 };
	ck_assert_int_eq(http_request(c, &req, &resp), 0);
	ck_assert_uint_eq(resp.body.len, 10);
	http_response_done(&resp);
	free(url);
	canned_stop(&s);
	http_client_free(c);
}
END_TEST

/* A body larger than max_response (and than curl's own cap, which follows the sink) lands in
 * the caller's scatter list, after a retried 503 whose error document went to resp.body; a
 * sink one byte short of the body is -EFBIG. */
START_TEST(http_request_sink_scatter)
{
	enum { N = 2 * 1024 * 1024 + 3 };
	struct canned s = { .n = 3 };
	struct http_response resp = { 0 };
	struct http_client *c = client_new(1, 20);
	_cleanup_free_ char *big = malloc(N + 200), *data = malloc(N);
	_cleanup_free_ uint8_t *x = malloc(N);
	char *url;
	int hl;

	ck_assert_ptr_nonnull(big);
	ck_assert_ptr_nonnull(data);
	ck_assert_ptr_nonnull(x);
	for (size_t i = 0; i < N; i++)
		data[i] = (char)('a' + i % 23);
	hl = snprintf(big, 200,
		      "HTTP/1.1 206 Partial Content\r\nConnection: close\r\n"
		      "Content-Length: %d\r\n\r\n",
		      (int)N);
	memcpy(big + hl, data, N);
	big[hl + N] = '\0';
	s.responses[0] = "HTTP/1.1 503 Busy\r\nConnection: close\r\nContent-Length: 4\r\n\r\nbusy";
	s.responses[1] = big;
	s.responses[2] = big;
	canned_start(&s);
	url = canned_url(&s, "/");
	struct iovec iov[] = { { x, 7 },
			       { x + 7, 1u << 20 },
			       { x + 7 + (1u << 20), N - 7 - (1u << 20) } };
	struct http_request req = { .method = "GET", .url = url, .sink = iov, .sink_cnt = 3 };
	ck_assert_int_eq(http_request(c, &req, &resp), 0);
	ck_assert_int_eq(resp.status, 206);
	ck_assert_uint_eq(resp.attempts, 2);
	ck_assert_uint_eq(resp.sink_len, N);
	ck_assert_uint_eq(resp.body.len, 0);
	ck_assert_mem_eq(x, data, N);
	http_response_done(&resp);

	iov[2].iov_len--;
	ck_assert_int_eq(http_request(c, &req, &resp), -EFBIG);
	free(url);
	canned_stop(&s);
	http_client_free(c);
}
END_TEST

START_TEST(http_request_head_ignores_large_length)
{
	struct canned s = { .n = 1 };
	struct http_response resp = { 0 };
	struct http_client *c = client_new(0, 20);
	char *url;

	s.responses[0] = "HTTP/1.1 200 OK\r\nConnection: close\r\n"
			 "Content-Length: 10737418240\r\n\r\n";
	canned_start(&s);
	url = canned_url(&s, "/blob");
	struct http_request req = { .method = "HEAD", .url = url, .max_response = 100 };
	ck_assert_int_eq(http_request(c, &req, &resp), 0);
	ck_assert_int_eq(resp.status, 200);
	ck_assert_str_eq(http_response_header(&resp, "Content-Length"), "10737418240");
	ck_assert_ptr_nonnull(strstr(s.request, "HEAD /blob HTTP/1.1\r\n"));
	http_response_done(&resp);
	free(url);
	canned_stop(&s);
	http_client_free(c);
}
END_TEST

START_TEST(http_request_refuses_folded_header)
{
	struct canned s = { .n = 1 };
	struct http_response resp = { 0 };
	struct http_client *c = client_new(0, 20);

	s.responses[0] = "HTTP/1.1 200 OK\r\nConnection: close\r\nX-A: 1\r\n folded\r\n"
			 "Content-Length: 0\r\n\r\n";
	canned_start(&s);
	ck_assert_int_eq(get(c, &s, "/", &resp), -EPROTO);
	canned_stop(&s);
	http_client_free(c);
}
END_TEST

START_TEST(http_request_refuses_too_many_headers)
{
	struct canned s = { .n = 1 };
	struct http_response resp = { 0 };
	struct http_client *c = client_new(0, 20);
	struct buf b;

	buf_init(&b, 1 << 20);
	ck_assert_int_eq(buf_append_str(&b, "HTTP/1.1 200 OK\r\nConnection: close\r\n"), 0);
	for (int i = 0; i < 200; i++)
		ck_assert_int_eq(buf_printf(&b, "X-H%d: %d\r\n", i, i), 0);
	ck_assert_int_eq(buf_append_str(&b, "Content-Length: 0\r\n\r\n"), 0);
	s.responses[0] = (char *)b.data;
	canned_start(&s);
	ck_assert_int_eq(get(c, &s, "/", &resp), -EFBIG);
	canned_stop(&s);
	buf_done(&b);
	http_client_free(c);
}
END_TEST

START_TEST(http_request_interim_response_skipped)
{
	struct canned s = { .n = 1 };
	struct http_response resp = { 0 };
	struct http_client *c = client_new(0, 20);

	s.responses[0] = "HTTP/1.1 100 Continue\r\nX-Interim: yes\r\n\r\n"
			 "HTTP/1.1 201 Created\r\nConnection: close\r\nX-Final: yes\r\n"
			 "Content-Length: 0\r\n\r\n";
	canned_start(&s);
	ck_assert_int_eq(get(c, &s, "/", &resp), 0);
	ck_assert_int_eq(resp.status, 201);
	ck_assert_ptr_null(http_response_header(&resp, "X-Interim"));
	ck_assert_str_eq(http_response_header(&resp, "X-Final"), "yes");
	http_response_done(&resp);
	canned_stop(&s);
	http_client_free(c);
}
END_TEST

START_TEST(http_request_put_on_the_wire)
{
	static const char *const hdrs[] = { "Authorization: Bearer T0KEN",
					    "x-ms-version: 2023-11-03", NULL };
	struct canned s = { .n = 2 };
	struct http_response resp = { 0 };
	struct http_client *c = client_new(0, 20);
	char *url;

	s.responses[0] = s.responses[1] = "HTTP/1.1 201 Created\r\nConnection: close\r\n"
					  "Content-Length: 0\r\n\r\n";
	canned_start(&s);
	url = canned_url(&s, "/c/b?comp=page");
	struct http_request req = { .method = "PUT", .url = url, .headers = hdrs };
	ck_assert_int_eq(http_request(c, &req, &resp), 0);
	ck_assert_int_eq(resp.status, 201);
	ck_assert_ptr_nonnull(strstr(s.request, "PUT /c/b?comp=page HTTP/1.1\r\n"));
	ck_assert_ptr_nonnull(strstr(s.request, "\r\nAuthorization: Bearer T0KEN\r\n"));
	ck_assert_ptr_nonnull(strstr(s.request, "\r\nContent-Length: 0\r\n"));
	ck_assert_ptr_null(strcasestr(s.request, "Content-Type"));
	ck_assert_ptr_null(strcasestr(s.request, "Expect"));
	http_response_done(&resp);

	/* A body goes out as given, with the caller's Content-Type and nothing else. */
	static const char *const h2[] = { "Content-Type: application/json", NULL };
	struct http_request post = {
		.method = "POST", .url = url, .headers = h2, .body = "{\"a\":1}", .body_len = 7
	};
	ck_assert_int_eq(http_request(c, &post, &resp), 0);
	ck_assert_ptr_nonnull(strstr(s.request, "POST /c/b?comp=page HTTP/1.1\r\n"));
	ck_assert_ptr_nonnull(strstr(s.request, "\r\nContent-Type: application/json\r\n"));
	ck_assert_ptr_nonnull(strstr(s.request, "\r\nContent-Length: 7\r\n"));
	ck_assert_ptr_nonnull(strstr(s.request, "\r\n\r\n{\"a\":1}"));
	ck_assert_ptr_null(strcasestr(s.request, "x-www-form-urlencoded"));
	http_response_done(&resp);
	free(url);
	canned_stop(&s);
	http_client_free(c);
}
END_TEST

START_TEST(http_request_reset_retried_then_error)
{
	struct canned s = { .n = 3 };
	struct http_response resp = { 0 };
	struct http_client *c = client_new(2, 20);

	s.responses[0] = s.responses[1] = s.responses[2] = CANNED_CLOSE;
	canned_start(&s);
	ck_assert_int_eq(get(c, &s, "/", &resp), -ECONNRESET);
	ck_assert_uint_eq(canned_served(&s), 3);
	canned_stop(&s);
	http_client_free(c);
}
END_TEST

START_TEST(http_request_connection_refused)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	struct http_response resp = { 0 };
	struct http_client *c = client_new(2, 20);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char *url = NULL;
	long t0;

	/* A port that was just free and has no listener. */
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	ck_assert_int_ge(asprintf(&url, "http://127.0.0.1:%u/", ntohs(a.sin_port)), 0);
	struct http_request req = { .method = "GET", .url = url };
	t0 = now_ms();
	ck_assert_int_eq(http_request(c, &req, &resp), -ECONNREFUSED);
	ck_assert_int_lt(now_ms() - t0, 2000);
	close(fd);
	free(url);
	http_client_free(c);
}
END_TEST

/* ---- refused before any I/O ------------------------------------------------------------ */

START_TEST(http_request_refuses_bad_requests)
{
	static const char *const crlf[] = { "X-A: 1\r\nX-Injected: 2", NULL };
	static const char *const lf[] = { "X-A: 1\nX-B: 2", NULL };
	static const char *const nocolon[] = { "X-A 1", NULL };
	static const char *const noname[] = { ": 1", NULL };
	static const char *const space[] = { "X A: 1", NULL };
	const char *u = "http://127.0.0.1:9/";
	const struct http_request bad[] = {
		{ .method = NULL, .url = u },
		{ .method = "GET", .url = NULL },
		{ .method = "TRACE", .url = u },
		{ .method = "get", .url = u },
		{ .method = "CONNECT", .url = u },
		{ .method = "GET", .url = u, .body = "x", .body_len = 1 },
		{ .method = "HEAD", .url = u, .body = "x", .body_len = 1 },
		{ .method = "POST", .url = u, .body = NULL, .body_len = 3 },
		{ .method = "GET", .url = u, .headers = crlf },
		{ .method = "GET", .url = u, .headers = lf },
		{ .method = "GET", .url = u, .headers = nocolon },
		{ .method = "GET", .url = u, .headers = noname },
		{ .method = "GET", .url = u, .headers = space },
		{ .method = "GET", .url = "http://example.com/" },
		{ .method = "GET", .url = "file:///etc/passwd" },
		/* IMDS's address over plain http, but not an IMDS request (MAA, vault, Blob) */
		{ .method = "GET", .url = "http://169.254.169.254/keys/k/release" },
		{ .method = "GET", .url = "http://169.254.169.254/metadata/identity/oauth2/token" },
	};
	struct http_client *c = client_new(3, 20);

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		struct http_response resp = { .status = 77 };

		ck_assert_msg(http_request(c, &bad[i], &resp) == -EINVAL, "request %zu", i);
		ck_assert_int_eq(resp.status, 77);
	}
	http_client_free(c);
}
END_TEST

START_TEST(http_client_new_ca_file_errors)
{
	struct http_options o = { .ca_file = "/nonexistent/ca.pem" };
	struct http_client *c = NULL;
	char path[] = "/tmp/test_http_ca_XXXXXX";
	int fd;

	ck_assert_int_eq(http_client_new(&o, &c), -ENOENT);
	ck_assert_ptr_null(c);
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "not a certificate\n", 18), 18);
	close(fd);
	o.ca_file = path;
	ck_assert_int_eq(http_client_new(&o, &c), -EINVAL);
	ck_assert_ptr_null(c);
	unlink(path);
	ck_assert_int_eq(http_client_new(NULL, &c), 0); /* defaults */
	http_client_free(c);
	http_client_free(NULL);
}
END_TEST

/* ---- logs never carry secrets ---------------------------------------------------------- */

START_TEST(http_request_log_has_no_secrets)
{
	static const char *const hdrs[] = { "Authorization: Bearer HEADERSECRET", NULL };
	struct canned s = { .n = 2 };
	struct http_response resp = { 0 };
	struct http_client *c = client_new(1, 20);
	char path[] = "/tmp/test_http_log_XXXXXX", *url, *log;
	size_t len;
	int fd;

	s.responses[0] = "HTTP/1.1 503 X\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
	s.responses[1] = OK_CLOSE("Set-Cookie: RESPONSESECRET\r\n", "0\r\n\r\n");
	canned_start(&s);
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	log_set_fd(fd);
	url = canned_url(&s, "/c/b?sv=1&sig=QUERYSECRET#FRAGSECRET");
	struct http_request req = { .method = "GET", .url = url, .headers = hdrs };
	ck_assert_int_eq(http_request(c, &req, &resp), 0);
	http_response_done(&resp);
	ck_assert_int_eq(http_url_check("http://example.com/x?sig=REFUSEDSECRET"), -EINVAL);
	log_set_fd(-1);
	close(fd);
	log = (char *)unit_read_file(path, &len);
	unlink(path);
	ck_assert_ptr_nonnull(strstr(log, "/c/b")); /* the debug lines are there... */
	ck_assert_ptr_nonnull(strstr(log, "attempt 2/2"));
	ck_assert_ptr_null(strstr(log, "SECRET")); /* ...without any secret */
	ck_assert_ptr_null(strstr(log, "sig="));
	free(log);
	free(url);
	canned_stop(&s);
	http_client_free(c);
}
END_TEST

/* ---- threads --------------------------------------------------------------------------- */

#define THREADS 8
#define PER_THREAD 10

struct worker {
	struct http_client *c;
	const char *url;
	int failures;
};

static void *worker_main(void *userp)
{
	struct worker *w = userp;

	for (int i = 0; i < PER_THREAD; i++) {
		struct http_request req = { .method = "GET", .url = w->url };
		struct http_response resp = { 0 };

		if (http_request(w->c, &req, &resp) < 0 || resp.status != 200 ||
		    strcmp((char *)resp.body.data, "hello") != 0)
			w->failures++;
		http_response_done(&resp);
	}
	return NULL;
}

START_TEST(http_request_concurrent_threads)
{
	struct canned s = { .n = THREADS * PER_THREAD };
	struct http_client *c = client_new(3, 50);
	struct worker w[THREADS];
	pthread_t t[THREADS];
	char *url;

	for (size_t i = 0; i < s.n; i++)
		s.responses[i] = OK_CLOSE("", "5\r\n\r\nhello");
	canned_start(&s);
	url = canned_url(&s, "/ok");
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ .c = c, .url = url };
		ck_assert_int_eq(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(w[i].failures, 0);
	}
	ck_assert_uint_eq(canned_served(&s), THREADS * PER_THREAD);
	free(url);
	canned_stop(&s);
	http_client_free(c);
}
END_TEST

static Suite *http_suite(void)
{
	Suite *s = suite_create("http");
	TCase *policy = tcase_create("policy");
	TCase *wire = tcase_create("wire");

	tcase_add_loop_test(policy, http_url_check_accepts, 0, (int)ELEMENTSOF(good_urls));
	tcase_add_loop_test(policy, http_url_check_refuses, 0, (int)ELEMENTSOF(bad_urls));
	tcase_add_test(policy, http_url_check_imds_only_there);
	tcase_add_test(policy, http_tls_explain_names_the_problem);
	tcase_add_test(policy, http_url_check_refuses_overlong);
	tcase_add_test(policy, http_url_check_numeric_forms_follow_normalisation);
	tcase_add_test(policy, http_url_log_len_stops_at_query);
	tcase_add_test(policy, http_parse_retry_after_seconds);
	tcase_add_test(policy, http_parse_retry_after_huge_saturates);
	tcase_add_test(policy, http_parse_retry_after_date);
	tcase_add_loop_test(policy, http_parse_retry_after_refuses, 0,
			    (int)ELEMENTSOF(bad_retry_after));
	tcase_add_test(policy, http_curl_error_translates);
	tcase_add_test(policy, http_status_retry_classes);
	tcase_add_test(policy, http_backoff_is_bounded_and_jittered);
	suite_add_tcase(s, policy);

	tcase_set_timeout(wire, 30);
	tcase_add_test(wire, http_request_ok_with_headers);
	tcase_add_test(wire, http_request_empty_body_is_a_string);
	tcase_add_test(wire, http_request_retries_and_resets_headers);
	tcase_add_test(wire, http_request_retries_exhausted_returns_last_status);
	tcase_add_test(wire, http_request_no_retry_on_client_error);
	tcase_add_test(wire, http_request_no_retry_flag);
	tcase_add_test(wire, http_request_honours_retry_after);
	tcase_add_test(wire, http_request_caps_retry_after);
	tcase_add_test(wire, http_request_redirect_not_followed);
	tcase_add_test(wire, http_request_content_length_over_cap);
	tcase_add_test(wire, http_request_chunked_body_over_cap);
	tcase_add_test(wire, http_request_body_exactly_at_cap);
	tcase_add_test(wire, http_request_sink_scatter);
	tcase_add_test(wire, http_request_head_ignores_large_length);
	tcase_add_test(wire, http_request_refuses_folded_header);
	tcase_add_test(wire, http_request_refuses_too_many_headers);
	tcase_add_test(wire, http_request_interim_response_skipped);
	tcase_add_test(wire, http_request_put_on_the_wire);
	tcase_add_test(wire, http_request_reset_retried_then_error);
	tcase_add_test(wire, http_request_connection_refused);
	tcase_add_test(wire, http_request_refuses_bad_requests);
	tcase_add_test(wire, http_client_new_ca_file_errors);
	tcase_add_test(wire, http_request_log_has_no_secrets);
	tcase_add_test(wire, http_request_concurrent_threads);
	suite_add_tcase(s, wire);
	return s;
}

UNIT_MAIN(http_suite)
