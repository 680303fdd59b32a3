/* SPDX-License-Identifier: MIT */
/*
 * unwrap.h - unwrapping a key released by Managed HSM / Key Vault (docs/skr.md, Unwrap).
 *
 *   ciphertext = RSA-OAEP(our ephemeral public key, K_aes) || AES-KWP(K_aes, key material)
 *
 * The OAEP hash (and its MGF1 hash) is the one the release's `enc` names, the label is empty;
 * AES key wrap with padding is RFC 5649 (AIV A6 59 59 A6 || 32-bit MLI) with a 128, 192 or
 * 256-bit KEK. Every intermediate and the result live in secret memory (secret.h); OpenSSL's
 * own buffers are cleansed by OpenSSL.
 *
 * Errors: -EBADMSG (the ciphertext does not decrypt or unwrap: wrong key, wrong hash, tampered,
 * bad length), -EINVAL (bad arguments: unknown enc, non-RSA key, KEK size), -ENOMEM, and the
 * errors of secret_new(). Thread-safe; no global state.
 */
#pragma once

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "sealmount/macros.h"
#include "sealmount/secret.h"

/* The `enc` values of a release request (docs/skr.md, Release). */
enum unwrap_enc {
	UNWRAP_ENC_CKM_RSA_AES_KEY_WRAP = 0, /* OAEP SHA-1: Microsoft's sidecar default */
	UNWRAP_ENC_RSA_AES_KEY_WRAP_256, /* OAEP SHA-256: our default */
	UNWRAP_ENC_RSA_AES_KEY_WRAP_384, /* OAEP SHA-384 */
};

/* Name <-> enum ("CKM_RSA_AES_KEY_WRAP", "RSA_AES_KEY_WRAP_256", "RSA_AES_KEY_WRAP_384";
 * exact case). parse: -EINVAL for anything else. */
_must_check_ int unwrap_enc_parse(const char *s, enum unwrap_enc *ret) _nonnull_(1, 2);
const char *unwrap_enc_name(enum unwrap_enc e);
/* The OAEP/MGF1 digest for enc (static, not to be freed); NULL for an invalid value. */
const EVP_MD *unwrap_enc_md(enum unwrap_enc e);

/* RFC 5649 unwrap of in (at least 16 bytes, a multiple of 8) under kek (16, 24 or 32 bytes).
 * The integrity check (AIV, MLI range, zero padding) is done by OpenSSL. -EBADMSG, -EINVAL. */
_must_check_ int unwrap_kwp(const uint8_t *kek, size_t kek_len, const uint8_t *in, size_t len,
			    struct secret **ret) _nonnull_(1, 3, 5);

/* RSA-OAEP decryption of in (exactly the modulus length) with md for both OAEP and MGF1 and an
 * empty label. -EBADMSG, -EINVAL. */
_must_check_ int unwrap_oaep(EVP_PKEY *pkey, const EVP_MD *md, const uint8_t *in, size_t len,
			     struct secret **ret) _nonnull_(1, 2, 3, 5);

/* The whole unwrap of docs/skr.md, Unwrap: split off the modulus-sized OAEP part, recover K_aes
 * (16, 24 or 32 bytes), unwrap the rest. On 0 the caller owns *ret (the raw key bytes for oct keys,
 * PKCS#8 DER for RSA/EC keys). -EBADMSG, -EINVAL. */
_must_check_ int unwrap_release_ciphertext(EVP_PKEY *pkey, enum unwrap_enc enc, const uint8_t *ct,
					   size_t len, struct secret **ret) _nonnull_(1, 3, 5);
