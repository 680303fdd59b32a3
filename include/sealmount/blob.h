/* SPDX-License-Identifier: MIT */
/*
 * blob.h - the `blob` layer: a remote image as a block device, over http.h. The source is an
 * Azure Blob Storage blob or any HTTP(S) server that answers HEAD and byte ranges (nginx serving
 * a file, a CDN, an object store's pre-signed URL). docs/http-source.md has the details.
 *
 * URLs and what they are (blob_url_parse(), decided once, before any request):
 *   - https://ACCOUNT.blob.core.windows.net/C/B[?SAS] (and the other Azure Blob host suffixes,
 *     BLOB_AZURE_SUFFIXES): Azure Blob. The answer must be Blob's (x-ms-blob-type), else -EPROTO.
 *   - an IP literal or localhost with a path of at least /ACCOUNT/C/B (Azurite's path style):
 *     Azure Blob if the Get Blob Properties answer carries x-ms-blob-type, else a plain source.
 *   - any other URL with a path: a plain HTTP(S) range source.
 * Plain http only where http.h's policy allows it (loopback, IMDS). A query string (SAS, a
 * pre-signed URL's signature) is a credential: never logged, wiped when freed.
 *
 * Azure Blob sources: requests carry a pinned x-ms-version (BLOB_API_VERSION); auth is
 * anonymous or a SAS in the query, SharedKey (docs/blob.md, SharedKey; the account key held in a struct
 * secret, the Authorization header built per request and wiped after it), or a bearer token from
 * a caller-supplied provider called before each request (IMDS is one such provider). Read-write
 * opens need a page blob (-EMEDIUMTYPE otherwise), take a lease (a second read-write open fails
 * with -EBUSY), renew it from a background thread and release it on close. Writes are Put Page,
 * 512-byte aligned, split at BLOB_WRITE_MAX, sent with the lease id.
 *
 * Plain sources: read-only (-EROFS for rw), anonymous only (credentials are sent to Azure Blob
 * hosts and loopback only: -EINVAL before any request otherwise, or at open when a loopback server
 * turns out not to be Blob), no x-ms-* header. At open, HEAD gives size (Content-Length), ETag and
 * Last-Modified (a server that refuses HEAD with 403/405/501, as a pre-signed GET URL does, is
 * asked with the probe alone); a one-byte ranged GET (the probe) must answer 206 with
 * Content-Range "bytes 0-0/SIZE" and the same validators, or the source is refused (-EPROTO:
 * "ignores Range"). A source with neither ETag nor Last-Modified is refused (-EPROTO): a
 * change could not be detected.
 *
 * Reads are ranged GETs with the standard Range header (Azure honours it). A read-only open pins
 * the version seen at open: If-Match with a strong ETag (else If-Unmodified-Since with
 * Last-Modified), and the ETag / Last-Modified of every answer must equal the pinned ones, so a
 * source replaced under the mount fails reads with -ESTALE instead of mixing data. Every answer
 * must be 206 with exactly the Content-Range asked for (total included) and exactly that many
 * bytes. With verify_md5 (Azure only; -EOPNOTSUPP elsewhere; forced on for plain-http Azure
 * sources, where nothing else protects the bytes in transit), ranges are at most
 * BLOB_RANGE_MD5_MAX and carry x-ms-range-get-content-md5, and the body must match it. A wrong
 * body is fetched again up to BLOB_VERIFY_RETRIES times and then fails with -EBADMSG, so wrong
 * bytes never go up the stack. Without it ranges go up to BLOB_RANGE_MAX.
 *
 * Pacing: a server that answers 429 or 503, or 500 OperationTimeout (Azure's throttling above its
 * per-blob targets), makes
 * the layer slow down (AIMD, at most one cut a second): it starts at most half as many requests
 * per second as it was starting (evenly spaced; one more per second per second after that, no
 * limit again past 5000/s), and keeps half as many in flight (one more per window of clean
 * answers); the fetch size it asks the cache for
 * (bdev_fetch_hint: the cache's read-ahead requests grow to it) doubles from BLOB_HINT_MIN up to
 * BLOB_HINT_MAX (at most the largest range) and decays after BLOB_HINT_HOLD_S quiet seconds;
 * a read that is still answered "busy" after the HTTP retries is tried again with backoff for up
 * to BLOB_BUSY_MAX_S seconds before -EIO reaches the caller.
 *
 * Sizes (blob_size_check()): what Azure allows for the blob type - a page blob at most
 * BLOB_PAGE_SIZE_MAX (8 TiB) and a multiple of 512, a block blob at most BLOB_BLOCK_SIZE_MAX
 * (50,000 blocks of 4000 MiB, about 190.7 TiB), an append blob at most BLOB_APPEND_SIZE_MAX
 * (50,000 blocks of 4 MiB, about 195 GiB) - and for any other source BLOB_SIZE_MAX, which is
 * below INT64_MAX (off_t) and BDEV_SIZE_MAX. A size over its cap (also a Content-Range total
 * over BLOB_SIZE_MAX) is -EFBIG, a page blob of an odd size -EPROTO, both before any read.
 *
 * Errors: -EACCES (401/403), -ENOENT (404), -EBUSY (lease held by someone else), -EMEDIUMTYPE,
 * -EROFS, -ESTALE (412 or changed validators), -EBADMSG (verification), -EPROTO (unexpected
 * response), -EFBIG, -EOPNOTSUPP, -EINVAL (bad URL or options), plus http.h's transport errors.
 * The reason is logged at debug level with the service's x-ms-error-code; callers log once.
 *
 * Thread-safety: the device follows bdev.h; blob_get_properties() is reentrant.
 */
