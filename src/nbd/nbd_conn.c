/* SPDX-License-Identifier: MIT */
/*
 * nbd_conn.c - one NBD connection: the fixed newstyle handshake, then the transmission phase
 * with a reader (this thread) and a pool of workers calling the block stack concurrently;
 * replies are serialized by a per-socket lock (docs/nbd.md "Threads"). Parsing and checking
 * are nbd_proto.c / nbd_opt.c; this file only moves bytes and calls the device.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>

#include "nbd_internal.h"
#include "sealmount/log.h"

#ifndef PR_SET_IO_FLUSHER
#define PR_SET_IO_FLUSHER 57
#endif

#define OPT_REPLY_MAX (64u * 1024) /* the largest option answer is a few KiB */
#define DISCARD_CHUNK (64u * 1024)

/* 0 when len bytes arrived; 1 when the stream ended before the first byte; -EPROTO when it
 * ended inside the message; -ETIMEDOUT (SO_RCVTIMEO); or -errno. */
static int recv_all(int fd, void *p, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = recv(fd, (uint8_t *)p + got, len - got, 0);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		/* A Unix socket whose peer closed with our data unread reports ECONNRESET: the
		 * client is gone all the same. */
		if (n == 0 || errno == ECONNRESET)
			return got == 0 ? 1 : -EPROTO;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
	}
	return 0;
}

/* Send every byte of the iovecs (which are consumed). MSG_NOSIGNAL: a client that went away
 * is an error here, not a SIGPIPE for the whole process. */
static int send_all(int fd, struct iovec *iov, size_t cnt)
{
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = cnt };
	ssize_t n;

	while (m.msg_iovlen > 0) {
		if (m.msg_iov->iov_len == 0) {
			m.msg_iov++;
			m.msg_iovlen--;
			continue;
		}
		n = sendmsg(fd, &m, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		while (n > 0) {
			size_t step =
				(size_t)n < m.msg_iov->iov_len ? (size_t)n : m.msg_iov->iov_len;

			m.msg_iov->iov_base = (uint8_t *)m.msg_iov->iov_base + step;
			m.msg_iov->iov_len -= step;
			n -= (ssize_t)step;
			if (m.msg_iov->iov_len == 0) {
				m.msg_iov++;
				m.msg_iovlen--;
			}
		}
	}
	return 0;
}

static int send_bytes(int fd, const void *p, size_t len)
{
	struct iovec iov = { .iov_base = (void *)p, .iov_len = len };

	return send_all(fd, &iov, 1);
}

