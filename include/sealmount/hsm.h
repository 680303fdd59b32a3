/* SPDX-License-Identifier: MIT */
/*
 * hsm.h - Azure Key Vault / Managed HSM: Secure Key Release with a verified response, key import
 * with a release policy, and release policies themselves (docs/skr.md).
 *
 * Release: POST {vault}/keys/{name}[/{version}]/release?api-version=7.4
 *          {"target": <MAA token>, "enc": "RSA_AES_KEY_WRAP_256"[, "nonce": ...]}
 *          -> 200 {"value": <compact JWS>}
 * The JWS is accepted only when it is RS256-signed by the leaf of its x5c chain, the chain
 * verifies against the trust store (system roots plus an optional extra CA file) and the leaf
 * names the vault host. Only then is the payload read, and it is validated completely
 * (hsm_response_validate) before its ciphertext goes to unwrap.h.
 *
 * Vault endpoints are a host name (https implied) or a URL "scheme://host[:port]" without path,
 * query, user information or fragment; plain http is left to http.h's policy (loopback only).
 *
 * Errors of the client calls (the Key Vault error JSON's "code: message" is kept, see
 * hsm_client_last_error): 401 -> -EACCES (bearer token or identity refused), 403 -> -EPERM
 * (release policy not satisfied, or no permission), 404 -> -ENOENT (no such key or version),
 * 400 -> -EINVAL, 429/5xx -> retried by http.h, then -EIO; other statuses -EPROTO; transport
 * errors as in http.h; response verification -EBADMSG (and jws.h codes), -EFBIG over
 * HSM_RESPONSE_MAX. Modules log at debug level only.
 *
 * A struct hsm_client is not thread-safe (it remembers the last error); use one per thread.
 */
#pragma once

#include <jansson.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sealmount/buf.h"
#include "sealmount/http.h"
#include "sealmount/macros.h"
#include "sealmount/unwrap.h"

#define HSM_RESPONSE_MAX (512u * 1024)
#define HSM_API_VERSION "7.4"
#define HSM_NAME_MAX 127 /* key names: 1-127 of [0-9a-zA-Z-] */
#define HSM_RESOURCE_MHSM "https://managedhsm.azure.net"
#define HSM_RESOURCE_VAULT "https://vault.azure.net"

/* ---- endpoints ---- */

/* Normalise a vault endpoint to "scheme://host[:port]" (*ret_base) and its host name
 * (*ret_host, for the certificate check; IPv6 brackets removed). Both malloc'd. -EINVAL. */
_must_check_ int hsm_vault_parse(const char *endpoint, char **ret_base, char **ret_host)
	_nonnull_(1, 2, 3);
/* The IMDS resource for a vault: HSM_RESOURCE_MHSM when the endpoint contains "managedhsm"
 * (as Microsoft's sidecar decides), else HSM_RESOURCE_VAULT. Static string. */
const char *hsm_token_resource(const char *endpoint) _nonnull_(1);
/* Key names are 1..HSM_NAME_MAX of [0-9A-Za-z-]; versions 32 hex digits. */
bool hsm_is_valid_name(const char *name) _nonnull_(1);
bool hsm_is_valid_version(const char *version) _nonnull_(1);

/* ---- release request and response ---- */

struct hsm_release_request {
	const char *name; /* key name */
	const char *version; /* NULL = current version */
	const char *target; /* the MAA token */
	enum unwrap_enc enc;
	const char *nonce; /* optional */
};

/* {base}/keys/{name}[/{version}]/release?api-version=7.4 (malloc'd). -EINVAL (bad name or
 * version). */
_must_check_ int hsm_release_url(const char *base, const char *name, const char *version,
				 char **ret) _nonnull_(1, 2, 4);
/* The JSON body (malloc'd, NUL-terminated). -EINVAL, -ENOMEM. */
_must_check_ int hsm_release_body(const struct hsm_release_request *req, char **ret)
	_nonnull_(1, 2);

/* A trust store with the system default roots plus, if ca_file is set, its certificates
 * (PEM). Caller frees with X509_STORE_free. -EINVAL (unreadable or empty ca_file), -ENOMEM. */
_must_check_ int hsm_trust_store_new(const char *ca_file, X509_STORE **ret) _nonnull_(2);

/* Take {"value": JWS} (len bytes), verify the JWS as described above against store and host,
 * and return its payload object (caller owns). -EBADMSG, jws.h codes, -EFBIG. */
_must_check_ int hsm_response_verify(const void *body, size_t len, X509_STORE *store,
				     const char *host, json_t **ret_payload) _nonnull_(1, 3, 4, 5);

/* What a validated release payload holds. Strings and ciphertext are owned (hsm_released_done).
 */
struct hsm_released {
	enum unwrap_enc enc; /* request.enc as echoed (the hash for OAEP) */
	char *kid; /* response.key.key.kid */
	char *kty; /* response.key.key.kty, e.g. "oct-HSM", "RSA-HSM" */
	uint8_t *ciphertext; /* KEY_HSM ciphertext, decoded */
	size_t ciphertext_len;
};
void hsm_released_done(struct hsm_released *r) _nonnull_(1);

