/* SPDX-License-Identifier: MIT */
/*
 * test_luks_af.c - AF split/merge and the keyslot-area cipher (docs/luks2.md, Keyslot unlock):
 * round trips, diffusion actually mixing every stripe, and the area cipher against a one-shot
 * OpenSSL AES-XTS of the same unit with IV = unit index.
 */
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>

#include "src/volume/luks_af.h"
#include "unit.h"

START_TEST(luks_af_sizes)
{
	ck_assert_uint_eq(luks_af_size(64), 256000);
	ck_assert_uint_eq(luks_af_area_len(64), 256000);
	ck_assert_uint_eq(luks_af_area_len(96), 384000);
	ck_assert_uint_eq(luks_af_area_len(32), 128000);
	ck_assert_uint_eq(luks_af_area_len(20), 80384); /* 80000 rounded up to 512 */
}
END_TEST

static const size_t key_lens[] = { 32, 64, 96, 20, 33 };

START_TEST(luks_af_split_merge_round_trip)
{
	size_t n = key_lens[_i];
	uint8_t key[96], back[96];
	_cleanup_free_ uint8_t *af = malloc(luks_af_size(n));
	_cleanup_free_ uint8_t *af2 = malloc(luks_af_size(n));

	ck_assert_int_eq(RAND_bytes(key, (int)n), 1);
	ck_assert_int_eq(luks_af_split(key, n, af), 0);
	ck_assert_int_eq(luks_af_merge(af, n, back), 0);
	ck_assert_mem_eq(key, back, n);
	/* Random stripes: a second split differs, and still merges to the key. */
	ck_assert_int_eq(luks_af_split(key, n, af2), 0);
	ck_assert_int_ne(memcmp(af, af2, luks_af_size(n)), 0);
	ck_assert_int_eq(luks_af_merge(af2, n, back), 0);
	ck_assert_mem_eq(key, back, n);
	/* One flipped bit in any stripe (first, middle, last) changes the merged key. */
	for (size_t s = 0; s < LUKS_AF_STRIPES; s += 1999) {
		af[s * n + n / 2] ^= 0x01;
		ck_assert_int_eq(luks_af_merge(af, n, back), 0);
		ck_assert_int_ne(memcmp(key, back, n), 0);
		af[s * n + n / 2] ^= 0x01;
	}
}
END_TEST

START_TEST(luks_af_rejects_bad_sizes)
{
	uint8_t key[128] = { 0 }, out[8];

	ck_assert_int_eq(luks_af_merge(key, 0, out), -EINVAL);
	ck_assert_int_eq(luks_af_merge(key, 97, out), -EINVAL);
	ck_assert_int_eq(luks_af_split(key, 0, out), -EINVAL);
}
END_TEST

static void xts_unit(const uint8_t *key, size_t klen, uint64_t unit, const uint8_t *in,
		     uint8_t *out)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	uint8_t iv[16] = { 0 };
	int l;

	for (int i = 0; i < 8; i++)
		iv[i] = (uint8_t)(unit >> (8 * i));
	ck_assert_int_eq(EVP_EncryptInit_ex(c, klen == 64 ? EVP_aes_256_xts() : EVP_aes_128_xts(),
					    NULL, key, iv),
			 1);
	ck_assert_int_eq(EVP_EncryptUpdate(c, out, &l, in, 512), 1);
	EVP_CIPHER_CTX_free(c);
}

START_TEST(luks_area_matches_openssl_per_unit)
{
	size_t klen = _i ? 64 : 32;
	uint8_t key[64], ref[512];
	size_t len = 8 * 512;
	_cleanup_free_ uint8_t *plain = malloc(len);
	_cleanup_free_ uint8_t *buf = malloc(len);

	ck_assert_int_eq(RAND_bytes(key, sizeof(key)), 1);
	ck_assert_int_eq(RAND_bytes(plain, (int)len), 1);
	memcpy(buf, plain, len);
	ck_assert_int_eq(luks_area_encrypt(key, klen, 5, buf, len), 0);
	for (size_t u = 0; u < 8; u++) {
		xts_unit(key, klen, 5 + u, plain + u * 512, ref);
		ck_assert_mem_eq(buf + u * 512, ref, 512);
	}
	ck_assert_int_eq(luks_area_decrypt(key, klen, 5, buf, len), 0);
	ck_assert_mem_eq(buf, plain, len);
	ck_assert_int_eq(luks_area_decrypt(key, klen, 5, buf, 100), -EINVAL);
	ck_assert_int_eq(luks_area_decrypt(key, 48, 5, buf, 512), -EINVAL);
}
END_TEST

static Suite *luks_af_suite(void)
{
	Suite *s = suite_create("luks_af");
	TCase *tc = tcase_create("af");

	tcase_add_test(tc, luks_af_sizes);
	tcase_add_loop_test(tc, luks_af_split_merge_round_trip, 0, (int)ELEMENTSOF(key_lens));
	tcase_add_test(tc, luks_af_rejects_bad_sizes);
	tcase_add_loop_test(tc, luks_area_matches_openssl_per_unit, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(luks_af_suite)
