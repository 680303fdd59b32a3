/* SPDX-License-Identifier: MIT */
/*
 * nbd.h - the NBD frontend: an in-process NBD server for any block stack (bdev.h), on a Unix
 * socket or on connected sockets, and the kernel's NBD client attached to it over socketpairs
 * through generic netlink, which turns a stack into /dev/nbdN without a helper process.
 * Protocol subset, limits and the netlink interface as used: docs/nbd.md. The wire format
 * itself is nbd_proto.h.
 *
 * Threads: each connection has a reader thread and `threads` workers that call the device
 * concurrently (bdev.h allows that for every layer); replies are serialized per socket. All
 * connections share the one device, so a flush on one covers writes made on any: the export
 * advertises NBD_FLAG_CAN_MULTI_CONN.
 *
 * Durability: NBD_CMD_FLUSH and a write with NBD_CMD_FLAG_FUA reply only after bdev_flush()
 * returned 0 - exactly what fsync on the FUSE file does - and a failed flush is an NBD_EIO reply.
 *
 * Logging: debug level only; failures are returned (and, where a diag is taken, described).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "sealmount/bdev.h"
#include "sealmount/diag.h"
#include "sealmount/macros.h"

#define NBD_DEFAULT_THREADS 8u
#define NBD_DEFAULT_MAX_CONNECTIONS 16u
#define NBD_HANDSHAKE_TIMEOUT_S 30u /* a client that stalls during negotiation is dropped */

struct nbd_server_options {
	const char *export_name; /* NULL or "" = the default export */
	const char *description; /* NBD_INFO_DESCRIPTION; NULL = none */
	bool writable; /* serve writes (the device must be writable); else NBD_FLAG_READ_ONLY */
	unsigned threads; /* workers per connection, 1..64; 0 = NBD_DEFAULT_THREADS */
	uint32_t max_payload; /* request cap, 4096..NBD_PAYLOAD_MAX; 0 = NBD_PAYLOAD_MAX */
	unsigned max_connections; /* concurrent clients on a listener; 0 = default */
};

struct nbd_server_stats {
	uint64_t connections; /* accepted or started, ever */
	uint64_t active; /* connections being served now */
	uint64_t requests, reads, writes, flushes;
	uint64_t bytes_read, bytes_written;
	uint64_t errors; /* requests answered with an error */
	uint64_t protocol_errors; /* connections dropped for a protocol violation */
};

struct nbd_server;

/*
 * A server for dev (not owned: it must outlive the server). The export is dev's size; its
 * block sizes: minimum 512 (or the device's write alignment, if larger; 1 when the size is not
 * a multiple of it), preferred 4096 (or the minimum), maximum max_payload. -EINVAL (bad
 * option, name or description longer than 4096 bytes or with a control character),
 * -EROFS (writable on a read-only device), -ENOMEM.
 */
_must_check_ int nbd_server_new(struct bdev *dev, const struct nbd_server_options *o,
				struct nbd_server **ret) _nonnull_(1, 2, 3);

/*
 * Serve one connected stream socket in the calling thread: the handshake, then requests until
 * the client disconnects, the socket fails or the server is stopped. Takes ownership of fd
 * (closed on return, also on error). 0 after a clean end (NBD_CMD_DISC, NBD_OPT_ABORT, the
 * client closing, a stop), -EPROTO / -EBADMSG after a protocol violation (connection dropped),
 * -ESHUTDOWN when the server is already stopped, or a socket error.
 */
_must_check_ int nbd_server_serve_fd(struct nbd_server *srv, int fd) _nonnull_(1);

/*
 * Serve fd in a new thread (joined by nbd_server_wait/free). handshake = false skips the
 * negotiation and starts in the transmission phase with simple replies: for the kernel's
 * client, which is configured through netlink instead (nbd_kernel_attach). Such connections
 * also mark their threads PR_SET_IO_FLUSHER (when permitted), so that memory reclaim cannot
 * wait on writes to the very device they serve. Takes ownership of fd. 0, -ESHUTDOWN,
 * -ENOMEM, -EAGAIN (no thread).
 */
_must_check_ int nbd_server_start(struct nbd_server *srv, int fd, bool handshake) _nonnull_(1);

/*
 * Listen on a new Unix socket at path, created with mode 0600 (bound inside a private
 * directory and moved into place, so it is never reachable with wider permissions), and
 * serve each client in its own thread. The socket is removed by nbd_server_free(). -EEXIST
 * when path exists (a stale socket is not replaced), -ENAMETOOLONG, -EBUSY (already
 * listening), or the errno of socket/bind/listen/rename.
 */
_must_check_ int nbd_server_listen_unix(struct nbd_server *srv, const char *path) _nonnull_(1, 2);

