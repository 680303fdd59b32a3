/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

#include "jose_util.h"
#include "sealmount/codec.h"
#include "sealmount/keyderive.h"
#include "unit.h"

static void expect_hex(const struct secret *s, const char *want)
{
	char got[2 * 64 + 1];

	ck_assert_uint_le(s->len, 64);
	hex_encode(s->data, s->len, got);
	ck_assert_str_eq(got, want);
}

/* RFC 5869 appendix A, test cases 1 and 3 (SHA-256). */
START_TEST(keyderive_hkdf_rfc5869_vectors)
{
	uint8_t ikm[22], salt[13], info[10];
	_cleanup_(secret_freep) struct secret *a = NULL, *b = NULL;

	memset(ikm, 0x0b, sizeof(ikm));
	for (size_t i = 0; i < sizeof(salt); i++)
		salt[i] = (uint8_t)i;
	for (size_t i = 0; i < sizeof(info); i++)
		info[i] = (uint8_t)(0xf0 + i);
	ck_assert_int_eq(keyderive_hkdf_sha256(ikm, sizeof(ikm), salt, sizeof(salt), info,
					       sizeof(info), 42, &a),
			 0);
	expect_hex(a, "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
		      "34007208d5b887185865");
	ck_assert_int_eq(keyderive_hkdf_sha256(ikm, sizeof(ikm), NULL, 0, NULL, 0, 42, &b), 0);
	expect_hex(b, "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
		      "9d201395faa4b61a96c8");
}
END_TEST

START_TEST(keyderive_hkdf_rejects_bad_args)
{
	struct secret *s = NULL;
	uint8_t k[4] = { 1, 2, 3, 4 };

	ck_assert_int_eq(keyderive_hkdf_sha256(k, 0, NULL, 0, NULL, 0, 32, &s), -EINVAL);
	ck_assert_int_eq(keyderive_hkdf_sha256(k, 4, NULL, 0, NULL, 0, 0, &s), -EINVAL);
	ck_assert_int_eq(keyderive_hkdf_sha256(k, 4, NULL, 0, NULL, 0, 255 * 32 + 1, &s), -EINVAL);
	ck_assert_int_eq(keyderive_hkdf_sha256(k, 4, NULL, 3, NULL, 0, 32, &s), -EINVAL);
	ck_assert_ptr_null(s);
}
END_TEST

/* The RSA key of Microsoft's tests as PKCS#8 DER in secret memory (what a release yields). */
static struct secret *golden_pkcs8(void)
{
	const char *dir = unit_shared_testdata();
	char path[4096];
	unsigned char *der = NULL;
	PKCS8_PRIV_KEY_INFO *p8;
	struct secret *s;
	EVP_PKEY *pkey;
	FILE *f;
	int n;

	ck_assert_ptr_nonnull(dir); /* a unit_tcase_shared() case */
	snprintf(path, sizeof(path), "%s/rsa2048-test-key.pem", dir);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	ck_assert_ptr_nonnull(pkey);
	p8 = EVP_PKEY2PKCS8(pkey);
	ck_assert_ptr_nonnull(p8);
	n = i2d_PKCS8_PRIV_KEY_INFO(p8, &der);
	PKCS8_PRIV_KEY_INFO_free(p8);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(secret_new_copy(der, (size_t)n, &s), 0);
	OPENSSL_clear_free(der, (size_t)n);
	EVP_PKEY_free(pkey);
	return s;
}

/* Expected values computed independently (Python cryptography's HKDF over d's minimal bytes). */
START_TEST(keyderive_rsa_golden_key)
{
	_cleanup_(secret_freep) struct secret *der = NULL, *a = NULL, *b = NULL, *c = NULL;

	der = golden_pkcs8();
	ck_assert_int_eq(
		keyderive_passphrase(KEYDERIVE_KTY_RSA, der,
				     &(struct keyderive_params){
					     .salt_hex = "00112233445566778899aabbccddeeff" },
				     &a),
		0);
	expect_hex(a, "e5a2b63a2052932d12923c6a493b8265d0d30ed7c002c5813986674afe94422d");
	ck_assert_int_eq(keyderive_passphrase(KEYDERIVE_KTY_RSA, der,
					      &(struct keyderive_params){ .salt_hex = "" }, &b),
			 0);
	expect_hex(b, "d44aea0db74566c3b1a7898dc7928f924670e5ea940e4f954ca39b13b416e83e");
	ck_assert_int_eq(keyderive_passphrase(KEYDERIVE_KTY_RSA, der,
					      &(struct keyderive_params){ .salt_hex = "ABcd",
									  .label = "my label" },
					      &c),
			 0);
	expect_hex(c, "a75478294d6975c4d67c72e5ca7adad512a81ef5a62b491b53c3c8c4962cd635");
}
END_TEST

