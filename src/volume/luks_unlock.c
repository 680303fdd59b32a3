/* SPDX-License-Identifier: MIT */
/*
 * luks_unlock.c - LUKS2 keyslot unlock (docs/luks2.md, Keyslot unlock): KDF (PBKDF2-SHA256 with
 * OpenSSL, Argon2i/id with libargon2), keyslot-area XTS decrypt, AF merge, digest check. Keyslots
 * are tried by priority (2, then 1; 0 never, as cryptsetup without an explicit slot), ascending id
 * within a priority, and only those the segment's digest covers.
 */
#include <argon2.h>
#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "luks_af.h"
#include "sealmount/log.h"
#include "sealmount/luks.h"

static int derive(const struct luks2_kdf *kdf, const struct secret *pass, uint8_t *out,
		  size_t outlen)
{
	int r;

	switch (kdf->type) {
	case LUKS2_KDF_PBKDF2:
		if (PKCS5_PBKDF2_HMAC((const char *)pass->data, (int)pass->len, kdf->salt,
				      LUKS2_SALT_SIZE, (int)kdf->iterations, EVP_sha256(),
				      (int)outlen, out) != 1) {
			ERR_clear_error();
			return -EIO;
		}
		return 0;
	case LUKS2_KDF_ARGON2I:
	case LUKS2_KDF_ARGON2ID:
		r = argon2_hash(kdf->time, kdf->memory_kib, kdf->cpus, pass->data, pass->len,
				kdf->salt, LUKS2_SALT_SIZE, out, outlen, NULL, 0,
				kdf->type == LUKS2_KDF_ARGON2I ? Argon2_i : Argon2_id,
				ARGON2_VERSION_13);
		if (r == ARGON2_MEMORY_ALLOCATION_ERROR)
			return -ENOMEM;
		if (r != ARGON2_OK) {
			log_debug("argon2: %s", argon2_error_message(r));
			return -EIO;
		}
		return 0;
	}
	return -EINVAL;
}

/* The keyslot's encrypted AF material: from h->raw when luks2_hdr_load_keyslots() put it there,
 * else from dev. */
static int read_area(struct bdev *dev, const struct luks2_hdr *h, const struct luks2_keyslot *k,
		     uint8_t *buf, size_t len)
{
	if (k->area_offset + len <= h->raw_len) {
		memcpy(buf, h->raw + k->area_offset, len);
		return 0;
	}
	return bdev_read(dev, buf, len, k->area_offset);
}

static int check_digest(const struct luks2_hdr *h, const uint8_t *vk, size_t len)
{
	uint8_t d[LUKS2_DIGEST_SIZE];
	int ok;

	if (PKCS5_PBKDF2_HMAC((const char *)vk, (int)len, h->digest.salt, LUKS2_SALT_SIZE,
			      (int)h->digest.iterations, EVP_sha256(), sizeof(d), d) != 1) {
		ERR_clear_error();
		return -EIO;
	}
	ok = CRYPTO_memcmp(d, h->digest.digest, sizeof(d)) == 0;
	wipe(d, sizeof(d));
	return ok ? 0 : -EPERM;
}

/* One keyslot: 0 with vk filled, -EPERM for a wrong passphrase, or another error. */
static int try_keyslot(struct bdev *dev, const struct luks2_hdr *h, const struct luks2_keyslot *k,
		       const struct secret *pass, struct secret *vk)
{
	size_t af_len = luks_af_area_len(k->key_size);
	_cleanup_(secret_freep) struct secret *dk = NULL;
	_cleanup_(secret_freep) struct secret *af = NULL;
	int r;

	if (k->key_size != vk->len || af_len > k->area_size)
		return -EBADMSG;
	r = secret_new(k->area_key_size, &dk);
	if (r >= 0)
		r = secret_new(af_len, &af);
	if (r < 0)
		return r;
	r = derive(&k->kdf, pass, dk->data, dk->len);
	if (r >= 0)
		r = read_area(dev, h, k, af->data, af_len);
	if (r >= 0)
		r = luks_area_decrypt(dk->data, dk->len, 0, af->data, af_len);
	if (r >= 0)
		r = luks_af_merge(af->data, k->key_size, vk->data);
	if (r >= 0)
		r = check_digest(h, vk->data, vk->len);
	return r;
}

int luks_unlock(struct bdev *dev, const struct luks2_hdr *h, const struct secret *passphrase,
		struct secret **ret_vk)
{
	_cleanup_(secret_freep) struct secret *vk = NULL;
	int r, res = -EPERM;

	r = secret_new(h->segment.key_size, &vk);
	if (r < 0)
		return r;
	for (int prio = 2; prio >= 1; prio--)
		for (unsigned i = 0; i < h->n_keyslots; i++) {
			const struct luks2_keyslot *k = &h->keyslots[i];

			if (k->priority != prio || !(h->digest.keyslots & (1u << k->id)))
				continue;
			r = try_keyslot(dev, h, k, passphrase, vk);
			if (r == 0) {
				log_debug("luks: keyslot %u opened", k->id);
				*ret_vk = TAKE_PTR(vk);
				return 0;
			}
			log_debug("luks: keyslot %u: %s", k->id, strerror(-r));
			if (r != -EPERM)
				res = r; /* an I/O or KDF error: report it if nothing opens */
		}
	return res;
}
