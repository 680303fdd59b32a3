/* SPDX-License-Identifier: MIT */
/*
 * luks2.h - LUKS2 header validation: both binary copies, checksums, and a strict allowlist over
 * the JSON metadata (docs/luks2.md; docs/dm-crypt.md; docs/threat-model.md, Known attacks). It runs
 * before any key is used.
 *
 * The header on the blob is untrusted (docs/threat-model.md): CVE-2025-59054/58356 swap in
 * cipher_null for the keyslot area or the segment so that "any passphrase opens" or writes land
 * in plaintext. So we do not ask "is this valid LUKS2?" but "is this one of the few shapes we
 * create and mount?", in the spirit of Constellation's verifyLUKS2Header:
 *
 *   binary  magic LUKS/SKUL, version 2, hdr_size one of the nine legal sizes, secondary at
 *           offset hdr_size, hdr_offset equal to the copy's offset, csum_alg "sha256", SHA-256
 *           checksum over the header area with the csum field zeroed, zero padding, text
 *           fields of printable ASCII then NULs (no UTF-8 labels), a canonical UUID; the two copies agree on every field except magic,
 *           hdr_offset, salt and csum, and their JSON areas are byte-identical; no stray header
 *           magic at the other standard offsets.
 *   JSON    exactly the top-level objects keyslots, tokens, segments, digests, config and no
 *           unknown member anywhere; tokens empty; no config.requirements; config.json_size =
 *           hdr_size - 4096; keyslots luks2 / AF luks1, 4000 stripes, sha256 / raw area
 *           aes-xts-plain64 with a 32- or 64-byte key inside the keyslots area, no overlaps;
 *           KDF pbkdf2-sha256 (LUKS2_PBKDF2_MIN_ITER..LUKS2_PBKDF2_MAX_ITER) or argon2i/argon2id
 *           (time, memory, cpus within the LUKS2_ARGON2_* caps), 32-byte salts; exactly one crypt
 *           segment, iv_tweak 0, sector size 512 or 4096, aligned, inside the device, behind the
 *           keyslots area, with a cipher/integrity pair from the allowlist (luks2_policy.c);
 *           exactly one pbkdf2-sha256 digest (32 bytes: LUKS1-converted 20-byte digests are
 *           refused) naming that segment and every keyslot.
 *   policy  require_integrity; optional pins of the UUID and of the header digest.
 *
 * cipher_null cannot pass: it is on no allowlist (keyslot area, segment, integrity).
 *
 * Errors: every refusal returns -EBADMSG (malformed or disallowed header), -EPERM (a policy pin
 * or require_integrity refused an otherwise valid header), or the bdev's read error; -ENOMEM.
 * The rule that failed is named in the optional struct luks2_verdict and logged at debug level.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sealmount/bdev.h"
#include "sealmount/macros.h"

#define LUKS2_BIN_HDR_SIZE 4096u
#define LUKS2_HDR_SIZE_MIN 0x4000u
#define LUKS2_HDR_SIZE_MAX 0x400000u
#define LUKS2_KEYSLOTS_MAX 32
#define LUKS2_KEYSLOTS_SIZE_MAX (128u * 1024 * 1024) /* cryptsetup's LUKS2_MAX_KEYSLOTS_SIZE */
#define LUKS2_SALT_SIZE 32
#define LUKS2_DIGEST_SIZE 32 /* sha256 */
#define LUKS2_VK_MAX 96 /* aes-xts 64 + hmac(sha256) 32 */
#define LUKS2_UUID_LEN 36
#define LUKS2_AF_STRIPES 4000
/* PBKDF2: 1000 is cryptsetup's floor (and generatefs.sh's choice); the cap bounds the work a
 * hostile header can make us do (~10 s of HMAC-SHA256 on one core). Applies to digests too. */
#define LUKS2_PBKDF2_MIN_ITER 1000u
#define LUKS2_PBKDF2_MAX_ITER 20000000u
/* Argon2: cryptsetup's own limits are time >= 4 (benchmarked), memory 32 KiB..4 GiB and 1..4
 * threads by default. We accept time 1..64, memory 32 KiB..4 GiB (policy may lower it: the
 * container must be able to allocate it) and 1..16 lanes. */
#define LUKS2_ARGON2_MAX_TIME 64u
#define LUKS2_ARGON2_MIN_MEMORY_KIB 32u
#define LUKS2_ARGON2_MAX_MEMORY_KIB (4u * 1024 * 1024)
#define LUKS2_ARGON2_MAX_CPUS 16u

enum luks2_kdf_type {
	LUKS2_KDF_PBKDF2 = 0,
	LUKS2_KDF_ARGON2I,
	LUKS2_KDF_ARGON2ID,
};

enum luks2_integrity {
	LUKS2_INTEGRITY_NONE = 0,
	LUKS2_INTEGRITY_HMAC_SHA256, /* "hmac(sha256)": authenc(hmac(sha256),xts(aes)) */
	LUKS2_INTEGRITY_AEAD, /* "aead": gcm(aes) */
};

struct luks2_kdf {
	enum luks2_kdf_type type;
	uint32_t iterations; /* pbkdf2 (hash is always sha256) */
	uint32_t time; /* argon2 t_cost */
	uint32_t memory_kib; /* argon2 m_cost */
	uint32_t cpus; /* argon2 lanes = threads */
	uint8_t salt[LUKS2_SALT_SIZE];
};

