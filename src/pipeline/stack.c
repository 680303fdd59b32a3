/* SPDX-License-Identifier: MIT */
/*
 * stack.c - the one stack builder (pipeline.h): a local file, or a blob / range URL with its
 * credentials, then the disk cache and the memory cache. Used by the pipeline's open step and
 * by `image inspect|decrypt` and `blob attach`.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "pipeline_internal.h"
#include "sealmount/blob.h"
#include "sealmount/cache.h"
#include "sealmount/diskcache.h"
#include "sealmount/fsutil.h"
#include "sealmount/http.h"
#include "sealmount/imds.h"
#include "sealmount/log.h"
#include "sealmount/pipeline.h"

#define FILE_PREFIX "file://"
#define TOKEN_FILE_MAX (16u * 1024)

/* printf arguments for a URL without its query: a SAS there is a credential, never shown. */
#define URL_FMT "%.*s%s"
#define URL_ARG(u) (int)strcspn((u), "?"), (u), strchr((u), '?') ? "?<SAS redacted>" : ""

/* What the blob layer calls for credentials; lives as long as the stack. */
struct pl_auth_ctx {
	struct secret *account_key;
	const char *token_file;
	struct http_client *imds_http; /* our own, when the caller gave none */
	struct imds_client *imds;
	char *resource;
	struct imds_blob_source src;
};

static bool is_url(const char *s)
{
	return strncmp(s, "https://", 8) == 0 || strncmp(s, "http://", 7) == 0;
}

void pl_auth_free(struct pl_auth_ctx *c)
{
	if (!c)
		return;
	imds_client_free(c->imds);
	http_client_free(c->imds_http);
	free(c->resource);
	secret_free(c->account_key);
	free(c);
}

/* blob_token_fn over a file someone else keeps fresh (read at every request). */
static int file_token(void *userdata, char **ret)
{
	const struct pl_auth_ctx *c = userdata;
	size_t len;

	return fs_read_file(c->token_file, TOKEN_FILE_MAX,
			    FS_READ_TRIM | FS_READ_ONE_LINE | FS_READ_NONEMPTY, (uint8_t **)ret,
			    &len);
}

static int imds_setup(const struct pl_source *src, struct http_client *http, struct pl_auth_ctx *c,
		      struct blob_options *o, struct diag *d)
{
	struct imds_options io = { .endpoint = src->imds_endpoint,
				   .client_id = src->client_id,
				   .federated_token_file = src->federated_token_file,
				   .tenant_id = src->tenant_id,
				   .authority = src->authority };
	int r;

	r = blob_token_resource(src->url, &c->resource);
	if (r < 0)
		return diag_set(d, r, "Cannot derive the storage token resource from the URL: %m");
	if (!http) {
		r = http_client_new(&(struct http_options){ 0 }, &c->imds_http);
		if (r < 0)
			return diag_set(d, r, "Cannot set up HTTP for IMDS: %m");
		http = c->imds_http;
	}
	r = imds_client_new(http, &io, &c->imds);
	if (r < 0)
		return diag_set(d, r, "Invalid IMDS endpoint '%s' or client id: %m",
				src->imds_endpoint ? src->imds_endpoint : IMDS_DEFAULT_ENDPOINT);
	c->src = (struct imds_blob_source){ .imds = c->imds, .resource = c->resource };
	o->auth = BLOB_AUTH_BEARER;
	o->token_fn = imds_blob_token;
	o->token_userdata = &c->src;
	return 0;
}

static int auth_setup(const struct pl_source *src, struct http_client *http, struct pl_auth_ctx *c,
		      struct blob_options *o, struct diag *d)
{
	int r;

