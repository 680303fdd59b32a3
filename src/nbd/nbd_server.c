/* SPDX-License-Identifier: MIT */
/*
 * nbd_server.c - the NBD server's lifetime: the export it offers, its connections (each in the
 * caller's thread or its own), stop and wait. The Unix socket listener is nbd_listen.c; one
 * connection's protocol loop is nbd_conn.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "nbd_internal.h"
#include "sealmount/log.h"

/* A name or description we put on the wire: a protocol string without control characters. */
static bool is_valid_text(const char *s)
{
	if (strlen(s) > NBD_NAME_MAX)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* Block sizes and flags of the export (doc/proto.md "Size constraints"). */
static int describe_export(struct nbd_server *srv, const struct nbd_server_options *o)
{
	uint64_t size = bdev_size(srv->dev);
	uint32_t min = 512;

	if (o->writable && srv->write_align > min)
		min = srv->write_align;
	if (min > 65536)
		return -EINVAL; /* the protocol's limit for a minimum block size */
	if (size % min)
		min = 1; /* a block-sized minimum would hide the export's tail */
	srv->exp = (struct nbd_export){
		.name = srv->name,
		.description = srv->description,
		.size = size,
		.flags = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_CAN_MULTI_CONN |
			 (o->writable ? NBD_FLAG_SEND_FUA : NBD_FLAG_READ_ONLY),
		.min_block = min,
		.pref_block = min > 4096 ? min : 4096,
		.max_payload = o->max_payload ? o->max_payload : NBD_PAYLOAD_MAX,
	};
	if (srv->exp.max_payload < srv->exp.pref_block || srv->exp.max_payload > NBD_PAYLOAD_MAX)
		return -EINVAL;
	return 0;
}

static int check_options(struct bdev *dev, const struct nbd_server_options *o)
{
	if (o->writable && !bdev_is_writable(dev))
		return -EROFS;
	if (o->threads > 64 || (o->max_payload && o->max_payload < 4096))
		return -EINVAL;
	if ((o->export_name && !is_valid_text(o->export_name)) ||
	    (o->description && !is_valid_text(o->description)))
		return -EINVAL;
	return 0;
}

int nbd_server_new(struct bdev *dev, const struct nbd_server_options *o, struct nbd_server **ret)
{
	_cleanup_(nbd_server_freep) struct nbd_server *srv = NULL;
	int r;

	r = check_options(dev, o);
	if (r < 0)
		return r;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->listen_fd = srv->wake[0] = srv->wake[1] = -1;
	r = pthread_mutex_init(&srv->lock, NULL);
	if (r != 0) {
		free(TAKE_PTR(srv));
		return -r;
	}
	srv->dev = dev;
	srv->write_align = bdev_write_align(dev);
	srv->threads = o->threads ? o->threads : NBD_DEFAULT_THREADS;
	srv->max_connections =
		o->max_connections ? o->max_connections : NBD_DEFAULT_MAX_CONNECTIONS;
	srv->name = strdup(o->export_name ? o->export_name : "");
	srv->description = o->description ? strdup(o->description) : NULL;
	if (!srv->name || (o->description && !srv->description))
		return -ENOMEM;
	r = describe_export(srv, o);
	if (r < 0)
		return r;
	log_debug("nbd: export '%s' of %s, %" PRIu64 " bytes, %s, block sizes %u/%u/%u", srv->name,
		  bdev_name(dev), srv->exp.size, o->writable ? "read-write" : "read-only",
		  srv->exp.min_block, srv->exp.pref_block, srv->exp.max_payload);
	*ret = TAKE_PTR(srv);
	return 0;
}

/* Register a connection; -ESHUTDOWN once stopped. */
static int conn_add(struct nbd_server *srv, int fd, bool handshake, bool threaded,
		    struct nbd_conn **ret)
{
	struct nbd_conn *c;

	LOCK_GUARD(&srv->lock);
	if (srv->stopped)
		return -ESHUTDOWN;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	*c = (struct nbd_conn){ .srv = srv,
				.fd = fd,
				.handshake = handshake,
				.threaded = threaded,
				.next = srv->conns };
	srv->conns = c;
	__atomic_fetch_add(&srv->active, 1, __ATOMIC_RELAXED);
	NBD_STAT_ADD(srv, n_connections, 1);
	*ret = c;
	return 0;
}

/* Take c out of the list (under srv->lock). */
static void conn_unlink(struct nbd_server *srv, struct nbd_conn *c)
{
	for (struct nbd_conn **p = &srv->conns; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			return;
		}
}

/* Unlink (under srv->lock), close the socket if still open, free. */
static void conn_unlink_free(struct nbd_server *srv, struct nbd_conn *c)
{
	conn_unlink(srv, c);
	if (c->fd >= 0)
		(void)close(c->fd);
	free(c);
}

int nbd_server_serve_fd(struct nbd_server *srv, int fd)
{
	struct nbd_conn *c;
	int r;

	r = conn_add(srv, fd, true, false, &c);
	if (r < 0) {
		(void)close(fd);
		return r;
	}
	r = nbd_conn_run(c);
	LOCK_GUARD(&srv->lock);
	__atomic_fetch_sub(&srv->active, 1, __ATOMIC_RELAXED);
	conn_unlink_free(srv, c);
	return r;
}

static void *conn_thread(void *arg)
{
	struct nbd_conn *c = arg;
	struct nbd_server *srv = c->srv;
	int r;

	r = nbd_conn_run(c);
	if (r < 0)
		log_debug_errno(r, "nbd: connection ended: %m");
	/* Closed now (under the lock, so stop() never shuts a reused fd): the client sees the end
	 * of the connection at once; the thread is joined later. */
	LOCK_GUARD(&srv->lock);
	__atomic_fetch_sub(&srv->active, 1, __ATOMIC_RELAXED);
	(void)close(c->fd);
	c->fd = -1;
	c->done = true;
	return NULL;
}

int nbd_server_start(struct nbd_server *srv, int fd, bool handshake)
{
	struct nbd_conn *c;
	int r;

	r = conn_add(srv, fd, handshake, true, &c);
	if (r < 0) {
		(void)close(fd);
		return r;
	}
	r = pthread_create(&c->thread, NULL, conn_thread, c);
	if (r != 0) {
		LOCK_GUARD(&srv->lock);
		__atomic_fetch_sub(&srv->active, 1, __ATOMIC_RELAXED);
		conn_unlink_free(srv, c);
		return -r;
	}
	return 0;
}

void nbd_server_reap(struct nbd_server *srv, bool all)
{
	struct nbd_conn *c;

	for (;;) {
		/* Claimed, not unlinked, while its thread may still run: stop() must still find a
		 * running connection to shut it, and no second reaper may join it. */
		pthread_mutex_lock(&srv->lock);
		for (c = srv->conns; c; c = c->next)
			if (c->threaded && !c->claimed && (all || c->done))
				break;
		if (c)
			c->claimed = true;
		pthread_mutex_unlock(&srv->lock);
		if (!c)
			return;
		pthread_join(c->thread, NULL);
		pthread_mutex_lock(&srv->lock);
		conn_unlink_free(srv, c); /* its thread closed the socket */
		pthread_mutex_unlock(&srv->lock);
	}
}

void nbd_server_stop(struct nbd_server *srv)
{
	LOCK_GUARD(&srv->lock);
	if (srv->stopped)
		return;
	srv->stopped = true;
	/* Reading ends at once; replies to requests in flight still go out. */
	for (struct nbd_conn *c = srv->conns; c; c = c->next)
		if (!c->done)
			(void)shutdown(c->fd, SHUT_RD);
	if (srv->wake[1] >= 0)
		(void)!write(srv->wake[1], "x", 1);
}

void nbd_server_wait(struct nbd_server *srv)
{
	bool listening;

	pthread_mutex_lock(&srv->lock);
	listening = srv->listening;
	srv->listening = false;
	pthread_mutex_unlock(&srv->lock);
	if (listening)
		pthread_join(srv->listener, NULL);
	nbd_server_reap(srv, true);
}

void nbd_server_free(struct nbd_server *srv)
{
	if (!srv)
		return;
	nbd_server_stop(srv);
	nbd_server_wait(srv);
	nbd_listen_done(srv);
	pthread_mutex_destroy(&srv->lock);
	free(srv->name);
	free(srv->description);
	free(srv);
}

void nbd_server_get_stats(const struct nbd_server *srv, struct nbd_server_stats *ret)
{
#define GET(f) __atomic_load_n(&srv->f, __ATOMIC_RELAXED)
	*ret = (struct nbd_server_stats){
		.connections = GET(n_connections),
		.active = __atomic_load_n(&srv->active, __ATOMIC_RELAXED),
		.requests = GET(n_requests),
		.reads = GET(n_reads),
		.writes = GET(n_writes),
		.flushes = GET(n_flushes),
		.bytes_read = GET(n_bytes_read),
		.bytes_written = GET(n_bytes_written),
		.errors = GET(n_errors),
		.protocol_errors = GET(n_protocol_errors),
	};
#undef GET
}

uint64_t nbd_server_size(const struct nbd_server *srv)
{
	return srv->exp.size;
}

uint16_t nbd_server_flags(const struct nbd_server *srv)
{
	return srv->exp.flags;
}

uint32_t nbd_server_min_block(const struct nbd_server *srv)
{
	return srv->exp.min_block < 512 ? 512 : srv->exp.min_block;
}
