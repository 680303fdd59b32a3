/* SPDX-License-Identifier: MIT */
/* jose_util.h - test-only helpers to mint keys, certificates and signed tokens (test_jws and
 * test_maa). Everything aborts the test on failure; returned memory is the caller's. */
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>

EVP_PKEY *ju_rsa_key(unsigned bits);
/* A certificate for key, signed by issuer_key (self-signed when issuer is NULL). dns may be NULL.
 * ca marks it as a CA (basicConstraints). */
X509 *ju_cert(EVP_PKEY *key, const char *cn, const char *dns, X509 *issuer, EVP_PKEY *issuer_key,
	      bool ca);
/* Std-base64 DER of a certificate (for x5c). */
char *ju_cert_b64(X509 *cert);
/* base64url(header) "." base64url(payload) "." base64url(RS256 signature by key). */
char *ju_sign_rs256(EVP_PKEY *key, const char *header_json, const char *payload_json);
/* Same form with an arbitrary signature (e.g. empty for alg none, HMAC for HS256). */
char *ju_compact(const char *header_json, const char *payload_json, const void *sig,
		 size_t sig_len);
/* {"keys":[{"kid":kid,"kty":"RSA","n":..,"e":..}]} for one key (malloc'd). */
char *ju_jwks_ne(EVP_PKEY *key, const char *kid);
/* {"keys":[{"kid":kid,"kty":"RSA","x5c":[cert]}]} (malloc'd). */
char *ju_jwks_x5c(X509 *cert, const char *kid);
/* PEM of the public key (malloc'd, NUL-terminated) - the classic HS256 confusion secret. */
char *ju_pubkey_pem(EVP_PKEY *key, size_t *ret_len);
