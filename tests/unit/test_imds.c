/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sealmount/hsm.h"
#include "sealmount/imds.h"
#include "unit.h"

/* ---- a scripted loopback HTTP server (one thread, one request per connection) ---- */

struct reply {
	int status;
	const char *body;
};

struct server {
	int fd;
	int port;
	const struct reply *script;
	size_t n_script;
	size_t served;
	char last_request[2048];
	pthread_t thread;
};

static void serve_one(struct server *s, int c)
{
	const struct reply *r = &s->script[s->served < s->n_script ? s->served : s->n_script - 1];
	char req[2048] = "", out[4096];
	size_t got = 0;
	ssize_t n;
	int len;

	while (got < sizeof(req) - 1 && !strstr(req, "\r\n\r\n")) {
		n = read(c, req + got, sizeof(req) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		req[got] = 0;
	}
	/* Drain a request body too, so closing does not reset the connection under the client. */
	if (strcasestr(req, "\r\nContent-Length: ")) {
		const char *hdr_end = strstr(req, "\r\n\r\n");
		size_t want = strtoul(strcasestr(req, "\r\nContent-Length: ") + 18, NULL, 10);
		size_t have = hdr_end ? got - (size_t)(hdr_end + 4 - req) : 0;
		char sink[512];

		while (hdr_end && have < want && (n = read(c, sink, sizeof(sink))) > 0)
			have += (size_t)n;
	}
	memcpy(s->last_request, req, sizeof(req));
	len = snprintf(out, sizeof(out),
		       "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
		       "Connection: close\r\n\r\n%s",
		       r->status, strlen(r->body), r->body);
	/* Count before answering: once the client has the answer the test reads the counter. */
	__atomic_add_fetch(&s->served, 1, __ATOMIC_SEQ_CST);
	ck_assert_int_eq(write(c, out, (size_t)len), len);
}

static void *server_main(void *arg)
{
	struct server *s = arg;
	int c;

	while ((c = accept(s->fd, NULL, NULL)) >= 0) {
		serve_one(s, c);
		close(c);
	}
	return NULL;
}

static void server_start(struct server *s, const struct reply *script, size_t n)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);

	*s = (struct server){ .script = script, .n_script = n };
	s->fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(s->fd, 0);
	ck_assert_int_eq(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(s->fd, 8), 0);
	ck_assert_int_eq(getsockname(s->fd, (struct sockaddr *)&a, &al), 0);
	s->port = ntohs(a.sin_port);
	ck_assert_int_eq(pthread_create(&s->thread, NULL, server_main, s), 0);
}

static void server_stop(struct server *s)
{
	shutdown(s->fd, SHUT_RDWR);
	close(s->fd);
	pthread_join(s->thread, NULL);
}

static int64_t fake_now = 1700000000;
static int64_t fake_clock(void)
{
	return fake_now;
}

#define TOKEN_OK                                                                                   \
	"{\"access_token\":\"eyJ0eXAi.eyJhdWQi.c2ln\",\"refresh_token\":\"\",\"expires_in\":"      \
	"\"3600\",\"expires_on\":\"1700003600\",\"not_before\":\"1700000000\",\"resource\":"       \
	"\"https://managedhsm.azure.net\",\"token_type\":\"Bearer\"}"
#define INVALID_TOKEN                                                                              \
	"{\"error\":\"invalid_request\",\"error_description\":\"Received invalid token. Please "   \
	"try again.\"}"

static struct imds_client *client(struct http_client *http, int port, unsigned attempts,
				  const char *client_id)
{
	struct imds_client *c;
	char ep[64];

	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", port);
	ck_assert_int_eq(imds_client_new(http,
					 &(struct imds_options){ .endpoint = ep,
								 .client_id = client_id,
								 .attempts = attempts,
								 .backoff_ms = 5,
								 .backoff_max_ms = 20,
								 .now = fake_clock },
					 &c),
			 0);
	return c;
}

