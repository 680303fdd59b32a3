/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <string.h>

#include "jose_util.h"
#include "sealmount/codec.h"
#include "sealmount/unwrap.h"
#include "unit.h"

/* RFC 5649 section 6 (AES-192 KEK). */
#define KEK "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8"
#define KEY20 "c37b7e6492584340bed12207808941155068f738"
#define WRAP20 "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a"
#define KEY7 "466f7250617369"
#define WRAP7 "afbeb0f07dfbf5419200f2ccb50bb24f"

static EVP_PKEY *rsa;

static void setup(void)
{
	rsa = ju_rsa_key(2048);
}

static uint8_t *unhex(const char *h, size_t *len)
{
	uint8_t *p;

	ck_assert_int_eq(hex_decode(h, strlen(h), &p, len), 0);
	return p;
}

static void check_vector(const char *wrapped, const char *want)
{
	size_t kl, wl, pl;
	_cleanup_free_ uint8_t *kek = unhex(KEK, &kl), *w = unhex(wrapped, &wl),
			       *plain = unhex(want, &pl);
	_cleanup_(secret_freep) struct secret *out = NULL;

	ck_assert_int_eq(unwrap_kwp(kek, kl, w, wl, &out), 0);
	ck_assert_uint_eq(out->len, pl);
	ck_assert_mem_eq(out->data, plain, pl);
}

START_TEST(unwrap_kwp_rfc5649_vectors)
{
	check_vector(WRAP20, KEY20);
	check_vector(WRAP7, KEY7); /* the single-block (n = 1) case */
}
END_TEST

START_TEST(unwrap_kwp_rejects_tampering_and_bad_sizes)
{
	size_t kl, wl;
	_cleanup_free_ uint8_t *kek = unhex(KEK, &kl), *w = unhex(WRAP20, &wl);
	struct secret *out = NULL;

	for (size_t i = 0; i < wl; i += 5) {
		w[i] ^= 0x40;
		ck_assert_int_eq(unwrap_kwp(kek, kl, w, wl, &out), -EBADMSG);
		w[i] ^= 0x40;
	}
	kek[0] ^= 1; /* wrong KEK */
	ck_assert_int_eq(unwrap_kwp(kek, kl, w, wl, &out), -EBADMSG);
	kek[0] ^= 1;
	ck_assert_int_eq(unwrap_kwp(kek, kl, w, wl - 8, &out), -EBADMSG); /* truncated */
	ck_assert_int_eq(unwrap_kwp(kek, kl, w, wl - 3, &out), -EBADMSG); /* not blocks */
	ck_assert_int_eq(unwrap_kwp(kek, kl, w, 8, &out), -EBADMSG);
	ck_assert_int_eq(unwrap_kwp(kek, 20, w, wl, &out), -EINVAL); /* KEK size */
	ck_assert_ptr_null(out);
}
END_TEST

START_TEST(unwrap_enc_names)
{
	enum unwrap_enc e;

	ck_assert_int_eq(unwrap_enc_parse("CKM_RSA_AES_KEY_WRAP", &e), 0);
	ck_assert_int_eq(e, UNWRAP_ENC_CKM_RSA_AES_KEY_WRAP);
	ck_assert_ptr_eq(unwrap_enc_md(e), EVP_sha1());
	ck_assert_int_eq(unwrap_enc_parse("RSA_AES_KEY_WRAP_256", &e), 0);
	ck_assert_ptr_eq(unwrap_enc_md(e), EVP_sha256());
	ck_assert_int_eq(unwrap_enc_parse("RSA_AES_KEY_WRAP_384", &e), 0);
	ck_assert_ptr_eq(unwrap_enc_md(e), EVP_sha384());
	ck_assert_str_eq(unwrap_enc_name(e), "RSA_AES_KEY_WRAP_384");
	ck_assert_int_eq(unwrap_enc_parse("rsa_aes_key_wrap_256", &e), -EINVAL);
	ck_assert_int_eq(unwrap_enc_parse("RSA-OAEP", &e), -EINVAL);
	ck_assert_ptr_null(unwrap_enc_name((enum unwrap_enc)7));
}
END_TEST

/* OAEP-encrypt with md (label empty, MGF1 = md) as the service does. */
static size_t oaep_encrypt(const EVP_MD *md, const uint8_t *in, size_t len, uint8_t *out)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(rsa, NULL);
	size_t outlen = 512;

	ck_assert_ptr_nonnull(ctx);
	ck_assert_int_eq(EVP_PKEY_encrypt_init(ctx), 1);
	ck_assert_int_eq(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING), 1);
	ck_assert_int_eq(EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md), 1);
	ck_assert_int_eq(EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md), 1);
	ck_assert_int_eq(EVP_PKEY_encrypt(ctx, out, &outlen, in, len), 1);
	EVP_PKEY_CTX_free(ctx);
	return outlen;
}

static size_t kwp_wrap(const uint8_t *kek, size_t kek_len, const uint8_t *in, size_t len,
		       uint8_t *out)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	const EVP_CIPHER *c = kek_len == 32 ? EVP_aes_256_wrap_pad() : EVP_aes_128_wrap_pad();
	int n = 0, f = 0;

	EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	ck_assert_int_eq(EVP_EncryptInit_ex(ctx, c, NULL, kek, NULL), 1);
	ck_assert_int_eq(EVP_EncryptUpdate(ctx, out, &n, in, (int)len), 1);
	ck_assert_int_eq(EVP_EncryptFinal_ex(ctx, out + n, &f), 1);
	EVP_CIPHER_CTX_free(ctx);
	return (size_t)(n + f);
}

