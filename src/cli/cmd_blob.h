/* SPDX-License-Identifier: MIT */
/*
 * cmd_blob.h - shared by cmd_blob.c (stat, attach) and cmd_blob_auth.c (the storage
 * credentials: account key, token file, or IMDS managed identity).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "sealmount/blob.h"
#include "sealmount/imds.h"

struct blob_args {
	const char *url;
	const char *dir;
	const char *key_file;
	const char *token_file;
	const char *ca_file;
	bool imds; /* --imds given */
	const char *imds_endpoint; /* NULL = IMDS_DEFAULT_ENDPOINT */
	const char *client_id;
	const char *disk_cache_dir;
	uint64_t disk_cache_mb;
	uint64_t cache_mb;
	bool rw;
	bool allow_other;
	bool verify_md5; /* --verify-md5 (blob attach) */
};

/* What the blob options point at; lives as long as the blob device. */
struct blob_auth_ctx {
	struct secret *key;
	struct http_client *imds_http;
	struct imds_client *imds;
	char *resource;
	struct imds_blob_source src;
};

/* Fill o for a (auth and url; the caller sets the rest). Logs its errors. */
_must_check_ int blob_auth_setup(const struct blob_args *a, struct blob_options *o,
				 struct blob_auth_ctx *ctx) _nonnull_(1, 2, 3);
void blob_auth_done(struct blob_auth_ctx *ctx) _nonnull_(1);
/* After a failed request: log what the token service said, if it was involved. */
void blob_auth_explain(struct blob_auth_ctx *ctx) _nonnull_(1);
