/* SPDX-License-Identifier: MIT */
/*
 * health.c - the health endpoint's server: one thread, poll(2), bounded connections, a
 * deadline per connection, one response per connection. Rendering is in health_render.c.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sealmount/health.h"
#include "sealmount/log.h"

struct conn {
	int fd; /* -1 = free slot */
	int64_t deadline_ms;
	size_t in_len;
	char in[HEALTH_REQUEST_MAX];
	struct buf out; /* the response, once the request is parsed */
	size_t out_off;
};

struct health_server {
	int listen_fd;
	int stop_pipe[2];
	unsigned port;
	health_snapshot_fn snapshot;
	void *userdata;
	pthread_t thread;
	bool running;
	struct conn conns[HEALTH_MAX_CLIENTS];
	struct health_fs snap[HEALTH_FS_MAX];
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- address ---- */

static bool is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
	return false;
}

/* "HOST:PORT" or "[V6]:PORT" -> host and port strings (host copied into h). */
static int split_address(const char *a, char *h, size_t hlen, const char **ret_port)
{
	const char *colon, *hs = a, *he;

	if (a[0] == '[') {
		he = strchr(a, ']');
		if (!he || he[1] != ':')
			return -EINVAL;
		hs = a + 1;
		colon = he + 1;
	} else {
		colon = strrchr(a, ':');
		if (!colon)
			return -EINVAL;
		he = colon;
	}
	if (he == hs || (size_t)(he - hs) >= hlen || !colon[1] ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1) || strlen(colon + 1) > 5)
		return -EINVAL;
	memcpy(h, hs, (size_t)(he - hs));
	h[he - hs] = 0;
	*ret_port = colon + 1;
	return 0;
}

static int open_listener(const struct health_options *o, int *ret_fd, unsigned *ret_port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
	struct addrinfo *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	const char *port;
	char host[128];
	int fd, r, one = 1;

	if (split_address(o->address, host, sizeof(host), &port) < 0 ||
	    strtoul(port, NULL, 10) > 65535)
		return -EINVAL;
	/* Only "localhost" may be a name: anything else must be numeric (no DNS at startup). */
	if (strcmp(host, "localhost") != 0)
		hints.ai_flags |= AI_NUMERICHOST;
	hints.ai_flags |= AI_NUMERICSERV;
	if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai)
		return -EINVAL;
	if (!o->allow_non_loopback && !is_loopback(ai->ai_addr)) {
		freeaddrinfo(ai);
		return -EADDRNOTAVAIL;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	r = fd < 0 ? -errno : 0;
	if (r == 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (r == 0 && (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 16) < 0 ||
		       getsockname(fd, (struct sockaddr *)&ss, &sl) < 0))
		r = -errno;
	freeaddrinfo(ai);
	if (r < 0) {
		if (fd >= 0)
			close(fd);
		return r;
	}
	*ret_port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port :
						    ((struct sockaddr_in6 *)&ss)->sin6_port);
	*ret_fd = fd;
	return 0;
}

/* ---- responses ---- */

static const char *status_text(int code)
{
	switch (code) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 431:
		return "Request Header Fields Too Large";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	}
	return "Internal Server Error";
}

static int error_status(int r)
{
	switch (r) {
	case -E2BIG:
		return 431;
	case -EOPNOTSUPP:
		return 405;
	case -ENOENT:
		return 404;
	case -EPROTONOSUPPORT:
		return 505;
	case -EBADMSG:
		return 400;
	}
	return 500;
}

static int render_body(struct health_server *s, enum health_route route, struct buf *body,
		       int *ret_code, const char **ret_type)
{
	struct health_fs *fs = s->snap; /* only the server thread uses it */
	size_t n;

	memset(fs, 0, sizeof(s->snap));
	n = s->snapshot ? s->snapshot(s->userdata, fs, HEALTH_FS_MAX) : 0;
	*ret_code = 200;
	switch (route) {
	case HEALTH_ROUTE_HEALTHZ:
		*ret_type = "text/plain; charset=utf-8";
		*ret_code = health_is_ready(fs, n) ? 200 : 503;
		return buf_append_str(body, *ret_code == 200 ? "ok\n" : "not ready\n");
	case HEALTH_ROUTE_STATUS:
		*ret_type = "application/json";
		return health_render_json(fs, n, body);
	case HEALTH_ROUTE_METRICS:
		*ret_type = "text/plain; version=0.0.4; charset=utf-8";
		return health_render_prometheus(fs, n, body);
	}
	return -EINVAL;
}

static void build_response(struct health_server *s, struct conn *c, int r,
			   const struct health_request *req)
{
	_cleanup_(buf_done) struct buf body = {};
	const char *type = "text/plain; charset=utf-8";
	int code;

	buf_init(&body, HEALTH_RESPONSE_MAX);
	if (r < 0) {
		code = error_status(r);
		r = buf_printf(&body, "%s\n", status_text(code));
	} else {
		r = render_body(s, req->route, &body, &code, &type);
	}
	if (r < 0) {
		code = 500;
		buf_done(&body);
		buf_init(&body, HEALTH_RESPONSE_MAX);
	}
	buf_init(&c->out, HEALTH_RESPONSE_MAX + 512);
	r = buf_printf(&c->out,
		       "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		       "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
		       code, status_text(code), type, body.len);
	if (r == 0 && !req->head && body.len)
		r = buf_append(&c->out, body.data, body.len);
	if (r < 0)
		buf_done(&c->out); /* nothing to send: the connection is closed */
	c->out_off = 0;
}