START_TEST(unwrap_oaep_each_hash)
{
	static const enum unwrap_enc encs[] = { UNWRAP_ENC_CKM_RSA_AES_KEY_WRAP,
						UNWRAP_ENC_RSA_AES_KEY_WRAP_256,
						UNWRAP_ENC_RSA_AES_KEY_WRAP_384 };
	uint8_t kek[32], ct[256];

	ck_assert_int_eq(RAND_bytes(kek, sizeof(kek)), 1);
	for (size_t i = 0; i < ELEMENTSOF(encs); i++) {
		_cleanup_(secret_freep) struct secret *out = NULL;
		struct secret *bad = NULL;
		const EVP_MD *md = unwrap_enc_md(encs[i]);
		size_t n = oaep_encrypt(md, kek, sizeof(kek), ct);

		ck_assert_uint_eq(n, 256);
		ck_assert_int_eq(unwrap_oaep(rsa, md, ct, n, &out), 0);
		ck_assert_uint_eq(out->len, 32);
		ck_assert_mem_eq(out->data, kek, 32);
		/* Any other hash must fail: the hash is part of the padding check. */
		ck_assert_int_eq(unwrap_oaep(rsa, unwrap_enc_md(encs[(i + 1) % 3]), ct, n, &bad),
				 -EBADMSG);
		ck_assert_int_eq(unwrap_oaep(rsa, md, ct, n - 1, &bad), -EBADMSG);
		ct[17] ^= 1;
		ck_assert_int_eq(unwrap_oaep(rsa, md, ct, n, &bad), -EBADMSG);
		ck_assert_ptr_null(bad);
	}
}
END_TEST

START_TEST(unwrap_release_ciphertext_roundtrip)
{
	uint8_t kek[32], key[32], ct[256 + 64];
	size_t n;

	ck_assert_int_eq(RAND_bytes(kek, sizeof(kek)), 1);
	ck_assert_int_eq(RAND_bytes(key, sizeof(key)), 1);
	for (int e = 0; e < 3; e++) {
		_cleanup_(secret_freep) struct secret *out = NULL;
		struct secret *bad = NULL;

		n = oaep_encrypt(unwrap_enc_md((enum unwrap_enc)e), kek, sizeof(kek), ct);
		n += kwp_wrap(kek, sizeof(kek), key, sizeof(key), ct + n);
		ck_assert_uint_eq(n, 256 + 40);
		ck_assert_int_eq(unwrap_release_ciphertext(rsa, (enum unwrap_enc)e, ct, n, &out),
				 0);
		ck_assert_mem_eq(out->data, key, 32);
		ck_assert_int_eq(
			unwrap_release_ciphertext(rsa, (enum unwrap_enc)((e + 1) % 3), ct, n, &bad),
			-EBADMSG);
		ck_assert_int_eq(unwrap_release_ciphertext(rsa, (enum unwrap_enc)e, ct, 256, &bad),
				 -EBADMSG);
		ct[n - 1] ^= 1;
		ck_assert_int_eq(unwrap_release_ciphertext(rsa, (enum unwrap_enc)e, ct, n, &bad),
				 -EBADMSG);
		ck_assert_ptr_null(bad);
	}
}
END_TEST

START_TEST(unwrap_release_ciphertext_aes128_kek_and_bad_kek_sizes)
{
	_cleanup_(secret_freep) struct secret *out = NULL;
	uint8_t kek[32], key[7] = "Passwd", ct[256 + 64];
	struct secret *bad = NULL;
	size_t n;

	ck_assert_int_eq(RAND_bytes(kek, sizeof(kek)), 1);
	n = oaep_encrypt(EVP_sha256(), kek, 16, ct);
	n += kwp_wrap(kek, 16, key, sizeof(key), ct + n);
	ck_assert_int_eq(
		unwrap_release_ciphertext(rsa, UNWRAP_ENC_RSA_AES_KEY_WRAP_256, ct, n, &out), 0);
	ck_assert_mem_eq(out->data, key, sizeof(key));
	n = oaep_encrypt(EVP_sha256(), kek, 20, ct); /* a 20-byte "AES" key */
	n += kwp_wrap(kek, 16, key, sizeof(key), ct + n);
	ck_assert_int_eq(
		unwrap_release_ciphertext(rsa, UNWRAP_ENC_RSA_AES_KEY_WRAP_256, ct, n, &bad),
		-EBADMSG);
	ck_assert_int_eq(unwrap_release_ciphertext(rsa, (enum unwrap_enc)9, ct, n, &bad), -EINVAL);
}
END_TEST

static Suite *unwrap_suite(void)
{
	Suite *s = suite_create("unwrap");
	TCase *tc = tcase_create("core");

	tcase_add_unchecked_fixture(tc, setup, NULL);
	tcase_add_test(tc, unwrap_kwp_rfc5649_vectors);
	tcase_add_test(tc, unwrap_kwp_rejects_tampering_and_bad_sizes);
	tcase_add_test(tc, unwrap_enc_names);
	tcase_add_test(tc, unwrap_oaep_each_hash);
	tcase_add_test(tc, unwrap_release_ciphertext_roundtrip);
	tcase_add_test(tc, unwrap_release_ciphertext_aes128_kek_and_bad_kek_sizes);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(unwrap_suite)
