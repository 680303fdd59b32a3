/* SPDX-License-Identifier: MIT */
/*
 * nbd_attach.c - a local file stack on /dev/nbdN through the in-process NBD server and the
 * kernel's netlink client (src/nbd), for tests/vm/test-vm-nbd.sh:
 *
 *   nbd_attach [--rw] [--cache-mb N] [--connections N] [--timeout S] [--dead-timeout S]
 *              [--block-size B] [--index I] FILE READY_FILE
 *       attach FILE (file, or file ▸ cache with --cache-mb) and write "/dev/nbdN" to
 *       READY_FILE; on SIGTERM/SIGINT detach, flush (--rw), remove READY_FILE and exit 0.
 *       The live connections (before detach) and the server's counters go to stderr.
 *   nbd_attach --disconnect INDEX     NBD_CMD_DISCONNECT of a device a killed attach left
 *   nbd_attach --available            exit 0 when the kernel's nbd netlink family resolves
 *
 * Exit 1 with a message on failure, 2 on usage errors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sealmount/cache.h"
#include "sealmount/fsutil.h"
#include "sealmount/log.h"
#include "sealmount/nbd.h"

struct args {
	bool rw;
	uint64_t cache_mb;
	struct nbd_kernel_options k;
	const char *file, *ready;
};

static int fail(int r, const char *what)
{
	fprintf(stderr, "nbd_attach: %s: %s\n", what, strerror(r < 0 ? -r : r));
	return 1;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

static int parse(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{ "rw", no_argument, NULL, 'w' },
		{ "cache-mb", required_argument, NULL, 'c' },
		{ "connections", required_argument, NULL, 'n' },
		{ "timeout", required_argument, NULL, 't' },
		{ "dead-timeout", required_argument, NULL, 'd' },
		{ "block-size", required_argument, NULL, 'b' },
		{ "index", required_argument, NULL, 'i' },
		{},
	};
	unsigned long v;
	int c;

	*a = (struct args){ .k = { .index = -1 } };
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'w') {
			a->rw = true;
			continue;
		}
		if (c == '?' || parse_uint(optarg, 1u << 20, &v) < 0)
			return -EINVAL;
		switch (c) {
		case 'c':
			a->cache_mb = v;
			break;
		case 'n':
			a->k.connections = (unsigned)v;
			break;
		case 't':
			a->k.timeout_s = (unsigned)v;
			break;
		case 'd':
			a->k.dead_conn_timeout_s = (unsigned)v;
			break;
		case 'b':
			a->k.block_size = (uint32_t)v;
			break;
		default:
			a->k.index = (int)v;
		}
	}
	if (argc - optind != 2)
		return -EINVAL;
	a->file = argv[optind];
	a->ready = argv[optind + 1];
	return 0;
}

static void print_stats(const struct nbd_server *srv)
{
	struct nbd_server_stats st;

	nbd_server_get_stats(srv, &st);
	fprintf(stderr,
		"nbd_attach: %" PRIu64 " connections, %" PRIu64 " requests, %" PRIu64
		" reads, %" PRIu64 " writes, %" PRIu64 " flushes, %" PRIu64 " errors\n",
		st.connections, st.requests, st.reads, st.writes, st.flushes, st.errors);
}

/* Attach, announce, wait for a stop signal, detach. */
static int serve(struct bdev *dev, const struct args *a, const sigset_t *stop)
{
	_cleanup_(nbd_server_freep) struct nbd_server *srv = NULL;
	struct nbd_server_options o = { .writable = a->rw };
	struct nbd_kernel *k = NULL;
	struct diag d = { 0 };
	char line[64];
	int r, sig;

	r = nbd_server_new(dev, &o, &srv);
	if (r < 0)
		return fail(r, "NBD server");
	r = nbd_kernel_attach(srv, &a->k, &k, &d);
	if (r < 0) {
		fprintf(stderr, "nbd_attach: %s\n", diag_text(&d, "attach failed"));
		return 1;
	}
	(void)snprintf(line, sizeof(line), "%s\n", nbd_kernel_device(k));
	r = fs_write_atomic(a->ready, line, strlen(line), 0644);
	if (r < 0)
		fprintf(stderr, "nbd_attach: cannot write %s: %s\n", a->ready, strerror(-r));
	else
		(void)sigwait(stop, &sig);
	fprintf(stderr, "nbd_attach: %u of %u connections live before detach\n",
		nbd_kernel_live_connections(k), nbd_kernel_connections(k));
	(void)unlink(a->ready);
	if (nbd_kernel_detach(k, &d) < 0) {
		fprintf(stderr, "nbd_attach: %s\n", diag_text(&d, "detach failed"));
		r = -EIO;
	}
	print_stats(srv);
	return r < 0 ? 1 : 0;
}

static int attach(const struct args *a, const sigset_t *stop)
{
	_cleanup_(bdev_freep) struct bdev *top = NULL;
	struct cache_options co = { .mem_max = a->cache_mb << 20 };
	struct bdev *file = NULL;
	int r;

	r = bdev_file_open(a->file, a->rw, &file);
	if (r < 0)
		return fail(r, a->file);
	top = file;
	if (a->cache_mb) {
		top = NULL;
		r = cache_new(file, &co, &top);
		if (r < 0)
			return fail(r, "cache");
	}
	r = serve(top, a, stop);
	if (a->rw && bdev_flush(top) < 0)
		r = fail(-EIO, "final flush");
	return r;
}

int main(int argc, char **argv)
{
	unsigned long index;
	struct args a;
	sigset_t stop;
	int r;

	if (argc == 2 && strcmp(argv[1], "--available") == 0)
		return nbd_kernel_available() ? 0 : 1;
	if (argc == 3 && strcmp(argv[1], "--disconnect") == 0) {
		if (parse_uint(argv[2], 1u << 20, &index) < 0)
			return 2;
		r = nbd_kernel_disconnect((unsigned)index);
		return r < 0 ? fail(r, "disconnect") : 0;
	}
	if (parse(argc, argv, &a) < 0) {
		fprintf(stderr, "usage: nbd_attach [--rw] [--cache-mb N] [--connections N] "
				"[--timeout S] [--dead-timeout S] [--block-size B] [--index I] "
				"FILE READY_FILE\n"
				"       nbd_attach --disconnect INDEX | --available\n");
		return 2;
	}
	/* Blocked before any thread exists: only sigwait() sees the stop signals. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	(void)pthread_sigmask(SIG_BLOCK, &stop, NULL);
	log_set_level(LOG_LVL_INFO);
	return attach(&a, &stop);
}
