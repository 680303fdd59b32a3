/* SPDX-License-Identifier: MIT */
/*
 * luks2_write.h - build a fresh LUKS2 metadata area in memory (docs/luks2.md; docs/dm-crypt.md;
 * docs/dm-integrity.md, Creating images steps 1-4 and 8): both binary header copies with per-copy
 * random salts and SHA-256 checksums, the compact JSON in cryptsetup's member order, one keyslot
 * (PBKDF2-SHA256 or Argon2id) whose AF-split, aes-xts-plain64-encrypted key material sits at the
 * start of a randomly filled keyslots area, and a pbkdf2-sha256 digest of the volume key.
 * Everything luks2_hdr_parse() must accept with require_integrity (when the segment has integrity).
 *
 * Layout (cryptsetup's defaults): copies of 16 KiB at 0 and 16384, keyslots area 32768 ..
 * 16 MiB, one crypt segment at 16 MiB with "size":"dynamic" (so the image size decides the data
 * size, and with integrity dm-integrity's provided_data_sectors does).
 *
 * KDF cost: a sealmount key file is 32 random bytes, so a slow KDF adds no security against
 * guessing; it only delays every mount. The defaults are therefore modest but well above
 * cryptsetup's floor of 1000 (which Microsoft's generatefs.sh uses): PBKDF2 with
 * LUKS2_WRITE_PBKDF2_ITER iterations (~0.1 s), or Argon2id time 4, 64 MiB, 2 lanes (the shape
 * of docs/dm-integrity.md, Creating images). The digest uses LUKS2_WRITE_DIGEST_ITER iterations
 * over the random volume key.
 *
 * Errors: -EINVAL (a parameter outside what we create), -ENOMEM, -EIO (the crypto library or
 * the random source failed).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sealmount/luks2.h"
#include "sealmount/macros.h"
#include "sealmount/secret.h"

#define LUKS2_WRITE_HDR_SIZE 16384u /* one copy: binary header + 12 KiB JSON area */
#define LUKS2_WRITE_KEYSLOTS_OFFSET 32768u
#define LUKS2_WRITE_DATA_OFFSET (16u * 1024 * 1024) /* = metadata area size */
#define LUKS2_WRITE_KEYSLOTS_SIZE (LUKS2_WRITE_DATA_OFFSET - LUKS2_WRITE_KEYSLOTS_OFFSET)
#define LUKS2_WRITE_PBKDF2_ITER 100000u
#define LUKS2_WRITE_DIGEST_ITER 1000u
#define LUKS2_WRITE_ARGON2_TIME 4u
#define LUKS2_WRITE_ARGON2_MEMORY_KIB 65536u
#define LUKS2_WRITE_ARGON2_CPUS 2u

struct luks2_write_params {
	enum luks2_integrity integrity; /* hmac(sha256) + aes-xts-plain64 (vk 96), aead +
					   aes-gcm-random (vk 32) or none + aes-xts-plain64 (64) */
	uint32_t sector_size; /* 512 or 4096 */
	enum luks2_kdf_type kdf; /* PBKDF2 or ARGON2ID (ARGON2I is refused: we do not make it) */
	uint32_t pbkdf2_iterations; /* 0 = LUKS2_WRITE_PBKDF2_ITER; else MIN..MAX_ITER */
	uint32_t argon2_time; /* 0 = default; each within luks2.h's caps */
	uint32_t argon2_memory_kib;
	uint32_t argon2_cpus;
	bool no_journal; /* config.flags ["no-journal"]: dm-integrity D mode on every open */
	const char *uuid; /* NULL = random; else 36 lower-case 8-4-4-4-12 hex digits */
};

/* Defaults: hmac(sha256), 4096-byte sectors, pbkdf2 with the default iterations, journal on. */
void luks2_write_params_init(struct luks2_write_params *p) _nonnull_(1);

/* The segment's cipher and volume key size for p->integrity; NULL/0 for an unknown value. */
const char *luks2_write_cipher(enum luks2_integrity i);
uint32_t luks2_write_vk_size(enum luks2_integrity i);

/* A new random volume key of luks2_write_vk_size(p->integrity) bytes. -EINVAL, -ENOMEM, -EIO. */
_must_check_ int luks2_write_vk_new(const struct luks2_write_params *p, struct secret **ret)
	_nonnull_(1, 2);

/*
 * Build the whole metadata area (LUKS2_WRITE_DATA_OFFSET bytes: both copies and the keyslots
 * area) for volume key vk protected by passphrase (1..LUKS2_WRITE_PASS_MAX bytes). *ret is
 * malloc'd (caller frees; it holds no plaintext key material). Write it at offset 0 of an image
 * whose data starts at LUKS2_WRITE_DATA_OFFSET.
 */
#define LUKS2_WRITE_PASS_MAX 8192u
_must_check_ int luks2_write_header(const struct luks2_write_params *p,
				    const struct secret *passphrase, const struct secret *vk,
				    uint8_t **ret) _nonnull_(1, 2, 3, 4);

/*
 * The JSON text of the header (what luks2_write_header() stores in both JSON areas) for given
 * salts and digest: exposed so tests can check the exact bytes. kdf_salt, digest_salt are
 * LUKS2_SALT_SIZE bytes, digest LUKS2_DIGEST_SIZE. *ret is malloc'd. -EINVAL, -ENOMEM.
 */
_must_check_ int luks2_write_json(const struct luks2_write_params *p, const uint8_t *kdf_salt,
				  const uint8_t *digest_salt, const uint8_t *digest, char **ret)
	_nonnull_(1, 2, 3, 4, 5);
