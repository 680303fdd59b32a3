/* SPDX-License-Identifier: MIT */
/* test_health.c - the health endpoint: request parsing (valid and hostile), /status JSON,
 * /metrics text, the server's address policy, and explain.c's cause table. */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sealmount/health.h"
#include "sealmount/sidecar.h"
#include "unit.h"

static int parse(const char *req, struct health_request *r)
{
	return health_parse_request(req, strlen(req), r);
}

START_TEST(request_valid)
{
	struct health_request r;

	ck_assert_int_eq(parse("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", &r), 0);
	ck_assert_int_eq(r.route, HEALTH_ROUTE_HEALTHZ);
	ck_assert(!r.head);
	ck_assert_int_eq(parse("HEAD /status HTTP/1.0\r\n\r\n", &r), 0);
	ck_assert_int_eq(r.route, HEALTH_ROUTE_STATUS);
	ck_assert(r.head);
	ck_assert_int_eq(parse("GET /metrics?x=1 HTTP/1.1\r\nAccept: */*\r\n"
			       "Content-Length: 0\r\n\r\n",
			       &r),
			 0);
	ck_assert_int_eq(r.route, HEALTH_ROUTE_METRICS);
}
END_TEST

START_TEST(request_negative)
{
	struct health_request r;
	char big[HEALTH_REQUEST_MAX + 64];

	ck_assert_int_eq(parse("GET /healthz HTTP/1.1\r\nHost: x\r\n", &r), -EAGAIN);
	ck_assert_int_eq(parse("", &r), -EAGAIN);
	ck_assert_int_eq(parse("GET /nope HTTP/1.1\r\n\r\n", &r), -ENOENT);
	ck_assert_int_eq(parse("GET /healthzz HTTP/1.1\r\n\r\n", &r), -ENOENT);
	ck_assert_int_eq(parse("POST /healthz HTTP/1.1\r\n\r\n", &r), -EOPNOTSUPP);
	ck_assert_int_eq(parse("get /healthz HTTP/1.1\r\n\r\n", &r), -EBADMSG);
	ck_assert_int_eq(parse("GET /healthz HTTP/2.0\r\n\r\n", &r), -EPROTONOSUPPORT);
	ck_assert_int_eq(parse("GET /healthz FTP/1.1\r\n\r\n", &r), -EBADMSG);
	ck_assert_int_eq(parse("GET  /healthz HTTP/1.1\r\n\r\n", &r), -EBADMSG);
	ck_assert_int_eq(parse("GET /healthz HTTP/1.1 x\r\n\r\n", &r), -EBADMSG);
	ck_assert_int_eq(parse("GET healthz HTTP/1.1\r\n\r\n", &r), -EBADMSG);
	ck_assert_int_eq(parse("GET /healthz HTTP/1.1\r\nNoColon\r\n\r\n", &r), -EBADMSG);
	ck_assert_int_eq(parse("GET /healthz HTTP/1.1\r\n: empty\r\n\r\n", &r), -EBADMSG);
	ck_assert_int_eq(parse("GET /healthz HTTP/1.1\r\nBad Name: v\r\n\r\n", &r), -EBADMSG);
	ck_assert_int_eq(parse("GET /healthz HTTP/1.1\r\nX: a\x01z\r\n\r\n", &r), -EBADMSG);
	ck_assert_int_eq(parse("GET /healthz HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", &r),
			 -EBADMSG);
	ck_assert_int_eq(parse("GET /healthz HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &r),
			 -EBADMSG);
	/* over the cap, with and without an end of head */
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET /healthz HTTP/1.1\r\nX: ", 26);
	ck_assert_int_eq(health_parse_request(big, HEALTH_REQUEST_MAX, &r), -E2BIG);
	memcpy(big + sizeof(big) - 4, "\r\n\r\n", 4);
	ck_assert_int_eq(health_parse_request(big, sizeof(big), &r), -E2BIG);
	/* a NUL in the request line */
	ck_assert_int_eq(health_parse_request("GET /heal\0hz HTTP/1.1\r\n\r\n", 25, &r), -ENOENT);
}
END_TEST

static void sample(struct health_fs fs[2])
{
	memset(fs, 0, 2 * sizeof(*fs));
	fs[0] = (struct health_fs){ .index = 0,
				    .state = HEALTH_MOUNTED,
				    .rw = true,
				    .size = 1048576,
				    .integrity_errors = 2,
				    .has_cache = true,
				    .cache_hits = 10,
				    .cache_misses = 3,
				    .cache_bytes_fetched = 196608,
				    .cache_stale = 1,
				    .has_blob = true,
				    .blob_requests = 4,
				    .blob_retries = 1 };
	snprintf(fs[0].mount_point, sizeof(fs[0].mount_point), "/mnt/remote/share");
	snprintf(fs[0].engine, sizeof(fs[0].engine), "user");
	fs[1] = (struct health_fs){ .index = 1, .state = HEALTH_FAILED };
	snprintf(fs[1].mount_point, sizeof(fs[1].mount_point), "/mnt/a\"b\\c\nd");
	snprintf(fs[1].step, sizeof(fs[1].step), "release");
}

START_TEST(render_json)
{
	struct health_fs fs[2];
	struct buf b;
	json_t *root, *f0, *f1;
	json_error_t err;

	sample(fs);
	buf_init(&b, 65536);
	ck_assert_int_eq(health_render_json(fs, 2, &b), 0);
	root = json_loadb((const char *)b.data, b.len, 0, &err);
	ck_assert_msg(root, "%s", err.text);
	ck_assert(json_is_false(json_object_get(root, "ready")));
	f0 = json_array_get(json_object_get(root, "filesystems"), 0);
	f1 = json_array_get(json_object_get(root, "filesystems"), 1);
	ck_assert_str_eq(json_string_value(json_object_get(f0, "state")), "mounted");
	ck_assert_str_eq(json_string_value(json_object_get(f0, "engine")), "user");
	ck_assert(json_is_true(json_object_get(f0, "rw")));
	ck_assert_int_eq(json_integer_value(json_object_get(f0, "size")), 1048576);
	ck_assert_int_eq(json_integer_value(json_object_get(f0, "integrity_errors")), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(f0, "cache"), "hits")),
			 10);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(f0, "cache"), "stale")),
			 1);
	ck_assert_int_eq(
		json_integer_value(json_object_get(json_object_get(f0, "blob"), "retries")), 1);
	ck_assert_str_eq(json_string_value(json_object_get(f1, "state")), "failed");
	ck_assert_str_eq(json_string_value(json_object_get(f1, "step")), "release");
	ck_assert_str_eq(json_string_value(json_object_get(f1, "mount_point")), "/mnt/a\"b\\c\nd");
	ck_assert(json_is_null(json_object_get(f1, "engine")));
	ck_assert_ptr_null(json_object_get(f1, "cache"));
	json_decref(root);
	buf_done(&b);
	/* all mounted -> ready; none -> not ready */
	fs[1].state = HEALTH_MOUNTED;
	ck_assert(health_is_ready(fs, 2));
	ck_assert(!health_is_ready(fs, 0));
	/* a cap too small fails instead of truncating */
	buf_init(&b, 64);
	ck_assert_int_eq(health_render_json(fs, 2, &b), -EFBIG);
	buf_done(&b);
}
END_TEST