START_TEST(keyderive_rsa_rejects_bad_inputs)
{
	_cleanup_(secret_freep) struct secret *junk = NULL;
	struct secret *out = NULL;
	EVP_PKEY *pub;
	uint8_t bytes[64];

	memset(bytes, 0x30, sizeof(bytes));
	ck_assert_int_eq(secret_new_copy(bytes, sizeof(bytes), &junk), 0);
	ck_assert_int_eq(
		keyderive_passphrase(KEYDERIVE_KTY_RSA, junk, &(struct keyderive_params){}, &out),
		-EBADMSG);
	/* A public key has no d. */
	pub = ju_rsa_key(2048);
	{
		EVP_PKEY *only_pub = NULL;
		unsigned char *der = NULL;
		const unsigned char *p;
		int n = i2d_PUBKEY(pub, &der);
		p = der;
		only_pub = d2i_PUBKEY(NULL, &p, n);
		ck_assert_int_eq(keyderive_rsa_d(only_pub, &out), -EINVAL);
		EVP_PKEY_free(only_pub);
		OPENSSL_free(der);
	}
	EVP_PKEY_free(pub);
	ck_assert_ptr_null(out);
}
END_TEST

START_TEST(keyderive_rsa_golden_key_bad_salt_and_truncated)
{
	_cleanup_(secret_freep) struct secret *der = golden_pkcs8();
	struct secret *out = NULL;

	ck_assert_int_eq(keyderive_passphrase(KEYDERIVE_KTY_RSA, der,
					      &(struct keyderive_params){ .salt_hex = "xyz0" },
					      &out),
			 -EBADMSG);
	ck_assert_int_eq(keyderive_passphrase(KEYDERIVE_KTY_RSA, der,
					      &(struct keyderive_params){ .salt_hex = "abc" },
					      &out),
			 -EBADMSG);
	ck_assert_int_eq(secret_truncate(der, der->len - 1), 0); /* truncated DER */
	ck_assert_int_eq(
		keyderive_passphrase(KEYDERIVE_KTY_RSA, der, &(struct keyderive_params){}, &out),
		-EBADMSG);
	ck_assert_ptr_null(out);
}
END_TEST

START_TEST(keyderive_oct_and_kty)
{
	_cleanup_(secret_freep) struct secret *k32 = NULL, *k31 = NULL, *out = NULL;
	struct secret *bad = NULL;
	enum keyderive_kty t;
	uint8_t raw[32];

	for (size_t i = 0; i < sizeof(raw); i++)
		raw[i] = (uint8_t)i;
	ck_assert_int_eq(secret_new_copy(raw, 32, &k32), 0);
	ck_assert_int_eq(secret_new_copy(raw, 31, &k31), 0);
	ck_assert_int_eq(keyderive_passphrase(KEYDERIVE_KTY_OCT, k32,
					      &(struct keyderive_params){ .salt_hex = "zz" }, &out),
			 0);
	ck_assert_mem_eq(out->data, raw, 32);
	ck_assert_int_eq(
		keyderive_passphrase(KEYDERIVE_KTY_OCT, k31, &(struct keyderive_params){}, &bad),
		-EBADMSG);
	ck_assert_ptr_null(bad);
	ck_assert_int_eq(keyderive_kty_parse("oct-HSM", &t), 0);
	ck_assert_int_eq(t, KEYDERIVE_KTY_OCT);
	ck_assert_int_eq(keyderive_kty_parse("RSA", &t), 0);
	ck_assert_int_eq(t, KEYDERIVE_KTY_RSA);
	ck_assert_int_eq(keyderive_kty_parse("EC-HSM", &t), -EOPNOTSUPP);
	ck_assert_int_eq(keyderive_kty_parse("rsa", &t), -EOPNOTSUPP);
}
END_TEST

static Suite *keyderive_suite(void)
{
	Suite *s = suite_create("keyderive");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, keyderive_hkdf_rfc5869_vectors);
	tcase_add_test(tc, keyderive_hkdf_rejects_bad_args);
	tcase_add_test(tc, keyderive_rsa_rejects_bad_inputs);
	tcase_add_test(tc, keyderive_oct_and_kty);
	suite_add_tcase(s, tc);
	tc = unit_tcase_shared("golden key");
	tcase_add_test(tc, keyderive_rsa_golden_key);
	tcase_add_test(tc, keyderive_rsa_golden_key_bad_salt_and_truncated);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(keyderive_suite)
