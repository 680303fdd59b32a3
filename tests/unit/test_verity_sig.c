/* SPDX-License-Identifier: MIT */
/*
 * test_verity_sig.c - publisher-signed seals (verity_sig.h): sign a sealed file, find the block
 * by size, verify with the public key as PEM and as JWK; refuse a wrong key, a changed
 * signature or statement, a version below the minimum, a block for another layout, a missing
 * block, and malformed blocks (parser negatives); keys that are not RSA 2048..8192 are refused.
 * The keys are generated here with OpenSSL.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sealmount/jsonx.h"
#include "sealmount/jwk.h"
#include "sealmount/verity_sig.h"
#include "unit.h"

#define BS VERITY_BLOCK_SIZE

static char dir[64], img[128], priv[128], pub[128], jwk[128], priv2[128], pub2[128];
static EVP_PKEY *key1, *key2;

static void write_pem(const char *path, EVP_PKEY *k, bool private)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(private ? PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) :
				   PEM_write_PUBKEY(f, k),
			 1);
	fclose(f);
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
	fclose(f);
}

static void setup(void)
{
	json_t *j = NULL;
	char *text = NULL;

	snprintf(dir, sizeof(dir), "/tmp/test_verity_sig.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(priv, sizeof(priv), "%s/priv.pem", dir);
	snprintf(pub, sizeof(pub), "%s/pub.pem", dir);
	snprintf(jwk, sizeof(jwk), "%s/pub.jwk", dir);
	snprintf(priv2, sizeof(priv2), "%s/priv2.pem", dir);
	snprintf(pub2, sizeof(pub2), "%s/pub2.pem", dir);
	ck_assert_ptr_nonnull(key1);
	ck_assert_ptr_nonnull(key2);
	write_pem(priv, key1, true);
	write_pem(pub, key1, false);
	write_pem(priv2, key2, true);
	write_pem(pub2, key2, false);
	ck_assert_int_eq(jwk_rsa_public_json(key1, &j), 0);
	ck_assert_int_eq(jsonx_dump_sorted(j, &text), 0);
	write_text(jwk, text);
	free(text);
	json_decref(j);
}

static void teardown(void)
{
	const char *files[] = { img, priv, pub, jwk, priv2, pub2 };

	for (size_t i = 0; i < ELEMENTSOF(files); i++)
		unlink(files[i]);
	rmdir(dir);
}

static void make_sealed(uint64_t blocks, uint8_t root[32])
{
	int fd = open(img, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	uint8_t b[BS];

	ck_assert_int_ge(fd, 0);
	for (uint64_t i = 0; i < blocks; i++) {
		memset(b, (int)(i * 7), sizeof(b));
		ck_assert_int_eq(pwrite(fd, b, BS, (off_t)(i * BS)), BS);
	}
	close(fd);
	ck_assert_int_eq(verity_seal_file(img, NULL, root, NULL, NULL), 0);
}

static int sign(const char *key, uint64_t version, uint8_t root[32], struct diag *d)
{
	struct verity_signer *s = NULL;
	int r = verity_signer_load(key, &s, d);

	if (r == 0)
		r = verity_sign_file(img, s, version, root, d);
	verity_signer_free(s);
	return r;
}

/* Locate the image and run the pipeline's step with the key file at keypath. */
static int signed_root(const char *keypath, uint64_t min, uint8_t root[32], uint64_t *version,
		       struct diag *d)
{
	struct verity_pubkey *k = NULL;
	struct verity_image im;
	struct bdev *dev = NULL;
	int r;

	ck_assert_int_eq(verity_pubkey_load(keypath, &k, NULL), 0);
	ck_assert_int_eq(bdev_file_open(img, false, &dev), 0);
	r = verity_locate(dev, &im, NULL);
	if (r == 0)
		r = verity_signed_root(dev, &im, k, min, root, version, d);
	bdev_free(dev);
	verity_pubkey_free(k);
	return r;
}

static void flip_byte(uint64_t off)
{
	int fd = open(img, O_RDWR);
	uint8_t c;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &c, 1, (off_t)off), 1);
	c ^= 0x40;
	ck_assert_int_eq(pwrite(fd, &c, 1, (off_t)off), 1);
	close(fd);
}

