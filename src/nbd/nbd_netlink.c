/* SPDX-License-Identifier: MIT */
/*
 * nbd_netlink.c - the kernel's NBD client connected to the in-process server: socketpairs, one
 * end served by the server, the other handed to the kernel with the generic netlink family
 * "nbd" (NBD_CMD_CONNECT / NBD_CMD_DISCONNECT, include/uapi/linux/nbd-netlink.h), through
 * libnl-genl-3 as nbd-client does. No helper process and no TCP (docs/nbd.md "Kernel client").
 * libnl's error codes are translated here and nowhere else.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/nbd-netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nbd_internal.h"
#include "sealmount/log.h"

#define BACKEND_MAX 256u

struct nbd_kernel {
	struct nbd_server *srv;
	unsigned index;
	unsigned connections;
	char device[32];
};

/* libnl's NLE_* (negative) as a negative errno. */
static int nbdnl_errno(int nle)
{
	switch (nle < 0 ? -nle : nle) {
	case NLE_PERM:
	case NLE_NOACCESS:
		return -EPERM;
	case NLE_NOMEM:
		return -ENOMEM;
	case NLE_INVAL:
	case NLE_RANGE:
	case NLE_MSGSIZE:
		return -EINVAL;
	case NLE_BUSY:
		return -EBUSY;
	case NLE_EXIST:
		return -EEXIST;
	case NLE_AGAIN:
		return -EAGAIN;
	case NLE_OBJ_NOTFOUND:
	case NLE_NOADDR:
		return -ENOENT;
	case NLE_OPNOTSUPP:
		return -EOPNOTSUPP;
	default:
		return -EIO;
	}
}

static void nbdnl_sock_freep(struct nl_sock **sk)
{
	if (*sk)
		nl_socket_free(*sk);
}

/* A generic netlink socket and the nbd family's id. */
static int nbdnl_open(struct nl_sock **ret_sk, int *ret_family)
{
	struct nl_sock *sk = nl_socket_alloc();
	int r;

	if (!sk)
		return -ENOMEM;
	r = genl_connect(sk);
	if (r == 0) {
		r = genl_ctrl_resolve(sk, NBD_GENL_FAMILY_NAME);
		if (r >= 0)
			*ret_family = r;
	}
	if (r < 0) {
		log_debug("nbd: generic netlink family '%s': %s", NBD_GENL_FAMILY_NAME,
			  nl_geterror(r));
		nl_socket_free(sk);
		return nbdnl_errno(r);
	}
	*ret_sk = sk;
	return 0;
}

bool nbd_kernel_available(void)
{
	_cleanup_(nbdnl_sock_freep) struct nl_sock *sk = NULL;
	int family;

	return nbdnl_open(&sk, &family) == 0;
}

struct connect_reply {
	bool got;
	uint32_t index;
};

/* The kernel answers NBD_CMD_CONNECT with the device's index (NBD_ATTR_INDEX, u32). */
static int on_connect_reply(struct nl_msg *msg, void *arg)
{
	struct nla_policy policy[NBD_ATTR_MAX + 1] = { [NBD_ATTR_INDEX] = { .type = NLA_U32 } };
	struct nlattr *a[NBD_ATTR_MAX + 1];
	struct connect_reply *rep = arg;

	if (genlmsg_parse(nlmsg_hdr(msg), 0, a, NBD_ATTR_MAX, policy) < 0 || !a[NBD_ATTR_INDEX])
		return NL_SKIP;
	rep->index = nla_get_u32(a[NBD_ATTR_INDEX]);
	rep->got = true;
	return NL_OK;
}

struct connect_args {
	int index;
	uint64_t size, block_size, flags, timeout, dead_conn_timeout;
	const char *backend;
	const int *fds;
	unsigned nfds;
};

static int put_sockets(struct nl_msg *msg, const int *fds, unsigned n)
{
	struct nlattr *list = nla_nest_start(msg, NBD_ATTR_SOCKETS), *item;

	for (unsigned i = 0; list && i < n; i++) {
		item = nla_nest_start(msg, NBD_SOCK_ITEM);
		if (!item || nla_put_u32(msg, NBD_SOCK_FD, (uint32_t)fds[i]) < 0)
			return -ENOMEM;
		nla_nest_end(msg, item);
	}
	if (!list)
		return -ENOMEM;
	nla_nest_end(msg, list);
	return 0;
}

