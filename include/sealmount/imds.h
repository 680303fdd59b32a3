/* SPDX-License-Identifier: MIT */
/*
 * imds.h - managed-identity access tokens from the Azure Instance Metadata Service (docs/imds.md),
 * or from Entra ID with an AKS workload identity.
 *
 *   GET {endpoint}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=R[&client_id=C]
 *   Metadata: true
 *   -> 200 {"access_token", "expires_on" (Unix seconds, a string), "expires_in", ...}
 *
 * Workload identity (AKS; what the Go sidecar does with AZURE_CLIENT_ID, AZURE_TENANT_ID and
 * AZURE_FEDERATED_TOKEN_FILE, here given as options): the federated token file is read for
 * every fetch (the kubelet rotates it) and exchanged at
 *   POST {authority}/{tenant_id}/oauth2/v2.0/token   (application/x-www-form-urlencoded)
 *   client_id, grant_type=client_credentials, scope={resource}/.default,
 *   client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer,
 *   client_assertion={federated token}
 *   -> 200 {"access_token", "expires_in" (a number), "token_type"}
 * with the same retries and cache as IMDS.
 *
 * Retries: ACI's managed-identity endpoint is not always up when the container starts and
 * transiently answers 500 "Received invalid token" (Microsoft's PR #230). Transport failures and
 * 404, 410, 429 and 5xx answers are retried with exponential backoff (1 s, 2 s, 4 s ... capped
 * at backoff_max_ms) up to `attempts` times; other answers fail at once.
 *
 * Cache: one token per resource. A cached token is handed out until its refresh time, which is
 * refresh_margin_s before expires_on (or half its lifetime for short-lived tokens); then a new
 * one is fetched. A token given in configuration (akv.bearer_token) does not come through here:
 * the caller uses it as is.
 *
 * Tokens are returned in secret memory, NUL-terminated (the NUL is not counted in len). Errors:
 * -EINVAL bad options or resource, or IMDS answered 400 (e.g. unknown client_id; see
 * imds_client_last_error), -EACCES 401/403, -EIO retries exhausted on an error status, transport
 * codes from http.h when the last attempt failed that way, -EBADMSG a 200 answer without a usable
 * token, -ENOMEM.
 *
 * struct imds_client is thread-safe: a mutex guards the cache (and serialises fetches).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "sealmount/http.h"
#include "sealmount/macros.h"
#include "sealmount/secret.h"

#define IMDS_DEFAULT_ENDPOINT "http://169.254.169.254"
#define IMDS_API_VERSION "2018-02-01"
#define IMDS_RESPONSE_MAX (64u * 1024)
#define IMDS_TOKEN_MAX (16u * 1024)
#define IMDS_CACHE_MAX 8
#define IMDS_DEFAULT_ATTEMPTS 6
#define IMDS_DEFAULT_REFRESH_MARGIN_S 300
#define IMDS_DEFAULT_AUTHORITY "https://login.microsoftonline.com"

struct imds_options {
	const char *endpoint; /* NULL = IMDS_DEFAULT_ENDPOINT; "http://127.0.0.1:PORT" for tests */
	const char *client_id; /* user-assigned identity; NULL = the system-assigned one */
	unsigned attempts; /* total attempts per fetch; 0 = IMDS_DEFAULT_ATTEMPTS */
	unsigned backoff_ms; /* first wait; 0 = 1000 */
	unsigned backoff_max_ms; /* cap per wait; 0 = 8000 */
	unsigned refresh_margin_s; /* 0 = IMDS_DEFAULT_REFRESH_MARGIN_S */
	int64_t (*now)(void); /* clock (tests); NULL = time(NULL) */
	/* Workload identity instead of IMDS (needs client_id and tenant_id): */
	const char *federated_token_file;
	const char *tenant_id; /* [0-9A-Za-z.-] */
	const char *authority; /* NULL = IMDS_DEFAULT_AUTHORITY; http only to loopback */
};

struct imds_client;

/* http is borrowed and must outlive the client; opts is copied. -EINVAL (endpoint refused by
 * http.h's policy, client_id with characters outside [0-9A-Za-z-]; for workload identity a
 * missing client_id or tenant_id), -ENOMEM. */
_must_check_ int imds_client_new(struct http_client *http, const struct imds_options *opts,
				 struct imds_client **ret) _nonnull_(1, 3);
void imds_client_free(struct imds_client *c);
DEFINE_CLEANUP_FUNC(struct imds_client, imds_client_free)

/* A token for resource (e.g. "https://managedhsm.azure.net"), from the cache or IMDS. On 0 the
 * caller owns *ret (a copy; secret_free). */
_must_check_ int imds_get_token(struct imds_client *c, const char *resource, struct secret **ret)
	_nonnull_(1, 2, 3);
/* Drop the cached token for resource (after the service refused it with 401). */
void imds_invalidate(struct imds_client *c, const char *resource) _nonnull_(1, 2);
/* "error: description" of the last failed answer, or NULL; a malloc'd copy for the caller. */
char *imds_client_last_error(struct imds_client *c) _nonnull_(1);

/* The token URL (malloc'd). -EINVAL, -ENOMEM. */
_must_check_ int imds_token_url(const char *endpoint, const char *resource, const char *client_id,
				char **ret) _nonnull_(1, 2, 4);
/* Parse a 200 answer: the token (secret, NUL-terminated) and its expiry (expires_on, else now +
 * expires_in). -EBADMSG. */
_must_check_ int imds_token_parse(const void *body, size_t len, int64_t now, struct secret **ret,
				  int64_t *ret_expires_on) _nonnull_(1, 4, 5);

/* ---- Blob Storage tokens (imds_blob.c) ---- */

/* The userdata of imds_blob_token(): the token source (borrowed; thread-safe) and the resource
 * from blob_token_resource() (borrowed). Both must outlive the blob device. */
struct imds_blob_source {
	struct imds_client *imds;
	const char *resource;
};

/*
 * A blob_token_fn (blob.h) over IMDS: userdata is a struct imds_blob_source. Returns the token
 * from the client's cache, which refreshes it refresh_margin_s before it expires (so a
 * long-running mount keeps access, unlike the MS sidecar's AKS path). *ret_token is malloc'd;
 * the caller wipes and frees it. Errors as imds_get_token(); -EINVAL for a NULL source.
 */
_must_check_ int imds_blob_token(void *userdata, char **ret_token);