static uint64_t file_size(void)
{
	struct stat st;

	ck_assert_int_eq(stat(img, &st), 0);
	return (uint64_t)st.st_size;
}

START_TEST(verity_sig_sign_and_verify)
{
	uint8_t root[32], signed_[32], got[32];
	uint64_t size, v = 0;
	struct diag d = { 0 };

	make_sealed(300, root);
	size = file_size();
	ck_assert_int_eq(sign(priv, 3, signed_, &d), 0);
	ck_assert_int_eq(memcmp(root, signed_, 32), 0); /* the file's own root */
	ck_assert_uint_eq(file_size(), size + VERITY_SIG_BLOCK_SIZE);
	ck_assert_msg(signed_root(pub, 1, got, &v, &d) == 0, "%s", d.text);
	ck_assert_int_eq(memcmp(got, root, 32), 0);
	ck_assert_uint_eq(v, 3);
	ck_assert_int_eq(signed_root(pub, 3, got, NULL, NULL), 0);
	ck_assert_int_eq(signed_root(jwk, 0, got, NULL, NULL), 0);
	/* re-signing replaces the block */
	ck_assert_int_eq(sign(priv, 7, signed_, NULL), 0);
	ck_assert_uint_eq(file_size(), size + VERITY_SIG_BLOCK_SIZE);
	ck_assert_int_eq(signed_root(pub, 7, got, &v, NULL), 0);
	ck_assert_uint_eq(v, 7);
}
END_TEST

START_TEST(verity_sig_refuses_lower_version)
{
	uint8_t root[32];
	struct diag d = { 0 };

	make_sealed(300, root);
	ck_assert_int_eq(sign(priv, 3, root, NULL), 0);
	ck_assert_int_eq(signed_root(pub, 4, root, NULL, &d), -ESTALE);
	ck_assert_ptr_nonnull(strstr(d.text, "below the minimum 4"));
	ck_assert_int_eq(signed_root(pub, UINT64_MAX, root, NULL, NULL), -ESTALE);
}
END_TEST

START_TEST(verity_sig_refuses_wrong_key)
{
	uint8_t root[32];
	struct diag d = { 0 };

	make_sealed(300, root);
	ck_assert_int_eq(sign(priv2, 3, root, NULL), 0);
	ck_assert_int_eq(signed_root(pub, 0, root, NULL, &d), -EKEYREJECTED);
	ck_assert_ptr_nonnull(strstr(d.text, "another key"));
	ck_assert_int_eq(signed_root(pub2, 0, root, NULL, NULL), 0);
}
END_TEST

START_TEST(verity_sig_refuses_changed_block)
{
	uint8_t root[32];
	uint64_t at;
	struct diag d = { 0 };

	make_sealed(300, root);
	ck_assert_int_eq(sign(priv, 3, root, NULL), 0);
	at = file_size() - VERITY_SIG_BLOCK_SIZE;
	flip_byte(at + VERITY_SIG_OFFSET + 10); /* the signature */
	ck_assert_int_eq(signed_root(pub, 0, root, NULL, &d), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(d.text, "does not verify"));
	flip_byte(at + VERITY_SIG_OFFSET + 10);
	flip_byte(at + 16); /* the version: 3 -> 67, unsigned */
	ck_assert_int_eq(signed_root(pub, 0, root, NULL, NULL), -EBADMSG);
	flip_byte(at + 16);
	flip_byte(at + 40); /* the root hash */
	ck_assert_int_eq(signed_root(pub, 0, root, NULL, NULL), -EBADMSG);
	flip_byte(at + 40);
	ck_assert_int_eq(signed_root(pub, 0, root, NULL, NULL), 0);
}
END_TEST

START_TEST(verity_sig_missing_or_truncated)
{
	uint8_t root[32];
	struct diag d = { 0 };
	int fd;

	make_sealed(300, root);
	ck_assert_int_eq(signed_root(pub, 0, root, NULL, &d), -ENOKEY);
	ck_assert_int_eq(sign(priv, 1, root, NULL), 0);
	/* cut inside the signature block: no longer a sealed image of any kind */
	fd = open(img, O_RDWR);
	ck_assert_int_eq(ftruncate(fd, (off_t)file_size() - 100), 0);
	close(fd);
	ck_assert_int_eq(signed_root(pub, 0, root, NULL, NULL), -ENODATA);
}
END_TEST

