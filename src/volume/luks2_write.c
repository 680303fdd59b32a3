/* SPDX-License-Identifier: MIT */
/*
 * luks2_write.c - a fresh LUKS2 metadata area (docs/dm-integrity.md, Creating images steps 1-4 and
 * 8; docs/luks2.md, "Binary header", "JSON metadata", "Keyslot unlock" and "cryptsetup defaults";
 * docs/dm-crypt.md, Tables).
 *
 * Byte layout written (for the cryptsetup defaults, verified against the kernel in
 * docs/dm-integrity.md, Creating images):
 *   0       primary binary header "LUKS\xba\xbe", hdr_offset 0, then its 12 KiB JSON area
 *   16384   secondary "SKUL\xba\xbe", hdr_offset 16384, the same JSON
 *   32768   keyslot 0: the AF-split volume key, aes-xts-plain64 in 512-byte units
 *           (docs/luks2.md, Keyslot unlock in reverse), then random bytes to 16 MiB
 *           (cryptsetup's LUKS2_wipe_header_areas)
 * The keyslot's area key comes from the KDF (pbkdf2-sha256 or argon2id) over the passphrase;
 * the AF split and the area encryption are luks_af.h's, shared with the unlock path.
 */
#define _GNU_SOURCE
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include <argon2.h>

#include "luks_af.h"
#include "sealmount/codec.h"
#include "sealmount/log.h"
#include "sealmount/luks2_write.h"

#define JSON_AREA (LUKS2_WRITE_HDR_SIZE - LUKS2_BIN_HDR_SIZE)
/* docs/luks2.md, cryptsetup defaults: aes-xts-plain64, 512 bits, whatever the segment cipher */
#define AREA_KEY_SIZE 64u
#define CSUM_OFF 448u
#define SEQID 1u

static const uint8_t magic_primary[6] = { 'L', 'U', 'K', 'S', 0xba, 0xbe };
static const uint8_t magic_secondary[6] = { 'S', 'K', 'U', 'L', 0xba, 0xbe };

void luks2_write_params_init(struct luks2_write_params *p)
{
	*p = (struct luks2_write_params){ .integrity = LUKS2_INTEGRITY_HMAC_SHA256,
					  .sector_size = 4096,
					  .kdf = LUKS2_KDF_PBKDF2 };
}

const char *luks2_write_cipher(enum luks2_integrity i)
{
	switch (i) {
	case LUKS2_INTEGRITY_NONE:
	case LUKS2_INTEGRITY_HMAC_SHA256:
		return "aes-xts-plain64";
	case LUKS2_INTEGRITY_AEAD:
		return "aes-gcm-random";
	}
	return NULL;
}

uint32_t luks2_write_vk_size(enum luks2_integrity i)
{
	switch (i) {
	case LUKS2_INTEGRITY_NONE:
		return 64;
	case LUKS2_INTEGRITY_HMAC_SHA256:
		return 96; /* docs/dm-crypt.md, Tables: AES-XTS key (64) || HMAC key (32) */
	case LUKS2_INTEGRITY_AEAD:
		return 32;
	}
	return 0;
}

static const char *integrity_type(enum luks2_integrity i)
{
	return i == LUKS2_INTEGRITY_HMAC_SHA256 ? "hmac(sha256)" : "aead";
}

/* docs/luks2.md, Keyslot unlock step 2; docs/dm-integrity.md, Creating images step 3: the AF
 * material, and the area rounded up to 4096. */
static uint64_t area_bytes(uint32_t key_size)
{
	return (luks_af_area_len(key_size) + 4095) / 4096 * 4096;
}

