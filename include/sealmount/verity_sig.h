/* SPDX-License-Identifier: MIT */
/*
 * verity_sig.h - publisher-signed seals (docs/verity.md "Signature block"): a 4096-byte block
 * appended after the hash tree of a sealed image (verity.h) that binds, under the publisher's
 * RSA key (RSA-PSS, SHA-256, MGF1-SHA-256, 32-byte salt; 2048..8192 bits), the statement
 * (root hash, seal version, data size D, sealed size). A reader that trusts the publisher key and
 * a minimum version takes the root hash from a block that verifies, instead of from its
 * configuration, so a publisher can ship new data without changing a measured policy, and an
 * older seal (lower version) is refused. verity_locate() finds the block (it is the last block of
 * the file and starts with VERITY_SIG_MAGIC); dm-verity and veritysetup ignore it.
 *
 * Block layout, little-endian:
 *   0   8  magic "sealsig\0"            40  32  root hash
 *   8   4  format (1)                   72  32  key id: SHA-256 of the public key's DER
 *   12  4  algorithm (1 = RSA-PSS)              SubjectPublicKeyInfo
 *   16  8  seal version                 -- bytes 0..103 are the signed statement --
 *   24  8  data size D                  104  2  signature length L (the key's modulus size)
 *   32  8  sealed size (D + hash area)  106  6  zero;  112 L signature;  then zeros to 4096
 *
 * Errors: -EBADMSG (malformed block, a statement for another layout, or a signature that does
 * not verify), -EKEYREJECTED (signed by another key), -ESTALE (version below the minimum),
 * -ENOKEY (no signature block), -EINVAL (a key that is not RSA 2048..8192, bad arguments),
 * -ENOMEM, or the device's / file's error. Details in the struct diag.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "sealmount/bdev.h"
#include "sealmount/diag.h"
#include "sealmount/macros.h"
#include "sealmount/verity.h"

#define VERITY_SIG_BLOCK_SIZE 4096u
#define VERITY_SIG_MAGIC "sealsig" /* with its NUL: VERITY_SIG_MAGIC_LEN bytes */
#define VERITY_SIG_MAGIC_LEN 8u
#define VERITY_SIG_FORMAT 1u
#define VERITY_SIG_ALG_RSA_PSS_SHA256 1u
#define VERITY_SIG_STATEMENT_SIZE 104u
#define VERITY_SIG_OFFSET 112u
#define VERITY_SIG_MAX 1024u /* RSA-8192 */
#define VERITY_KEY_MAX (64u * 1024) /* PEM or JWK key files */

struct verity_sig {
	uint64_t version;
	uint64_t data_size;
	uint64_t sealed_size;
	uint8_t root_hash[VERITY_DIGEST_SIZE];
	uint8_t key_id[VERITY_DIGEST_SIZE];
	uint16_t sig_len;
	uint8_t sig[VERITY_SIG_MAX];
	uint8_t statement[VERITY_SIG_STATEMENT_SIZE]; /* the signed bytes, as found */
};

/* Parse a signature block strictly (magic, format, algorithm, 256 <= L <= 1024, zeros where the
 * layout says). Nothing is verified here. -EBADMSG (reason in d). */
_must_check_ int verity_sig_parse(const uint8_t *buf, size_t len, struct verity_sig *ret,
				  struct diag *d) _nonnull_(1, 3);

/* ---- keys ---- */

struct verity_pubkey;
/* A publisher public key from text: PEM ("-----BEGIN PUBLIC KEY-----", SubjectPublicKeyInfo) or
 * a JWK object ({"kty":"RSA","n":...,"e":...}). RSA, 2048..8192 bits. -EINVAL, -EBADMSG. */
_must_check_ int verity_pubkey_parse(const void *text, size_t len, struct verity_pubkey **ret,
				     struct diag *d) _nonnull_(1, 3);
/* The same from a file (at most VERITY_KEY_MAX bytes). */
_must_check_ int verity_pubkey_load(const char *path, struct verity_pubkey **ret, struct diag *d)
	_nonnull_(1, 2);
void verity_pubkey_free(struct verity_pubkey *k);
DEFINE_CLEANUP_FUNC(struct verity_pubkey, verity_pubkey_free)
/* SHA-256 of the key's DER SubjectPublicKeyInfo (the block's key id). */
void verity_pubkey_id(const struct verity_pubkey *k, uint8_t out[VERITY_DIGEST_SIZE])
	_nonnull_(1, 2);

struct verity_signer;
/* A publisher private key from a PEM file (PKCS#8 or traditional RSA), read into secret memory
 * (OpenSSL keeps its own copy while loaded). RSA 2048..8192 bits. */
_must_check_ int verity_signer_load(const char *path, struct verity_signer **ret, struct diag *d)
	_nonnull_(1, 2);
void verity_signer_free(struct verity_signer *s);
DEFINE_CLEANUP_FUNC(struct verity_signer, verity_signer_free)

/* ---- signing and verifying ---- */

/* The signature block for img (its geometry), root and version, signed with s. */
_must_check_ int verity_sig_sign(const struct verity_signer *s, const struct verity_image *img,
				 const uint8_t root[VERITY_DIGEST_SIZE], uint64_t version,
				 uint8_t out[VERITY_SIG_BLOCK_SIZE], struct diag *d)
	_nonnull_(1, 2, 3, 5);

/*
 * Check a parsed block for the image img: the statement describes img's layout (data size and
 * sealed size), the key id is k's, the RSA-PSS signature over the statement verifies with k, and
 * the version is >= min_version (in this order: the version is only trusted once signed). 0 or
 * -EBADMSG / -EKEYREJECTED / -ESTALE with the reason in d.
 */
_must_check_ int verity_sig_verify(const struct verity_sig *sig, const struct verity_pubkey *k,
				   const struct verity_image *img, uint64_t min_version,
				   struct diag *d) _nonnull_(1, 2, 3);

/*
 * The pipeline's step for a publisher-signed image: read the signature block of img (from
 * verity_locate() on dev), verify it (verity_sig_verify) and hand out the signed root hash and
 * version, to open the `verity` layer (or dm-verity) with. -ENOKEY when img has no signature
 * block, else verity_sig_verify()'s errors or the device's.
 */
_must_check_ int verity_signed_root(struct bdev *dev, const struct verity_image *img,
				    const struct verity_pubkey *k, uint64_t min_version,
				    uint8_t root[VERITY_DIGEST_SIZE], uint64_t *ret_version,
				    struct diag *d) _nonnull_(1, 2, 3, 5);

/*
 * `image sign`: add (or replace) the signature block of the sealed file at path. The root hash
 * is recomputed from the file's own tree, which is checked whole first (verity_check), so only a
 * consistent seal gets signed. root gets the signed root hash. -ENODATA (not sealed), the errors
 * of verity_check() and verity_sig_sign(), -errno of file I/O.
 */
_must_check_ int verity_sign_file(const char *path, const struct verity_signer *s, uint64_t version,
				  uint8_t root[VERITY_DIGEST_SIZE], struct diag *d)
	_nonnull_(1, 2, 4);
