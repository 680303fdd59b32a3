/* SPDX-License-Identifier: MIT */
/*
 * blob_upload.c - upload a local file as a page blob (Put Page, 4 MiB each) or a block blob
 * (Put Block + Put Block List), from several threads, resumable (blob.h "Upload").
 *
 * Resume:
 *   page   Get Page Ranges says which 4 MiB chunks hold data. A chunk with no written page and
 *          all-zero local data is skipped; a chunk with written pages is read back and compared
 *          byte for byte (a mismatch is re-sent, or cleared when the local chunk is zero).
 *   block  the block id of chunk i is base64("<i as 8 hex>-<MD5 hex>-"), so Get Block List
 *          (committed and uncommitted) names the blocks already there with their content; only
 *          the others are sent, and the list is committed at the end.
 * Every Put carries Content-MD5, which the service checks.
 *
 * The request machinery is blob.c's blob_request(); a struct blob is set up here without the
 * Get Blob Properties / lease steps of blob_open(), since the blob may not exist yet.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blob_internal.h"
#include "sealmount/codec.h"
#include "sealmount/log.h"

#define UPLOAD_CHUNK (4u * 1024 * 1024)
#define BLOCKS_MAX 50000u /* Azure's limit of blocks per blob */
#define BLOCK_ID_RAW 42 /* "%08x-%32s-": a multiple of 3, so base64 has no padding */
#define LIST_MAX (64u * 1024 * 1024)
#define THREADS_MAX 32u

/* One request that must answer `want`; anything else is mapped by blob_status_error(). On 0
 * with keep != NULL the response is the caller's. */
static int up_request(struct blob *b, const char *method, const char *query,
		      const char *const *hdrs, const void *body, size_t len, long want, size_t max,
		      const char *what, struct http_response *keep)
{
	struct http_response resp;
	int r;

	r = blob_request(b, method, query, hdrs, body, len, max, &resp);
	if (r < 0)
		return blob_fail_transport(b, r, what);
	if (resp.status != want)
		r = blob_fail_status(b, &resp, what);
	if (r == 0 && keep)
		*keep = resp;
	else
		http_response_done(&resp);
	return r;
}

static int md5_b64(const void *p, size_t n, char out[32], uint8_t raw[16])
{
	_cleanup_free_ char *s = NULL;
	unsigned int len = 0;
	int r;

	if (!EVP_Digest(p, n, raw, &len, EVP_md5(), NULL) || len != 16)
		return -EIO;
	r = b64_encode(B64_STD, raw, 16, &s);
	if (r < 0)
		return r;
	snprintf(out, 32, "%s", s);
	return 0;
}

/* ---- the work shared by the threads ---- */

struct upload {
	const struct blob_upload_options *o;
	struct blob *b;
	int fd;
	uint64_t size;
	uint32_t chunk;
	uint64_t n_chunks;
	/* page resume: written ranges [start, end] (inclusive), sorted */
	uint64_t (*ranges)[2];
	size_t n_ranges;
	/* block: ids already on the service, and every chunk's id (for the list) */
	char **have;
	size_t n_have;
	char (*ids)[80];

	uint64_t next; /* __atomic: the next chunk to take */
	int error; /* __atomic: first error; stops the others */
	pthread_mutex_t lock; /* progress callback and stats */
	uint64_t done;
	struct blob_upload_stats st;
};