#pragma once

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>

#include "sealmount/bdev.h"
#include "sealmount/diag.h"
#include "sealmount/http.h"
#include "sealmount/macros.h"
#include "sealmount/secret.h"

#define BLOB_API_VERSION "2021-12-02"
#define BLOB_RANGE_MD5_MAX (4u * 1024 * 1024) /* Azure computes a range MD5 up to 4 MiB */
#define BLOB_RANGE_MAX (64u * 1024 * 1024)
#define BLOB_SIZE_MAX (1ull << 50) /* 1 PiB: above Azure's largest blob (190.7 TiB) */
#define BLOB_PAGE_SIZE_MAX (8ull << 40) /* 8 TiB */
#define BLOB_BLOCK_SIZE_MAX (50000ull * 4000 * 1024 * 1024) /* ~190.7 TiB */
#define BLOB_APPEND_SIZE_MAX (50000ull * 4 * 1024 * 1024) /* ~195.3 GiB */
static_assert(BLOB_SIZE_MAX <= INT64_MAX && BLOB_SIZE_MAX <= BDEV_SIZE_MAX, "blob size cap");
static_assert(BLOB_BLOCK_SIZE_MAX <= BLOB_SIZE_MAX && BLOB_PAGE_SIZE_MAX <= BLOB_SIZE_MAX,
	      "Azure's caps are below the general one");
#define BLOB_HINT_MIN (8u * 1024 * 1024) /* 2 x the cache's default read-ahead request */
#define BLOB_HINT_MAX (16u * 1024 * 1024)
#define BLOB_HINT_HOLD_S 30u
#define BLOB_BUSY_MAX_S 120u
#define BLOB_INFLIGHT_MAX 64u
/* Host suffixes of Azure Blob endpoints: public, US Government and China clouds, and the DNS
 * zone endpoints (ACCOUNT.zNN.blob.storage.azure.net). */
#define BLOB_AZURE_SUFFIXES                                                                        \
	".blob.core.windows.net", ".blob.core.usgovcloudapi.net", ".blob.core.chinacloudapi.cn",   \
		".blob.storage.azure.net"
#define BLOB_WRITE_MAX (4u * 1024 * 1024)
#define BLOB_PAGE 512u
#define BLOB_VERIFY_RETRIES 3
#define BLOB_LEASE_DEFAULT_S 60u

enum blob_auth {
	BLOB_AUTH_ANONYMOUS = 0, /* public container, or a SAS in the URL */
	BLOB_AUTH_SHARED_KEY,
	BLOB_AUTH_BEARER,
};

enum blob_type {
	BLOB_TYPE_UNKNOWN = 0, /* also: a plain HTTP source */
	BLOB_TYPE_BLOCK,
	BLOB_TYPE_PAGE,
	BLOB_TYPE_APPEND,
};

/* Returns a bearer token (malloc'd, NUL-terminated; the caller wipes and frees it) or -errno.
 * Called from any thread; must be thread-safe. */
typedef int (*blob_token_fn)(void *userdata, char **ret_token);

