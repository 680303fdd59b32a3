/* SPDX-License-Identifier: MIT */
/*
 * luks_af.c - AF split/merge with SHA-256 diffusion and the keyslot-area XTS (see luks_af.h).
 */
#include <errno.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "luks_af.h"
#include "sealmount/luks2.h"
#include "sealmount/secret.h"

#define AF_HASH_LEN 32u /* sha256 */

size_t luks_af_size(size_t key_len)
{
	return key_len * LUKS_AF_STRIPES;
}

size_t luks_af_area_len(size_t key_len)
{
	return (luks_af_size(key_len) + LUKS_AREA_UNIT - 1) / LUKS_AREA_UNIT * LUKS_AREA_UNIT;
}

static int ossl_fail(void)
{
	ERR_clear_error();
	return -EIO;
}

/* diffuse(b): chunk j of d bytes (the last may be shorter) becomes H(be32(j) || chunk)
 * truncated to the chunk's length (af.c's diffuse()). In place. */
static int diffuse(EVP_MD_CTX *md, uint8_t *b, size_t n)
{
	uint8_t out[AF_HASH_LEN];

	for (size_t j = 0; j * AF_HASH_LEN < n; j++) {
		size_t clen = n - j * AF_HASH_LEN < AF_HASH_LEN ? n - j * AF_HASH_LEN : AF_HASH_LEN;
		uint8_t be[4] = { (uint8_t)(j >> 24), (uint8_t)(j >> 16), (uint8_t)(j >> 8),
				  (uint8_t)j };

		if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
		    EVP_DigestUpdate(md, be, sizeof(be)) != 1 ||
		    EVP_DigestUpdate(md, b + j * AF_HASH_LEN, clen) != 1 ||
		    EVP_DigestFinal_ex(md, out, NULL) != 1) {
			wipe(out, sizeof(out));
			return ossl_fail();
		}
		memcpy(b + j * AF_HASH_LEN, out, clen);
	}
	wipe(out, sizeof(out));
	return 0;
}

static void xor_into(uint8_t *dst, const uint8_t *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] ^= src[i];
}

/* buf = diffuse(...diffuse(diffuse(s0) ^ s1)... ^ s_{stripes-2}): the part shared by split and
 * merge. */
static int af_fold(const uint8_t *src, size_t n, uint8_t *buf)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int r = 0;

	if (!md)
		return -ENOMEM;
	memset(buf, 0, n);
	for (size_t i = 0; i + 1 < LUKS_AF_STRIPES && r == 0; i++) {
		xor_into(buf, src + i * n, n);
		r = diffuse(md, buf, n);
	}
	EVP_MD_CTX_free(md);
	return r;
}

int luks_af_split(const uint8_t *key, size_t key_len, uint8_t *out)
{
	size_t last = (LUKS_AF_STRIPES - 1) * key_len;
	int r;

	if (key_len == 0 || key_len > LUKS2_VK_MAX)
		return -EINVAL;
	if (RAND_bytes(out, (int)last) != 1)
		return ossl_fail();
	r = af_fold(out, key_len, out + last);
	if (r < 0)
		return r;
	xor_into(out + last, key, key_len);
	return 0;
}

int luks_af_merge(const uint8_t *src, size_t key_len, uint8_t *key)
{
	int r;

	if (key_len == 0 || key_len > LUKS2_VK_MAX)
		return -EINVAL;
	r = af_fold(src, key_len, key);
	if (r < 0)
		return r;
	xor_into(key, src + (LUKS_AF_STRIPES - 1) * key_len, key_len);
	return 0;
}

static int area_crypt(const uint8_t *key, size_t key_len, uint64_t unit, uint8_t *buf, size_t len,
		      int enc)
{
	const EVP_CIPHER *c = key_len == 64 ? EVP_aes_256_xts() :
			      key_len == 32 ? EVP_aes_128_xts() :
					      NULL;
	EVP_CIPHER_CTX *ctx;
	int r = 0, outl;

	if (!c || len % LUKS_AREA_UNIT)
		return -EINVAL;
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return -ENOMEM;
	if (EVP_CipherInit_ex(ctx, c, NULL, key, NULL, enc) != 1)
		r = ossl_fail();
	for (size_t off = 0; r == 0 && off < len; off += LUKS_AREA_UNIT, unit++) {
		uint8_t iv[16] = { 0 };

		for (int b = 0; b < 8; b++)
			iv[b] = (uint8_t)(unit >> (8 * b));
		if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv, enc) != 1 ||
		    EVP_CipherUpdate(ctx, buf + off, &outl, buf + off, LUKS_AREA_UNIT) != 1 ||
		    outl != (int)LUKS_AREA_UNIT)
			r = ossl_fail();
	}
	EVP_CIPHER_CTX_free(ctx);
	return r;
}

int luks_area_encrypt(const uint8_t *key, size_t key_len, uint64_t first_unit, uint8_t *buf,
		      size_t len)
{
	return area_crypt(key, key_len, first_unit, buf, len, 1);
}

int luks_area_decrypt(const uint8_t *key, size_t key_len, uint64_t first_unit, uint8_t *buf,
		      size_t len)
{
	return area_crypt(key, key_len, first_unit, buf, len, 0);
}
