/* SPDX-License-Identifier: MIT */
/*
 * jws.h - compact JSON Web Signatures (RFC 7515) and JWT claim checks (RFC 7519), for the MAA
 * token and the Managed HSM key-release response.
 *
 * Parsing is strict and verification is separate from it:
 *   - a compact JWS is exactly three non-empty base64url parts without padding, at most
 *     JWS_MAX_SIZE bytes, with a header of at most JWS_HEADER_MAX bytes that is a JSON object
 *     without duplicate keys;
 *   - `alg` must be one we accept (RS256 only). `none`, HS*, ES*, PS* and anything unknown are
 *     refused at parse time with -EOPNOTSUPP, so no key can ever be used with the wrong
 *     algorithm (no "public key as HMAC secret" confusion);
 *   - `crit` and `b64` are refused (we implement no extensions);
 *   - `jku`, `jwk` and `x5u` are never used for anything. `x5c` is used only by
 *     jws_verify_x5c(), which the caller must choose explicitly and which validates the chain
 *     against the caller's X509_STORE and host name.
 *
 * Error codes: -EBADMSG malformed or failed verification, -EOPNOTSUPP algorithm or extension
 * refused, -EFBIG size cap, -ENOKEY no key with the token's kid, -EKEYEXPIRED outside the
 * exp/nbf/iat window, -ENOMEM. Details go to the debug log only.
 *
 * No global state; thread-safe on distinct objects.
 */
#pragma once

#include <jansson.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sealmount/jwk.h"
#include "sealmount/macros.h"

#define JWS_MAX_SIZE (256u * 1024)
#define JWS_HEADER_MAX (32u * 1024)
#define JWS_X5C_MAX 8

enum jws_alg {
	JWS_ALG_RS256 = 1,
};

struct jws {
	json_t *header; /* protected header (object); owned */
	uint8_t *payload; /* decoded payload, NUL-terminated (not counted) */
	size_t payload_len;
	uint8_t *sig;
	size_t sig_len;
	char *signing_input; /* "b64(header).b64(payload)" exactly as received */
	size_t signing_input_len;
	enum jws_alg alg;
	const char *kid; /* borrowed from header; NULL if absent */
};

/* Parse a compact JWS (len bytes, need not be NUL-terminated). Does NOT verify anything but the
 * form and the algorithm. On 0 the caller owns *ret (jws_free). */
_must_check_ int jws_parse(const char *compact, size_t len, struct jws **ret) _nonnull_(3);
void jws_free(struct jws *j);
DEFINE_CLEANUP_FUNC(struct jws, jws_free)

/* The payload as a JSON object (strict: no duplicates, depth-capped). Caller owns *ret. */
_must_check_ int jws_payload_json(const struct jws *j, json_t **ret) _nonnull_(1, 2);

/* Verify with the key of the set whose kid equals the header's kid. The header must carry a kid;
 * -ENOKEY when none matches, -EBADMSG on a bad signature. */
_must_check_ int jws_verify_jwks(const struct jws *j, const struct jwk_set *keys) _nonnull_(1, 2);

/* Verify with the leaf certificate of the header's x5c chain, after validating that chain
 * (x5c[1..] as untrusted intermediates) against store, with the leaf's DNS name matching host
 * (no partial wildcards). If the header has x5t#S256 it must match the leaf. Explicit opt-in:
 * only call this where the protocol says the signer is identified by a certificate (Managed HSM
 * release). Optionally returns the leaf (caller frees with X509_free). -EBADMSG. */
_must_check_ int jws_verify_x5c(const struct jws *j, X509_STORE *store, const char *host,
				X509 **ret_leaf) _nonnull_(1, 2, 3);

/* Verify with one given public key (RSA). -EBADMSG. */
_must_check_ int jws_verify_pkey(const struct jws *j, EVP_PKEY *pkey) _nonnull_(1, 2);

/* JWT time claims against now (seconds since the epoch) with skew seconds of tolerance: exp
 * (required when require_exp), nbf and iat (optional) must be integers; now must not be past
 * exp + skew, nor before nbf - skew, and iat must not be after now + skew. -EKEYEXPIRED outside
 * the window, -EBADMSG for a missing exp or a wrong type. */
_must_check_ int jwt_check_time(const json_t *claims, int64_t now, unsigned skew, bool require_exp)
	_nonnull_(1);

/* The iss claim must be a string equal to iss. -EBADMSG. */
_must_check_ int jwt_check_issuer(const json_t *claims, const char *iss) _nonnull_(1, 2);
