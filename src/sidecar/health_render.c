/* SPDX-License-Identifier: MIT */
/*
 * health_render.c - the health endpoint's pure parts: request parsing, /status JSON and
 * /metrics Prometheus text. No I/O here, so every byte of it is unit-tested.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <string.h>

#include "sealmount/health.h"
#include "sealmount/jsonx.h"

const char *health_state_name(enum health_state s)
{
	static const char *const names[] = {
		[HEALTH_PENDING] = "pending",	[HEALTH_MOUNTING] = "mounting",
		[HEALTH_MOUNTED] = "mounted",	[HEALTH_FAILED] = "failed",
		[HEALTH_STOPPING] = "stopping",
	};

	return (unsigned)s < ELEMENTSOF(names) ? names[s] : "unknown";
}

bool health_is_ready(const struct health_fs *fs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fs[i].state != HEALTH_MOUNTED ||
		    (fs[i].has_nbd && fs[i].nbd_live_connections == 0))
			return false;
	return n > 0;
}

/* ---- JSON ---- */

static json_t *fs_counters_json(const struct health_fs *f)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	if (f->has_cache &&
	    json_object_set_new(o, "cache",
				json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "hits",
					  (json_int_t)f->cache_hits, "misses",
					  (json_int_t)f->cache_misses, "bytes_fetched",
					  (json_int_t)f->cache_bytes_fetched, "retries",
					  (json_int_t)f->cache_retries, "in_flight",
					  (json_int_t)f->cache_in_flight, "dirty_bytes",
					  (json_int_t)f->cache_dirty_bytes, "evictions",
					  (json_int_t)f->cache_evictions, "stale",
					  (json_int_t)f->cache_stale)) < 0)
		goto fail;
	if (f->has_blob &&
	    json_object_set_new(o, "blob",
				json_pack("{s:I, s:I, s:I, s:I, s:I}", "requests",
					  (json_int_t)f->blob_requests, "retries",
					  (json_int_t)f->blob_retries, "verify_failures",
					  (json_int_t)f->blob_verify_failures, "bytes_read",
					  (json_int_t)f->blob_bytes_read, "bytes_written",
					  (json_int_t)f->blob_bytes_written)) < 0)
		goto fail;
	return o;
fail:
	json_decref(o);
	return NULL;
}

static json_t *fs_json(const struct health_fs *f)
{
	json_t *o, *counters;

	o = json_pack("{s:I, s:s, s:s, s:s, s:s?, s:b, s:I, s:I}", "index", (json_int_t)f->index,
		      "mount_point", f->mount_point, "state", health_state_name(f->state), "step",
		      f->step, "engine", *f->engine ? f->engine : NULL, "rw", f->rw, "size",
		      (json_int_t)f->size, "integrity_errors", (json_int_t)f->integrity_errors);
	if (o && *f->block && json_object_set_new(o, "block", json_string(f->block)) < 0) {
		json_decref(o);
		return NULL;
	}
	if (o && f->has_nbd &&
	    json_object_set_new(o, "nbd",
				json_pack("{s:I, s:I}", "connections",
					  (json_int_t)f->nbd_connections, "live_connections",
					  (json_int_t)f->nbd_live_connections)) < 0) {
		json_decref(o);
		return NULL;
	}
	counters = o ? fs_counters_json(f) : NULL;
	if (!counters || json_object_update(o, counters) < 0) {
		json_decref(counters);
		json_decref(o);
		return NULL;
	}
	json_decref(counters);
	return o;
}

int health_render_json(const struct health_fs *fs, size_t n, struct buf *out)
{
	_cleanup_json_ json_t *root = NULL, *arr = json_array();
	_cleanup_free_ char *text = NULL;

	if (!arr)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (json_array_append_new(arr, fs_json(&fs[i])) < 0)
			return -ENOMEM;
	root = json_pack("{s:b, s:O}", "ready", health_is_ready(fs, n), "filesystems", arr);
	if (!root)
		return -ENOMEM;
	text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (!text)
		return -ENOMEM;
	return buf_printf(out, "%s\n", text);
}

/* ---- Prometheus ---- */