/* ---- connections ---- */

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	buf_done(&c->out);
	c->fd = -1;
	c->in_len = 0;
	c->out_off = 0;
}

static void accept_clients(struct health_server *s)
{
	for (;;) {
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		struct conn *slot = NULL;

		if (fd < 0)
			return;
		for (size_t i = 0; i < HEALTH_MAX_CLIENTS && !slot; i++)
			if (s->conns[i].fd < 0)
				slot = &s->conns[i];
		if (!slot) { /* full: refuse rather than queue */
			close(fd);
			continue;
		}
		slot->fd = fd;
		slot->deadline_ms = now_ms() + HEALTH_CLIENT_TIMEOUT_MS;
		slot->in_len = 0;
	}
}

static void conn_read(struct health_server *s, struct conn *c)
{
	struct health_request req = {};
	ssize_t n;
	int r;

	n = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	c->in_len += (size_t)n;
	r = health_parse_request(c->in, c->in_len, &req);
	if (r == -EAGAIN)
		return;
	build_response(s, c, r, &req);
	if (!c->out.data)
		conn_close(c);
}

static void conn_write(struct conn *c)
{
	ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	c->out_off += (size_t)n;
	if (c->out_off == c->out.len) {
		(void)shutdown(c->fd, SHUT_WR);
		conn_close(c);
	}
}

static int poll_timeout(const struct health_server *s, int64_t now)
{
	int64_t t = -1;

	for (size_t i = 0; i < HEALTH_MAX_CLIENTS; i++) {
		int64_t left = s->conns[i].deadline_ms - now;

		if (s->conns[i].fd < 0)
			continue;
		if (left < 0)
			left = 0;
		if (t < 0 || left < t)
			t = left;
	}
	return (int)t;
}

static void *server_thread(void *arg)
{
	struct health_server *s = arg;
	struct pollfd pfd[HEALTH_MAX_CLIENTS + 2];

	for (;;) {
		size_t map[HEALTH_MAX_CLIENTS], n = 2;
		int64_t now = now_ms();

		pfd[0] = (struct pollfd){ .fd = s->stop_pipe[0], .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = s->listen_fd, .events = POLLIN };
		for (size_t i = 0; i < HEALTH_MAX_CLIENTS; i++) {
			struct conn *c = &s->conns[i];

			if (c->fd >= 0 && c->deadline_ms <= now)
				conn_close(c); /* too slow: drop it */
			if (c->fd < 0)
				continue;
			pfd[n] = (struct pollfd){ .fd = c->fd,
						  .events = c->out.data ? POLLOUT : POLLIN };
			map[n - 2] = i;
			n++;
		}
		if (poll(pfd, n, poll_timeout(s, now)) < 0 && errno != EINTR)
			break;
		if (pfd[0].revents)
			break;
		for (size_t k = 2; k < n; k++) {
			struct conn *c = &s->conns[map[k - 2]];

			if (pfd[k].revents & (POLLERR | POLLNVAL))
				conn_close(c);
			else if (pfd[k].revents & POLLOUT)
				conn_write(c);
			else if (pfd[k].revents & (POLLIN | POLLHUP))
				conn_read(s, c);
		}
		if (pfd[1].revents & POLLIN)
			accept_clients(s);
	}
	return NULL;
}

int health_server_start(const struct health_options *o, struct health_server **ret)
{
	struct health_server *s;
	int r;

	if (!o->address)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->listen_fd = s->stop_pipe[0] = s->stop_pipe[1] = -1;
	for (size_t i = 0; i < HEALTH_MAX_CLIENTS; i++)
		s->conns[i].fd = -1;
	s->snapshot = o->snapshot;
	s->userdata = o->userdata;
	r = open_listener(o, &s->listen_fd, &s->port);
	if (r == 0 && pipe2(s->stop_pipe, O_CLOEXEC) < 0)
		r = -errno;
	if (r == 0) {
		r = -pthread_create(&s->thread, NULL, server_thread, s);
		s->running = r == 0;
	}
	if (r < 0) {
		health_server_stop(s);
		return r;
	}
	*ret = s;
	return 0;
}

unsigned health_server_port(const struct health_server *s)
{
	return s->port;
}

void health_server_stop(struct health_server *s)
{
	if (!s)
		return;
	if (s->running) {
		ssize_t n;

		do
			n = write(s->stop_pipe[1], "x", 1);
		while (n < 0 && errno == EINTR);
		pthread_join(s->thread, NULL);
	}
	for (size_t i = 0; i < HEALTH_MAX_CLIENTS; i++)
		conn_close(&s->conns[i]);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->stop_pipe[0] >= 0)
		close(s->stop_pipe[0]);
	if (s->stop_pipe[1] >= 0)
		close(s->stop_pipe[1]);
	free(s);
}