	switch (src->auth) {
	case PL_AUTH_URL:
		return 0;
	case PL_AUTH_SHARED_KEY:
		r = blob_account_key_load(src->account_key_file, &c->account_key);
		if (r < 0)
			return diag_set(d, r, "Cannot read the account key from %s: %m%s",
					src->account_key_file,
					r == -EBADMSG ? " (the file must hold the base64 key)" :
							"");
		o->auth = BLOB_AUTH_SHARED_KEY;
		o->account_key = c->account_key;
		return 0;
	case PL_AUTH_TOKEN_FILE:
		c->token_file = src->token_file;
		o->auth = BLOB_AUTH_BEARER;
		o->token_fn = file_token;
		o->token_userdata = c;
		return 0;
	case PL_AUTH_IMDS:
		return imds_setup(src, http, c, o, d);
	}
	return diag_set(d, -EINVAL, "Unknown storage credentials");
}

static const char *open_hint(int r)
{
	switch (r) {
	case -EACCES:
		return " (access denied: a private container needs credentials - a SAS in the URL, "
		       "an account key, a token, or a managed identity with a Storage Blob Data "
		       "role)";
	case -ENOENT:
		return " (no such blob or container: check the account, container and blob name)";
	case -EBUSY:
		return " (another writer holds the blob's lease: it is open read-write elsewhere)";
	case -EMEDIUMTYPE:
		return " (read-write needs a page blob: upload it with `image upload --page`)";
	case -ESTALE:
		return " (the blob changed while it was being opened)";
	case -EOPNOTSUPP:
		return " (--verify-md5 needs an Azure Blob source: a plain HTTP server sends no MD5)";
	case -EFBIG:
		return " (the size the server claims is larger than any image can be)";
	case -EROFS:
		return " (a plain HTTP(S) source is read-only)";
	case -EINVAL:
		return " (not a usable URL: https://ACCOUNT.blob.core.windows.net/CONTAINER/BLOB, "
		       "or http://127.0.0.1:PORT/ACCOUNT/CONTAINER/BLOB for the emulator)";
	default:
		return "";
	}
}

/* After a failed request with IMDS tokens: what the token service said. */
void pl_auth_explain(struct pl_auth_ctx *c, struct diag *d)
{
	_cleanup_free_ char *why = NULL;

	if (d)
		pl_http_why(d, d->err);
	if (!c || !c->imds)
		return;
	why = imds_client_last_error(c->imds);
	diag_append(d,
		    "storage tokens come from the managed identity (resource %s)%s%s: check that "
		    "the identity exists and has a Storage Blob Data role",
		    c->resource, why ? ", the token service says: " : "", why ? why : "");
}

int pl_blob_options(const struct pl_source *src, struct http_client *http, struct blob_options *o,
		    struct pl_auth_ctx **ret_ctx, struct diag *d)
{
	struct pl_auth_ctx *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return diag_set(d, -ENOMEM, "Out of memory");
	*o = (struct blob_options){
		.url = src->url,
		.http = http,
		.ca_file = src->ca_file,
		.rw = src->rw,
		.verify_md5 = src->verify_md5,
		.diag = d,
	};
	r = auth_setup(src, http, c, o, d);
	if (r < 0) {
		pl_auth_free(c);
		return r;
	}
	*ret_ctx = c;
	return 0;
}

static int open_blob(const struct pl_source *src, struct http_client *http, struct pl_stack *s,
		     struct diag *d)
{
	struct blob_options o;
	int r;

	r = pl_blob_options(src, http, &o, &s->auth, d);
	if (r < 0)
		return r;
	r = blob_open(&o, &s->top);
	if (r < 0) {
		if (diag_is_set(d)) /* the blob layer said what the service answered */
			diag_prefix(d, "Cannot open " URL_FMT, URL_ARG(src->url));
		else
			diag_set(d, r, "Cannot open " URL_FMT ": %m%s", URL_ARG(src->url),
				 open_hint(r));
		pl_auth_explain(s->auth, d);
		return r;
	}
	s->blob = s->top;
	return 0;
}

/* "acct.blob.core.windows.net/c/b": a relative path whose first component has a dot. */
static bool looks_like_host(const char *path)
{
	size_t n = strcspn(path, "/");

	return path[0] != '/' && path[0] != '.' && memchr(path, '.', n);
}

