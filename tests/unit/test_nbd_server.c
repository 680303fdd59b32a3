/* SPDX-License-Identifier: MIT */
/*
 * The NBD server over real sockets (socketpairs and a Unix listener), driven by a small raw
 * client in this file: negotiation, reads (simple and structured, unaligned), writes, FLUSH and
 * FUA reaching the device's flush, errors from the device, pipelined requests answered with the
 * right handles, refusals that leave the connection usable, protocol violations that drop it,
 * stop, the listener's socket mode and cleanup, the kernel-side (no handshake) mode, and the
 * kernel attach refusing bad options before it talks to the kernel.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "sealmount/nbd.h"
#include "sealmount/nbd_proto.h"
#include "unit.h"

#define DEV_SIZE (1u << 20)

/* ---- an in-memory device that counts flushes and can fail a read ---- */

struct mem {
	uint8_t data[DEV_SIZE];
	int flushes;
	int64_t fail_at; /* a read covering this offset fails with EIO; -1 = never */
};

static int mem_read(void *s, void *buf, size_t len, uint64_t off)
{
	struct mem *m = s;

	if (m->fail_at >= 0 && (uint64_t)m->fail_at >= off && (uint64_t)m->fail_at < off + len)
		return -EIO;
	memcpy(buf, m->data + off, len);
	return 0;
}

static int mem_write(void *s, const void *buf, size_t len, uint64_t off)
{
	memcpy(((struct mem *)s)->data + off, buf, len);
	return 0;
}

static int mem_flush(void *s)
{
	__atomic_add_fetch(&((struct mem *)s)->flushes, 1, __ATOMIC_SEQ_CST);
	return 0;
}

static void mem_close(void *s)
{
	free(s);
}

static const struct bdev_ops mem_ops = { .name = "mem",
					 .read = mem_read,
					 .write = mem_write,
					 .flush = mem_flush,
					 .close = mem_close };

struct fixture {
	struct mem *m;
	struct bdev *dev;
	struct nbd_server *srv;
	int cfd; /* the client's end */
	pthread_t thread;
	int sfd;
	int serve_result;
};

static void *serve_thread(void *p)
{
	struct fixture *f = p;

	f->serve_result = nbd_server_serve_fd(f->srv, f->sfd);
	return NULL;
}