struct blob_options {
	const char *url;
	enum blob_auth auth;
	const struct secret *account_key; /* SHARED_KEY: the decoded key; copied at open */
	blob_token_fn token_fn; /* BEARER */
	void *token_userdata;
	struct http_client *http; /* shared client (not owned); NULL = make our own */
	unsigned http_retries; /* for our own client; 0 = 4 */
	const char *ca_file; /* for our own client: extra CA bundle (tests, private CAs) */
	bool rw;
	unsigned lease_seconds; /* 15..60; 0 = BLOB_LEASE_DEFAULT_S */
	/* Check every range against the MD5 the Blob service computes for it (Azure sources only;
	 * always on for plain-http Azure sources). Off by default: TLS authenticates the transport
	 * and dm-integrity / dm-verity the content, while the service computes the MD5 on the fly
	 * and so never catches a storage-side fault. */
	bool verify_md5;
	/* Optional: blob_open(), blob_get_properties() and blob_upload_file() describe a failure
	 * here - the service's status and x-ms-error-code ("HTTP 404 ContainerNotFound", the code
	 * also as diag.code), the host that did not resolve, what a blob URL looks like - for the
	 * caller to log once. Not touched after they return. */
	struct diag *diag;
};

struct blob_props {
	uint64_t size;
	enum blob_type type;
	bool azure; /* the answer came from the Blob service (x-ms-blob-type) */
	char etag[128];
	char last_modified[64];
	char lease_state[32]; /* available, leased, expired, breaking, broken */
	char lease_status[32]; /* locked, unlocked */
};

enum blob_url_kind {
	BLOB_URL_AZURE = 0, /* an Azure Blob host (BLOB_AZURE_SUFFIXES) with /C/B */
	BLOB_URL_PATH_STYLE, /* IP literal or localhost with /ACCOUNT/C/B: Blob or a plain server */
	BLOB_URL_HTTP, /* anything else: a plain range source */
};

/* A parsed source URL. All strings malloc'd and owned by the struct. */
struct blob_url {
	enum blob_url_kind kind;
	char *base; /* scheme://host[:port] */
	char *account; /* NULL for BLOB_URL_HTTP */
	char *path; /* as sent, percent-encoded: "/c/b" or "/devstoreaccount1/c/b" */
	char *query; /* SAS or signature, without the '?'; or NULL */
	bool plain; /* http://, not https:// */
};

/* Parse and validate url (http(s), a path, no fragment, no userinfo; an Azure host needs a
 * container and a blob name). -EINVAL, -ENOMEM. */
_must_check_ int blob_url_parse(const char *url, struct blob_url *ret) _nonnull_(1, 2);
void blob_url_done(struct blob_url *u) _nonnull_(1);

/*
 * The Entra ID resource (token audience) for a blob URL, as Microsoft's sidecar asks IMDS for it
 * (docs/blob.md): "https://" + the URL's host, e.g. https://acct.blob.core.windows.net (not
 * https://storage.azure.com/); for the emulator's path-style URLs the account's public endpoint
 * "https://ACCOUNT.blob.core.windows.net", the audience Azurite accepts. malloc'd. -EINVAL (not
 * a blob URL - blob_url_parse() -, a plain HTTP source, which gets no credentials, or an account
 * name that is not [a-z0-9]{3,24}), -ENOMEM.
 */
_must_check_ int blob_token_resource(const char *url, char **ret) _nonnull_(1, 2);

/* Get Blob Properties (HEAD). */
_must_check_ int blob_get_properties(const struct blob_options *o, struct blob_props *ret)
	_nonnull_(1, 2);

/* Open the source as a block device (checks type and size, probes a plain source's range
 * support, takes the lease for rw). */
_must_check_ int blob_open(const struct blob_options *o, struct bdev **ret) _nonnull_(1, 2);

const char *blob_type_name(enum blob_type t);

/* The largest size a source may claim: the type's cap for Azure (azure: the answer carried
 * x-ms-blob-type), BLOB_SIZE_MAX for an unknown type or a plain source. */
uint64_t blob_size_cap(enum blob_type t, bool azure);
/* size against blob_size_cap(); a page blob's size must also be a multiple of 512. 0, -EFBIG,
 * -EPROTO. */
_must_check_ int blob_size_check(uint64_t size, enum blob_type t, bool azure);