/* The block of one image glued onto another sealed with another size. */
START_TEST(verity_sig_refuses_other_layout)
{
	uint8_t root[32], block[VERITY_SIG_BLOCK_SIZE];
	struct verity_sig sig;
	struct verity_image im;
	struct verity_pubkey *k = NULL;
	struct verity_signer *s = NULL;
	struct bdev *dev = NULL;
	struct diag d = { 0 };

	make_sealed(300, root);
	ck_assert_int_eq(bdev_file_open(img, false, &dev), 0);
	ck_assert_int_eq(verity_locate(dev, &im, NULL), 0);
	bdev_free(dev);
	ck_assert_int_eq(verity_signer_load(priv, &s, NULL), 0);
	ck_assert_int_eq(verity_pubkey_load(pub, &k, NULL), 0);
	ck_assert_int_eq(verity_sig_sign(s, &im, root, 2, block, NULL), 0);
	ck_assert_int_eq(verity_sig_parse(block, sizeof(block), &sig, NULL), 0);
	im.has_signature = true;
	ck_assert_int_eq(verity_sig_verify(&sig, k, &im, 0, NULL), 0);
	im.g.data_size += BS;
	ck_assert_int_eq(verity_sig_verify(&sig, k, &im, 0, &d), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(d.text, "data bytes"));
	im.g.data_size -= BS;
	im.g.end += BS;
	ck_assert_int_eq(verity_sig_verify(&sig, k, &im, 0, NULL), -EBADMSG);
	im.g.end -= BS;
	sig.sig_len = 384; /* not the key's size */
	ck_assert_int_eq(verity_sig_verify(&sig, k, &im, 0, NULL), -EBADMSG);
	verity_signer_free(s);
	verity_pubkey_free(k);
}
END_TEST

static void good_block(uint8_t block[VERITY_SIG_BLOCK_SIZE])
{
	struct verity_image im = { .has_signature = true };
	struct verity_signer *s = NULL;
	uint8_t root[32] = { 1, 2, 3 };

	ck_assert_int_eq(verity_geometry_init(300, &im.g), 0);
	ck_assert_int_eq(verity_signer_load(priv, &s, NULL), 0);
	ck_assert_int_eq(verity_sig_sign(s, &im, root, 9, block, NULL), 0);
	verity_signer_free(s);
}

static const struct {
	size_t off;
	uint8_t val;
	const char *what;
} sig_evil[] = {
	{ 0, 'S', "magic" },
	{ 7, 'x', "magic NUL" },
	{ 8, 2, "format 2" },
	{ 12, 2, "algorithm 2" },
	{ 105, 0x00, "signature length 0" },
	{ 105, 0x05, "signature length 1280" },
	{ 106, 1, "reserved" },
	{ 111, 1, "reserved end" },
	{ 112 + 256, 1, "byte after the signature" },
	{ 4095, 1, "last byte" },
};

START_TEST(verity_sig_parse_rejects)
{
	uint8_t block[VERITY_SIG_BLOCK_SIZE];
	struct verity_sig sig;

	good_block(block);
	ck_assert_int_eq(verity_sig_parse(block, sizeof(block), &sig, NULL), 0);
	ck_assert_uint_eq(sig.version, 9);
	ck_assert_uint_eq(sig.sig_len, 256);
	ck_assert_uint_eq(sig.data_size, 300 * BS);
	block[sig_evil[_i].off] = sig_evil[_i].val;
	ck_assert_msg(verity_sig_parse(block, sizeof(block), &sig, NULL) == -EBADMSG,
		      "accepted: %s", sig_evil[_i].what);
}
END_TEST

START_TEST(verity_sig_parse_rejects_sizes_and_garbage)
{
	uint8_t block[VERITY_SIG_BLOCK_SIZE];
	struct verity_sig sig;

	good_block(block);
	ck_assert_int_eq(verity_sig_parse(block, sizeof(block) - 1, &sig, NULL), -EBADMSG);
	ck_assert_int_eq(verity_sig_parse(block, 100, &sig, NULL), -EBADMSG);
	for (size_t i = 0; i < sizeof(block); i++)
		block[i] = (uint8_t)(i * 131 + 7);
	ck_assert_int_eq(verity_sig_parse(block, sizeof(block), &sig, NULL), -EBADMSG);
	memcpy(block, VERITY_SIG_MAGIC, VERITY_SIG_MAGIC_LEN); /* magic, then garbage */
	ck_assert_int_eq(verity_sig_parse(block, sizeof(block), &sig, NULL), -EBADMSG);
}
END_TEST

