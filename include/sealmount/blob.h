/* SPDX-License-Identifier: MIT */
/*
 * blob.h - the `blob` layer: an Azure Blob Storage blob as a block device, over http.h.
 *
 * URLs: https://<account>.blob.core.windows.net/<container>/<blob>[?<sas>] and the emulator's
 * path style http://127.0.0.1:10000/<account>/<container>/<blob> (plain http only to loopback,
 * as http.h enforces). Requests carry a pinned x-ms-version (BLOB_API_VERSION).
 *
 * Auth: anonymous or a SAS in the URL's query; SharedKey (docs/blob.md, SharedKey) with the account
 * key held in a struct secret, the Authorization header built per request and wiped after it;
 * or a bearer token from a caller-supplied provider called before each request (the provider
 * caches and refreshes; IMDS is one such provider).
 *
 * Reads are ranged GETs with x-ms-range; every range of at most BLOB_RANGE_MD5_MAX asks for
 * x-ms-range-get-content-md5 and the body is checked against it: a mismatch (or a short or
 * mis-ranged body) is retried up to BLOB_VERIFY_RETRIES times and then fails with -EBADMSG,
 * so wrong bytes never go up the stack. Read-only opens send If-Match with the ETag seen at
 * open, so a blob replaced under the mount fails reads with -ESTALE instead of mixing data.
 *
 * Read-write opens need a page blob ("read-write needs a page blob"; -EMEDIUMTYPE otherwise),
 * take a lease (a second read-write open fails with -EBUSY), renew it from a background thread
 * and release it on close. Writes are Put Page, 512-byte aligned, split at BLOB_WRITE_MAX, sent
 * with the lease id. Consistency while writing comes from the lease, not from If-Match (our own
 * writes change the ETag).
 *
 * Errors: -EACCES (403), -ENOENT (404), -EBUSY (lease held by someone else), -EMEDIUMTYPE,
 * -ESTALE (412), -EBADMSG (verification), -EPROTO (unexpected response), -EINVAL (bad URL or
 * options), plus http.h's transport errors. The reason is logged at debug level with the
 * service's x-ms-error-code; callers log once with context.
 *
 * Thread-safety: the device follows bdev.h; blob_get_properties() is reentrant.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "sealmount/bdev.h"
#include "sealmount/http.h"
#include "sealmount/macros.h"
#include "sealmount/secret.h"

#define BLOB_API_VERSION "2021-12-02"
#define BLOB_RANGE_MD5_MAX (4u * 1024 * 1024)
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
	BLOB_TYPE_UNKNOWN = 0,
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
};

struct blob_props {
	uint64_t size;
	enum blob_type type;
	char etag[128];
	char lease_state[32]; /* available, leased, expired, breaking, broken */
	char lease_status[32]; /* locked, unlocked */
};

/* A parsed blob URL. All strings malloc'd and owned by the struct. */
struct blob_url {
	char *base; /* scheme://host[:port] */
	char *account;
	char *path; /* as sent, percent-encoded: "/c/b" or "/devstoreaccount1/c/b" */
	char *query; /* SAS without the '?', or NULL */
	bool path_style; /* the emulator's http(s)://IP-or-localhost[:PORT]/ACCOUNT/C/B */
};

/* Parse and validate url (container and blob name present, no fragment, no userinfo).
 * -EINVAL, -ENOMEM. */
_must_check_ int blob_url_parse(const char *url, struct blob_url *ret) _nonnull_(1, 2);
void blob_url_done(struct blob_url *u) _nonnull_(1);

/*
 * The Entra ID resource (token audience) for a blob URL, as Microsoft's sidecar asks IMDS for it
 * (docs/blob.md): "https://" + the URL's host, e.g. https://acct.blob.core.windows.net (not
 * https://storage.azure.com/); for the emulator's path-style URLs the account's public endpoint
 * "https://ACCOUNT.blob.core.windows.net", the audience Azurite accepts. malloc'd. -EINVAL (not
 * a blob URL - blob_url_parse() - or an account name that is not [a-z0-9]{3,24}), -ENOMEM.
 */
_must_check_ int blob_token_resource(const char *url, char **ret) _nonnull_(1, 2);

/* Get Blob Properties (HEAD). */
_must_check_ int blob_get_properties(const struct blob_options *o, struct blob_props *ret)
	_nonnull_(1, 2);

/* Open the blob as a block device (checks type and size, takes the lease for rw). */
_must_check_ int blob_open(const struct blob_options *o, struct bdev **ret) _nonnull_(1, 2);

const char *blob_type_name(enum blob_type t);

struct blob_stats {
	uint64_t requests; /* HTTP requests made (ranged GETs, Put Page, lease calls) */
	uint64_t retries; /* extra attempts: transport/5xx retries plus re-fetches */
	uint64_t verify_failures; /* range bodies refused (MD5, length or Content-Range) */
	uint64_t bytes_read;
	uint64_t bytes_written;
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
};

struct blob_upload_options {
	const struct blob_options *blob; /* url, auth, http or ca_file; rw and lease ignored */
	enum blob_type type; /* BLOB_TYPE_PAGE or BLOB_TYPE_BLOCK */
	unsigned parallel; /* requests in flight, 1..32; 0 = 4 */
	/* false: the blob must not exist (-EEXIST). true: complete an earlier upload of the same
	 * file: page blobs compare the written pages byte for byte and send what differs; block
	 * blobs skip blocks whose id (index + MD5 of the content) is already listed. */
	bool resume;
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
 * Errors: -EEXIST (exists and !resume, or of another type or size), -EINVAL, the errors of the
 * blob layer (blob.h), or pread's -errno.
 */
_must_check_ int blob_upload_file(const struct blob_upload_options *o, int fd, uint64_t size,
				  struct blob_upload_stats *ret) _nonnull_(1);
