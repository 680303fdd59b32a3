/* SPDX-License-Identifier: MIT */
/*
 * luks_crypt.c - one dm-crypt sector (docs/dm-crypt.md, "Sectors without integrity" and "Per-sector
 * processing"): aes-xts-plain64 with IV le64(S + iv_tweak) || 0^8 and the whole sector as one XTS
 * data unit; authenc(hmac(sha256), xts(aes)) with tag = HMAC(le64(S) || IV || C), verified before
 * decrypting; gcm(aes)-random with AAD le64(S) || nonce and tag = GCM tag || nonce.
 */
#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include "luks_internal.h"

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static int ossl_fail(void)
{
	ERR_clear_error();
	return -EIO;
}

static int xts(EVP_CIPHER_CTX *ctx, const uint8_t iv[16], const uint8_t *in, uint8_t *out,
	       uint32_t len)
{
	int outl;

	if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv, -1) != 1 ||
	    EVP_CipherUpdate(ctx, out, &outl, in, (int)len) != 1 || outl != (int)len)
		return ossl_fail();
	return 0;
}

static int hmac(struct luks_ctx *c, uint64_t S, const uint8_t iv[16], const uint8_t *data,
		uint32_t len, uint8_t out[LUKS_HMAC_LEN])
{
	uint8_t aad[8];
	size_t outl;

	put_le64(aad, S);
	/* A NULL key re-initialises with the key already set (OpenSSL 3 HMAC provider). */
	if (EVP_MAC_init(c->mac, NULL, 0, NULL) != 1 || EVP_MAC_update(c->mac, aad, 8) != 1 ||
	    EVP_MAC_update(c->mac, iv, 16) != 1 || EVP_MAC_update(c->mac, data, len) != 1 ||
	    EVP_MAC_final(c->mac, out, &outl, LUKS_HMAC_LEN) != 1 || outl != LUKS_HMAC_LEN)
		return ossl_fail();
	return 0;
}

static int gcm(EVP_CIPHER_CTX *ctx, uint64_t S, const uint8_t *iv, const uint8_t *in, uint8_t *out,
	       uint32_t len, uint8_t *tag, bool enc)
{
	uint8_t aad[8 + LUKS_GCM_IV_LEN];
	int outl;

	put_le64(aad, S);
	memcpy(aad + 8, iv, LUKS_GCM_IV_LEN);
	if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv, enc) != 1 ||
	    EVP_CipherUpdate(ctx, NULL, &outl, aad, sizeof(aad)) != 1)
		return ossl_fail();
	if (!enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, LUKS_GCM_TAG_LEN, tag) != 1)
		return ossl_fail();
	if (EVP_CipherUpdate(ctx, out, &outl, in, (int)len) != 1 || outl != (int)len)
		return ossl_fail();
	if (EVP_CipherFinal_ex(ctx, out + len, &outl) != 1) {
		ERR_clear_error();
		return enc ? -EIO : -EILSEQ;
	}
	if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, LUKS_GCM_TAG_LEN, tag) != 1)
		return ossl_fail();
	return 0;
}

static void plain64(const struct luks_dev *d, uint64_t S, uint8_t iv[16])
{
	memset(iv, 0, 16);
	put_le64(iv, S + d->iv_tweak);
}

int luks_sector_decrypt(struct luks_dev *d, struct luks_ctx *c, uint64_t S, uint8_t *buf,
			const uint8_t *tag)
{
	uint8_t iv[16], mac[LUKS_HMAC_LEN];
	int r;

	switch (d->kind) {
	case LUKS2_INTEGRITY_NONE:
		plain64(d, S, iv);
		return xts(c->dec, iv, buf, buf, d->ss);
	case LUKS2_INTEGRITY_HMAC_SHA256:
		plain64(d, S, iv);
		r = hmac(c, S, iv, buf, d->ss, mac);
		if (r < 0)
			return r;
		if (CRYPTO_memcmp(mac, tag, LUKS_HMAC_LEN) != 0)
			return -EILSEQ;
		return xts(c->dec, iv, buf, buf, d->ss);
	case LUKS2_INTEGRITY_AEAD: {
		uint8_t t[LUKS_GCM_TAG_LEN];

		memcpy(t, tag, sizeof(t));
		return gcm(c->dec, S, tag + LUKS_GCM_TAG_LEN, buf, buf, d->ss, t, false);
	}
	}
	return -ENOTSUP;
}

int luks_sector_encrypt(struct luks_dev *d, struct luks_ctx *c, uint64_t S, const uint8_t *in,
			uint8_t *out, uint8_t *tag)
{
	uint8_t iv[16];
	int r;

	switch (d->kind) {
	case LUKS2_INTEGRITY_NONE:
		plain64(d, S, iv);
		return xts(c->enc, iv, in, out, d->ss);
	case LUKS2_INTEGRITY_HMAC_SHA256:
		plain64(d, S, iv);
		r = xts(c->enc, iv, in, out, d->ss);
		if (r < 0)
			return r;
		memset(tag, 0, d->tag_size);
		return hmac(c, S, iv, out, d->ss, tag);
	case LUKS2_INTEGRITY_AEAD:
		memset(tag, 0, d->tag_size);
		if (RAND_bytes(tag + LUKS_GCM_TAG_LEN, LUKS_GCM_IV_LEN) != 1)
			return ossl_fail();
		return gcm(c->enc, S, tag + LUKS_GCM_TAG_LEN, in, out, d->ss, tag, true);
	}
	return -ENOTSUP;
}