/* A label value with \, " and newline escaped (exposition format 0.0.4). */
static int append_label(struct buf *out, const char *v)
{
	int r = 0;

	for (; *v && r == 0; v++) {
		if (*v == '\\' || *v == '"')
			r = buf_printf(out, "\\%c", *v);
		else if (*v == '\n')
			r = buf_append_str(out, "\\n");
		else
			r = buf_append(out, v, 1);
	}
	return r;
}

struct metric {
	const char *name, *type, *help;
	size_t off; /* offsetof the uint64_t in struct health_fs */
	int need; /* 0 always, 1 has_cache, 2 has_blob, 3 has_nbd */
};

#define M(n, t, h, f, need)                                                                        \
	{                                                                                          \
		"sealmount_" n, t, h, offsetof(struct health_fs, f), need                          \
	}
static const struct metric metrics[] = {
	M("filesystem_size_bytes", "gauge", "Plaintext size of the filesystem image.", size, 0),
	M("integrity_errors_total", "counter",
	  "Sectors that failed integrity checks, plus chunks refused as stale.", integrity_errors,
	  0),
	M("cache_hits_total", "counter", "Cache chunk lookups served from memory.", cache_hits, 1),
	M("cache_misses_total", "counter", "Cache chunk lookups that needed a fetch.", cache_misses,
	  1),
	M("cache_fetched_bytes_total", "counter", "Bytes read from the blob by the cache.",
	  cache_bytes_fetched, 1),
	M("cache_retries_total", "counter", "Lower reads retried by the cache.", cache_retries, 1),
	M("cache_in_flight", "gauge", "Lower requests running now.", cache_in_flight, 1),
	M("cache_dirty_bytes", "gauge", "Bytes waiting for write-back.", cache_dirty_bytes, 1),
	M("cache_evictions_total", "counter", "Chunks evicted from the cache.", cache_evictions, 1),
	M("cache_stale_total", "counter",
	  "Fetches refused: a chunk differed from what this session fetched or wrote there.",
	  cache_stale, 1),
	M("blob_requests_total", "counter", "HTTP requests made to the blob.", blob_requests, 2),
	M("blob_retries_total", "counter", "Extra blob request attempts.", blob_retries, 2),
	M("blob_verify_failures_total", "counter", "Blob range bodies refused (MD5, length).",
	  blob_verify_failures, 2),
	M("blob_read_bytes_total", "counter", "Bytes downloaded from the blob.", blob_bytes_read,
	  2),
	M("blob_written_bytes_total", "counter", "Bytes uploaded to the blob.", blob_bytes_written,
	  2),
	M("nbd_connections", "gauge", "Sockets of the NBD device.", nbd_connections, 3),
	M("nbd_live_connections", "gauge", "NBD sockets the kernel still uses (0: I/O fails).",
	  nbd_live_connections, 3),
};
#undef M

static int render_labels(struct buf *out, const struct health_fs *f)
{
	int r;

	r = buf_printf(out, "{index=\"%u\",mount_point=\"", f->index);
	if (r == 0)
		r = append_label(out, f->mount_point);
	if (r == 0)
		r = buf_append_str(out, "\"}");
	return r;
}

static int render_metric(const struct metric *m, const struct health_fs *fs, size_t n,
			 struct buf *out)
{
	int r;

	r = buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name, m->type);
	for (size_t i = 0; r == 0 && i < n; i++) {
		const struct health_fs *f = &fs[i];
		uint64_t v;

		if ((m->need == 1 && !f->has_cache) || (m->need == 2 && !f->has_blob) ||
		    (m->need == 3 && !f->has_nbd))
			continue;
		memcpy(&v, (const char *)f + m->off, sizeof(v));
		r = buf_append_str(out, m->name);
		if (r == 0)
			r = render_labels(out, f);
		if (r == 0)
			r = buf_printf(out, " %" PRIu64 "\n", v);
	}
	return r;
}

int health_render_prometheus(const struct health_fs *fs, size_t n, struct buf *out)
{
	int r;

	r = buf_printf(out,
		       "# HELP sealmount_ready 1 when every filesystem is mounted.\n"
		       "# TYPE sealmount_ready gauge\nsealmount_ready %d\n"
		       "# HELP sealmount_filesystem_mounted 1 when the filesystem is mounted.\n"
		       "# TYPE sealmount_filesystem_mounted gauge\n",
		       health_is_ready(fs, n) ? 1 : 0);
	for (size_t i = 0; r == 0 && i < n; i++) {
		r = buf_append_str(out, "sealmount_filesystem_mounted");
		if (r == 0)
			r = render_labels(out, &fs[i]);
		if (r == 0)
			r = buf_printf(out, " %d\n", fs[i].state == HEALTH_MOUNTED ? 1 : 0);
	}
	for (size_t i = 0; r == 0 && i < ELEMENTSOF(metrics); i++)
		r = render_metric(&metrics[i], fs, n, out);
	return r;
}

