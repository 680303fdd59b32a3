/* SPDX-License-Identifier: MIT */
/*
 * http_probe - one request through the http module, for the integration tests.
 *
 *   http_probe --url URL [--method M] [--header "Name: value"]... [--body STR]
 *              [--max-response N] [--retries N] [--timeout-ms N] [--connect-timeout-ms N]
 *              [--backoff-base-ms N] [--backoff-max-ms N] [--low-speed BYTES:SECONDS]
 *              [--ca-file F] [--output F] [--print-header NAME]... [--threads N] [--repeat N]
 *              [--debug]
 *
 * Prints "status=N attempts=N bytes=N elapsed_ms=N" and exits 0 when a response came back
 * (whatever its status), or "error=-ERRNO NAME elapsed_ms=N" and exits 1; 2 on bad usage.
 * With --threads/--repeat, every thread sends the request --repeat times through one shared
 * client and the probe prints "requests=N failures=N elapsed_ms=N" (exit 1 on any failure).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sealmount/http.h"
#include "sealmount/log.h"

#define PROBE_MAX_HEADERS 32
#define PROBE_MAX_PRINT 16
#define PROBE_MAX_THREADS 64

struct probe {
	struct http_options opts;
	struct http_request req;
	const char *headers[PROBE_MAX_HEADERS + 1];
	size_t n_headers;
	const char *print[PROBE_MAX_PRINT];
	size_t n_print;
	const char *output;
	unsigned threads;
	unsigned repeat;
};

struct worker {
	struct http_client *c;
	const struct probe *p;
	unsigned failures;
	pthread_t thread;
};

static int parse_uint(const char *s, unsigned *ret)
{
	char *end = NULL;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v > UINT_MAX)
		return -EINVAL;
	*ret = (unsigned)v;
	return 0;
}

static int parse_size(const char *s, size_t *ret)
{
	char *end = NULL;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v > SIZE_MAX)
		return -EINVAL;
	*ret = (size_t)v;
	return 0;
}

static int parse_low_speed(const char *s, struct http_options *o)
{
	char *end = NULL;
	unsigned long bytes, secs;

	errno = 0;
	bytes = strtoul(s, &end, 10);
	if (errno || end == s || *end != ':' || bytes > UINT_MAX)
		return -EINVAL;
	s = end + 1;
	secs = strtoul(s, &end, 10);
	if (errno || end == s || *end || secs > UINT_MAX)
		return -EINVAL;
	o->low_speed_bytes_sec = (unsigned)bytes;
	o->low_speed_time_s = (unsigned)secs;
	return 0;
}

static int parse_option(struct probe *p, int opt, const char *arg)
{
	switch (opt) {
	case 'u':
		p->req.url = arg;
		return 0;
	case 'm':
		p->req.method = arg;
		return 0;
	case 'b':
		p->req.body = arg;
		p->req.body_len = strlen(arg);
		return 0;
	case 'f':
		p->opts.ca_file = arg;
		return 0;
	case 'o':
		p->output = arg;
		return 0;
	case 'H':
		if (p->n_headers >= PROBE_MAX_HEADERS)
			return -E2BIG;
		p->headers[p->n_headers++] = arg;
		return 0;
	case 'P':
		if (p->n_print >= PROBE_MAX_PRINT)
			return -E2BIG;
		p->print[p->n_print++] = arg;
		return 0;
	case 'x':
		return parse_size(arg, &p->req.max_response);
	case 'r':
		return parse_uint(arg, &p->opts.max_retries);
	case 't':
		return parse_uint(arg, &p->opts.total_timeout_ms);
	case 'c':
		return parse_uint(arg, &p->opts.connect_timeout_ms);
	case 'B':
		return parse_uint(arg, &p->opts.backoff_base_ms);
	case 'M':
		return parse_uint(arg, &p->opts.backoff_max_ms);
	case 'l':
		return parse_low_speed(arg, &p->opts);
	case 'T':
		return parse_uint(arg, &p->threads);
	case 'n':
		return parse_uint(arg, &p->repeat);
	case 'd':
		log_set_level(LOG_LVL_DEBUG);
		return 0;
	default:
		return -EINVAL;
	}
}

static int parse_args(int argc, char **argv, struct probe *p)
{
	static const struct option longopts[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "method", required_argument, NULL, 'm' },
		{ "header", required_argument, NULL, 'H' },
		{ "body", required_argument, NULL, 'b' },
		{ "max-response", required_argument, NULL, 'x' },
		{ "retries", required_argument, NULL, 'r' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "connect-timeout-ms", required_argument, NULL, 'c' },
		{ "backoff-base-ms", required_argument, NULL, 'B' },
		{ "backoff-max-ms", required_argument, NULL, 'M' },
		{ "low-speed", required_argument, NULL, 'l' },
		{ "ca-file", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "print-header", required_argument, NULL, 'P' },
		{ "threads", required_argument, NULL, 'T' },
		{ "repeat", required_argument, NULL, 'n' },
		{ "debug", no_argument, NULL, 'd' },
		{ 0 },
	};
	int opt, r;

	p->req.method = "GET";
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		r = parse_option(p, opt, optarg);
		if (r < 0) {
			fprintf(stderr, "http_probe: bad option %s\n", argv[optind - 1]);
			return r;
		}
	}
	if (optind != argc || !p->req.url || p->threads > PROBE_MAX_THREADS) {
		fprintf(stderr, "usage: http_probe --url URL [options]; see the source\n");
		return -EINVAL;
	}
	if (p->threads > 0 && p->repeat == 0)
		p->repeat = 1;
	p->headers[p->n_headers] = NULL;
	p->req.headers = p->headers;
	return 0;
}

static long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

static int write_output(const char *path, const struct http_response *resp)
{
	FILE *f = fopen(path, "we");
	int r = 0;

	if (!f)
		return -errno;
	if (fwrite(resp->body.data, 1, resp->body.len, f) != resp->body.len)
		r = -EIO;
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	return r;
}

static int report(const struct probe *p, const struct http_response *resp, long ms)
{
	printf("status=%ld attempts=%u bytes=%zu elapsed_ms=%ld\n", resp->status, resp->attempts,
	       resp->body.len, ms);
	for (size_t i = 0; i < p->n_print; i++) {
		const char *v = http_response_header(resp, p->print[i]);

		printf("header %s=%s\n", p->print[i], v ? v : "(absent)");
	}
	return p->output ? write_output(p->output, resp) : 0;
}

static int run_once(struct http_client *c, const struct probe *p)
{
	struct http_response resp = { 0 };
	long t0 = now_ms();
	int r;

	r = http_request(c, &p->req, &resp);
	if (r < 0) {
		printf("error=%d %s elapsed_ms=%ld\n", r, strerrorname_np(-r) ?: "?",
		       now_ms() - t0);
		if (*http_last_error(r))
			printf("why=%s\n", http_last_error(r));
		return r;
	}
	r = report(p, &resp, now_ms() - t0);
	http_response_done(&resp);
	return r;
}

static void *worker_main(void *userp)
{
	struct worker *w = userp;

	for (unsigned i = 0; i < w->p->repeat; i++) {
		struct http_response resp = { 0 };

		if (http_request(w->c, &w->p->req, &resp) < 0 || resp.status < 200 ||
		    resp.status > 299)
			w->failures++;
		http_response_done(&resp);
	}
	return NULL;
}

static int run_threads(struct http_client *c, const struct probe *p)
{
	struct worker w[PROBE_MAX_THREADS] = { 0 };
	unsigned failures = 0, started = 0;
	long t0 = now_ms();

	for (; started < p->threads; started++) {
		w[started] = (struct worker){ .c = c, .p = p };
		if (pthread_create(&w[started].thread, NULL, worker_main, &w[started]) != 0)
			break;
	}
	for (unsigned i = 0; i < started; i++) {
		pthread_join(w[i].thread, NULL);
		failures += w[i].failures;
	}
	failures += (p->threads - started) * p->repeat;
	printf("requests=%u failures=%u elapsed_ms=%ld\n", p->threads * p->repeat, failures,
	       now_ms() - t0);
	return failures ? -EIO : 0;
}

int main(int argc, char **argv)
{
	_cleanup_(http_client_freep) struct http_client *c = NULL;
	struct probe p = { 0 };
	int r;

	r = parse_args(argc, argv, &p);
	if (r < 0)
		return 2;
	r = http_global_init();
	if (r >= 0)
		r = http_client_new(&p.opts, &c);
	if (r < 0) {
		printf("error=%d %s elapsed_ms=0\n", r, strerrorname_np(-r) ?: "?");
		return 1;
	}
	if (p.threads > 0)
		r = run_threads(c, &p);
	else
		r = run_once(c, &p);
	http_client_free(TAKE_PTR(c));
	http_global_cleanup();
	return r < 0 ? 1 : 0;
}
