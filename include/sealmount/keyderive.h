/* SPDX-License-Identifier: MIT */
/*
 * keyderive.h - turning a released key into the LUKS passphrase (docs/skr.md, "Passphrase" and
 * "Unwrap"), the way Microsoft's encfs sidecar and importkey do it, so images are interchangeable:
 *
 *   oct / oct-HSM  the released bytes themselves; they must be exactly 32 bytes;
 *   RSA / RSA-HSM  the released PKCS#8 DER private key; passphrase =
 *                  HKDF-SHA256(IKM = d big-endian without leading zero bytes,
 *                              salt = the hex-decoded key_derivation.salt (may be empty),
 *                              info = key_derivation.label, default "Symmetric Encryption Key"),
 *                  32 bytes.
 *
 * All key material stays in secret memory; OpenSSL's copies are cleansed by OpenSSL
 * (BN_clear_free, EVP_PKEY_free). Errors: -EINVAL (bad arguments, unsupported key type),
 * -EBADMSG (released material malformed: not 32 bytes, not PKCS#8 RSA), -ENOMEM, and the errors
 * of secret_new(). Thread-safe; no global state.
 */
#pragma once

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "sealmount/macros.h"
#include "sealmount/secret.h"

#define KEYDERIVE_PASSPHRASE_LEN 32
#define KEYDERIVE_DEFAULT_LABEL "Symmetric Encryption Key"
#define KEYDERIVE_SALT_MAX 1024 /* bytes, after hex decoding */

enum keyderive_kty {
	KEYDERIVE_KTY_OCT = 0, /* "oct", "oct-HSM" */
	KEYDERIVE_KTY_RSA, /* "RSA", "RSA-HSM" */
};

/* "oct", "oct-HSM", "RSA", "RSA-HSM" -> enum. EC keys and anything else: -EOPNOTSUPP. */
_must_check_ int keyderive_kty_parse(const char *kty, enum keyderive_kty *ret) _nonnull_(1, 2);

/* HKDF-SHA256 (RFC 5869) of ikm into out_len (1..255*32) bytes of secret memory. salt may be
 * NULL when salt_len is 0; info may be NULL when info_len is 0. -EINVAL. */
_must_check_ int keyderive_hkdf_sha256(const uint8_t *ikm, size_t ikm_len, const uint8_t *salt,
				       size_t salt_len, const void *info, size_t info_len,
				       size_t out_len, struct secret **ret) _nonnull_(1, 8);

/* The private exponent d of an RSA key, big-endian, minimal length. -EINVAL (not an RSA private
 * key). */
_must_check_ int keyderive_rsa_d(EVP_PKEY *pkey, struct secret **ret) _nonnull_(1, 2);

/* Parse PKCS#8 DER (as released for RSA keys) into a key. -EBADMSG. Caller owns *ret. */
_must_check_ int keyderive_pkcs8_parse(const struct secret *der, EVP_PKEY **ret) _nonnull_(1, 2);

struct keyderive_params {
	const char *salt_hex; /* key_derivation.salt; NULL or "" = empty salt */
	const char *label; /* key_derivation.label; NULL or "" = KEYDERIVE_DEFAULT_LABEL */
};

/* The passphrase for a released key of type kty (see the table above). -EBADMSG for a salt
 * that is not hex or longer than KEYDERIVE_SALT_MAX bytes. On 0 the caller owns *ret
 * (KEYDERIVE_PASSPHRASE_LEN bytes). */
_must_check_ int keyderive_passphrase(enum keyderive_kty kty, const struct secret *material,
				      const struct keyderive_params *p, struct secret **ret)
	_nonnull_(2, 3, 4);

/* The same derivation from an RSA key the caller holds (import: the key it is about to upload).
 */
_must_check_ int keyderive_passphrase_rsa(EVP_PKEY *pkey, const struct keyderive_params *p,
					  struct secret **ret) _nonnull_(1, 2, 3);