/* ---- request parsing ---- */

static const char *find_head_end(const char *buf, size_t len)
{
	const char *e = memmem(buf, len, "\r\n\r\n", 4);

	return e ? e + 4 : NULL;
}

static int parse_target(const char *t, size_t n, enum health_route *ret)
{
	static const struct {
		const char *path;
		enum health_route route;
	} routes[] = {
		{ "/healthz", HEALTH_ROUTE_HEALTHZ },
		{ "/status", HEALTH_ROUTE_STATUS },
		{ "/metrics", HEALTH_ROUTE_METRICS },
	};
	const char *q = memchr(t, '?', n);

	if (n == 0 || t[0] != '/')
		return -EBADMSG;
	if (q) /* a query string is ignored */
		n = (size_t)(q - t);
	for (size_t i = 0; i < ELEMENTSOF(routes); i++)
		if (strlen(routes[i].path) == n && memcmp(routes[i].path, t, n) == 0) {
			*ret = routes[i].route;
			return 0;
		}
	return -ENOENT;
}

/* Header lines: each "Name: value" with a token name; Content-Length other than 0 and
 * Transfer-Encoding are refused (we take no bodies). */
static int check_headers(const char *p, const char *end)
{
	while (p < end) {
		const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
		const char *colon;

		if (!eol)
			return -EBADMSG;
		if (eol == p)
			return 0; /* the empty line */
		colon = memchr(p, ':', (size_t)(eol - p));
		if (!colon || colon == p ||
		    strspn(p, "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
			      "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != (size_t)(colon - p))
			return -EBADMSG;
		if ((colon - p == 17 && strncasecmp(p, "Transfer-Encoding", 17) == 0) ||
		    (colon - p == 14 && strncasecmp(p, "Content-Length", 14) == 0 &&
		     strspn(colon + 1, " \t0") != (size_t)(eol - colon - 1)))
			return -EBADMSG;
		for (const char *c = colon + 1; c < eol; c++)
			if ((unsigned char)*c < 0x20 && *c != '\t')
				return -EBADMSG;
		p = eol + 2;
	}
	return -EBADMSG;
}

int health_parse_request(const char *buf, size_t len, struct health_request *ret)
{
	const char *end = find_head_end(buf, len), *sp1, *sp2, *eol;
	bool head;
	int r;

	if (!end)
		return len >= HEALTH_REQUEST_MAX ? -E2BIG : -EAGAIN;
	if ((size_t)(end - buf) > HEALTH_REQUEST_MAX)
		return -E2BIG;
	eol = memmem(buf, (size_t)(end - buf), "\r\n", 2);
	sp1 = memchr(buf, ' ', (size_t)(eol - buf));
	sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
	if (!sp1 || !sp2 || memchr(sp2 + 1, ' ', (size_t)(eol - sp2 - 1)))
		return -EBADMSG;
	if ((size_t)(eol - sp2 - 1) != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0 ||
	    (sp2[8] != '0' && sp2[8] != '1'))
		return memcmp(sp2 + 1, "HTTP/", 5) == 0 ? -EPROTONOSUPPORT : -EBADMSG;
	r = check_headers(eol + 2, end);
	if (r < 0)
		return r;
	head = sp1 - buf == 4 && memcmp(buf, "HEAD", 4) == 0;
	if (!head && !(sp1 - buf == 3 && memcmp(buf, "GET", 3) == 0)) {
		for (const char *c = buf; c < sp1; c++)
			if (*c < 'A' || *c > 'Z')
				return -EBADMSG;
		return -EOPNOTSUPP;
	}
	r = parse_target(sp1 + 1, (size_t)(sp2 - sp1 - 1), &ret->route);
	if (r < 0)
		return r;
	ret->head = head;
	return 0;
}