static struct http_client *http(void)
{
	struct http_client *h;

	ck_assert_int_eq(http_client_new(&(struct http_options){ .connect_timeout_ms = 2000 }, &h),
			 0);
	return h;
}

START_TEST(imds_token_url_encodes)
{
	_cleanup_free_ char *u1 = NULL, *u2 = NULL;
	char *bad = NULL;

	ck_assert_int_eq(
		imds_token_url("http://169.254.169.254", "https://managedhsm.azure.net", NULL, &u1),
		0);
	ck_assert_str_eq(u1, "http://169.254.169.254/metadata/identity/oauth2/token?api-version="
			     "2018-02-01&resource=https%3A%2F%2Fmanagedhsm.azure.net");
	ck_assert_int_eq(
		imds_token_url("http://h", "https://a.blob.core.windows.net/", "abc-1", &u2), 0);
	ck_assert_str_eq(u2, "http://h/metadata/identity/oauth2/token?api-version=2018-02-01&"
			     "resource=https%3A%2F%2Fa.blob.core.windows.net%2F&client_id=abc-1");
	ck_assert_int_eq(imds_token_url("http://h", "", NULL, &bad), -EINVAL);
}
END_TEST

START_TEST(imds_token_parse_forms)
{
	_cleanup_(secret_freep) struct secret *t1 = NULL, *t2 = NULL;
	struct secret *bad = NULL;
	int64_t exp = 0;
	const char *in_only = "{\"access_token\":\"abc\",\"expires_in\":60}";

	ck_assert_int_eq(imds_token_parse(TOKEN_OK, strlen(TOKEN_OK), 5, &t1, &exp), 0);
	ck_assert_str_eq((char *)t1->data, "eyJ0eXAi.eyJhdWQi.c2ln");
	ck_assert_uint_eq(t1->len, strlen("eyJ0eXAi.eyJhdWQi.c2ln"));
	ck_assert_int_eq(exp, 1700003600);
	ck_assert_int_eq(imds_token_parse(in_only, strlen(in_only), 1000, &t2, &exp), 0);
	ck_assert_int_eq(exp, 1060);
#define BAD(s) ck_assert_int_eq(imds_token_parse(s, strlen(s), 0, &bad, &exp), -EBADMSG)
	BAD("{\"expires_on\":\"1\"}");
	BAD("{\"access_token\":\"\",\"expires_on\":\"1\"}");
	BAD("{\"access_token\":\"a b\",\"expires_on\":\"1\"}");
	BAD("{\"access_token\":\"a\"}");
	BAD("{\"access_token\":\"a\",\"expires_on\":\"12x\"}");
	BAD("{\"access_token\":\"a\",\"expires_on\":\"-5\"}");
	BAD("{\"access_token\":\"a\",\"expires_on\":\"1\",\"token_type\":\"MAC\"}");
	BAD("{\"access_token\":\"a\",\"access_token\":\"b\",\"expires_on\":\"1\"}");
	BAD("[]");
#undef BAD
	ck_assert_ptr_null(bad);
}
END_TEST

START_TEST(imds_retries_invalid_token_then_succeeds)
{
	static const struct reply script[] = { { 500, INVALID_TOKEN },
					       { 503, "{}" },
					       { 200, TOKEN_OK } };
	_cleanup_(http_client_freep) struct http_client *h = http();
	_cleanup_(secret_freep) struct secret *t = NULL;
	struct imds_client *c;
	struct server s;

	server_start(&s, script, ELEMENTSOF(script));
	c = client(h, s.port, 5, "my-client-1");
	ck_assert_int_eq(imds_get_token(c, "https://managedhsm.azure.net", &t), 0);
	ck_assert_str_eq((char *)t->data, "eyJ0eXAi.eyJhdWQi.c2ln");
	ck_assert_uint_eq(s.served, 3);
	ck_assert_ptr_nonnull(strstr(s.last_request, "&client_id=my-client-1 HTTP/1.1"));
	ck_assert_ptr_nonnull(strcasestr(s.last_request, "\r\nMetadata: true\r\n"));
	imds_client_free(c);
	server_stop(&s);
}
END_TEST

