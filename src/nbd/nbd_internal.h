/* SPDX-License-Identifier: MIT */
/*
 * nbd_internal.h - shared by the server (nbd_server.c: lifetime, connections, listener) and
 * one connection's protocol loop (nbd_conn.c).
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "sealmount/nbd.h"
#include "sealmount/nbd_proto.h"

/* Requests in flight per connection, and their bytes (reads: length; writes: payload). The
 * reader waits for room rather than buffer without bound; one request is always admitted. */
#define NBD_INFLIGHT_MAX 256u
#define NBD_INFLIGHT_BYTES (64u << 20)

struct nbd_conn {
	struct nbd_server *srv;
	int fd; /* -1 once closed; closed under srv->lock, so nbd_server_stop() can shut it */
	bool handshake; /* false: the kernel's client, straight into transmission */
	bool threaded; /* runs in its own thread, joined by the server */
	bool done; /* its thread has finished (under srv->lock) */
	bool claimed; /* a reaper is joining it (under srv->lock) */
	pthread_t thread;
	struct nbd_conn *next;
};

struct nbd_server {
	struct bdev *dev;
	struct nbd_export exp;
	char *name;
	char *description;
	uint32_t write_align;
	unsigned threads;
	unsigned max_connections;

	pthread_mutex_t lock; /* everything below up to the counters */
	struct nbd_conn *conns;
	unsigned active;
	bool stopped;
	int listen_fd;
	int wake[2]; /* a byte written on stop wakes the accept loop */
	bool listening;
	pthread_t listener;
	char *socket_path;
	dev_t socket_dev;
	ino_t socket_ino;

	/* counters, updated with atomic builtins */
	uint64_t n_connections, n_requests, n_reads, n_writes, n_flushes;
	uint64_t n_bytes_read, n_bytes_written, n_errors, n_protocol_errors;
};

#define NBD_STAT_ADD(srv, field, v)                                                                \
	__atomic_fetch_add(&(srv)->field, (uint64_t)(v), __ATOMIC_RELAXED)

/* One connection, from the greeting (or, for the kernel, the first request) to its end. Does
 * not close c->fd. 0 after a clean end, else -errno (see nbd_server_serve_fd). */
_must_check_ int nbd_conn_run(struct nbd_conn *c) _nonnull_(1);

/* Join and free the threaded connections that have ended (all = false), or all of them,
 * waiting for each to end (all = true). Takes srv->lock. */
void nbd_server_reap(struct nbd_server *srv, bool all) _nonnull_(1);
/* Close the listening socket and remove its path (if it is still ours): nbd_listen.c. */
void nbd_listen_done(struct nbd_server *srv) _nonnull_(1);
/* Number of connections being served (srv->active). */
static inline unsigned nbd_server_active(struct nbd_server *srv)
{
	return __atomic_load_n(&srv->active, __ATOMIC_RELAXED);
}