static void setup(struct fixture *f, bool writable, uint32_t write_align)
{
	struct nbd_server_options o = { .export_name = "", .writable = writable, .threads = 4 };
	int sv[2];

	memset(f, 0, sizeof(*f));
	f->m = calloc(1, sizeof(*f->m));
	ck_assert_ptr_nonnull(f->m);
	for (size_t i = 0; i < DEV_SIZE; i++)
		f->m->data[i] = (uint8_t)(i * 7 + i / 4096);
	f->m->fail_at = -1;
	ck_assert_int_eq(bdev_new(&mem_ops, f->m, DEV_SIZE, write_align, writable, &f->dev), 0);
	ck_assert_int_eq(nbd_server_new(f->dev, &o, &f->srv), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	f->cfd = sv[1];
	f->sfd = sv[0];
	ck_assert_int_eq(pthread_create(&f->thread, NULL, serve_thread, f), 0);
}

/* Close the client side, wait for the server's verdict on the connection. */
static int teardown(struct fixture *f)
{
	if (f->cfd >= 0)
		close(f->cfd);
	pthread_join(f->thread, NULL);
	nbd_server_free(f->srv);
	bdev_free(f->dev);
	return f->serve_result;
}

/* ---- a raw client ---- */

static void xsend(int fd, const void *p, size_t n)
{
	ck_assert_int_eq(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

static void xrecv(int fd, void *p, size_t n)
{
	ck_assert_int_eq(recv(fd, p, n, MSG_WAITALL), (ssize_t)n);
}

/* true when the server closed the connection. */
static bool closed_by_server(int fd)
{
	uint8_t b;

	return recv(fd, &b, 1, 0) == 0;
}

static void send_opt(int fd, uint32_t o, const void *data, uint32_t len)
{
	uint8_t h[16];

	put_u64be(h, NBD_MAGIC_OPT);
	put_u32be(h + 8, o);
	put_u32be(h + 12, len);
	xsend(fd, h, sizeof(h));
	if (len)
		xsend(fd, data, len);
}

/* Read one option reply; its payload (up to cap bytes kept) in p. Returns the type. */
static uint32_t recv_opt(int fd, uint32_t o, uint8_t *p, size_t cap, uint32_t *ret_len)
{
	uint8_t h[20], skip[256];
	uint32_t len;

	xrecv(fd, h, sizeof(h));
	ck_assert(get_u64be(h) == NBD_MAGIC_OPT_REPLY);
	ck_assert_uint_eq(get_u32be(h + 8), o);
	len = get_u32be(h + 16);
	for (uint32_t got = 0; got < len;) {
		uint32_t n = len - got < sizeof(skip) ? len - got : (uint32_t)sizeof(skip);

		xrecv(fd, skip, n);
		if (p && got < cap)
			memcpy(p + got, skip, n < cap - got ? n : cap - got);
		got += n;
	}
	if (ret_len)
		*ret_len = len;
	return get_u32be(h + 12);
}

/* Greeting and flags, optionally structured replies and base:allocation, then GO. Returns the
 * transmission flags. */
static uint16_t negotiate(int fd, bool structured, bool meta)
{
	uint8_t g[18], f[4], go[8] = { 0 }, p[64];
	uint8_t m[4 + 4 + 4 + 15];
	uint16_t flags = 0;
	uint32_t type, len;

	xrecv(fd, g, sizeof(g));
	ck_assert(memcmp(g, "NBDMAGICIHAVEOPT", 16) == 0);
	put_u32be(f, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	xsend(fd, f, sizeof(f));
	if (structured) {
		send_opt(fd, NBD_OPT_STRUCTURED_REPLY, NULL, 0);
		ck_assert_uint_eq(recv_opt(fd, NBD_OPT_STRUCTURED_REPLY, NULL, 0, NULL),
				  NBD_REP_ACK);
	}
	if (meta) {
		put_u32be(m, 0);
		put_u32be(m + 4, 1);
		put_u32be(m + 8, 15);
		memcpy(m + 12, "base:allocation", 15);
		send_opt(fd, NBD_OPT_SET_META_CONTEXT, m, sizeof(m));
		ck_assert_uint_eq(recv_opt(fd, NBD_OPT_SET_META_CONTEXT, NULL, 0, NULL),
				  NBD_REP_META_CONTEXT);
		ck_assert_uint_eq(recv_opt(fd, NBD_OPT_SET_META_CONTEXT, NULL, 0, NULL),
				  NBD_REP_ACK);
	}
	put_u16be(go + 4, 1);
	put_u16be(go + 6, NBD_INFO_BLOCK_SIZE);
	send_opt(fd, NBD_OPT_GO, go, sizeof(go));
	while ((type = recv_opt(fd, NBD_OPT_GO, p, sizeof(p), &len)) == NBD_REP_INFO)
		if (p[1] == NBD_INFO_EXPORT) {
			ck_assert(get_u64be(p + 2) == DEV_SIZE);
			flags = (uint16_t)(p[10] << 8 | p[11]);
		}
	ck_assert_uint_eq(type, NBD_REP_ACK);
	return flags;
}

static void send_req(int fd, uint16_t flags, uint16_t type, uint64_t handle, uint64_t off,
		     uint32_t len, const void *payload)
{
	uint8_t h[NBD_REQUEST_SIZE];

	put_u32be(h, NBD_MAGIC_REQUEST);
	put_u32be(h + 4, (uint32_t)flags << 16 | type);
	put_u64be(h + 8, handle);
	put_u64be(h + 16, off);
	put_u32be(h + 24, len);
	xsend(fd, h, sizeof(h));
	if (payload)
		xsend(fd, payload, len);
}

/* A simple reply: its error; the handle must match. */
static uint32_t recv_simple(int fd, uint64_t handle)
{
	uint8_t h[16];

	xrecv(fd, h, sizeof(h));
	ck_assert_uint_eq(get_u32be(h), NBD_MAGIC_SIMPLE_REPLY);
	ck_assert(get_u64be(h + 8) == handle);
	return get_u32be(h + 4);
}

/* A structured reply chunk header: type, flags, handle, payload length. */
struct chunk {
	uint16_t flags, type;
	uint64_t handle;
	uint32_t len;
};

static struct chunk recv_chunk(int fd)
{
	uint8_t h[20];

	xrecv(fd, h, sizeof(h));
	ck_assert_uint_eq(get_u32be(h), NBD_MAGIC_STRUCTURED_REPLY);
	return (struct chunk){ .flags = (uint16_t)(h[4] << 8 | h[5]),
			       .type = (uint16_t)(h[6] << 8 | h[7]),
			       .handle = get_u64be(h + 8),
			       .len = get_u32be(h + 16) };
}

/* A structured error reply for handle: its error value. */
static uint32_t recv_error_chunk(int fd, uint64_t handle)
{
	struct chunk c = recv_chunk(fd);
	uint8_t p[512];

	ck_assert(c.handle == handle);
	ck_assert_uint_eq(c.type, NBD_REPLY_TYPE_ERROR);
	ck_assert(c.flags & NBD_REPLY_FLAG_DONE);
	ck_assert(c.len >= 6 && c.len <= sizeof(p));
	xrecv(fd, p, c.len);
	ck_assert_uint_le(6u + (p[4] << 8 | p[5]), c.len);
	return get_u32be(p);
}

/* ---- tests ---- */

START_TEST(nbd_server_simple_reads)
{
	struct fixture f;
	uint8_t buf[8192];
	uint16_t flags;

	setup(&f, false, 1);
	flags = negotiate(f.cfd, false, false);
	ck_assert(flags & NBD_FLAG_READ_ONLY);
	ck_assert(flags & NBD_FLAG_CAN_MULTI_CONN);
	ck_assert(!(flags & NBD_FLAG_SEND_DF));
	send_req(f.cfd, 0, NBD_CMD_READ, 1, 4096, 8192, NULL);
	ck_assert_uint_eq(recv_simple(f.cfd, 1), 0);
	xrecv(f.cfd, buf, 8192);
	ck_assert(memcmp(buf, f.m->data + 4096, 8192) == 0);
	send_req(f.cfd, 0, NBD_CMD_READ, 2, 1001, 3, NULL); /* unaligned */
	ck_assert_uint_eq(recv_simple(f.cfd, 2), 0);
	xrecv(f.cfd, buf, 3);
	ck_assert(memcmp(buf, f.m->data + 1001, 3) == 0);
	send_req(f.cfd, 0, NBD_CMD_READ, 3, DEV_SIZE - 1, 2, NULL); /* past the end */
	ck_assert_uint_eq(recv_simple(f.cfd, 3), NBD_EINVAL);
	send_req(f.cfd, 0, NBD_CMD_WRITE, 4, 0, 512, buf); /* read-only */
	ck_assert_uint_eq(recv_simple(f.cfd, 4), NBD_EPERM);
	send_req(f.cfd, 0, NBD_CMD_DISC, 5, 0, 0, NULL);
	ck_assert(closed_by_server(f.cfd));
	ck_assert_int_eq(teardown(&f), 0);
}
END_TEST

START_TEST(nbd_server_structured_reads_and_errors)
{
	struct fixture f;
	uint8_t buf[4096 + 8];
	struct chunk c;
	struct nbd_server_stats st;

	setup(&f, false, 1);
	ck_assert(negotiate(f.cfd, true, true) & NBD_FLAG_SEND_DF);
	send_req(f.cfd, NBD_CMD_FLAG_DF, NBD_CMD_READ, 10, 777, 4096, NULL);
	c = recv_chunk(f.cfd);
	ck_assert(c.handle == 10 && c.type == NBD_REPLY_TYPE_OFFSET_DATA);
	ck_assert(c.flags & NBD_REPLY_FLAG_DONE);
	ck_assert_uint_eq(c.len, 4096 + 8);
	xrecv(f.cfd, buf, c.len);
	ck_assert(get_u64be(buf) == 777);
	ck_assert(memcmp(buf + 8, f.m->data + 777, 4096) == 0);
	/* the device fails: an error chunk, and the connection goes on */
	f.m->fail_at = 5000;
	send_req(f.cfd, 0, NBD_CMD_READ, 11, 4096, 4096, NULL);
	ck_assert_uint_eq(recv_error_chunk(f.cfd, 11), NBD_EIO);
	/* unknown command, unknown flag, zero length: EINVAL */
	send_req(f.cfd, 0, 42, 12, 0, 0, NULL);
	ck_assert_uint_eq(recv_error_chunk(f.cfd, 12), NBD_EINVAL);
	send_req(f.cfd, 0x4000, NBD_CMD_READ, 13, 0, 512, NULL);
	ck_assert_uint_eq(recv_error_chunk(f.cfd, 13), NBD_EINVAL);
	send_req(f.cfd, 0, NBD_CMD_READ, 14, 0, 0, NULL);
	ck_assert_uint_eq(recv_error_chunk(f.cfd, 14), NBD_EINVAL);
	/* block status: one extent, clipped to the export */
	send_req(f.cfd, 0, NBD_CMD_BLOCK_STATUS, 15, DEV_SIZE - 512, 65536, NULL);
	ck_assert_uint_eq(recv_error_chunk(f.cfd, 15), NBD_EINVAL); /* beyond the end */
	send_req(f.cfd, 0, NBD_CMD_BLOCK_STATUS, 16, DEV_SIZE - 4096, 4096, NULL);
	c = recv_chunk(f.cfd);
	ck_assert(c.handle == 16 && c.type == NBD_REPLY_TYPE_BLOCK_STATUS && c.len == 12);
	xrecv(f.cfd, buf, 12);
	ck_assert_uint_eq(get_u32be(buf + 4), 4096);
	f.m->fail_at = -1;
	send_req(f.cfd, 0, NBD_CMD_READ, 17, 0, 16, NULL);
	c = recv_chunk(f.cfd);
	ck_assert(c.handle == 17 && c.len == 24);
	xrecv(f.cfd, buf, 24);
	nbd_server_get_stats(f.srv, &st);
	ck_assert(st.requests == 8 && st.reads == 2 && st.errors == 5);
	ck_assert_int_eq(teardown(&f), 0);
}
END_TEST

START_TEST(nbd_server_writes_flush_fua)
{
	struct fixture f;
	uint8_t w[4096], r[4096];

	setup(&f, true, 512);
	ck_assert(!(negotiate(f.cfd, false, false) & NBD_FLAG_READ_ONLY));
	memset(w, 0xa5, sizeof(w));
	send_req(f.cfd, 0, NBD_CMD_WRITE, 1, 8192, 4096, w);
	ck_assert_uint_eq(recv_simple(f.cfd, 1), 0);
	ck_assert_int_eq(f.m->flushes, 0);
	ck_assert(memcmp(f.m->data + 8192, w, 4096) == 0);
	send_req(f.cfd, NBD_CMD_FLAG_FUA, NBD_CMD_WRITE, 2, 0, 512, w);
	ck_assert_uint_eq(recv_simple(f.cfd, 2), 0);
	ck_assert_int_eq(f.m->flushes, 1); /* durable before the reply */
	send_req(f.cfd, 0, NBD_CMD_FLUSH, 3, 0, 0, NULL);
	ck_assert_uint_eq(recv_simple(f.cfd, 3), 0);
	ck_assert_int_eq(f.m->flushes, 2);
	/* refused writes: their payload is consumed and the stream stays in step */
	send_req(f.cfd, 0, NBD_CMD_WRITE, 4, DEV_SIZE, 512, w);
	ck_assert_uint_eq(recv_simple(f.cfd, 4), NBD_ENOSPC);
	send_req(f.cfd, 0, NBD_CMD_WRITE, 5, 100, 512, w); /* the device's alignment */
	ck_assert_uint_eq(recv_simple(f.cfd, 5), NBD_EINVAL);
	send_req(f.cfd, 0, NBD_CMD_FLUSH, 6, 1, 0, NULL);
	ck_assert_uint_eq(recv_simple(f.cfd, 6), NBD_EINVAL);
	send_req(f.cfd, 0, NBD_CMD_READ, 7, 8192, 4096, NULL);
	ck_assert_uint_eq(recv_simple(f.cfd, 7), 0);
	xrecv(f.cfd, r, sizeof(r));
	ck_assert(memcmp(r, w, sizeof(r)) == 0);
	ck_assert_int_eq(teardown(&f), 0);
}
END_TEST

START_TEST(nbd_server_pipelined_requests)
{
	enum { N = 200 };
	struct fixture f;
	bool seen[N] = { false };
	uint8_t buf[1024];

	setup(&f, false, 1);
	negotiate(f.cfd, false, false);
	for (uint64_t i = 0; i < N; i++)
		send_req(f.cfd, 0, NBD_CMD_READ, 1000 + i, i * 1024, 1024, NULL);
	for (int i = 0; i < N; i++) {
		uint8_t h[16];
		uint64_t k;

		xrecv(f.cfd, h, sizeof(h));
		ck_assert_uint_eq(get_u32be(h + 4), 0);
		k = get_u64be(h + 8) - 1000;
		ck_assert(k < N && !seen[k]);
		seen[k] = true;
		xrecv(f.cfd, buf, sizeof(buf));
		ck_assert(memcmp(buf, f.m->data + k * 1024, 1024) == 0);
	}
	ck_assert_int_eq(teardown(&f), 0);
}
END_TEST

START_TEST(nbd_server_drops_bad_magic)
{
	struct fixture f;
	struct nbd_server_stats st;
	uint8_t junk[NBD_REQUEST_SIZE] = { 'G', 'E', 'T', ' ' };

	setup(&f, false, 1);
	negotiate(f.cfd, false, false);
	xsend(f.cfd, junk, sizeof(junk));
	ck_assert(closed_by_server(f.cfd));
	nbd_server_get_stats(f.srv, &st);
	ck_assert(teardown(&f) == -EBADMSG);
	ck_assert_uint_eq(st.protocol_errors, 1);
}
END_TEST

START_TEST(nbd_server_drops_oversized_write)
{
	struct fixture f;

	setup(&f, true, 1);
	negotiate(f.cfd, false, false);
	send_req(f.cfd, 0, NBD_CMD_WRITE, 1, 0, NBD_PAYLOAD_MAX + 1, NULL);
	ck_assert(closed_by_server(f.cfd));
	ck_assert_int_eq(teardown(&f), -EPROTO);
}
END_TEST

START_TEST(nbd_server_oversized_option)
{
	struct fixture f;
	uint8_t g[18], fl[4], h[16];

	setup(&f, false, 1);
	xrecv(f.cfd, g, sizeof(g));
	put_u32be(fl, NBD_FLAG_C_FIXED_NEWSTYLE);
	xsend(f.cfd, fl, sizeof(fl));
	put_u64be(h, NBD_MAGIC_OPT);
	put_u32be(h + 8, NBD_OPT_GO);
	put_u32be(h + 12, 0x7fffffff);
	xsend(f.cfd, h, sizeof(h));
	ck_assert_uint_eq(recv_opt(f.cfd, NBD_OPT_GO, NULL, 0, NULL), NBD_REP_ERR_TOO_BIG);
	ck_assert(closed_by_server(f.cfd));
	ck_assert_int_eq(teardown(&f), -EPROTO);
}
END_TEST

START_TEST(nbd_server_bad_client_flags_and_abort)
{
	struct fixture f;
	uint8_t g[18], fl[4];

	setup(&f, false, 1);
	xrecv(f.cfd, g, sizeof(g));
	put_u32be(fl, 0xff);
	xsend(f.cfd, fl, sizeof(fl));
	ck_assert(closed_by_server(f.cfd));
	ck_assert_int_eq(teardown(&f), -EPROTO);

	setup(&f, false, 1);
	xrecv(f.cfd, g, sizeof(g));
	put_u32be(fl, NBD_FLAG_C_FIXED_NEWSTYLE);
	xsend(f.cfd, fl, sizeof(fl));
	send_opt(f.cfd, NBD_OPT_ABORT, NULL, 0);
	ck_assert_uint_eq(recv_opt(f.cfd, NBD_OPT_ABORT, NULL, 0, NULL), NBD_REP_ACK);
	ck_assert(closed_by_server(f.cfd));
	ck_assert_int_eq(teardown(&f), 0);
}
END_TEST

START_TEST(nbd_server_stop_ends_connections)
{
	struct fixture f;

	setup(&f, false, 1);
	negotiate(f.cfd, false, false);
	nbd_server_stop(f.srv);
	ck_assert(closed_by_server(f.cfd));
	pthread_join(f.thread, NULL);
	ck_assert_int_eq(f.serve_result, 0);
	/* a stopped server takes no more connections */
	ck_assert_int_eq(nbd_server_serve_fd(f.srv, dup(f.cfd)), -ESHUTDOWN);
	close(f.cfd);
	nbd_server_free(f.srv);
	bdev_free(f.dev);
}
END_TEST

/* The kernel's client: no handshake, simple replies from the first byte. */
START_TEST(nbd_server_kernel_mode)
{
	struct fixture f;
	uint8_t buf[512];
	int sv[2];

	setup(&f, true, 512);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_int_eq(nbd_server_start(f.srv, sv[0], false), 0);
	send_req(sv[1], NBD_CMD_FLAG_FUA, NBD_CMD_WRITE, 0x55aa, 512, 512, f.m->data);
	ck_assert_uint_eq(recv_simple(sv[1], 0x55aa), 0);
	ck_assert_int_eq(f.m->flushes, 1);
	send_req(sv[1], 0, NBD_CMD_READ, 7, 0, 512, NULL);
	ck_assert_uint_eq(recv_simple(sv[1], 7), 0);
	xrecv(sv[1], buf, sizeof(buf));
	ck_assert(memcmp(buf, f.m->data, 512) == 0);
	/* no structured replies were negotiated: block status is refused */
	send_req(sv[1], 0, NBD_CMD_BLOCK_STATUS, 8, 0, 512, NULL);
	ck_assert_uint_eq(recv_simple(sv[1], 8), NBD_EINVAL);
	send_req(sv[1], 0, NBD_CMD_DISC, 9, 0, 0, NULL);
	ck_assert(closed_by_server(sv[1]));
	close(sv[1]);
	nbd_server_wait(f.srv);
	ck_assert_int_eq(teardown(&f), 0);
}
END_TEST

START_TEST(nbd_server_listen_unix_socket)
{
	char dir[] = "/tmp/nbd-unit.XXXXXX", path[128];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct fixture f;
	struct stat st;
	int fd;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s.sock", dir);
	setup(&f, false, 1);
	ck_assert_int_eq(nbd_server_listen_unix(f.srv, path), 0);
	ck_assert_int_eq(nbd_server_listen_unix(f.srv, path), -EBUSY);
	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	negotiate(fd, true, false);
	close(fd);
	ck_assert_int_eq(teardown(&f), 0);
	ck_assert_int_eq(lstat(path, &st), -1); /* removed at the end */
	/* never replaces what is there, and leaves no temporary directory behind */
	close(open(path, O_CREAT | O_WRONLY, 0600));
	setup(&f, false, 1);
	ck_assert_int_eq(nbd_server_listen_unix(f.srv, path), -EEXIST);
	ck_assert_int_eq(teardown(&f), 0);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(rmdir(dir), 0);
	setup(&f, false, 1);
	memset(path, 'x', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = 0;
	ck_assert_int_eq(nbd_server_listen_unix(f.srv, path), -ENAMETOOLONG);
	ck_assert_int_eq(teardown(&f), 0);
}
END_TEST

START_TEST(nbd_server_new_refusals)
{
	struct nbd_server_options o = { 0 };
	struct nbd_server *srv = NULL;
	struct mem *m = calloc(1, sizeof(*m));
	struct bdev *dev;

	ck_assert_int_eq(bdev_new(&mem_ops, m, DEV_SIZE - 1, 1, false, &dev), 0);
	o.writable = true;
	ck_assert_int_eq(nbd_server_new(dev, &o, &srv), -EROFS);
	o.writable = false;
	o.export_name = "bad\nname";
	ck_assert_int_eq(nbd_server_new(dev, &o, &srv), -EINVAL);
	o.export_name = NULL;
	o.max_payload = 1024;
	ck_assert_int_eq(nbd_server_new(dev, &o, &srv), -EINVAL);
	o.max_payload = NBD_PAYLOAD_MAX + 1;
	ck_assert_int_eq(nbd_server_new(dev, &o, &srv), -EINVAL);
	o.max_payload = 0;
	o.threads = 65;
	ck_assert_int_eq(nbd_server_new(dev, &o, &srv), -EINVAL);
	o.threads = 0;
	ck_assert_int_eq(nbd_server_new(dev, &o, &srv), 0);
	/* an odd size is served (with a minimum block size of 1 in NBD_INFO_BLOCK_SIZE) */
	ck_assert_uint_eq(nbd_server_size(srv), DEV_SIZE - 1);
	nbd_server_free(srv);
	bdev_free(dev);
}
END_TEST

START_TEST(nbd_kernel_attach_refusals)
{
	struct nbd_kernel_options o = { .index = -1 };
	struct nbd_kernel *k = NULL;
	struct fixture f;
	struct diag d = { 0 };

	setup(&f, false, 1);
	o.connections = NBD_KERNEL_MAX_CONNECTIONS + 1;
	ck_assert_int_eq(nbd_kernel_attach(f.srv, &o, &k, &d), -EINVAL);
	ck_assert(diag_is_set(&d));
	o.connections = 1;
	o.block_size = 1000;
	diag_clear(&d);
	ck_assert_int_eq(nbd_kernel_attach(f.srv, &o, &k, &d), -EINVAL);
	ck_assert_ptr_nonnull(strstr(d.text, "block size"));
	o.block_size = 8192;
	ck_assert_int_eq(nbd_kernel_attach(f.srv, &o, &k, NULL), -EINVAL);
	o.block_size = 0;
	o.backend = "a\nb";
	ck_assert_int_eq(nbd_kernel_attach(f.srv, &o, &k, NULL), -EINVAL);
	o.backend = NULL;
	if (!nbd_kernel_available() || geteuid() != 0) {
		/* no nbd module here (or no privilege): a clean error, nothing left running */
		diag_clear(&d);
		ck_assert_int_lt(nbd_kernel_attach(f.srv, &o, &k, &d), 0);
		ck_assert(diag_is_set(&d));
		ck_assert_ptr_null(k);
	}
	ck_assert_int_eq(teardown(&f), 0);
}
END_TEST

static Suite *nbd_server_suite(void)
{
	Suite *s = suite_create("nbd_server");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, nbd_server_simple_reads);
	tcase_add_test(tc, nbd_server_structured_reads_and_errors);
	tcase_add_test(tc, nbd_server_writes_flush_fua);
	tcase_add_test(tc, nbd_server_pipelined_requests);
	tcase_add_test(tc, nbd_server_drops_bad_magic);
	tcase_add_test(tc, nbd_server_drops_oversized_write);
	tcase_add_test(tc, nbd_server_oversized_option);
	tcase_add_test(tc, nbd_server_bad_client_flags_and_abort);
	tcase_add_test(tc, nbd_server_stop_ends_connections);
	tcase_add_test(tc, nbd_server_kernel_mode);
	tcase_add_test(tc, nbd_server_listen_unix_socket);
	tcase_add_test(tc, nbd_server_new_refusals);
	tcase_add_test(tc, nbd_kernel_attach_refusals);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(nbd_server_suite)