START_TEST(imds_no_retry_on_400_and_gives_up)
{
	static const struct reply bad_id[] = {
		{ 400, "{\"error\":\"invalid_request\","
		       "\"error_description\":\"Identity not found\"}" }
	};
	static const struct reply storm[] = { { 500, INVALID_TOKEN } };
	_cleanup_(http_client_freep) struct http_client *h = http();
	_cleanup_free_ char *err = NULL;
	struct secret *t = NULL;
	struct imds_client *c;
	struct server s;

	server_start(&s, bad_id, 1);
	c = client(h, s.port, 5, NULL);
	ck_assert_int_eq(imds_get_token(c, "https://managedhsm.azure.net", &t), -EINVAL);
	ck_assert_uint_eq(s.served, 1);
	err = imds_client_last_error(c);
	ck_assert_str_eq(err, "HTTP 400 invalid_request: Identity not found");
	imds_client_free(c);
	server_stop(&s);

	server_start(&s, storm, 1);
	c = client(h, s.port, 3, NULL);
	ck_assert_int_eq(imds_get_token(c, "https://managedhsm.azure.net", &t), -EIO);
	ck_assert_uint_eq(s.served, 3);
	imds_client_free(c);
	server_stop(&s);
	ck_assert_ptr_null(t);
}
END_TEST

START_TEST(imds_cache_refreshes_before_expiry)
{
	static const struct reply script[] = { { 200, TOKEN_OK } };
	_cleanup_(http_client_freep) struct http_client *h = http();
	struct imds_client *c;
	struct secret *t;
	struct server s;

	fake_now = 1700000000;
	server_start(&s, script, 1);
	c = client(h, s.port, 1, NULL);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(imds_get_token(c, "https://managedhsm.azure.net", &t), 0);
		secret_free(t);
	}
	ck_assert_uint_eq(s.served, 1);
	/* Another resource has its own token. */
	ck_assert_int_eq(imds_get_token(c, "https://storage.azure.com/", &t), 0);
	secret_free(t);
	ck_assert_uint_eq(s.served, 2);
	/* 300 s before expires_on the token is refreshed. */
	fake_now = 1700003600 - 301;
	ck_assert_int_eq(imds_get_token(c, "https://managedhsm.azure.net", &t), 0);
	secret_free(t);
	ck_assert_uint_eq(s.served, 2);
	fake_now = 1700003600 - 299;
	ck_assert_int_eq(imds_get_token(c, "https://managedhsm.azure.net", &t), 0);
	secret_free(t);
	ck_assert_uint_eq(s.served, 3);
	imds_invalidate(c, "https://managedhsm.azure.net");
	fake_now = 1700000000;
	ck_assert_int_eq(imds_get_token(c, "https://managedhsm.azure.net", &t), 0);
	secret_free(t);
	ck_assert_uint_eq(s.served, 4);
	imds_client_free(c);
	server_stop(&s);
}
END_TEST

START_TEST(imds_connection_refused_is_retried_then_reported)
{
	_cleanup_(http_client_freep) struct http_client *h = http();
	struct imds_client *c, *bad = NULL;
	struct secret *t = NULL;
	struct server s;
	int port;

	/* A port that was just closed. */
	server_start(&s, (const struct reply[]){ { 200, "{}" } }, 1);
	port = s.port;
	server_stop(&s);
	c = client(h, port, 2, NULL);
	ck_assert_int_eq(imds_get_token(c, "https://managedhsm.azure.net", &t), -ECONNREFUSED);
	imds_client_free(c);
	ck_assert_int_eq(
		imds_client_new(h, &(struct imds_options){ .endpoint = "http://10.1.2.3" }, &bad),
		-EINVAL);
	ck_assert_int_eq(imds_client_new(h, &(struct imds_options){ .client_id = "a&b=c" }, &bad),
			 -EINVAL);
	ck_assert_ptr_null(bad);
}
END_TEST

