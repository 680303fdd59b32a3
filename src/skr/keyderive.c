/* SPDX-License-Identifier: MIT */
/*
 * keyderive.c - released key -> LUKS passphrase (docs/skr.md, Passphrase).
 */
#include <errno.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/x509.h>
#include <string.h>

#include "sealmount/codec.h"
#include "sealmount/keyderive.h"
#include "sealmount/log.h"

int keyderive_kty_parse(const char *kty, enum keyderive_kty *ret)
{
	if (streq(kty, "oct") || streq(kty, "oct-HSM")) {
		*ret = KEYDERIVE_KTY_OCT;
		return 0;
	}
	if (streq(kty, "RSA") || streq(kty, "RSA-HSM")) {
		*ret = KEYDERIVE_KTY_RSA;
		return 0;
	}
	return log_debug_errno(-EOPNOTSUPP, "Key type '%s' cannot become a passphrase", kty);
}

static void kdf_ctx_freep(EVP_KDF_CTX **p)
{
	EVP_KDF_CTX_free(*p);
}

int keyderive_hkdf_sha256(const uint8_t *ikm, size_t ikm_len, const uint8_t *salt, size_t salt_len,
			  const void *info, size_t info_len, size_t out_len, struct secret **ret)
{
	_cleanup_(kdf_ctx_freep) EVP_KDF_CTX *ctx = NULL;
	_cleanup_(secret_freep) struct secret *out = NULL;
	EVP_KDF *kdf;
	OSSL_PARAM params[5], *p = params;
	int r;

	if (ikm_len == 0 || out_len == 0 || out_len > 255 * 32 || (salt_len && !salt) ||
	    (info_len && !info))
		return -EINVAL;
	r = secret_new(out_len, &out);
	if (r < 0)
		return r;
	kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	if (!kdf)
		return -ENOMEM;
	ctx = EVP_KDF_CTX_new(kdf);
	EVP_KDF_free(kdf);
	if (!ctx)
		return -ENOMEM;
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len);
	/* An empty salt means HashLen zero bytes (RFC 5869 2.2), which OpenSSL applies itself. */
	if (salt_len)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt,
							 salt_len);
	if (info_len)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info,
							 info_len);
	*p = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(ctx, out->data, out->len, params) != 1) {
		ERR_clear_error();
		return log_debug_errno(-EINVAL, "HKDF-SHA256 failed");
	}
	*ret = TAKE_PTR(out);
	return 0;
}

int keyderive_rsa_d(EVP_PKEY *pkey, struct secret **ret)
{
	_cleanup_(secret_freep) struct secret *out = NULL;
	BIGNUM *d = NULL;
	int n, r;

	if (!EVP_PKEY_is_a(pkey, "RSA") ||
	    EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_D, &d) != 1) {
		ERR_clear_error();
		return log_debug_errno(-EINVAL, "Not an RSA private key");
	}
	n = BN_num_bytes(d);
	r = n > 0 ? secret_new((size_t)n, &out) : -EINVAL;
	if (r == 0 && BN_bn2bin(d, out->data) != n)
		r = -EINVAL;
	BN_clear_free(d);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(out);
	return 0;
}

int keyderive_pkcs8_parse(const struct secret *der, EVP_PKEY **ret)
{
	const unsigned char *p = der->data;
	PKCS8_PRIV_KEY_INFO *p8;
	EVP_PKEY *pkey;

	if (der->len > INT32_MAX)
		return -EBADMSG;
	p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)der->len);
	if (!p8 || p != der->data + der->len) {
		PKCS8_PRIV_KEY_INFO_free(p8);
		ERR_clear_error();
		return log_debug_errno(-EBADMSG, "Released key is not PKCS#8 DER");
	}
	pkey = EVP_PKCS82PKEY(p8);
	PKCS8_PRIV_KEY_INFO_free(p8);
	if (!pkey) {
		ERR_clear_error();
		return log_debug_errno(-EBADMSG, "Released PKCS#8 key does not parse");
	}
	*ret = pkey;
	return 0;
}

static int salt_decode(const char *hex, uint8_t **ret, size_t *ret_len)
{
	size_t n = hex ? strlen(hex) : 0;
	int r;

	if (n == 0) {
		*ret = NULL;
		*ret_len = 0;
		return 0;
	}
	if (n > 2 * KEYDERIVE_SALT_MAX)
		return log_debug_errno(-EBADMSG, "Salt longer than %u bytes", KEYDERIVE_SALT_MAX);
	r = hex_decode(hex, n, ret, ret_len);
	if (r < 0)
		return log_debug_errno(-EBADMSG, "Salt is not hex");
	return 0;
}

int keyderive_passphrase_rsa(EVP_PKEY *pkey, const struct keyderive_params *p, struct secret **ret)
{
	_cleanup_(secret_freep) struct secret *d = NULL;
	_cleanup_free_ uint8_t *salt = NULL;
	const char *label = p->label && *p->label ? p->label : KEYDERIVE_DEFAULT_LABEL;
	size_t salt_len;
	int r;

	r = salt_decode(p->salt_hex, &salt, &salt_len);
	if (r < 0)
		return r;
	r = keyderive_rsa_d(pkey, &d);
	if (r < 0)
		return r;
	return keyderive_hkdf_sha256(d->data, d->len, salt, salt_len, label, strlen(label),
				     KEYDERIVE_PASSPHRASE_LEN, ret);
}

static void pkey_freep(EVP_PKEY **p)
{
	EVP_PKEY_free(*p);
}

int keyderive_passphrase(enum keyderive_kty kty, const struct secret *material,
			 const struct keyderive_params *p, struct secret **ret)
{
	_cleanup_(pkey_freep) EVP_PKEY *pkey = NULL;
	int r;

	switch (kty) {
	case KEYDERIVE_KTY_OCT:
		if (material->len != KEYDERIVE_PASSPHRASE_LEN)
			return log_debug_errno(-EBADMSG, "Released oct key has %zu bytes, not %u",
					       material->len, KEYDERIVE_PASSPHRASE_LEN);
		return secret_new_copy(material->data, material->len, ret);
	case KEYDERIVE_KTY_RSA:
		r = keyderive_pkcs8_parse(material, &pkey);
		if (r < 0)
			return r;
		return keyderive_passphrase_rsa(pkey, p, ret);
	}
	return -EINVAL;
}