START_TEST(verity_sig_key_parse)
{
	static const char *const bad[] = {
		"",
		"garbage",
		"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AA\",\"y\":\"AA\"}",
		"{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}",
		"{\"kty\":\"RSA\"",
	};
	struct verity_pubkey *k = NULL;
	struct verity_signer *s = NULL;
	EVP_PKEY *small = EVP_RSA_gen(1024), *ec = EVP_EC_gen("P-256");
	uint8_t id1[32], id2[32];

	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		ck_assert_msg(verity_pubkey_parse(bad[i], strlen(bad[i]), &k, NULL) < 0,
			      "accepted key %zu", i);
	/* the same key as PEM and JWK has one id */
	ck_assert_int_eq(verity_pubkey_load(pub, &k, NULL), 0);
	verity_pubkey_id(k, id1);
	verity_pubkey_free(k);
	ck_assert_int_eq(verity_pubkey_load(jwk, &k, NULL), 0);
	verity_pubkey_id(k, id2);
	verity_pubkey_free(k);
	ck_assert_int_eq(memcmp(id1, id2, 32), 0);
	/* RSA-1024 and EC keys are refused, as public and as private keys */
	ck_assert_ptr_nonnull(small);
	ck_assert_ptr_nonnull(ec);
	write_pem(pub2, small, false);
	write_pem(priv2, small, true);
	ck_assert_int_eq(verity_pubkey_load(pub2, &k, NULL), -EINVAL);
	ck_assert_int_eq(verity_signer_load(priv2, &s, NULL), -EINVAL);
	write_pem(pub2, ec, false);
	write_pem(priv2, ec, true);
	ck_assert_int_eq(verity_pubkey_load(pub2, &k, NULL), -EINVAL);
	ck_assert_int_eq(verity_signer_load(priv2, &s, NULL), -EINVAL);
	/* a public key is no signing key */
	ck_assert_int_eq(verity_signer_load(pub, &s, NULL), -EBADMSG);
	EVP_PKEY_free(small);
	EVP_PKEY_free(ec);
}
END_TEST

START_TEST(verity_sig_sign_unsealed_refused)
{
	int fd = open(img, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	uint8_t root[32];
	struct diag d = { 0 };

	ck_assert_int_eq(ftruncate(fd, 64 * BS), 0);
	close(fd);
	ck_assert_int_eq(sign(priv, 1, root, &d), -ENODATA);
	ck_assert_ptr_nonnull(strstr(d.text, "not sealed"));
}
END_TEST

/* A sealed image whose tree does not match its data is not signed. */
START_TEST(verity_sig_sign_inconsistent_refused)
{
	uint8_t root[32];

	make_sealed(300, root);
	flip_byte(100 * BS);
	ck_assert_int_eq(sign(priv, 1, root, NULL), -EBADMSG);
}
END_TEST

static Suite *verity_sig_suite(void)
{
	Suite *s = suite_create("verity_sig");
	TCase *tc = tcase_create("core");

	/* Once, before Check forks a process per test. */
	key1 = EVP_RSA_gen(2048);
	key2 = EVP_RSA_gen(2048);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, verity_sig_sign_and_verify);
	tcase_add_test(tc, verity_sig_refuses_lower_version);
	tcase_add_test(tc, verity_sig_refuses_wrong_key);
	tcase_add_test(tc, verity_sig_refuses_changed_block);
	tcase_add_test(tc, verity_sig_missing_or_truncated);
	tcase_add_test(tc, verity_sig_refuses_other_layout);
	tcase_add_loop_test(tc, verity_sig_parse_rejects, 0, (int)ELEMENTSOF(sig_evil));
	tcase_add_test(tc, verity_sig_parse_rejects_sizes_and_garbage);
	tcase_add_test(tc, verity_sig_key_parse);
	tcase_add_test(tc, verity_sig_sign_unsealed_refused);
	tcase_add_test(tc, verity_sig_sign_inconsistent_refused);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(verity_sig_suite)
