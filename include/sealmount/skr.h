/* SPDX-License-Identifier: MIT */
/*
 * skr.h - the "release" box of the pipeline (docs/README.md): bearer token for the vault (given as
 * is, or a managed-identity token from IMDS) -> Managed HSM / Key Vault release, verified
 * (hsm.h) -> unwrap with the ephemeral key the MAA token binds (unwrap.h) -> the 32-byte LUKS
 * passphrase (keyderive.h). One call per key; the attestation (MAA token, ephemeral key) and the
 * skr_auth serve every release of the process while they are valid.
 *
 * Failures are returned as codes (hsm.h's mapping: -EACCES 401, -EPERM 403, -ENOENT 404,
 * -EBADMSG a response that does not verify, ...) plus a struct skr_failure holding what the
 * coordinator needs for one clear error message: the vault's status, error text and request id
 * and, after a 403, the key's release policy evaluated condition by condition against the
 * token's claims (read with GET /keys/{name}; absent when that is not permitted). This module
 * logs at debug level only.
 */
#pragma once

#include <jansson.h>
#include <openssl/evp.h>
#include <stdbool.h>

#include "sealmount/hsm.h"
#include "sealmount/http.h"
#include "sealmount/imds.h"
#include "sealmount/keyderive.h"
#include "sealmount/macros.h"
#include "sealmount/secret.h"
#include "sealmount/unwrap.h"

/* ---- the vault's bearer token ---- */

struct skr_auth; /* thread-safe when backed by IMDS (imds.h); a given token is read-only */

struct skr_auth_options {
	const char *vault; /* decides the IMDS resource: hsm_token_resource() */
	const struct secret *bearer; /* akv.bearer_token, used as is (copied); NULL = IMDS */
	const struct imds_options *imds; /* IMDS settings (NULL = defaults) */
};

/* http is borrowed and must outlive the object. -EINVAL (bad IMDS options), -ENOMEM. */
_must_check_ int skr_auth_new(struct http_client *http, const struct skr_auth_options *o,
			      struct skr_auth **ret) _nonnull_(1, 2, 3);
void skr_auth_free(struct skr_auth *a);
DEFINE_CLEANUP_FUNC(struct skr_auth, skr_auth_free)
/* The token (NUL-terminated secret; caller frees). refresh drops a cached IMDS token first.
 * imds.h's codes. */
_must_check_ int skr_auth_token(struct skr_auth *a, bool refresh, struct secret **ret)
	_nonnull_(1, 3);
/* The IMDS resource asked for, and IMDS's last error text (malloc'd, or NULL). */
const char *skr_auth_resource(const struct skr_auth *a) _nonnull_(1);
char *skr_auth_last_error(struct skr_auth *a) _nonnull_(1);

/* ---- release ---- */

struct skr_release {
	const char *name; /* key name */
	const char *version; /* NULL = current */
	const char *target; /* the validated MAA token */
	const json_t *claims; /* its claims (for explaining a 403); may be NULL */
	EVP_PKEY *runtime_key; /* the ephemeral key bound into the token */
	enum unwrap_enc enc;
	const char *nonce; /* optional */
	struct keyderive_params kd; /* key_derivation.{salt,label} for RSA keys */
};

struct skr_result {
	struct secret *passphrase; /* KEYDERIVE_PASSPHRASE_LEN bytes */
	char *kid; /* the released key's id */
	char *kty;
	enum unwrap_enc enc;
};
void skr_result_done(struct skr_result *r) _nonnull_(1);

struct skr_failure {
	long status; /* 0 when the vault did not answer */
	char *error; /* "code: message" from the vault, or NULL */
	char *request_id; /* x-ms-request-id, or NULL */
	char *explanation; /* after a 403: hsm_policy_explain() text, or NULL */
	const char *step; /* "token", "release", "unwrap" or "derive" */
};
void skr_failure_done(struct skr_failure *f) _nonnull_(1);

/* Get a token, release (one retry with a fresh IMDS token after a 401), verify, unwrap, derive.
 * On 0 the caller owns *ret (skr_result_done); on failure *fail (always reset first) says where
 * and why (skr_failure_done). */
_must_check_ int skr_release_passphrase(struct hsm_client *hc, struct skr_auth *a,
					const struct skr_release *req, struct skr_result *ret,
					struct skr_failure *fail) _nonnull_(1, 2, 3, 4, 5);