static void set_recv_timeout(int fd, unsigned seconds)
{
	struct timeval tv = { .tv_sec = seconds };

	/* Not fatal: without it a stalled client only holds its own connection. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		log_debug("nbd: SO_RCVTIMEO: %m");
}

static int protocol_error(struct nbd_server *srv, int r, const char *what)
{
	NBD_STAT_ADD(srv, n_protocol_errors, 1);
	return log_debug_errno(r, "nbd: %s, dropping the connection: %m", what);
}

/* Read and answer options until the client enters transmission (1), leaves (0) or breaks the
 * protocol (< 0). */
static int negotiate(struct nbd_conn *c, struct nbd_negotiation *n)
{
	_cleanup_free_ uint8_t *data = malloc(NBD_OPT_DATA_MAX);
	enum nbd_opt_action act = NBD_OPT_NEXT;
	_cleanup_(buf_done) struct buf out;
	uint8_t h[NBD_OPT_HEADER_SIZE];
	uint32_t opt, len;
	int r;

	buf_init(&out, OPT_REPLY_MAX);
	if (!data)
		return -ENOMEM;
	while (act == NBD_OPT_NEXT) {
		buf_done(&out);
		r = recv_all(c->fd, h, sizeof(h));
		if (r != 0)
			return r == 1 ? 0 : r;
		if (nbd_opt_header_parse(h, &opt, &len) < 0)
			return protocol_error(c->srv, -EBADMSG, "bad option magic");
		if (len > NBD_OPT_DATA_MAX) {
			if (nbd_opt_reply(&out, opt, NBD_REP_ERR_TOO_BIG, NULL, 0) == 0)
				(void)send_bytes(c->fd, out.data, out.len);
			return protocol_error(c->srv, -EPROTO, "option data over the cap");
		}
		r = len ? recv_all(c->fd, data, len) : 0;
		if (r != 0)
			return r == 1 ? -EPROTO : r;
		r = nbd_opt_handle(&c->srv->exp, n, opt, data, len, &out, &act);
		if (r == 0 && out.len)
			r = send_bytes(c->fd, out.data, out.len);
		if (r < 0)
			return r;
		log_debug("nbd: option %" PRIu32 " (%" PRIu32 " bytes) -> %s", opt, len,
			  act == NBD_OPT_TRANSMIT ? "transmission" :
			  act == NBD_OPT_CLOSE	  ? "close" :
						    "next");
	}
	return act == NBD_OPT_TRANSMIT ? 1 : 0;
}

/* The handshake: greeting, client flags, options. 1 = transmission, with *s filled. */
static int handshake(struct nbd_conn *c, struct nbd_session *s)
{
	struct nbd_server *srv = c->srv;
	struct nbd_negotiation n = { 0 };
	uint8_t g[NBD_GREETING_SIZE], f[4];
	int r;

	set_recv_timeout(c->fd, NBD_HANDSHAKE_TIMEOUT_S);
	nbd_greeting(g);
	r = send_bytes(c->fd, g, sizeof(g));
	if (r == -EPIPE || r == -ECONNRESET)
		return 0; /* the client left before we said hello */
	if (r < 0)
		return r;
	r = recv_all(c->fd, f, sizeof(f));
	if (r != 0)
		return r == 1 ? 0 : r;
	if (nbd_client_flags_parse(f, &n) < 0)
		return protocol_error(srv, -EPROTO, "unknown client flags");
	r = negotiate(c, &n);
	if (r <= 0)
		return r;
	set_recv_timeout(c->fd, 0); /* transmission may idle for as long as it likes */
	*s = (struct nbd_session){ .size = srv->exp.size,
				   .flags = nbd_transmission_flags(&srv->exp, &n),
				   .structured = n.structured,
				   .meta = n.meta,
				   .max_payload = srv->exp.max_payload,
				   .write_align = srv->write_align };
	return 1;
}

/* ---- transmission ---- */

struct job {
	struct nbd_request rq;
	uint8_t *payload; /* a write's data */
	size_t cost; /* bytes counted against NBD_INFLIGHT_BYTES */
	struct job *next;
};

struct xmit {
	struct nbd_conn *c;
	struct nbd_server *srv;
	struct nbd_session s;
	pthread_mutex_t send_lock; /* one reply at a time on the socket */
	pthread_mutex_t lock; /* the queue and the in-flight accounting */
	pthread_cond_t work;
	pthread_cond_t room;
	struct job *head, *tail;
	unsigned inflight;
	size_t inflight_bytes;
	bool closing;
	unsigned nworkers;
	pthread_t workers[64];
};

static void xsend(struct xmit *x, struct iovec *iov, size_t cnt)
{
	int r;

	pthread_mutex_lock(&x->send_lock);
	r = send_all(x->c->fd, iov, cnt);
	pthread_mutex_unlock(&x->send_lock);
	if (r < 0) {
		/* The client cannot get its answers: end the connection (the reader sees EOF). */
		log_debug_errno(r, "nbd: sending a reply failed: %m");
		(void)shutdown(x->c->fd, SHUT_RDWR);
	}
}

static const char *error_text(uint32_t err)
{
	switch (err) {
	case NBD_EPERM:
		return "read-only export";
	case NBD_EINVAL:
		return "invalid request";
	case NBD_ENOSPC:
		return "beyond the end of the export";
	case NBD_ENOMEM:
		return "out of memory";
	default:
		return "I/O error";
	}
}

static void reply_error(struct xmit *x, const struct nbd_request *rq, uint32_t err)
{
	uint8_t b[NBD_CHUNK_HEADER_SIZE + 6 + 96];
	char msg[96];
	struct iovec iov = { .iov_base = b };

	NBD_STAT_ADD(x->srv, n_errors, 1);
	if (x->s.structured) {
		(void)snprintf(msg, sizeof(msg), "%s: %s", nbd_cmd_name(rq->type), error_text(err));
		iov.iov_len = nbd_error_chunk(b, sizeof(b), rq->handle, err, msg);
	} else {
		nbd_simple_reply(b, err, rq->handle);
		iov.iov_len = NBD_SIMPLE_REPLY_SIZE;
	}
	xsend(x, &iov, 1);
}

/* r: 0 or the device's -errno. */
static void reply_status(struct xmit *x, const struct nbd_request *rq, int r)
{
	uint8_t b[NBD_SIMPLE_REPLY_SIZE];
	struct iovec iov = { .iov_base = b, .iov_len = sizeof(b) };

	if (r < 0) {
		log_debug_errno(r, "nbd: %s of %" PRIu32 " bytes at %" PRIu64 " failed: %m",
				nbd_cmd_name(rq->type), rq->length, rq->offset);
		reply_error(x, rq, nbd_error_from_errno(r));
		return;
	}
	nbd_simple_reply(b, 0, rq->handle);
	xsend(x, &iov, 1);
}

static void reply_data(struct xmit *x, const struct nbd_request *rq, uint8_t *data)
{
	uint8_t h[NBD_CHUNK_HEADER_SIZE + 8];
	struct iovec iov[2] = { { .iov_base = h }, { .iov_base = data, .iov_len = rq->length } };

	if (x->s.structured) {
		/* One chunk, final: the data is complete before the header goes out. */
		nbd_chunk_header(h, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_OFFSET_DATA, rq->handle,
				 rq->length + 8);
		put_u64be(h + NBD_CHUNK_HEADER_SIZE, rq->offset);
		iov[0].iov_len = sizeof(h);
	} else {
		nbd_simple_reply(h, 0, rq->handle);
		iov[0].iov_len = NBD_SIMPLE_REPLY_SIZE;
	}
	xsend(x, iov, 2);
}

static void do_read(struct xmit *x, const struct nbd_request *rq)
{
	_cleanup_free_ uint8_t *data = malloc(rq->length);
	int r;

	r = data ? bdev_read(x->srv->dev, data, rq->length, rq->offset) : -ENOMEM;
	if (r < 0) {
		reply_status(x, rq, r);
		return;
	}
	NBD_STAT_ADD(x->srv, n_reads, 1);
	NBD_STAT_ADD(x->srv, n_bytes_read, rq->length);
	reply_data(x, rq, data);
}

static void execute(struct xmit *x, struct job *j)
{
	struct bdev *dev = x->srv->dev;
	const struct nbd_request *rq = &j->rq;
	int r;

	switch (rq->type) {
	case NBD_CMD_READ:
		do_read(x, rq);
		return;
	case NBD_CMD_WRITE:
		r = bdev_write(dev, j->payload, rq->length, rq->offset);
		/* FUA: durable before the reply, exactly as FUSE's fsync makes it. */
		if (r == 0 && (rq->flags & NBD_CMD_FLAG_FUA))
			r = bdev_flush(dev);
		if (r == 0) {
			NBD_STAT_ADD(x->srv, n_writes, 1);
			NBD_STAT_ADD(x->srv, n_bytes_written, rq->length);
		}
		break;
	case NBD_CMD_FLUSH:
		r = bdev_flush(dev);
		NBD_STAT_ADD(x->srv, n_flushes, 1);
		break;
	default:
		r = -EINVAL; /* nbd_request_check() lets nothing else through */
	}
	reply_status(x, rq, r);
}

static void set_io_flusher(void)
{
	/* Memory reclaim must not wait for writes to the device this thread serves. Needs
	 * CAP_SYS_RESOURCE; without it the risk stays what it is for any nbd server. */
	if (prctl(PR_SET_IO_FLUSHER, 1, 0, 0, 0) < 0)
		log_debug("nbd: PR_SET_IO_FLUSHER: %m");
}

static void release(struct xmit *x, size_t cost)
{
	pthread_mutex_lock(&x->lock);
	x->inflight--;
	x->inflight_bytes -= cost;
	pthread_cond_signal(&x->room);
	pthread_mutex_unlock(&x->lock);
}

static void *worker(void *arg)
{
	struct xmit *x = arg;
	struct job *j;

	if (!x->c->handshake)
		set_io_flusher();
	for (;;) {
		pthread_mutex_lock(&x->lock);
		while (!x->head && !x->closing)
			pthread_cond_wait(&x->work, &x->lock);
		j = x->head;
		if (j) {
			x->head = j->next;
			if (!x->head)
				x->tail = NULL;
		}
		pthread_mutex_unlock(&x->lock);
		if (!j)
			return NULL; /* closing and drained */
		execute(x, j);
		release(x, j->cost);
		free(j->payload);
		free(j);
	}
}

/* Wait until the request fits the in-flight limits; one request is always let in. */
static void admit(struct xmit *x, size_t cost)
{
	pthread_mutex_lock(&x->lock);
	while (x->inflight > 0 &&
	       (x->inflight >= NBD_INFLIGHT_MAX || x->inflight_bytes + cost > NBD_INFLIGHT_BYTES))
		pthread_cond_wait(&x->room, &x->lock);
	x->inflight++;
	x->inflight_bytes += cost;
	pthread_mutex_unlock(&x->lock);
}

/* Read (and drop) a write payload we refuse. */
static int discard(int fd, uint32_t len)
{
	uint8_t b[4096];
	int r;

	while (len > 0) {
		uint32_t n = len < sizeof(b) ? len : (uint32_t)sizeof(b);

		r = recv_all(fd, b, n);
		if (r != 0)
			return r == 1 ? -EPROTO : r;
		len -= n;
	}
	return 0;
}

/* Admit a valid read, write or flush, read a write's payload, and queue it for a worker. */
static int queue_job(struct xmit *x, const struct nbd_request *rq)
{
	size_t cost = rq->type == NBD_CMD_FLUSH ? 0 : rq->length;
	struct job *j;
	int r;

	admit(x, cost);
	j = calloc(1, sizeof(*j));
	if (j && rq->type == NBD_CMD_WRITE)
		j->payload = malloc(rq->length);
	if (!j || (rq->type == NBD_CMD_WRITE && !j->payload)) {
		r = rq->type == NBD_CMD_WRITE ? discard(x->c->fd, rq->length) : 0;
		release(x, cost);
		free(j);
		if (r == 0)
			reply_error(x, rq, NBD_ENOMEM);
		return r;
	}
	j->rq = *rq;
	j->cost = cost;
	r = j->payload ? recv_all(x->c->fd, j->payload, rq->length) : 0;
	if (r != 0) {
		release(x, cost);
		free(j->payload);
		free(j);
		return r == 1 ? -EPROTO : r;
	}
	pthread_mutex_lock(&x->lock);
	if (x->tail)
		x->tail->next = j;
	else
		x->head = j;
	x->tail = j;
	pthread_cond_signal(&x->work);
	pthread_mutex_unlock(&x->lock);
	return 0;
}

static void reply_block_status(struct xmit *x, const struct nbd_request *rq)
{
	uint8_t b[NBD_BLOCK_STATUS_REPLY_SIZE];
	struct iovec iov = { .iov_base = b, .iov_len = sizeof(b) };

	/* base:allocation, cheaply: everything is allocated data (status 0). */
	nbd_block_status_reply(b, rq->handle, nbd_block_status_length(&x->s, rq));
	xsend(x, &iov, 1);
}

/* The reader: requests until NBD_CMD_DISC (0), the end of the stream (0) or an error. */
static int read_requests(struct xmit *x)
{
	uint8_t h[NBD_REQUEST_SIZE];
	struct nbd_request rq;
	uint32_t err;
	int r;

	for (;;) {
		r = recv_all(x->c->fd, h, sizeof(h));
		if (r != 0)
			return r == 1 ? 0 : r;
		if (nbd_request_parse(h, &rq) < 0)
			return protocol_error(x->srv, -EBADMSG, "bad request magic");
		NBD_STAT_ADD(x->srv, n_requests, 1);
		switch (nbd_request_check(&x->s, &rq, &err)) {
		case NBD_VERDICT_DISC:
			return 0;
		case NBD_VERDICT_DROP:
			return protocol_error(x->srv, -EPROTO, "write payload over the cap");
		case NBD_VERDICT_ERROR:
			log_debug("nbd: refusing %s (type %u, flags %#x) of %" PRIu32
				  " bytes at %" PRIu64 ": %s",
				  nbd_cmd_name(rq.type), rq.type, rq.flags, rq.length, rq.offset,
				  error_text(err));
			r = rq.type == NBD_CMD_WRITE ? discard(x->c->fd, rq.length) : 0;
			if (r < 0)
				return r;
			reply_error(x, &rq, err);
			continue;
		case NBD_VERDICT_OK:
			break;
		}
		if (rq.type == NBD_CMD_BLOCK_STATUS) {
			reply_block_status(x, &rq);
			continue;
		}
		r = queue_job(x, &rq);
		if (r < 0)
			return r;
	}
}

static int xmit_init(struct xmit *x)
{
	int r;

	r = pthread_mutex_init(&x->send_lock, NULL);
	if (r == 0 && (r = pthread_mutex_init(&x->lock, NULL)) != 0)
		pthread_mutex_destroy(&x->send_lock);
	if (r == 0 && (r = pthread_cond_init(&x->work, NULL)) != 0) {
		pthread_mutex_destroy(&x->lock);
		pthread_mutex_destroy(&x->send_lock);
	}
	if (r == 0 && (r = pthread_cond_init(&x->room, NULL)) != 0) {
		pthread_cond_destroy(&x->work);
		pthread_mutex_destroy(&x->lock);
		pthread_mutex_destroy(&x->send_lock);
	}
	return -r;
}

static void xmit_done(struct xmit *x)
{
	pthread_mutex_lock(&x->lock);
	x->closing = true;
	pthread_cond_broadcast(&x->work);
	pthread_mutex_unlock(&x->lock);
	for (unsigned i = 0; i < x->nworkers; i++)
		pthread_join(x->workers[i], NULL);
	pthread_cond_destroy(&x->room);
	pthread_cond_destroy(&x->work);
	pthread_mutex_destroy(&x->lock);
	pthread_mutex_destroy(&x->send_lock);
}

static int transmit(struct nbd_conn *c, const struct nbd_session *s)
{
	struct xmit x = { .c = c, .srv = c->srv, .s = *s };
	unsigned want = c->srv->threads;
	int r;

	r = xmit_init(&x);
	if (r < 0)
		return r;
	if (want > ELEMENTSOF(x.workers))
		want = ELEMENTSOF(x.workers);
	for (; x.nworkers < want; x.nworkers++)
		if (pthread_create(&x.workers[x.nworkers], NULL, worker, &x) != 0)
			break;
	r = x.nworkers > 0 ? read_requests(&x) : -EAGAIN;
	xmit_done(&x); /* the workers drain the queue and answer what is in flight */
	return r;
}

int nbd_conn_run(struct nbd_conn *c)
{
	struct nbd_server *srv = c->srv;
	struct nbd_session s;
	int r;

	if (!c->handshake) {
		set_io_flusher();
		s = (struct nbd_session){ .size = srv->exp.size,
					  .flags = srv->exp.flags,
					  .max_payload = srv->exp.max_payload,
					  .write_align = srv->write_align };
		return transmit(c, &s);
	}
	r = handshake(c, &s);
	if (r <= 0)
		return r;
	log_debug("nbd: client in transmission (%s replies%s)",
		  s.structured ? "structured" : "simple", s.meta ? ", base:allocation" : "");
	return transmit(c, &s);
}
