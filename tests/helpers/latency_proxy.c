/* SPDX-License-Identifier: MIT */
/*
 * latency_proxy.c - a TCP proxy on 127.0.0.1 that adds a fixed delay to every request and is not
 * itself the limit (scripts/bench-blob.sh; this host has no netem). What a client sends is held
 * for DELAY_MS and then forwarded, so each HTTP/1.1 exchange (one request, one response, no
 * pipelining) takes DELAY_MS longer, as a round trip to a distant server does; what the server
 * answers is moved to the client with splice(2) through a pipe, without copying it through user
 * space. Two threads per connection; connections are independent.
 *
 *   latency_proxy --target PORT --delay-ms N --port-file FILE
 *
 * Writes the port it listens on to FILE (atomically: FILE.tmp then rename) and runs until killed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define UP_BUF (64 * 1024)
#define PIPE_SIZE (1024 * 1024)

struct conn {
	int client, server;
	unsigned delay_ms;
	atomic_int refs;
};

static void conn_put(struct conn *c)
{
	if (atomic_fetch_sub(&c->refs, 1) == 1) {
		close(c->client);
		close(c->server);
		free(c);
	}
}

static void sleep_until(const struct timespec *t)
{
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, t, NULL) == EINTR)
		;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* client -> server, each piece held for delay_ms after it arrived. */
static void *up_main(void *arg)
{
	struct conn *c = arg;
	char *buf = malloc(UP_BUF);

	while (buf) {
		struct timespec t;
		ssize_t n = read(c->client, buf, UP_BUF);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		clock_gettime(CLOCK_MONOTONIC, &t);
		t.tv_nsec += (long)(c->delay_ms % 1000) * 1000000L;
		t.tv_sec += c->delay_ms / 1000 + t.tv_nsec / 1000000000L;
		t.tv_nsec %= 1000000000L;
		sleep_until(&t);
		if (write_all(c->server, buf, (size_t)n) < 0)
			break;
	}
	free(buf);
	shutdown(c->server, SHUT_WR);
	conn_put(c);
	return NULL;
}

/* server -> client through a pipe: the bytes never enter user space. */
static void *down_main(void *arg)
{
	struct conn *c = arg;
	int p[2];

	if (pipe2(p, O_CLOEXEC) == 0) {
		(void)fcntl(p[1], F_SETPIPE_SZ, PIPE_SIZE);
		for (;;) {
			ssize_t n = splice(c->server, NULL, p[1], NULL, PIPE_SIZE, SPLICE_F_MOVE);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			while (n > 0) {
				/* Not SPLICE_F_MORE: it corks the socket, and the tail of a
				 * small answer would wait up to 200 ms for more. */
				ssize_t w = splice(p[0], NULL, c->client, NULL, (size_t)n,
						   SPLICE_F_MOVE);

				if (w < 0 && errno == EINTR)
					continue;
				if (w <= 0)
					goto out;
				n -= w;
			}
		}
out:
		close(p[0]);
		close(p[1]);
	}
	shutdown(c->client, SHUT_WR);
	conn_put(c);
	return NULL;
}

static int connect_target(unsigned port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static void serve(int client, unsigned target, unsigned delay_ms)
{
	struct conn *c = calloc(1, sizeof(*c));
	pthread_t t;
	int one = 1;

	if (!c) {
		close(client);
		return;
	}
	(void)setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	*c = (struct conn){ .client = client,
			    .server = connect_target(target),
			    .delay_ms = delay_ms };
	if (c->server < 0) {
		close(client);
		free(c);
		return;
	}
	atomic_store(&c->refs, 2);
	if (pthread_create(&t, NULL, up_main, c) != 0) {
		close(client);
		close(c->server);
		free(c);
		return;
	}
	pthread_detach(t);
	if (pthread_create(&t, NULL, down_main, c) != 0) {
		shutdown(client, SHUT_RDWR); /* up_main ends and drops both references' worth */
		conn_put(c);
		return;
	}
	pthread_detach(t);
}

static int listen_loopback(const char *port_file)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	char tmp[4096];
	FILE *f;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 256) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &alen) < 0)
		return -1;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", port_file) >= sizeof(tmp))
		return -1;
	f = fopen(tmp, "we");
	if (!f)
		return -1;
	fprintf(f, "%u\n", ntohs(a.sin_port));
	if (fclose(f) != 0 || rename(tmp, port_file) < 0)
		return -1;
	return fd;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "target", required_argument, NULL, 't' },
					      { "delay-ms", required_argument, NULL, 'd' },
					      { "port-file", required_argument, NULL, 'p' },
					      {} };
	unsigned long target = 0, delay = 0;
	const char *port_file = NULL;
	int c, fd;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 't')
			target = strtoul(optarg, NULL, 10);
		else if (c == 'd')
			delay = strtoul(optarg, NULL, 10);
		else if (c == 'p')
			port_file = optarg;
		else
			return 2;
	}
	if (!target || target > 65535 || delay > 60000 || !port_file) {
		fprintf(stderr,
			"usage: latency_proxy --target PORT --delay-ms N --port-file FILE\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	fd = listen_loopback(port_file);
	if (fd < 0) {
		perror("latency_proxy: listen");
		return 1;
	}
	for (;;) {
		int client = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

		if (client < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE)
				continue;
			perror("latency_proxy: accept");
			return 1;
		}
		serve(client, (unsigned)target, (unsigned)delay);
	}
}