static bool is_lower_uuid(const char *s)
{
	if (strlen(s) != LUKS2_UUID_LEN)
		return false;
	for (size_t i = 0; i < LUKS2_UUID_LEN; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' :
			   !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return true;
}

static int check_params(const struct luks2_write_params *p)
{
	if (!luks2_write_cipher(p->integrity))
		return log_debug_errno(-EINVAL, "luks2-write: unknown integrity %d", p->integrity);
	if (p->sector_size != 512 && p->sector_size != 4096)
		return log_debug_errno(-EINVAL, "luks2-write: sector size %u", p->sector_size);
	if (p->uuid && !is_lower_uuid(p->uuid))
		return log_debug_errno(-EINVAL, "luks2-write: bad uuid");
	if (p->kdf == LUKS2_KDF_PBKDF2) {
		if (p->pbkdf2_iterations && (p->pbkdf2_iterations < LUKS2_PBKDF2_MIN_ITER ||
					     p->pbkdf2_iterations > LUKS2_PBKDF2_MAX_ITER))
			return log_debug_errno(-EINVAL, "luks2-write: pbkdf2 iterations %u",
					       p->pbkdf2_iterations);
		return 0;
	}
	if (p->kdf != LUKS2_KDF_ARGON2ID)
		return log_debug_errno(-EINVAL, "luks2-write: only pbkdf2 and argon2id");
	if (p->argon2_time > LUKS2_ARGON2_MAX_TIME || p->argon2_cpus > LUKS2_ARGON2_MAX_CPUS ||
	    p->argon2_memory_kib > LUKS2_ARGON2_MAX_MEMORY_KIB ||
	    (p->argon2_memory_kib && p->argon2_memory_kib < LUKS2_ARGON2_MIN_MEMORY_KIB))
		return log_debug_errno(-EINVAL, "luks2-write: argon2 parameters out of range");
	return 0;
}

static uint32_t or_default(uint32_t v, uint32_t def)
{
	return v ? v : def;
}

/* getrandom() may return short for large requests or when a signal arrives: loop. */
static int fill_random(void *p, size_t n)
{
	uint8_t *b = p;

	while (n > 0) {
		ssize_t k = getrandom(b, n, 0);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return log_debug_errno(-EIO, "luks2-write: getrandom failed");
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

int luks2_write_vk_new(const struct luks2_write_params *p, struct secret **ret)
{
	_cleanup_(secret_freep) struct secret *vk = NULL;
	uint32_t n = luks2_write_vk_size(p->integrity);
	int r;

	if (n == 0)
		return -EINVAL;
	r = secret_new(n, &vk);
	if (r < 0)
		return r;
	r = fill_random(vk->data, n);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(vk);
	return 0;
}

/* ---- JSON (docs/dm-integrity.md, Creating images step 4: compact, '/' not escaped, cryptsetup's
 * member order) ---- */

static int b64(const uint8_t *p, size_t n, char **ret)
{
	return b64_encode(B64_STD, p, n, ret);
}

static int kdf_json(const struct luks2_write_params *p, const char *salt, char *out, size_t len)
{
	int n;

	if (p->kdf == LUKS2_KDF_PBKDF2)
		n = snprintf(out, len,
			     "{\"type\":\"pbkdf2\",\"hash\":\"sha256\",\"iterations\":%u,"
			     "\"salt\":\"%s\"}",
			     or_default(p->pbkdf2_iterations, LUKS2_WRITE_PBKDF2_ITER), salt);
	else
		n = snprintf(out, len,
			     "{\"type\":\"argon2id\",\"time\":%u,\"memory\":%u,\"cpus\":%u,"
			     "\"salt\":\"%s\"}",
			     or_default(p->argon2_time, LUKS2_WRITE_ARGON2_TIME),
			     or_default(p->argon2_memory_kib, LUKS2_WRITE_ARGON2_MEMORY_KIB),
			     or_default(p->argon2_cpus, LUKS2_WRITE_ARGON2_CPUS), salt);
	return n < 0 || (size_t)n >= len ? -EINVAL : 0;
}

static int segment_json(const struct luks2_write_params *p, char *out, size_t len)
{
	char integ[160] = "";
	int n;

	if (p->integrity != LUKS2_INTEGRITY_NONE)
		snprintf(integ, sizeof(integ),
			 ",\"integrity\":{\"type\":\"%s\",\"journal_encryption\":\"none\","
			 "\"journal_integrity\":\"none\"}",
			 integrity_type(p->integrity));
	n = snprintf(out, len,
		     "{\"0\":{\"type\":\"crypt\",\"offset\":\"%u\",\"size\":\"dynamic\","
		     "\"iv_tweak\":\"0\",\"encryption\":\"%s\",\"sector_size\":%u%s}}",
		     LUKS2_WRITE_DATA_OFFSET, luks2_write_cipher(p->integrity), p->sector_size,
		     integ);
	return n < 0 || (size_t)n >= len ? -EINVAL : 0;
}

int luks2_write_json(const struct luks2_write_params *p, const uint8_t *kdf_salt,
		     const uint8_t *digest_salt, const uint8_t *digest, char **ret)
{
	_cleanup_free_ char *ks = NULL, *ds = NULL, *dg = NULL;
	char kdf[256], seg[512];
	uint32_t vk = luks2_write_vk_size(p->integrity);
	int r;

	r = check_params(p);
	r = r ?: b64(kdf_salt, LUKS2_SALT_SIZE, &ks);
	r = r ?: b64(digest_salt, LUKS2_SALT_SIZE, &ds);
	r = r ?: b64(digest, LUKS2_DIGEST_SIZE, &dg);
	r = r ?: kdf_json(p, ks, kdf, sizeof(kdf));
	r = r ?: segment_json(p, seg, sizeof(seg));
	if (r < 0)
		return r;
	r = asprintf(ret,
		     "{\"keyslots\":{\"0\":{\"type\":\"luks2\",\"key_size\":%u,"
		     "\"af\":{\"type\":\"luks1\",\"stripes\":%u,\"hash\":\"sha256\"},"
		     "\"area\":{\"type\":\"raw\",\"offset\":\"%u\",\"size\":\"%llu\","
		     "\"encryption\":\"aes-xts-plain64\",\"key_size\":%u},\"kdf\":%s}},"
		     "\"tokens\":{},\"segments\":%s,"
		     "\"digests\":{\"0\":{\"type\":\"pbkdf2\",\"keyslots\":[\"0\"],"
		     "\"segments\":[\"0\"],\"hash\":\"sha256\",\"iterations\":%u,\"salt\":\"%s\","
		     "\"digest\":\"%s\"}},"
		     "\"config\":{\"json_size\":\"%u\",\"keyslots_size\":\"%u\"%s}}",
		     vk, LUKS2_AF_STRIPES, LUKS2_WRITE_KEYSLOTS_OFFSET,
		     (unsigned long long)area_bytes(vk), AREA_KEY_SIZE, kdf, seg,
		     LUKS2_WRITE_DIGEST_ITER, ds, dg, JSON_AREA, LUKS2_WRITE_KEYSLOTS_SIZE,
		     p->no_journal ? ",\"flags\":[\"no-journal\"]" : "");
	if (r < 0)
		return -ENOMEM;
	if ((size_t)r >= JSON_AREA) { /* needs one NUL inside the area */
		free(TAKE_PTR(*ret));
		return -EINVAL;
	}
	return 0;
}

/* ---- binary copies (docs/luks2.md, Binary header) ---- */

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static int random_uuid(char out[LUKS2_UUID_LEN + 1])
{
	uint8_t u[16];

	if (fill_random(u, sizeof(u)) < 0)
		return -EIO;
	u[6] = (uint8_t)((u[6] & 0x0f) | 0x40); /* version 4 */
	u[8] = (uint8_t)((u[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	snprintf(out, LUKS2_UUID_LEN + 1,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
		 u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
		 u[15]);
	return 0;
}

/* One copy at hdr + off: binary header fields, the JSON (already in place), the checksum over
 * the binary header with csum zeroed plus the whole JSON area (docs/luks2.md, Checksum). */
static int seal_copy(uint8_t *copy, uint64_t off, const char *uuid)
{
	unsigned int mdlen = 0;

	memcpy(copy, off == 0 ? magic_primary : magic_secondary, 6);
	copy[6] = 0;
	copy[7] = 2; /* version, be16 */
	put_be64(copy + 8, LUKS2_WRITE_HDR_SIZE);
	put_be64(copy + 16, SEQID);
	memcpy(copy + 72, "sha256", 6);
	/* A salt per copy (docs/dm-integrity.md, Creating images step 1). */
	if (fill_random(copy + 104, 64) < 0)
		return -EIO;
	memcpy(copy + 168, uuid, LUKS2_UUID_LEN);
	put_be64(copy + 256, off);
	if (!EVP_Digest(copy, LUKS2_WRITE_HDR_SIZE, copy + CSUM_OFF, &mdlen, EVP_sha256(), NULL))
		return log_debug_errno(-EIO, "luks2-write: sha256 failed");
	return 0;
}

/* ---- keyslot (docs/luks2.md, Keyslot unlock in reverse) ---- */

static int derive_area_key(const struct luks2_write_params *p, const struct secret *pass,
			   const uint8_t *salt, struct secret *dk)
{
	if (p->kdf == LUKS2_KDF_PBKDF2) {
		if (!PKCS5_PBKDF2_HMAC(
			    (const char *)pass->data, (int)pass->len, salt, LUKS2_SALT_SIZE,
			    (int)or_default(p->pbkdf2_iterations, LUKS2_WRITE_PBKDF2_ITER),
			    EVP_sha256(), (int)dk->len, dk->data))
			return log_debug_errno(-EIO, "luks2-write: pbkdf2 failed");
		return 0;
	}
	if (argon2id_hash_raw(or_default(p->argon2_time, LUKS2_WRITE_ARGON2_TIME),
			      or_default(p->argon2_memory_kib, LUKS2_WRITE_ARGON2_MEMORY_KIB),
			      or_default(p->argon2_cpus, LUKS2_WRITE_ARGON2_CPUS), pass->data,
			      pass->len, salt, LUKS2_SALT_SIZE, dk->data, dk->len) != ARGON2_OK)
		return log_debug_errno(-ENOMEM, "luks2-write: argon2id failed");
	return 0;
}

/* The keyslots area: random fill, then keyslot 0's encrypted AF material at its start. */
static int write_keyslot(const struct luks2_write_params *p, const struct secret *pass,
			 const struct secret *vk, const uint8_t *salt, uint8_t *area)
{
	_cleanup_(secret_freep) struct secret *dk = NULL, *af = NULL;
	size_t n = luks_af_area_len(vk->len); /* AF material + zero tail of its last unit */
	int r;

	r = fill_random(area, LUKS2_WRITE_KEYSLOTS_SIZE);
	r = r ?: secret_new(AREA_KEY_SIZE, &dk);
	r = r ?: secret_new(n, &af);
	r = r ?: derive_area_key(p, pass, salt, dk);
	r = r ?: luks_af_split(vk->data, vk->len, af->data);
	r = r ?: luks_area_encrypt(dk->data, dk->len, 0, af->data, n);
	if (r == 0)
		memcpy(area, af->data, n);
	return r;
}

static int vk_digest(const struct secret *vk, const uint8_t *salt, uint8_t *out)
{
	if (!PKCS5_PBKDF2_HMAC((const char *)vk->data, (int)vk->len, salt, LUKS2_SALT_SIZE,
			       LUKS2_WRITE_DIGEST_ITER, EVP_sha256(), LUKS2_DIGEST_SIZE, out))
		return log_debug_errno(-EIO, "luks2-write: pbkdf2 failed");
	return 0;
}

int luks2_write_header(const struct luks2_write_params *p, const struct secret *passphrase,
		       const struct secret *vk, uint8_t **ret)
{
	_cleanup_free_ uint8_t *out = NULL;
	_cleanup_free_ char *json = NULL;
	uint8_t kdf_salt[LUKS2_SALT_SIZE], dsalt[LUKS2_SALT_SIZE], digest[LUKS2_DIGEST_SIZE];
	char uuid[LUKS2_UUID_LEN + 1];
	int r;

	r = check_params(p);
	if (r < 0)
		return r;
	if (vk->len != luks2_write_vk_size(p->integrity) || passphrase->len == 0 ||
	    passphrase->len > LUKS2_WRITE_PASS_MAX)
		return log_debug_errno(-EINVAL, "luks2-write: key sizes do not fit");
	if (fill_random(kdf_salt, sizeof(kdf_salt)) < 0 || fill_random(dsalt, sizeof(dsalt)) < 0)
		return -EIO;
	if (p->uuid) {
		memcpy(uuid, p->uuid, sizeof(uuid));
		r = 0;
	} else
		r = random_uuid(uuid);
	r = r ?: vk_digest(vk, dsalt, digest);
	r = r ?: luks2_write_json(p, kdf_salt, dsalt, digest, &json);
	if (r < 0)
		return r;
	out = calloc(1, LUKS2_WRITE_DATA_OFFSET);
	if (!out)
		return -ENOMEM;
	memcpy(out + LUKS2_BIN_HDR_SIZE, json, strlen(json));
	memcpy(out + LUKS2_WRITE_HDR_SIZE + LUKS2_BIN_HDR_SIZE, json, strlen(json));
	r = seal_copy(out, 0, uuid);
	r = r ?: seal_copy(out + LUKS2_WRITE_HDR_SIZE, LUKS2_WRITE_HDR_SIZE, uuid);
	r = r ?: write_keyslot(p, passphrase, vk, kdf_salt, out + LUKS2_WRITE_KEYSLOTS_OFFSET);
	if (r >= 0)
		*ret = TAKE_PTR(out);
	return r;
}