static int build_connect(struct nl_msg *msg, int family, const struct connect_args *a)
{
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, family, 0, 0, NBD_CMD_CONNECT,
			 NBD_GENL_VERSION))
		return -ENOMEM;
	if ((a->index >= 0 && nla_put_u32(msg, NBD_ATTR_INDEX, (uint32_t)a->index) < 0) ||
	    nla_put_u64(msg, NBD_ATTR_SIZE_BYTES, a->size) < 0 ||
	    nla_put_u64(msg, NBD_ATTR_BLOCK_SIZE_BYTES, a->block_size) < 0 ||
	    nla_put_u64(msg, NBD_ATTR_SERVER_FLAGS, a->flags) < 0 ||
	    nla_put_u64(msg, NBD_ATTR_TIMEOUT, a->timeout) < 0 ||
	    (a->dead_conn_timeout &&
	     nla_put_u64(msg, NBD_ATTR_DEAD_CONN_TIMEOUT, a->dead_conn_timeout) < 0) ||
	    (a->backend && nla_put_string(msg, NBD_ATTR_BACKEND_IDENTIFIER, a->backend) < 0))
		return -ENOMEM;
	return put_sockets(msg, a->fds, a->nfds);
}

/* NBD_CMD_CONNECT; the device index in *ret_index. */
static int nbdnl_connect(const struct connect_args *a, unsigned *ret_index)
{
	_cleanup_(nbdnl_sock_freep) struct nl_sock *sk = NULL;
	struct connect_reply rep = { 0 };
	struct nl_msg *msg;
	int family, r;

	r = nbdnl_open(&sk, &family);
	if (r < 0)
		return r;
	msg = nlmsg_alloc();
	if (!msg)
		return -ENOMEM;
	r = build_connect(msg, family, a);
	if (r < 0) {
		nlmsg_free(msg);
		return r;
	}
	nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM, on_connect_reply, &rep);
	r = nl_send_sync(sk, msg); /* frees msg; waits for the ack, the reply comes first */
	if (r < 0) {
		log_debug("nbd: NBD_CMD_CONNECT: %s", nl_geterror(r));
		return nbdnl_errno(r);
	}
	if (!rep.got || (a->index >= 0 && rep.index != (uint32_t)a->index))
		return -EPROTO;
	*ret_index = rep.index;
	return 0;
}

int nbd_kernel_disconnect(unsigned index)
{
	_cleanup_(nbdnl_sock_freep) struct nl_sock *sk = NULL;
	struct nl_msg *msg;
	int family, r;

	r = nbdnl_open(&sk, &family);
	if (r < 0)
		return r;
	msg = nlmsg_alloc();
	if (!msg)
		return -ENOMEM;
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, family, 0, 0, NBD_CMD_DISCONNECT,
			 NBD_GENL_VERSION) ||
	    nla_put_u32(msg, NBD_ATTR_INDEX, index) < 0) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	r = nl_send_sync(sk, msg);
	if (r < 0) {
		log_debug("nbd: NBD_CMD_DISCONNECT of nbd%u: %s", index, nl_geterror(r));
		return nbdnl_errno(r);
	}
	return 0;
}

