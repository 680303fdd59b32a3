/* SPDX-License-Identifier: MIT */
/*
 * jwk.h - RSA JSON Web Keys (RFC 7517/7518) and JWK sets, as trust material for JWS checks.
 *
 * A struct jwk_set holds the signing keys published by a service we already trust through TLS
 * (MAA's `{endpoint}/certs`). Each usable entry becomes (kid, public EVP_PKEY). Key material is
 * taken from `n`/`e`, or, when those are absent, from the public key of `x5c[0]` (MAA publishes
 * x5c only). When both are present they must agree. The certificate itself is not path-validated
 * here: the set is trusted because of where it was fetched from.
 *
 * Entries that are not for us are skipped (kty other than RSA, `use` other than "sig", an `alg`
 * we do not accept, no kid). A malformed set (bad JSON, duplicate keys or duplicate kids, more
 * than JWK_SET_MAX_KEYS entries, RSA keys outside JWK_RSA_MIN_BITS..JWK_RSA_MAX_BITS, n/e and
 * x5c disagreeing) is refused as a whole with -EBADMSG; a set with no usable key gives -ENOKEY.
 *
 * No global state; all functions are thread-safe on distinct objects, and a jwk_set may be read
 * from many threads once built.
 */
#pragma once

#include <jansson.h>
#include <openssl/evp.h>
#include <stddef.h>

#include "sealmount/macros.h"

#define JWK_SET_MAX_SIZE (256u * 1024)
#define JWK_SET_MAX_KEYS 32
#define JWK_RSA_MIN_BITS 2048
#define JWK_RSA_MAX_BITS 8192

struct jwk_set;

/* Parse a JWK set document. On 0 the caller owns *ret (jwk_set_free). -EBADMSG, -EFBIG (over
 * JWK_SET_MAX_SIZE), -ENOKEY (no usable key), -ENOMEM. */
_must_check_ int jwk_set_parse(const void *data, size_t len, struct jwk_set **ret) _nonnull_(3);
void jwk_set_free(struct jwk_set *s);
DEFINE_CLEANUP_FUNC(struct jwk_set, jwk_set_free)

/* The public key with this kid (borrowed, lives as long as the set), or NULL. */
EVP_PKEY *jwk_set_find(const struct jwk_set *s, const char *kid) _nonnull_(1, 2);

/* Build an RSA public key from a JWK object's `n` and `e` (kty must be "RSA"). The key size must
 * be within JWK_RSA_MIN_BITS..JWK_RSA_MAX_BITS and e odd and > 1. Caller owns *ret
 * (EVP_PKEY_free). -EBADMSG, -ENOMEM. */
_must_check_ int jwk_rsa_from_json(const json_t *jwk, EVP_PKEY **ret) _nonnull_(1, 2);

/* The public JWK members {"e","kty","n"} of an RSA key (n, e base64url without padding, no
 * leading zero bytes). Caller owns *ret (json_decref). -EINVAL (not RSA), -ENOMEM. */
_must_check_ int jwk_rsa_public_json(EVP_PKEY *pkey, json_t **ret) _nonnull_(1, 2);

/* RFC 7638 SHA-256 thumbprint of an RSA key, base64url without padding (43 characters).
 * Caller owns *ret (free). -EINVAL, -ENOMEM. */
_must_check_ int jwk_rsa_thumbprint(EVP_PKEY *pkey, char **ret) _nonnull_(1, 2);