START_TEST(imds_workload_identity_posts_the_federated_token)
{
	static const struct reply script[] = {
		{ 200,
		  "{\"token_type\":\"Bearer\",\"expires_in\":3599,\"access_token\":\"aa.bb.cc\"}" }
	};
	_cleanup_(http_client_freep) struct http_client *h = http();
	_cleanup_(secret_freep) struct secret *t = NULL;
	struct imds_client *c = NULL;
	char file[] = "/tmp/sealmount-test-fed.XXXXXX", ep[64];
	int fd = mkstemp(file);
	struct server s;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "eyJh.eyJi.c2ln\n", 15), 15);
	close(fd);
	server_start(&s, script, 1);
	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", s.port);
	/* client_id and tenant_id are required. */
	ck_assert_int_eq(imds_client_new(h,
					 &(struct imds_options){ .federated_token_file = file,
								 .authority = ep },
					 &c),
			 -EINVAL);
	ck_assert_int_eq(imds_client_new(h,
					 &(struct imds_options){ .federated_token_file = file,
								 .client_id = "cid",
								 .tenant_id = "t.onmicrosoft.com",
								 .authority = ep,
								 .now = fake_clock },
					 &c),
			 0);
	fake_now = 1700000000;
	ck_assert_int_eq(imds_get_token(c, "https://vault.azure.net", &t), 0);
	ck_assert_str_eq((char *)t->data, "aa.bb.cc");
	ck_assert_ptr_nonnull(strstr(s.last_request, "POST /t.onmicrosoft.com/oauth2/v2.0/token "));
	ck_assert_ptr_nonnull(strcasestr(s.last_request, "application/x-www-form-urlencoded"));
	imds_client_free(c);
	server_stop(&s);
	unlink(file);
}
END_TEST

/* Plain http to 169.254.169.254 is IMDS's alone: the IMDS endpoint may be there, the workload
 * identity authority (Entra ID) and the vault may not. */
START_TEST(imds_plain_http_address_is_for_imds_only)
{
	_cleanup_(http_client_freep) struct http_client *h = http();
	struct imds_client *c = NULL;
	struct hsm_client *v = NULL;

	ck_assert_int_eq(
		imds_client_new(h, &(struct imds_options){ .endpoint = "http://169.254.169.254" },
				&c),
		0);
	imds_client_free(c);
	c = NULL;
	ck_assert_int_eq(
		imds_client_new(h,
				&(struct imds_options){ .federated_token_file = "/dev/null",
							.client_id = "cid",
							.tenant_id = "t",
							.authority = "http://169.254.169.254" },
				&c),
		-EINVAL);
	ck_assert_ptr_null(c);
	ck_assert_int_eq(hsm_client_new(h, "http://169.254.169.254", NULL, &v), -EINVAL);
	ck_assert_ptr_null(v);
	ck_assert_int_eq(hsm_client_new(h, "http://127.0.0.1:8443", NULL, &v), 0);
	hsm_client_free(v);
}
END_TEST

static Suite *imds_suite(void)
{
	Suite *s = suite_create("imds");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, imds_token_url_encodes);
	tcase_add_test(tc, imds_token_parse_forms);
	tcase_add_test(tc, imds_retries_invalid_token_then_succeeds);
	tcase_add_test(tc, imds_no_retry_on_400_and_gives_up);
	tcase_add_test(tc, imds_cache_refreshes_before_expiry);
	tcase_add_test(tc, imds_connection_refused_is_retried_then_reported);
	tcase_add_test(tc, imds_workload_identity_posts_the_federated_token);
	tcase_add_test(tc, imds_plain_http_address_is_for_imds_only);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(imds_suite)
