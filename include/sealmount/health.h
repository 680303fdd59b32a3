/* SPDX-License-Identifier: MIT */
/*
 * health.h - the sidecar's health endpoint: a small HTTP/1.1 server on loopback.
 *
 *   GET /healthz   200 "ok" when every filesystem is mounted, else 503 "not ready"
 *   GET /status    JSON: per filesystem mount point, state, engine, rw, size, integrity
 *                  errors, cache and blob counters
 *   GET /metrics   the same counters in the Prometheus text format (version 0.0.4)
 * HEAD is accepted for each; other methods get 405, other paths 404, malformed requests 400,
 * requests over HEALTH_REQUEST_MAX bytes 431.
 *
 * The server is one thread around poll(2): at most HEALTH_MAX_CLIENTS connections at once (more
 * are accepted and closed at once), each closed after one response ("Connection: close") or
 * after HEALTH_CLIENT_TIMEOUT_MS without completing, so a slow or hostile client cannot hold it.
 * The listening address must be loopback (127.0.0.0/8, ::1, "localhost") unless
 * allow_non_loopback is set.
 *
 * The renderers and the request parser are separate, pure functions (unit-tested). Numbers
 * come from a snapshot callback the coordinator provides; it is called from the server thread
 * and must be thread-safe. Errors: -EINVAL (bad address), -EADDRNOTAVAIL (not loopback),
 * socket(2)/bind(2) errors, -ENOMEM.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sealmount/buf.h"
#include "sealmount/macros.h"

#define HEALTH_REQUEST_MAX 4096u
#define HEALTH_RESPONSE_MAX (1u * 1024 * 1024)
#define HEALTH_MAX_CLIENTS 16
#define HEALTH_CLIENT_TIMEOUT_MS 5000
#define HEALTH_FS_MAX 64

enum health_state {
	HEALTH_PENDING = 0, /* not started yet */
	HEALTH_MOUNTING, /* in the pipeline (state_detail names the step) */
	HEALTH_MOUNTED,
	HEALTH_FAILED,
	HEALTH_STOPPING,
};

/* One filesystem's snapshot. Strings are copied in (bounded), so the snapshot owns nothing. */
struct health_fs {
	unsigned index;
	char mount_point[256];
	enum health_state state;
	char step[32]; /* the pipeline step running or failed ("" when mounted) */
	char engine[16]; /* "kernel", "user", "" before the volume is open */
	char block[8]; /* "fuse", "nbd", "" before the volume is open */
	bool has_nbd; /* the nbd counters are valid */
	uint64_t nbd_connections, nbd_live_connections; /* the kernel gave up on the others */
	bool rw;
	uint64_t size; /* plaintext bytes; 0 before the volume is open */
	uint64_t integrity_errors; /* the volume's, plus the cache's stale chunks */
	bool has_cache; /* the counters below are valid */
	uint64_t cache_hits, cache_misses, cache_bytes_fetched, cache_retries, cache_in_flight;
	uint64_t cache_dirty_bytes, cache_evictions;
	uint64_t cache_stale; /* fetches refused by the freshness check (cache.h) */
	bool has_blob;
	uint64_t blob_requests, blob_retries, blob_verify_failures, blob_bytes_read;
	uint64_t blob_bytes_written;
};

const char *health_state_name(enum health_state s);

/* ---- rendering (pure) ---- */

/* true when n > 0 and every filesystem is mounted (and, on NBD, the kernel still uses at least
 * one of its connections: with none left the device fails every read). */
bool health_is_ready(const struct health_fs *fs, size_t n);
/* Append the /status JSON document to out. -ENOMEM, -EFBIG (out's cap). */
_must_check_ int health_render_json(const struct health_fs *fs, size_t n, struct buf *out)
	_nonnull_(3);
/* Append the /metrics text to out. -EFBIG (out's cap). */
_must_check_ int health_render_prometheus(const struct health_fs *fs, size_t n, struct buf *out)
	_nonnull_(3);

/* ---- request parsing (pure) ---- */

enum health_route { HEALTH_ROUTE_HEALTHZ, HEALTH_ROUTE_STATUS, HEALTH_ROUTE_METRICS };

struct health_request {
	enum health_route route;
	bool head; /* HEAD: headers only */
};

/* Parse the request head in buf[0..len). Returns 0 (complete, *ret filled), -EAGAIN (the head
 * is not complete yet), and for a complete or over-long request the HTTP status to answer as
 * a negative errno: -EBADMSG (400), -E2BIG (431: over HEALTH_REQUEST_MAX), -EOPNOTSUPP (405),
 * -ENOENT (404), -EPROTONOSUPPORT (505: not HTTP/1.x). A body is not allowed (400). */
_must_check_ int health_parse_request(const char *buf, size_t len, struct health_request *ret)
	_nonnull_(1, 3);

/* ---- server ---- */

/* Fill up to max snapshots; returns how many. Called from the server thread. */
typedef size_t (*health_snapshot_fn)(void *userdata, struct health_fs *out, size_t max);

struct health_options {
	const char *address; /* "127.0.0.1:PORT", "[::1]:PORT", "localhost:PORT"; PORT may be 0 */
	bool allow_non_loopback;
	health_snapshot_fn snapshot;
	void *userdata;
};

struct health_server;

/* Bind, listen and start the server thread. On 0 the caller owns *ret (health_server_stop). */
_must_check_ int health_server_start(const struct health_options *o, struct health_server **ret)
	_nonnull_(1, 2);
/* The bound port (useful with PORT 0). */
unsigned health_server_port(const struct health_server *s) _nonnull_(1);
/* Stop the thread, close every connection and the socket, free. NULL-safe. */
void health_server_stop(struct health_server *s);
DEFINE_CLEANUP_FUNC(struct health_server, health_server_stop)