struct luks2_keyslot {
	unsigned id; /* the JSON object name, 0..31 */
	uint32_t key_size; /* volume key bytes = the segment's key size */
	int priority; /* 0 ignore, 1 normal (default), 2 prefer */
	uint64_t area_offset;
	uint64_t area_size;
	uint32_t area_key_size; /* aes-xts-plain64 key for the AF material: 32 or 64 */
	struct luks2_kdf kdf; /* AF is always luks1 / 4000 stripes / sha256 */
};

struct luks2_segment {
	unsigned id;
	uint64_t offset; /* bytes from the device start */
	uint64_t size; /* bytes; for "dynamic", device size - offset at validation */
	bool dynamic; /* "size":"dynamic" */
	const char *cipher; /* static string from the allowlist, e.g. "aes-xts-plain64" */
	const char *integrity_name; /* "hmac(sha256)", "aead" or NULL */
	enum luks2_integrity integrity;
	uint32_t sector_size; /* 512 or 4096 */
	uint32_t key_size; /* volume key bytes (cipher key + MAC key) */
	uint32_t tag_size; /* dm-integrity tag bytes per sector; 0 without integrity */
};

struct luks2_digest {
	unsigned id;
	uint32_t iterations; /* pbkdf2-sha256 */
	uint8_t salt[LUKS2_SALT_SIZE];
	uint8_t digest[LUKS2_DIGEST_SIZE];
	uint32_t keyslots; /* bit i set: keyslot i is covered */
};

/* A validated header. Plain data; free with luks2_hdr_free(). */
struct luks2_hdr {
	uint64_t hdr_size; /* one copy: binary header + JSON area */
	uint64_t seqid;
	char uuid[LUKS2_UUID_LEN + 1];
	char label[48];
	char subsystem[48];
	uint64_t keyslots_size;
	uint64_t device_size; /* the device the header was validated against */
	bool no_journal; /* config.flags has "no-journal" */
	unsigned n_keyslots;
	struct luks2_keyslot keyslots[LUKS2_KEYSLOTS_MAX]; /* in ascending id order */
	struct luks2_segment segment;
	struct luks2_digest digest;
	uint8_t sha256[32]; /* SHA-256 of raw: the "header digest" that policies pin */
	/* The exact bytes validated: both copies, 2 * hdr_size, as on the device. Kept so that
	 * activation uses this copy (a detached header) and never re-reads the device.
	 * luks2_hdr_load_keyslots() extends it with the keyslots area. */
	uint8_t *raw;
	size_t raw_len;
};

struct luks2_policy {
	bool require_integrity; /* default true; false also accepts Microsoft-style images */
	bool pin_uuid_set;
	char pin_uuid[LUKS2_UUID_LEN + 1]; /* compared case-insensitively */
	bool pin_sha256_set;
	uint8_t pin_sha256[32]; /* luks2_hdr.sha256 */
	uint32_t argon2_max_memory_kib; /* 0 = LUKS2_ARGON2_MAX_MEMORY_KIB */
};

/* Why a header was refused: rule is a static dotted name ("segment.encryption"); detail says
 * what was found. Both empty on success. */
struct luks2_verdict {
	const char *rule;
	char detail[192];
};

/* Defaults: require_integrity = true, no pins. */
void luks2_policy_init(struct luks2_policy *p) _nonnull_(1);

/*
 * Read both header copies from dev (primary at 0, secondary at the primary's hdr_size), check
 * that no other standard offset holds a header, and validate everything against policy and
 * against the device size. On success *ret is a new header (caller frees). verdict may be NULL.
 * Returns 0, -EBADMSG, -EPERM, -ENOMEM or the device's read error (-EIO, ...); a device too
 * small to hold both copies is -EBADMSG.
 */
_must_check_ int luks2_hdr_load(struct bdev *dev, const struct luks2_policy *policy,
				struct luks2_hdr **ret, struct luks2_verdict *verdict)
	_nonnull_(1, 2, 3);

/*
 * The same validation over bytes already in memory: data holds at least both copies (the first
 * 2 * hdr_size bytes of a device of device_size bytes). The stray-header scan is limited to
 * what data holds. Used by luks2_hdr_load() and by the fuzzer.
 */
_must_check_ int luks2_hdr_parse(const uint8_t *data, size_t len, uint64_t device_size,
				 const struct luks2_policy *policy, struct luks2_hdr **ret,
				 struct luks2_verdict *verdict) _nonnull_(1, 4, 5);

/*
 * Extend h->raw with the keyslots area, making raw a complete detached header for libcryptsetup
 * (raw_len = 2 * hdr_size + keyslots_size, the layout `cryptsetup luksHeaderBackup` writes).
 * Only the validated keyslot areas are read from dev; the unused rest is zeros. The key material
 * is not authenticated by the header: a tampered area only yields a volume key that fails the
 * digest. h->sha256 still covers the two copies only. 0, -ENOMEM or the device's read error;
 * -EINVAL if called twice.
 */
_must_check_ int luks2_hdr_load_keyslots(struct luks2_hdr *h, struct bdev *dev) _nonnull_(1, 2);

void luks2_hdr_free(struct luks2_hdr *h);
DEFINE_CLEANUP_FUNC(struct luks2_hdr, luks2_hdr_free)

const char *luks2_kdf_name(enum luks2_kdf_type t);