static bool is_valid_backend(const char *s)
{
	if (strlen(s) >= BACKEND_MAX)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* Options checked against the server's export; the block size in *ret_bs. */
static int check_options(struct nbd_server *srv, const struct nbd_kernel_options *o,
			 uint32_t *ret_bs, struct diag *d)
{
	uint32_t bs = o->block_size ? o->block_size : nbd_server_min_block(srv);

	if (o->connections > NBD_KERNEL_MAX_CONNECTIONS || o->index < -1 ||
	    (o->backend && !is_valid_backend(o->backend)))
		return diag_set(d, -EINVAL, "invalid nbd options");
	if (o->connections > 1 && !(nbd_server_flags(srv) & NBD_FLAG_CAN_MULTI_CONN))
		return diag_set(d, -EINVAL, "several connections need a multi-conn export");
	if (bs < 512 || bs > 4096 || (bs & (bs - 1)) || bs % srv->exp.min_block)
		return diag_set(d, -EINVAL, "block size %" PRIu32 " does not suit the export", bs);
	if (srv->exp.size == 0 || srv->exp.size % bs)
		return diag_set(d, -EINVAL,
				"the export's size (%" PRIu64 ") is not a multiple of the block "
				"size %" PRIu32,
				srv->exp.size, bs);
	/* The kernel sends requests of up to 32 MiB; a smaller cap would drop its writes. */
	if (srv->exp.max_payload < NBD_PAYLOAD_MAX)
		return diag_set(d, -EINVAL, "the kernel needs the full %u-byte request cap",
				NBD_PAYLOAD_MAX);
	*ret_bs = bs;
	return 0;
}

/* n socketpairs: sv[i][0] is served by srv (which owns it from then on), sv[i][1] is for the
 * kernel (kfds[i], the caller closes them). */
static int start_sockets(struct nbd_server *srv, unsigned n, int *kfds)
{
	int sv[2], r;

	for (unsigned i = 0; i < n; i++) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
			return -errno;
		kfds[i] = sv[1];
		r = nbd_server_start(srv, sv[0], false);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Serve n socketpairs and hand their other ends to the kernel. */
static int connect_sockets(struct nbd_server *srv, unsigned n, struct connect_args *a,
			   unsigned *ret_index)
{
	int kfds[NBD_KERNEL_MAX_CONNECTIONS];
	int r;

	for (unsigned i = 0; i < n; i++)
		kfds[i] = -1;
	r = start_sockets(srv, n, kfds);
	a->fds = kfds;
	a->nfds = n;
	if (r == 0)
		r = nbdnl_connect(a, ret_index);
	/* The kernel holds its own references to the sockets now (or has none, on failure). */
	for (unsigned i = 0; i < n; i++)
		if (kfds[i] >= 0)
			(void)close(kfds[i]);
	a->fds = NULL;
	if (r < 0)
		nbd_server_reap(srv, true); /* the closed ends end their connections */
	return r;
}

static int connect_error(int r, struct diag *d)
{
	return diag_set(d, r, "cannot connect a kernel NBD device to the server: %m%s",
			r == -ENOENT ? " (no nbd kernel module)" :
			r == -EPERM  ? " (needs CAP_SYS_ADMIN)" :
			r == -EBUSY  ? " (the device is in use)" :
				       "");
}

/* Write TEXT to /sys/block/nbdINDEX/queue/ATTR; 0 or -errno. */
static int write_queue_attr(unsigned index, const char *attr, const char *text)
{
	char path[96];
	size_t len = strlen(text);
	int fd, r = 0;

	(void)snprintf(path, sizeof(path), "/sys/block/nbd%u/queue/%s", index, attr);
	fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len)
		r = -errno ?: -EIO;
	(void)close(fd);
	return r;
}

/* The kernel's NBD client starts with 128 KiB requests (max_sectors_kb; a loop device gets
 * 1280): raise it towards what the device allows and the server takes, so sequential reads
 * reach the stack as large requests (the dm devices stacked on it later inherit the limit). */
#define NBD_KERNEL_REQUEST_KB 4096u
static void raise_request_size(unsigned index, uint32_t max_payload)
{
	char path[96], buf[32];
	unsigned long hw = 0;
	unsigned want;
	FILE *f;
	int r;

	(void)snprintf(path, sizeof(path), "/sys/block/nbd%u/queue/max_hw_sectors_kb", index);
	f = fopen(path, "re");
	if (!f || fscanf(f, "%lu", &hw) != 1 || hw == 0) {
		if (f)
			fclose(f);
		log_debug("nbd: cannot read %s: keeping the default request size", path);
		return;
	}
	fclose(f);
	want = NBD_KERNEL_REQUEST_KB;
	if (hw < want)
		want = (unsigned)hw;
	if (max_payload / 1024 < want)
		want = max_payload / 1024;
	(void)snprintf(buf, sizeof(buf), "%u", want);
	r = write_queue_attr(index, "max_sectors_kb", buf);
	if (r < 0)
		log_debug_errno(r, "nbd: cannot raise nbd%u's max_sectors_kb to %u: %m", index,
				want);
	else
		log_debug("nbd: nbd%u takes requests of up to %u KiB", index, want);
}

/* No I/O scheduler on /dev/nbdINDEX (docs/nbd.md, "The kernel device"): requests go straight
 * to the server, which is in this process (dm and the page cache above merge already). With
 * mq-deadline over two hardware queues, Debian 12's 6.1 kernel lost the first read of a fresh
 * device now and then (no request left in the queue, the reader waiting for ever, the NBD
 * timeout never firing); with none it did not. Set before the device is connected where we
 * pick it, so that nothing (udev's probe, the partition scan) reads it with mq-deadline; the
 * setting survives the connect. Best effort: a kernel that refuses keeps its default. */
static void no_scheduler(unsigned index)
{
	int r = write_queue_attr(index, "scheduler", "none");

	if (r < 0)
		log_debug_errno(r, "nbd: cannot set nbd%u's I/O scheduler to none: %m", index);
}

/* Whether /dev/nbdINDEX exists and is not connected (no pid in sysfs): a candidate. */
static bool device_is_free(unsigned index)
{
	char path[64];
	struct stat st;

	(void)snprintf(path, sizeof(path), "/sys/block/nbd%u/pid", index);
	if (stat(path, &st) == 0)
		return false;
	(void)snprintf(path, sizeof(path), "/sys/block/nbd%u", index);
	return stat(path, &st) == 0;
}

/* Connect to the first free existing device, from nbd0 on (its scheduler off first); -EBUSY
 * from the kernel (another process took it meanwhile) moves on to the next. Without a free
 * one in NBD_PICK_MAX, the kernel picks (or creates) one: its scheduler goes off right after
 * the connect. */
#define NBD_PICK_MAX 64u
static int connect_any(struct nbd_server *srv, unsigned n, struct connect_args *a,
		       unsigned *ret_index)
{
	int r;

	for (unsigned i = 0; i < NBD_PICK_MAX; i++) {
		if (!device_is_free(i))
			continue;
		no_scheduler(i);
		a->index = (int)i;
		r = connect_sockets(srv, n, a, ret_index);
		if (r != -EBUSY)
			return r;
		log_debug("nbd: nbd%u was taken meanwhile, trying the next one", i);
	}
	a->index = -1;
	r = connect_sockets(srv, n, a, ret_index);
	if (r == 0)
		no_scheduler(*ret_index);
	return r;
}

int nbd_kernel_attach(struct nbd_server *srv, const struct nbd_kernel_options *o,
		      struct nbd_kernel **ret, struct diag *d)
{
	unsigned n = o->connections ? o->connections : 1, index = 0;
	struct connect_args a = { .index = o->index,
				  .size = srv->exp.size,
				  .flags = nbd_server_flags(srv),
				  .timeout = o->timeout_s ? o->timeout_s :
							    NBD_KERNEL_DEFAULT_TIMEOUT_S,
				  .dead_conn_timeout = o->dead_conn_timeout_s,
				  .backend = o->backend };
	struct nbd_kernel *k;
	uint32_t bs = 0;
	int r;

	r = check_options(srv, o, &bs, d);
	if (r < 0)
		return r;
	a.block_size = bs;
	if (o->index >= 0) {
		no_scheduler((unsigned)o->index);
		r = connect_sockets(srv, n, &a, &index);
	} else {
		r = connect_any(srv, n, &a, &index);
	}
	if (r < 0)
		return connect_error(r, d);
	k = calloc(1, sizeof(*k));
	if (!k) {
		r = nbd_kernel_disconnect(index);
		if (r < 0)
			log_debug_errno(r, "nbd: disconnecting nbd%u again: %m", index);
		nbd_server_stop(srv);
		nbd_server_wait(srv);
		return diag_set(d, -ENOMEM, "out of memory");
	}
	raise_request_size(index, srv->exp.max_payload);
	*k = (struct nbd_kernel){ .srv = srv, .index = index, .connections = n };
	(void)snprintf(k->device, sizeof(k->device), "/dev/nbd%u", index);
	log_debug("nbd: %s connected (%u socket%s, block size %" PRIu32 ", timeout %" PRIu64 " s)",
		  k->device, n, n > 1 ? "s" : "", bs, a.timeout);
	*ret = k;
	return 0;
}

const char *nbd_kernel_device(const struct nbd_kernel *k)
{
	return k->device;
}

unsigned nbd_kernel_index(const struct nbd_kernel *k)
{
	return k->index;
}

unsigned nbd_kernel_live_connections(const struct nbd_kernel *k)
{
	return nbd_server_active(k->srv);
}

unsigned nbd_kernel_connections(const struct nbd_kernel *k)
{
	return k->connections;
}

int nbd_kernel_detach(struct nbd_kernel *k, struct diag *d)
{
	int r;

	if (!k)
		return 0;
	r = nbd_kernel_disconnect(k->index);
	/* The kernel has shut its ends (or they are dead already): the connections end. */
	nbd_server_stop(k->srv);
	nbd_server_wait(k->srv);
	if (r < 0)
		diag_set(d, r, "cannot disconnect %s: %m", k->device);
	else
		log_debug("nbd: %s disconnected", k->device);
	free(k);
	return r;
}
