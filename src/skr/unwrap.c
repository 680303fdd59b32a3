/* SPDX-License-Identifier: MIT */
/*
 * unwrap.c - RSA-OAEP + RFC 5649 AES key wrap with padding (docs/skr.md, Unwrap). OpenSSL's errors
 * are drained here and become -EBADMSG/-EINVAL/-ENOMEM.
 */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <string.h>

#include "sealmount/log.h"
#include "sealmount/unwrap.h"

static const struct {
	const char *name;
	const char *md;
} encs[] = {
	[UNWRAP_ENC_CKM_RSA_AES_KEY_WRAP] = { "CKM_RSA_AES_KEY_WRAP", "SHA1" },
	[UNWRAP_ENC_RSA_AES_KEY_WRAP_256] = { "RSA_AES_KEY_WRAP_256", "SHA256" },
	[UNWRAP_ENC_RSA_AES_KEY_WRAP_384] = { "RSA_AES_KEY_WRAP_384", "SHA384" },
};

int unwrap_enc_parse(const char *s, enum unwrap_enc *ret)
{
	for (size_t i = 0; i < ELEMENTSOF(encs); i++)
		if (streq(s, encs[i].name)) {
			*ret = (enum unwrap_enc)i;
			return 0;
		}
	return -EINVAL;
}

const char *unwrap_enc_name(enum unwrap_enc e)
{
	return (unsigned)e < ELEMENTSOF(encs) ? encs[e].name : NULL;
}

const EVP_MD *unwrap_enc_md(enum unwrap_enc e)
{
	switch (e) {
	case UNWRAP_ENC_CKM_RSA_AES_KEY_WRAP:
		return EVP_sha1();
	case UNWRAP_ENC_RSA_AES_KEY_WRAP_256:
		return EVP_sha256();
	case UNWRAP_ENC_RSA_AES_KEY_WRAP_384:
		return EVP_sha384();
	}
	return NULL;
}

/* Log OpenSSL's queue at debug level and empty it; returns r. */
static int ossl_fail(int r, const char *what)
{
	unsigned long e;
	char msg[256];

	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, msg, sizeof(msg));
		log_debug("%s: %s", what, msg);
	}
	return r;
}

static const EVP_CIPHER *kwp_cipher(size_t kek_len)
{
	switch (kek_len) {
	case 16:
		return EVP_aes_128_wrap_pad();
	case 24:
		return EVP_aes_192_wrap_pad();
	case 32:
		return EVP_aes_256_wrap_pad();
	}
	return NULL;
}

static void cipher_ctx_freep(EVP_CIPHER_CTX **p)
{
	EVP_CIPHER_CTX_free(*p);
}

int unwrap_kwp(const uint8_t *kek, size_t kek_len, const uint8_t *in, size_t len,
	       struct secret **ret)
{
	_cleanup_(cipher_ctx_freep) EVP_CIPHER_CTX *ctx = NULL;
	_cleanup_(secret_freep) struct secret *out = NULL;
	const EVP_CIPHER *cipher = kwp_cipher(kek_len);
	int outl = 0, finl = 0, r;

	if (!cipher)
		return log_debug_errno(-EINVAL, "AES key wrap: KEK of %zu bytes", kek_len);
	/* RFC 5649: at least one 64-bit block besides the AIV, whole blocks. */
	if (len < 16 || len % 8 != 0 || len > SECRET_MAX || len > INT32_MAX)
		return log_debug_errno(-EBADMSG, "AES key wrap: %zu bytes of wrapped data", len);
	r = secret_new(len, &out); /* the plaintext is at most len - 8 bytes */
	if (r < 0)
		return r;
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return -ENOMEM;
	EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	/* NULL IV: the RFC 5649 default AIV. */
	if (EVP_DecryptInit_ex(ctx, cipher, NULL, kek, NULL) != 1)
		return ossl_fail(-ENOMEM, "AES key wrap init");
	if (EVP_DecryptUpdate(ctx, out->data, &outl, in, (int)len) != 1 || outl <= 0)
		return ossl_fail(
			log_debug_errno(-EBADMSG, "AES key unwrap: integrity check failed"),
			"AES key unwrap");
	if (EVP_DecryptFinal_ex(ctx, out->data + outl, &finl) != 1)
		return ossl_fail(-EBADMSG, "AES key unwrap final");
	r = secret_truncate(out, (size_t)outl + (size_t)finl);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(out);
	return 0;
}

static void pkey_ctx_freep(EVP_PKEY_CTX **p)
{
	EVP_PKEY_CTX_free(*p);
}

int unwrap_oaep(EVP_PKEY *pkey, const EVP_MD *md, const uint8_t *in, size_t len,
		struct secret **ret)
{
	_cleanup_(pkey_ctx_freep) EVP_PKEY_CTX *ctx = NULL;
	_cleanup_(secret_freep) struct secret *out = NULL;
	size_t outlen;
	int r;

	if (!EVP_PKEY_is_a(pkey, "RSA"))
		return log_debug_errno(-EINVAL, "OAEP: not an RSA key");
	if (len != (size_t)EVP_PKEY_get_size(pkey))
		return log_debug_errno(-EBADMSG, "OAEP: %zu bytes, the modulus has %d", len,
				       EVP_PKEY_get_size(pkey));
	r = secret_new(len, &out);
	if (r < 0)
		return r;
	outlen = out->len;
	ctx = EVP_PKEY_CTX_new(pkey, NULL);
	if (!ctx)
		return -ENOMEM;
	if (EVP_PKEY_decrypt_init(ctx) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) != 1 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) != 1 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) != 1)
		return ossl_fail(-EINVAL, "OAEP init");
	if (EVP_PKEY_decrypt(ctx, out->data, &outlen, in, len) != 1)
		return ossl_fail(log_debug_errno(-EBADMSG, "OAEP decryption failed"), "OAEP");
	r = secret_truncate(out, outlen);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(out);
	return 0;
}

int unwrap_release_ciphertext(EVP_PKEY *pkey, enum unwrap_enc enc, const uint8_t *ct, size_t len,
			      struct secret **ret)
{
	_cleanup_(secret_freep) struct secret *kek = NULL;
	const EVP_MD *md = unwrap_enc_md(enc);
	size_t mod;
	int r;

	if (!md || !EVP_PKEY_is_a(pkey, "RSA"))
		return log_debug_errno(-EINVAL, "Unwrap: unknown enc or not an RSA key");
	mod = (size_t)EVP_PKEY_get_size(pkey);
	if (len <= mod)
		return log_debug_errno(-EBADMSG, "Released ciphertext of %zu bytes is too short",
				       len);
	r = unwrap_oaep(pkey, md, ct, mod, &kek);
	if (r < 0)
		return r;
	if (!kwp_cipher(kek->len))
		return log_debug_errno(-EBADMSG, "OAEP gave a %zu-byte AES key", kek->len);
	return unwrap_kwp(kek->data, kek->len, ct + mod, len - mod, ret);
}