struct blob_stats {
	uint64_t requests; /* HTTP requests made (ranged GETs, Put Page, lease calls) */
	uint64_t retries; /* extra attempts: transport/5xx retries plus re-fetches */
	uint64_t verify_failures; /* range bodies refused (MD5, length or Content-Range) */
	uint64_t bytes_read;
	uint64_t bytes_written;
	uint64_t busy; /* answers 429/500/503 (throttling), retried ones included */
	uint64_t inflight_limit; /* requests allowed in flight right now (pacing) */
	uint64_t rate_limit; /* requests per second allowed right now (0: no limit) */
	uint64_t fetch_hint; /* fetch size asked of the layer above right now (0: its own) */
};

/* Counters of an open blob device. -EINVAL if b is not a blob device. */
_must_check_ int blob_get_stats(struct bdev *b, struct blob_stats *ret) _nonnull_(1, 2);
/* The ETag seen at open (the version every read-only read is pinned to with If-Match), copied
 * into out. -EINVAL if b is not a blob device, -ENOBUFS if n is too small. */
_must_check_ int blob_get_etag(struct bdev *b, char *out, size_t n) _nonnull_(1, 2);

/* ---- SharedKey (blob_auth.c) ---- */

/*
 * The SharedKey string-to-sign (docs/blob.md, SharedKey) for a request: verb, the request's header
 * lines ("Name: value", NULL-terminated; standard headers and every x-ms-* header), the account,
 * the path as sent and the query (without '?', may be NULL). *ret is malloc'd. -EINVAL, -ENOMEM.
 */
_must_check_ int blob_sharedkey_string_to_sign(const char *verb, const char *const *headers,
					       const char *account, const char *path,
					       const char *query, char **ret) _nonnull_(1, 3, 4, 6);
/* "SharedKey <account>:<base64 HMAC-SHA256(key, sts)>", malloc'd; the caller wipes and frees
 * it (wipe() then free()). -ENOMEM, -EIO (OpenSSL failure). */
_must_check_ int blob_sharedkey_authorization(const struct secret *key, const char *account,
					      const char *sts, char **ret) _nonnull_(1, 2, 3, 4);
/* Read a base64 account key from a file (surrounding whitespace ignored) into a secret.
 * -errno from open/read, -EBADMSG (not base64), -ENODATA (empty), -EFBIG (file over 4 KiB). */
_must_check_ int blob_account_key_load(const char *path, struct secret **ret) _nonnull_(1, 2);

/* ---- Upload (blob_upload.c) ---- */

struct blob_upload_stats {
	uint64_t chunks_sent;
	uint64_t chunks_skipped; /* zero on a fresh page blob, or already there (resume) */
	uint64_t bytes_sent;
	bool container_created; /* create_container made the container */
	bool replaced; /* overwrite deleted an existing blob first */
};

struct blob_upload_options {
	const struct blob_options *blob; /* url, auth, http or ca_file; rw and lease ignored */
	enum blob_type type; /* BLOB_TYPE_PAGE or BLOB_TYPE_BLOCK */
	unsigned parallel; /* requests in flight, 1..32; 0 = 4 */
	/* false: the blob must not exist (-EEXIST). true: complete an earlier upload of the same
	 * file: page blobs compare the written pages byte for byte and send what differs; block
	 * blobs skip blocks whose id (index + MD5 of the content) is already listed. */
	bool resume;
	/* An existing blob (of any type or size) is deleted, with its snapshots, and uploaded
	 * anew; not with resume. A blob under a lease cannot be deleted: -EBUSY. */
	bool overwrite;
	/* A missing container is created (private; Create Container), as the account key may. */
	bool create_container;
	/* Called after each 4 MiB chunk (sent or skipped), from any upload thread, one at a
	 * time. */
	void (*progress)(void *userdata, uint64_t done, uint64_t total);
	void *userdata;
};

/*
 * Upload size bytes read from fd (pread; the offset is not moved) to o->blob->url. A page blob
 * is created with the file's size (a multiple of 512) and written with Put Page in 4 MiB
 * chunks, all-zero chunks skipped on a fresh blob; a block blob is written with Put Block
 * (4 MiB blocks, more for files over 50000 blocks) and committed with Put Block List. Every
 * chunk carries Content-MD5. ret (may be NULL) gets the counters also on failure.
 * Errors: -EEXIST (exists and neither resume nor overwrite, or with resume of another type or
 * size), -EINVAL (also: a URL that is not an Azure Blob one, resume with overwrite), the errors
 * of the blob layer (blob.h; detail in blob->diag), or pread's -errno.
 */
_must_check_ int blob_upload_file(const struct blob_upload_options *o, int fd, uint64_t size,
				  struct blob_upload_stats *ret) _nonnull_(1);