/*
 * Stop: no new connections; every connection's socket is shut for reading, so each finishes
 * the requests in flight, sends their replies and ends. Returns at once; thread-safe, not
 * async-signal-safe (call it from a thread that waits for signals).
 */
void nbd_server_stop(struct nbd_server *srv) _nonnull_(1);
/* Join the listener and every connection thread; returns once all have ended (after a stop,
 * or when the clients went away). */
void nbd_server_wait(struct nbd_server *srv) _nonnull_(1);
/* Stop, wait, remove the Unix socket, free. NULL-safe. The device is not touched. */
void nbd_server_free(struct nbd_server *srv);
DEFINE_CLEANUP_FUNC(struct nbd_server, nbd_server_free)

void nbd_server_get_stats(const struct nbd_server *srv, struct nbd_server_stats *ret)
	_nonnull_(1, 2);
uint64_t nbd_server_size(const struct nbd_server *srv) _nonnull_(1);
/* The transmission flags of every client: NBD_FLAG_* of nbd_proto.h, without SEND_DF. */
uint16_t nbd_server_flags(const struct nbd_server *srv) _nonnull_(1);
/* The smallest block size a client may use (the export's minimum, at least 512). */
uint32_t nbd_server_min_block(const struct nbd_server *srv) _nonnull_(1);

/* ---- the kernel's NBD client (/dev/nbdN) over generic netlink ---- */

#define NBD_KERNEL_MAX_CONNECTIONS 16u
#define NBD_KERNEL_DEFAULT_TIMEOUT_S 60u

struct nbd_kernel_options {
	int index; /* the device, /dev/nbd<index>; -1 = any free one */
	unsigned connections; /* sockets, 1..NBD_KERNEL_MAX_CONNECTIONS; 0 = 1 */
	uint32_t block_size; /* 512..4096, a power of two the export's minimum divides; 0 = the
				export's minimum (512 or the device's write alignment) */
	unsigned timeout_s; /* a request unanswered this long fails with EIO and the kernel
			       shuts the sockets; 0 = NBD_KERNEL_DEFAULT_TIMEOUT_S. Must exceed
			       what the stack may take for one request (blob retries). */
	unsigned dead_conn_timeout_s; /* with every socket gone, how long requests wait for a
					 reconnect before failing; 0 = fail at once */
	const char *backend; /* NBD_ATTR_BACKEND_IDENTIFIER (/sys/block/nbdN/backend); optional */
};

struct nbd_kernel;

/* Whether the kernel's NBD client can be used: the generic netlink family "nbd" resolves
 * (the nbd module is loaded or loadable). Needs no privilege. */
bool nbd_kernel_available(void);

/*
 * Connect /dev/nbdN to srv: `connections` socketpairs, one end of each served by srv in
 * transmission mode (nbd_server_start with handshake = false), the other handed to the kernel
 * with NBD_CMD_CONNECT (size, block size, srv's transmission flags, timeouts). srv is from
 * then on dedicated to the device: nbd_kernel_detach() stops it. Needs CAP_SYS_ADMIN.
 * 0; -ENOENT (no nbd module / family), -EPERM, -EBUSY (index in use), -EINVAL (options, or
 * a size the block size does not divide, or several connections without multi-conn),
 * -ENOMEM, or another netlink error; d says which step failed.
 */
_must_check_ int nbd_kernel_attach(struct nbd_server *srv, const struct nbd_kernel_options *o,
				   struct nbd_kernel **ret, struct diag *d) _nonnull_(1, 2, 3);
/* "/dev/nbdN" */
const char *nbd_kernel_device(const struct nbd_kernel *k) _nonnull_(1);
unsigned nbd_kernel_index(const struct nbd_kernel *k) _nonnull_(1);
/* Sockets still served, out of nbd_kernel_connections(): fewer once the kernel gave up on a
 * connection (a request timed out) - the device then fails I/O; for the health endpoint. */
unsigned nbd_kernel_live_connections(const struct nbd_kernel *k) _nonnull_(1);
unsigned nbd_kernel_connections(const struct nbd_kernel *k) _nonnull_(1);
/*
 * NBD_CMD_DISCONNECT (the kernel sends NBD_CMD_DISC on every socket, fails what is still queued
 * and shuts its ends), then stop and wait for srv's connections, and free k. Whoever has the
 * device open (a mount, dm) must be gone first, or the device stays configured until they
 * close it. NULL-safe; 0 or the netlink error (k is freed either way).
 */
int nbd_kernel_detach(struct nbd_kernel *k, struct diag *d);
/* NBD_CMD_DISCONNECT of /dev/nbd<index> alone: for a device a killed process left configured.
 * 0, -ENOENT (no nbd family), -EINVAL (no such device), -EPERM, or another netlink error. */
_must_check_ int nbd_kernel_disconnect(unsigned index);