static int open_file(const struct pl_source *src, struct pl_stack *s, struct diag *d)
{
	const char *path = strncmp(src->url, FILE_PREFIX, strlen(FILE_PREFIX)) == 0 ?
				   src->url + strlen(FILE_PREFIX) :
				   src->url;
	int r;

	if (!*path)
		return diag_set(d, -EINVAL, "No image file given");
	r = bdev_file_open(path, src->rw, &s->top);
	if (r < 0)
		return diag_set(d, r, "Cannot open the image file %s: %m%s", path,
				r == -ENOENT && looks_like_host(path) ?
					" (if it is a URL: it needs https:// - "
					"https://ACCOUNT.blob.core.windows.net/CONTAINER/BLOB)" :
					"");
	return 0;
}

/* A disk cache of the blob's (encrypted) bytes under the memory cache: read-only blobs. */
static int add_disk_cache(const struct pl_source *src, struct pl_stack *s, struct diag *d)
{
	char etag[DISKCACHE_ETAG_MAX];
	_cleanup_free_ char *key = strndup(src->url, strcspn(src->url, "?"));
	uint64_t mb = src->disk_cache_mb ? src->disk_cache_mb : PL_DISK_CACHE_DEFAULT_MB;
	struct bdev *top;
	int r;

	if (!key)
		return diag_set(d, -ENOMEM, "Out of memory");
	if (!s->blob || src->rw)
		return diag_set(d, -EINVAL, "A disk cache works with read-only blobs only");
	r = blob_get_etag(s->blob, etag, sizeof(etag));
	if (r < 0)
		return diag_set(d, r, "Cannot get the blob's ETag for the disk cache: %m");
	if (mkdir(src->disk_cache_dir, 0700) < 0 && errno != EEXIST)
		return diag_set(d, -errno, "Cannot create %s: %m", src->disk_cache_dir);
	r = diskcache_new(s->top,
			  &(struct diskcache_options){ .dir = src->disk_cache_dir,
						       .key = key,
						       .etag = etag,
						       .max_bytes = mb << 20 },
			  &top);
	s->top = NULL; /* freed by diskcache_new on failure, owned by it on success */
	if (r < 0)
		return diag_set(d, r, "Cannot use the disk cache in %s: %m%s", src->disk_cache_dir,
				r == -EBUSY ? " (another attach or mount is using it)" : "");
	s->top = s->disk = top;
	return 0;
}

static int add_cache(const struct pl_source *src, struct pl_stack *s, struct diag *d)
{
	struct bdev *top;
	int r;

	r = cache_new(s->top, &(struct cache_options){ .mem_max = src->cache_mb << 20 }, &top);
	if (r < 0) {
		s->top = NULL; /* cache_new frees its lower device on failure */
		return diag_set(d, r, "Cannot set up a %llu MiB cache: %m",
				(unsigned long long)src->cache_mb);
	}
	s->top = s->cache = top;
	return 0;
}

int pl_stack_open(const struct pl_source *src, struct http_client *http, struct pl_stack *ret,
		  struct diag *d)
{
	struct pl_stack s = { 0 };
	int r;

	if (!src->url)
		return diag_set(d, -EINVAL, "No image source given");
	r = is_url(src->url) ? open_blob(src, http, &s, d) : open_file(src, &s, d);
	if (r == 0 && src->disk_cache_dir)
		r = add_disk_cache(src, &s, d);
	if (r == 0 && src->cache_mb)
		r = add_cache(src, &s, d);
	if (r < 0) {
		pl_stack_close(&s);
		return r;
	}
	log_debug("pipeline: stack for " URL_FMT " open (%s%s%s)", URL_ARG(src->url),
		  s.blob ? "blob" : "file", s.disk ? " > disk cache" : "",
		  s.cache ? " > cache" : "");
	*ret = s;
	return 0;
}

void pl_stack_close(struct pl_stack *s)
{
	bdev_free(TAKE_PTR(s->top));
	s->blob = s->disk = s->cache = NULL;
	pl_auth_free(TAKE_PTR(s->auth));
}