START_TEST(render_prometheus)
{
	struct health_fs fs[2];
	struct buf b;
	char *t;

	sample(fs);
	buf_init(&b, 65536);
	ck_assert_int_eq(health_render_prometheus(fs, 2, &b), 0);
	ck_assert_int_eq(buf_append(&b, "", 1), 0);
	t = (char *)b.data;
	ck_assert_ptr_nonnull(strstr(t, "sealmount_ready 0\n"));
	ck_assert_ptr_nonnull(strstr(
		t, "sealmount_filesystem_mounted{index=\"0\",mount_point=\"/mnt/remote/share\"} "
		   "1\n"));
	ck_assert_ptr_nonnull(strstr(t, "sealmount_cache_hits_total{index=\"0\","
					"mount_point=\"/mnt/remote/share\"} 10\n"));
	ck_assert_ptr_nonnull(strstr(t, "sealmount_cache_stale_total{index=\"0\","
					"mount_point=\"/mnt/remote/share\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(t, "sealmount_integrity_errors_total{index=\"0\","
					"mount_point=\"/mnt/remote/share\"} 2\n"));
	ck_assert_ptr_null(strstr(t, "sealmount_cache_stale_total{index=\"1\""));
	ck_assert_ptr_nonnull(strstr(t, "sealmount_blob_retries_total{index=\"0\","
					"mount_point=\"/mnt/remote/share\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(t, "# TYPE sealmount_cache_hits_total counter\n"));
	/* label escaping: " \ and newline */
	ck_assert_ptr_nonnull(strstr(t, "mount_point=\"/mnt/a\\\"b\\\\c\\nd\"} 0\n"));
	/* no cache counters for the filesystem without a cache */
	ck_assert_ptr_null(strstr(t, "sealmount_cache_hits_total{index=\"1\""));
	/* every sample line is "name{labels} value" */
	for (char *line = t; *line; line = strchr(line, '\n') + 1) {
		if (*line != '#')
			ck_assert_msg(strchr(line, ' ') && strncmp(line, "sealmount_", 10) == 0,
				      "%.40s", line);
	}
	buf_done(&b);
}
END_TEST

static size_t snap(void *ud, struct health_fs *out, size_t max)
{
	(void)max;
	sample(out);
	out[1].state = *(enum health_state *)ud;
	return 2;
}

/* One request over a socket to 127.0.0.1:port; returns the status code. */
static int request(unsigned port, const char *req, char *resp, size_t len)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	size_t off = 0;
	ssize_t n;
	int fd, code = -1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	while (off + 1 < len && (n = read(fd, resp + off, len - off - 1)) > 0)
		off += (size_t)n;
	resp[off] = 0;
	close(fd);
	if (strncmp(resp, "HTTP/1.1 ", 9) == 0)
		code = (int)strtol(resp + 9, NULL, 10);
	return code;
}

START_TEST(server)
{
	enum health_state st = HEALTH_MOUNTING;
	struct health_server *s = NULL;
	char resp[65536];

	ck_assert_int_eq(
		health_server_start(&(struct health_options){ .address = "0.0.0.0:0" }, &s),
		-EADDRNOTAVAIL);
	ck_assert_int_eq(
		health_server_start(&(struct health_options){ .address = "127.0.0.1" }, &s),
		-EINVAL);
	ck_assert_int_eq(
		health_server_start(&(struct health_options){ .address = "example.com:80" }, &s),
		-EINVAL);
	ck_assert_int_eq(health_server_start(&(struct health_options){ .address = "127.0.0.1:0",
								       .snapshot = snap,
								       .userdata = &st },
					     &s),
			 0);
	ck_assert_uint_gt(health_server_port(s), 0);
	ck_assert_int_eq(
		request(health_server_port(s), "GET /healthz HTTP/1.1\r\n\r\n", resp, sizeof(resp)),
		503);
	st = HEALTH_MOUNTED;
	ck_assert_int_eq(
		request(health_server_port(s), "GET /healthz HTTP/1.1\r\n\r\n", resp, sizeof(resp)),
		200);
	ck_assert_ptr_nonnull(strstr(resp, "\r\n\r\nok\n"));
	ck_assert_int_eq(
		request(health_server_port(s), "GET /status HTTP/1.1\r\n\r\n", resp, sizeof(resp)),
		200);
	ck_assert_ptr_nonnull(strstr(resp, "Content-Type: application/json"));
	ck_assert_int_eq(request(health_server_port(s), "HEAD /metrics HTTP/1.1\r\n\r\n", resp,
				 sizeof(resp)),
			 200);
	ck_assert_ptr_nonnull(strstr(resp, "\r\n\r\n"));
	ck_assert_str_eq(strstr(resp, "\r\n\r\n"), "\r\n\r\n");
	ck_assert_int_eq(request(health_server_port(s), "DELETE /status HTTP/1.1\r\n\r\n", resp,
				 sizeof(resp)),
			 405);
	ck_assert_int_eq(request(health_server_port(s), "garbage\r\n\r\n", resp, sizeof(resp)),
			 400);
	health_server_stop(s);
}
END_TEST

/* An NBD device the kernel gave up on (no live connection) is not ready, and shows why. */
START_TEST(render_nbd)
{
	struct health_fs f = { .state = HEALTH_MOUNTED,
			       .has_nbd = true,
			       .nbd_connections = 2,
			       .nbd_live_connections = 2 };
	struct buf b;
	json_t *root, *f0;

	snprintf(f.block, sizeof(f.block), "nbd");
	snprintf(f.mount_point, sizeof(f.mount_point), "/mnt/x");
	ck_assert(health_is_ready(&f, 1));
	f.nbd_live_connections = 0;
	ck_assert(!health_is_ready(&f, 1));
	buf_init(&b, 65536);
	ck_assert_int_eq(health_render_json(&f, 1, &b), 0);
	root = json_loadb((const char *)b.data, b.len, 0, NULL);
	ck_assert_ptr_nonnull(root);
	f0 = json_array_get(json_object_get(root, "filesystems"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(f0, "block")), "nbd");
	ck_assert_int_eq(
		json_integer_value(json_object_get(json_object_get(f0, "nbd"), "live_connections")),
		0);
	json_decref(root);
	buf_done(&b);
	buf_init(&b, 65536);
	ck_assert_int_eq(health_render_prometheus(&f, 1, &b), 0);
	ck_assert_ptr_nonnull(
		strstr((const char *)b.data,
		       "sealmount_nbd_live_connections{index=\"0\",mount_point=\"/mnt/x\"} 0"));
	buf_done(&b);
}
END_TEST

static Suite *health_suite(void)
{
	Suite *s = suite_create("health");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, request_valid);
	tcase_add_test(tc, request_negative);
	tcase_add_test(tc, render_json);
	tcase_add_test(tc, render_prometheus);
	tcase_add_test(tc, server);
	tcase_add_test(tc, render_nbd);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(health_suite)