/* Validate a verified payload, one small rule each: request.enc a known value (and equal to
 * sent_enc), response.key.key.{kid,kty} strings, key_hsm base64url of a JSON object whose
 * ciphertext is base64url of at most HSM_RESPONSE_MAX bytes. -EBADMSG. */
_must_check_ int hsm_response_validate(const json_t *payload, enum unwrap_enc sent_enc,
				       struct hsm_released *ret) _nonnull_(1, 3);

/* ---- client ---- */

struct hsm_client;

struct hsm_client_options {
	const char *ca_file; /* extra trust roots for the release JWS chain (and TLS via http) */
	const char *api_version; /* NULL = HSM_API_VERSION */
};

/* http is borrowed and must outlive the client. -EINVAL (bad endpoint), hsm_trust_store_new
 * errors. */
_must_check_ int hsm_client_new(struct http_client *http, const char *endpoint,
				const struct hsm_client_options *opts, struct hsm_client **ret)
	_nonnull_(1, 2, 4);
void hsm_client_free(struct hsm_client *c);
DEFINE_CLEANUP_FUNC(struct hsm_client, hsm_client_free)
const char *hsm_client_base(const struct hsm_client *c) _nonnull_(1);

/* Release: POST, verify, validate. bearer is the access token (without "Bearer "); it is put
 * into a header for this request only and our copy is wiped. On 0 the caller owns *ret. */
_must_check_ int hsm_client_release(struct hsm_client *c, const struct hsm_release_request *req,
				    const char *bearer, struct hsm_released *ret)
	_nonnull_(1, 2, 3, 4);
/* GET {base}/keys/{name}: the KeyBundle (caller owns). */
_must_check_ int hsm_client_get_key(struct hsm_client *c, const char *name, const char *bearer,
				    json_t **ret) _nonnull_(1, 2, 3, 4);
/* PUT {base}/keys/{name} with an import body (hsm_import_body); the KeyBundle (caller owns). */
_must_check_ int hsm_client_import(struct hsm_client *c, const char *name, const struct buf *body,
				   const char *bearer, json_t **ret) _nonnull_(1, 2, 3, 4, 5);
/* HTTP status, "code: message" of the last error body (or NULL), and x-ms-request-id (or
 * NULL) of the last response. Borrowed until the next call. */
long hsm_client_last_status(const struct hsm_client *c) _nonnull_(1);
const char *hsm_client_last_error(const struct hsm_client *c) _nonnull_(1);
const char *hsm_client_last_request_id(const struct hsm_client *c) _nonnull_(1);

/* Parse a Key Vault error body {"error":{"code","message"}} into "code: message" (malloc'd).
 * -EBADMSG when the body is not of that form. */
_must_check_ int hsm_error_parse(const void *body, size_t len, char **ret) _nonnull_(1, 3);

/* ---- release policies (docs/skr.md, Release policy) ---- */

struct hsm_claim {
	const char *claim;
	const char *equals;
};

/* {"version":"1.0.0","anyOf":[{"authority": authority,"allOf":[{claim, equals}...]}]}
 * (caller owns). -EINVAL (no claims, empty names). */
_must_check_ int hsm_policy_build(const char *authority, const struct hsm_claim *claims, size_t n,
				  json_t **ret) _nonnull_(1, 2, 4);

/* Decode a KeyBundle's release_policy.data (base64url or base64) into the policy object.
 * -EBADMSG, -ENOENT (no release policy). */
_must_check_ int hsm_policy_from_bundle(const json_t *bundle, json_t **ret) _nonnull_(1, 2);

/* Evaluate policy against verified token claims the way the service does (authority == iss,
 * trailing slash ignored; anyOf/allOf; equals/notEquals/exists, both condition forms; values
 * compared as strings, booleans case-insensitively) and write a readable account of every
 * condition, marking each that fails, into out (text lines). Returns 1 when the policy is
 * satisfied, 0 when not, -EBADMSG for a policy we cannot read, -EFBIG/-ENOMEM from out. */
_must_check_ int hsm_policy_explain(const json_t *policy, const json_t *claims, struct buf *out)
	_nonnull_(1, 2, 3);

/* ---- import ---- */

enum hsm_import_kty {
	HSM_IMPORT_OCT_HSM = 0,
	HSM_IMPORT_RSA_HSM,
};

/* The PUT body for an exportable HSM key with the given policy (what Microsoft's importkey
 * sends):
 *   {"key": JWK (oct-HSM: k, key_size 256; RSA-HSM: n,e,d,p,q,dp,dq,qi), "hsm": true,
 *    "attributes": {"enabled": true, "exportable": true},
 *    "release_policy": {"contentType", "data": base64url(policy), "immutable": false}}
 * key: for oct the raw 32 bytes; for RSA a private RSA key of at most 4096 bits. The body holds
 * key material: out must be empty, initialised with a cap of at least 16 KiB (all its room is
 * allocated before the key goes in, so no realloc leaves a copy behind) and released with
 * buf_done_wipe(). -EINVAL, -EFBIG, -ENOMEM. */
_must_check_ int hsm_import_body_oct(const struct secret *key, const json_t *policy,
				     struct buf *out) _nonnull_(1, 2, 3);
_must_check_ int hsm_import_body_rsa(EVP_PKEY *key, const json_t *policy, struct buf *out)
	_nonnull_(1, 2, 3);