static int read_chunk(struct upload *u, uint64_t i, uint8_t *buf, size_t *ret_len)
{
	uint64_t off = i * u->chunk;
	size_t len = u->size - off < u->chunk ? (size_t)(u->size - off) : u->chunk;
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(u->fd, buf + got, len - got, (off_t)(off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		got += (size_t)n;
	}
	*ret_len = len;
	return 0;
}

static bool is_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static void account(struct upload *u, size_t len, bool sent)
{
	LOCK_GUARD(&u->lock);
	u->done += len;
	if (sent) {
		u->st.chunks_sent++;
		u->st.bytes_sent += len;
	} else {
		u->st.chunks_skipped++;
	}
	if (u->o->progress)
		u->o->progress(u->o->userdata, u->done, u->size);
}

/* ---- page blobs ---- */

static int put_page(struct upload *u, const uint8_t *buf, size_t len, uint64_t off, bool clear)
{
	char range[80], md5h[64], b64[32];
	const char *hdrs[] = { clear ? "x-ms-page-write: clear" : "x-ms-page-write: update", range,
			       md5h, NULL };
	uint8_t raw[16];
	int r;

	snprintf(range, sizeof(range), "x-ms-range: bytes=%" PRIu64 "-%" PRIu64, off,
		 off + len - 1);
	if (clear) {
		hdrs[2] = NULL;
	} else {
		r = md5_b64(buf, len, b64, raw);
		if (r < 0)
			return r;
		snprintf(md5h, sizeof(md5h), "Content-MD5: %s", b64);
	}
	return up_request(u->b, "PUT", "comp=page", hdrs, clear ? NULL : buf, clear ? 0 : len, 201,
			  0, "Put Page", NULL);
}

static bool has_pages(const struct upload *u, uint64_t off, size_t len)
{
	for (size_t i = 0; i < u->n_ranges; i++)
		if (u->ranges[i][0] < off + len && u->ranges[i][1] >= off)
			return true;
	return false;
}

/* Is the service's copy of [off, off+len) equal to buf? */
static int same_remote(struct upload *u, const uint8_t *buf, size_t len, uint64_t off)
{
	char range[80];
	const char *hdrs[] = { range, NULL };
	struct http_response resp;
	int r;

	snprintf(range, sizeof(range), "x-ms-range: bytes=%" PRIu64 "-%" PRIu64, off,
		 off + len - 1);
	r = up_request(u->b, "GET", NULL, hdrs, NULL, 0, 206, len + 1, "Get Blob", &resp);
	if (r < 0)
		return r;
	r = resp.body.len == len && memcmp(resp.body.data, buf, len) == 0;
	http_response_done(&resp);
	return r;
}

static int page_chunk(struct upload *u, uint64_t i, uint8_t *buf)
{
	uint64_t off = i * u->chunk;
	size_t len;
	bool zero, remote;
	int r;

	r = read_chunk(u, i, buf, &len);
	if (r < 0)
		return r;
	zero = is_zero(buf, len);
	remote = u->o->resume && has_pages(u, off, len);
	if (remote) {
		r = same_remote(u, buf, len, off);
		if (r < 0)
			return r;
	}
	if ((!remote && zero) || (remote && r == 1)) {
		account(u, len, false);
		return 0;
	}
	r = put_page(u, buf, len, off, zero);
	if (r == 0)
		account(u, len, true);
	return r;
}

/* "<literal><digits><close>" at *p: strict decimal, advances *p past close. */
static int parse_tagged_u64(const char **p, const char *open, const char *close, uint64_t *ret)
{
	const char *s = *p;
	char *end;

	if (strncmp(s, open, strlen(open)) != 0)
		return -EPROTO;
	s += strlen(open);
	if (*s < '0' || *s > '9')
		return -EPROTO;
	errno = 0;
	*ret = strtoull(s, &end, 10);
	if (errno || strncmp(end, close, strlen(close)) != 0)
		return -EPROTO;
	*p = end + strlen(close);
	return 0;
}

/* Parse "<PageRange><Start>s</Start><End>e</End></PageRange>..." (ClearRange ignored). */
static int parse_ranges(struct upload *u, const char *xml)
{
	const char *p = xml;

	while ((p = strstr(p, "<PageRange>"))) {
		uint64_t s, e;
		void *n;

		p += strlen("<PageRange>");
		if (parse_tagged_u64(&p, "<Start>", "</Start>", &s) < 0 ||
		    parse_tagged_u64(&p, "<End>", "</End>", &e) < 0 || e < s)
			return log_debug_errno(-EPROTO, "blob: malformed page list");
		n = reallocarray(u->ranges, u->n_ranges + 1, sizeof(*u->ranges));
		if (!n)
			return -ENOMEM;
		u->ranges = n;
		u->ranges[u->n_ranges][0] = s;
		u->ranges[u->n_ranges++][1] = e;
	}
	return 0;
}

/* The marker of a continued listing ("" at the end), percent-encoded into out. */
static int next_marker(const char *xml, char *out, size_t len)
{
	const char *p = strstr(xml, "<NextMarker>"), *e;
	size_t o = 0;

	out[0] = '\0';
	if (!p)
		return 0;
	p += strlen("<NextMarker>");
	e = strstr(p, "</NextMarker>");
	if (!e)
		return -EPROTO;
	for (; p < e; p++) {
		if (o + 4 >= len)
			return -EPROTO;
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.' || *p == '~')
			out[o++] = *p;
		else
			o += (size_t)snprintf(out + o, len - o, "%%%02X", (unsigned char)*p);
	}
	out[o] = '\0';
	return 0;
}

/* Get Page Ranges, following NextMarker when the service splits the list. */
static int list_pages(struct upload *u)
{
	char query[1100] = "comp=pagelist", marker[1024];
	struct http_response resp;
	int r;

	for (unsigned n = 0; n < 10000; n++) {
		r = up_request(u->b, "GET", query, NULL, NULL, 0, 200, LIST_MAX, "Get Page Ranges",
			       &resp);
		if (r < 0)
			return r;
		r = parse_ranges(u, (const char *)resp.body.data);
		r = r ?: next_marker((const char *)resp.body.data, marker, sizeof(marker));
		http_response_done(&resp);
		if (r < 0 || !marker[0])
			return r;
		snprintf(query, sizeof(query), "comp=pagelist&marker=%s", marker);
	}
	return -EPROTO;
}

static int page_prepare(struct upload *u, const struct blob_props *props, bool exists)
{
	char len_hdr[80];
	const char *hdrs[] = { "x-ms-blob-type: PageBlob", len_hdr, NULL };

	if (u->size % BLOB_PAGE)
		return log_debug_errno(-EINVAL, "blob: a page blob needs a multiple of 512 bytes");
	if (exists) {
		if (props->type != BLOB_TYPE_PAGE || props->size != u->size)
			return log_debug_errno(-EEXIST,
					       "blob: existing blob is a %s of %" PRIu64
					       " bytes, not a page blob of %" PRIu64,
					       blob_type_name(props->type), props->size, u->size);
		return list_pages(u);
	}
	snprintf(len_hdr, sizeof(len_hdr), "x-ms-blob-content-length: %" PRIu64, u->size);
	return up_request(u->b, "PUT", NULL, hdrs, NULL, 0, 201, 0, "Create page blob", NULL);
}

/* ---- block blobs ---- */

static int block_id(uint64_t i, const uint8_t md5[16], char out[80])
{
	static const char hex[] = "0123456789abcdef";
	_cleanup_free_ char *b64 = NULL;
	char raw[BLOCK_ID_RAW + 1];
	int n = snprintf(raw, sizeof(raw), "%08" PRIx64 "-", i), r;

	for (int k = 0; k < 16; k++) {
		raw[n++] = hex[md5[k] >> 4];
		raw[n++] = hex[md5[k] & 15];
	}
	raw[n++] = '-';
	r = b64_encode(B64_STD, raw, (size_t)n, &b64);
	if (r < 0)
		return r;
	snprintf(out, 80, "%s", b64);
	return 0;
}

static bool have_block(const struct upload *u, const char *id)
{
	for (size_t i = 0; i < u->n_have; i++)
		if (streq(u->have[i], id))
			return true;
	return false;
}

/* "blockid=" + the id with '+', '/' percent-encoded (no '=': BLOCK_ID_RAW % 3 == 0). */
static void block_query(const char *id, char *out, size_t len)
{
	size_t o = (size_t)snprintf(out, len, "comp=block&blockid=");

	for (; *id && o + 4 < len; id++) {
		if (*id == '+' || *id == '/')
			o += (size_t)snprintf(out + o, len - o, "%%%02X", (unsigned)*id);
		else
			out[o++] = *id;
	}
	out[o] = '\0';
}

static int block_chunk(struct upload *u, uint64_t i, uint8_t *buf)
{
	char b64[32], md5h[64], query[160];
	const char *hdrs[] = { md5h, NULL };
	uint8_t raw[16];
	size_t len;
	int r;

	r = read_chunk(u, i, buf, &len);
	r = r ?: md5_b64(buf, len, b64, raw);
	r = r ?: block_id(i, raw, u->ids[i]);
	if (r < 0)
		return r;
	if (have_block(u, u->ids[i])) {
		account(u, len, false);
		return 0;
	}
	snprintf(md5h, sizeof(md5h), "Content-MD5: %s", b64);
	block_query(u->ids[i], query, sizeof(query));
	r = up_request(u->b, "PUT", query, hdrs, buf, len, 201, 0, "Put Block", NULL);
	if (r == 0)
		account(u, len, true);
	return r;
}

static int parse_names(struct upload *u, const char *xml)
{
	const char *p = xml, *e;

	while ((p = strstr(p, "<Name>")) && (e = strstr(p, "</Name>"))) {
		void *n = reallocarray(u->have, u->n_have + 1, sizeof(*u->have));

		if (!n)
			return -ENOMEM;
		u->have = n;
		p += 6;
		u->have[u->n_have] = strndup(p, (size_t)(e - p));
		if (!u->have[u->n_have++])
			return -ENOMEM;
		p = e;
	}
	return 0;
}

static int block_prepare(struct upload *u, bool exists)
{
	struct http_response resp;
	int r;

	u->ids = calloc(u->n_chunks ? u->n_chunks : 1, sizeof(*u->ids));
	if (!u->ids)
		return -ENOMEM;
	if (!u->o->resume)
		return exists ? log_debug_errno(-EEXIST, "blob: the blob exists") : 0;
	/* Uncommitted blocks of a blob that was never committed are listed too (404 = none). */
	r = up_request(u->b, "GET", "comp=blocklist&blocklisttype=all", NULL, NULL, 0, 200,
		       LIST_MAX, "Get Block List", &resp);
	if (r == -ENOENT) {
		diag_clear(u->b->diag); /* nothing uploaded yet: not a failure */
		return 0;
	}
	if (r < 0)
		return r;
	r = parse_names(u, (const char *)resp.body.data);
	http_response_done(&resp);
	return r;
}

static int block_commit(struct upload *u)
{
	struct buf xml;
	const char *hdrs[] = { "Content-Type: application/xml", NULL };
	int r;

	buf_init(&xml, LIST_MAX);
	r = buf_append_str(&xml, "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
	for (uint64_t i = 0; r == 0 && i < u->n_chunks; i++)
		r = buf_printf(&xml, "<Latest>%s</Latest>", u->ids[i]);
	r = r ?: buf_append_str(&xml, "</BlockList>");
	r = r	  ?:
		    up_request(u->b, "PUT", "comp=blocklist", hdrs, xml.data, xml.len, 201, 0,
			       "Put Block List", NULL);
	buf_done(&xml);
	return r;
}

/* ---- threads ---- */

static void *worker(void *arg)
{
	struct upload *u = arg;
	uint8_t *buf = malloc(u->chunk);
	int r = buf ? 0 : -ENOMEM;

	while (r == 0 && __atomic_load_n(&u->error, __ATOMIC_RELAXED) == 0) {
		uint64_t i = __atomic_fetch_add(&u->next, 1, __ATOMIC_RELAXED);

		if (i >= u->n_chunks)
			break;
		r = u->o->type == BLOB_TYPE_PAGE ? page_chunk(u, i, buf) : block_chunk(u, i, buf);
	}
	if (r < 0) {
		int zero = 0;

		(void)__atomic_compare_exchange_n(&u->error, &zero, r, false, __ATOMIC_RELAXED,
						  __ATOMIC_RELAXED);
	}
	free(buf);
	return NULL;
}

static int run_workers(struct upload *u)
{
	unsigned n = u->o->parallel ? u->o->parallel : 4, started = 0;
	struct diag *d = u->b->diag;
	pthread_t t[THREADS_MAX];
	int r;

	/* The workers' requests go to no diag (one at a time only): the first error is described
	 * after they stop. */
	u->b->diag = NULL;
	if (n > THREADS_MAX)
		n = THREADS_MAX;
	for (; started < n; started++)
		if (pthread_create(&t[started], NULL, worker, u) != 0)
			break;
	if (started == 0)
		worker(u);
	for (unsigned i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	u->b->diag = d;
	r = u->error;
	if (r < 0 && d && !diag_is_set(d))
		diag_set(d, r, "sending the data failed: %m");
	return r;
}

static void upload_done(struct upload *u)
{
	for (size_t i = 0; i < u->n_have; i++)
		free(u->have[i]);
	free(u->have);
	free(u->ids);
	free(u->ranges);
	pthread_mutex_destroy(&u->lock);
}

/* "/c" of "/c/b..." (or "/acct/c" of a path-style "/acct/c/b..."), malloc'd. */
static char *container_path(const struct blob *b)
{
	const char *p = b->url.path + 1;

	if (b->url.kind == BLOB_URL_PATH_STYLE)
		p += strcspn(p, "/") + 1;
	return strndup(b->url.path, (size_t)(p - b->url.path) + strcspn(p, "/"));
}

/* Create Container (private): 201, or 409 when someone made it meanwhile. */
static int create_container(struct upload *u)
{
	struct blob *b = u->b;
	_cleanup_free_ char *path = container_path(b);
	char *blob_path = b->url.path;
	struct http_response resp;
	int r;

	if (!path)
		return -ENOMEM;
	b->url.path = path; /* one request, before any worker runs */
	r = blob_request(b, "PUT", "restype=container", NULL, NULL, 0, 0, &resp);
	b->url.path = blob_path;
	if (r < 0)
		return blob_fail_transport(b, r, "Create Container");
	if (resp.status == 201)
		u->st.container_created = true;
	else if (resp.status != 409)
		r = blob_fail_status(b, &resp, "Create Container");
	http_response_done(&resp);
	return r;
}

/* Delete Blob with its snapshots (overwrite). */
static int delete_blob(struct upload *u)
{
	const char *hdrs[] = { "x-ms-delete-snapshots: include", NULL };
	int r;

	r = up_request(u->b, "DELETE", NULL, hdrs, NULL, 0, 202, 0, "Delete Blob", NULL);
	if (r == 0)
		u->st.replaced = true;
	return r;
}

static int upload_prepare(struct upload *u)
{
	struct blob_props props = { 0 };
	struct http_response resp;
	bool exists;
	int r;

	r = blob_request(u->b, "HEAD", NULL, NULL, NULL, 0, 0, &resp);
	if (r < 0)
		return blob_fail_transport(u->b, r, "Get Blob Properties");
	if (resp.status == 404) {
		/* A HEAD answer has no body, but the code is a header. Without one, the container
		 * may be what is missing. */
		bool no_container =
			!streq(http_response_header(&resp, "x-ms-error-code"), "BlobNotFound");

		http_response_done(&resp);
		if (u->o->create_container && no_container) {
			r = create_container(u);
			if (r < 0)
				return r;
		}
		r = -ENOENT;
	} else if (resp.status != 200) {
		r = blob_fail_status(u->b, &resp, "Get Blob Properties");
		http_response_done(&resp);
		return r;
	}
	if (r == 0) {
		const char *t = http_response_header(&resp, "x-ms-blob-type");
		const char *l = http_response_header(&resp, "Content-Length");

		props.type = streq(t, "PageBlob")  ? BLOB_TYPE_PAGE :
			     streq(t, "BlockBlob") ? BLOB_TYPE_BLOCK :
						     BLOB_TYPE_UNKNOWN;
		props.size = l ? strtoull(l, NULL, 10) : 0;
		http_response_done(&resp);
	} else if (r != -ENOENT) {
		return r;
	}
	exists = r == 0;
	if (exists && u->o->overwrite) {
		r = delete_blob(u);
		if (r < 0)
			return r;
		exists = false;
	}
	if (exists && !u->o->resume)
		return log_debug_errno(-EEXIST, "blob: the blob exists (use resume)");
	return u->o->type == BLOB_TYPE_PAGE ? page_prepare(u, &props, exists) :
					      block_prepare(u, exists);
}

int blob_upload_file(const struct blob_upload_options *o, int fd, uint64_t size,
		     struct blob_upload_stats *ret)
{
	_cleanup_(blob_state_freep) struct blob *b = NULL;
	struct upload u = { .o = o, .fd = fd, .size = size, .chunk = UPLOAD_CHUNK };
	int r;

	if ((o->type != BLOB_TYPE_PAGE && o->type != BLOB_TYPE_BLOCK) ||
	    (o->resume && o->overwrite))
		return -EINVAL;
	if (o->type == BLOB_TYPE_BLOCK)
		while ((size + u.chunk - 1) / u.chunk > BLOCKS_MAX)
			u.chunk *= 2; /* at most 4000 MiB per block: fine up to ~190 TiB */
	u.n_chunks = (size + u.chunk - 1) / u.chunk;
	r = blob_state_new(o->blob, &b);
	if (r < 0)
		return r;
	if (b->url.kind == BLOB_URL_HTTP)
		return log_debug_errno(-EINVAL, "blob: uploads go to an Azure Blob URL only");
	b->rw = true; /* writes, without a lease */
	u.b = b;
	pthread_mutex_init(&u.lock, NULL);
	r = upload_prepare(&u);
	r = r ?: run_workers(&u);
	if (r == 0 && o->type == BLOB_TYPE_BLOCK)
		r = block_commit(&u);
	if (ret)
		*ret = u.st;
	upload_done(&u);
	return r;
}
