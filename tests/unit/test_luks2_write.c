/* SPDX-License-Identifier: MIT */
/*
 * test_luks2_write.c - the LUKS2 header writer (luks2_write.h): what it writes must pass the
 * mount-time validator (luks2_hdr_parse, require_integrity where there is integrity), its JSON
 * must be byte-identical to cryptsetup's shape (docs/dm-integrity.md, Creating images step 4), the
 * keyslot must give back the volume key through an independent path (KDF + luks_area_decrypt +
 * luks_af_merge) and through luks_unlock(), and parameters outside what we create are refused.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sealmount/bdev.h"
#include "sealmount/luks.h"
#include "sealmount/luks2.h"
#include "sealmount/luks2_write.h"
#include "src/volume/luks_af.h"
#include "unit.h"

#define DEV_SIZE (64ull << 20)
#define ZERO_B64 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

struct cfg {
	enum luks2_integrity integrity;
	uint32_t sector;
	enum luks2_kdf_type kdf;
	bool no_journal;
	uint32_t vk_size, area_size;
};

static const struct cfg cfgs[] = {
	{ LUKS2_INTEGRITY_HMAC_SHA256, 4096, LUKS2_KDF_PBKDF2, false, 96, 385024 },
	{ LUKS2_INTEGRITY_HMAC_SHA256, 512, LUKS2_KDF_PBKDF2, true, 96, 385024 },
	{ LUKS2_INTEGRITY_AEAD, 4096, LUKS2_KDF_PBKDF2, false, 32, 131072 },
	{ LUKS2_INTEGRITY_NONE, 4096, LUKS2_KDF_PBKDF2, false, 64, 258048 },
	{ LUKS2_INTEGRITY_NONE, 512, LUKS2_KDF_ARGON2ID, true, 64, 258048 },
	{ LUKS2_INTEGRITY_HMAC_SHA256, 4096, LUKS2_KDF_ARGON2ID, false, 96, 385024 },
};

static struct secret *make_secret(size_t n, uint8_t fill)
{
	struct secret *s = NULL;

	ck_assert_int_eq(secret_new(n, &s), 0);
	for (size_t i = 0; i < n; i++)
		s->data[i] = (uint8_t)(fill + i * 7);
	return s;
}

static void params_for(const struct cfg *c, struct luks2_write_params *p)
{
	luks2_write_params_init(p);
	p->integrity = c->integrity;
	p->sector_size = c->sector;
	p->kdf = c->kdf;
	p->no_journal = c->no_journal;
	p->pbkdf2_iterations = 1000; /* fast tests */
	p->argon2_memory_kib = 1024;
	p->argon2_time = 1;
	p->argon2_cpus = 1;
}

static uint64_t be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* The keyslot by hand: KDF, decrypt the area, AF merge. */
static void check_keyslot_by_hand(const struct luks2_hdr *h, const uint8_t *img,
				  const struct secret *pass, const struct secret *vk)
{
	const struct luks2_keyslot *k = &h->keyslots[0];
	size_t n = luks_af_area_len(k->key_size);
	_cleanup_free_ uint8_t *area = malloc(n);
	uint8_t dk[64], got[LUKS2_VK_MAX];

	ck_assert_ptr_nonnull(area);
	memcpy(area, img + k->area_offset, n);
	if (k->kdf.type != LUKS2_KDF_PBKDF2)
		return; /* argon2 is checked through luks_unlock() */
	ck_assert_int_eq(PKCS5_PBKDF2_HMAC((const char *)pass->data, (int)pass->len, k->kdf.salt,
					   32, (int)k->kdf.iterations, EVP_sha256(), 64, dk),
			 1);
	ck_assert_int_eq(luks_area_decrypt(dk, 64, 0, area, n), 0);
	ck_assert_int_eq(luks_af_merge(area, k->key_size, got), 0);
	ck_assert_mem_eq(got, vk->data, vk->len);
}

static struct bdev *image_dev(const uint8_t *img, char *path)
{
	struct bdev *b = NULL;
	int fd;

	snprintf(path, 64, "/tmp/test_luks2_write.XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, img, LUKS2_WRITE_DATA_OFFSET, 0),
			 (ssize_t)LUKS2_WRITE_DATA_OFFSET);
	ck_assert_int_eq(ftruncate(fd, (off_t)DEV_SIZE), 0);
	close(fd);
	ck_assert_int_eq(bdev_file_open(path, false, &b), 0);
	return b;
}

static void check_unlock(const struct luks2_hdr *h, const uint8_t *img, const struct secret *pass,
			 const struct secret *vk)
{
	_cleanup_(secret_freep) struct secret *got = NULL, *wrong = make_secret(32, 99);
	_cleanup_(bdev_freep) struct bdev *b = NULL;
	char path[64];

	b = image_dev(img, path);
	unlink(path);
	ck_assert_int_eq(luks_unlock(b, h, pass, &got), 0);
	ck_assert(secret_equal(got, vk));
	secret_free(TAKE_PTR(got));
	ck_assert_int_eq(luks_unlock(b, h, wrong, &got), -EPERM);
}

START_TEST(luks2_write_passes_validation)
{
	const struct cfg *c = &cfgs[_i];
	_cleanup_(secret_freep) struct secret *pass = make_secret(32, 1), *vk = NULL;
	_cleanup_(luks2_hdr_freep) struct luks2_hdr *h = NULL;
	_cleanup_free_ uint8_t *img = NULL;
	struct luks2_write_params p;
	struct luks2_policy pol;
	struct luks2_verdict v;

	params_for(c, &p);
	ck_assert_int_eq(luks2_write_vk_new(&p, &vk), 0);
	ck_assert_uint_eq(vk->len, c->vk_size);
	ck_assert_int_eq(luks2_write_header(&p, pass, vk, &img), 0);
	luks2_policy_init(&pol);
	pol.require_integrity = c->integrity != LUKS2_INTEGRITY_NONE;
	ck_assert_msg(luks2_hdr_parse(img, LUKS2_WRITE_DATA_OFFSET, DEV_SIZE, &pol, &h, &v) == 0,
		      "refused: %s: %s", v.rule, v.detail);
	ck_assert_uint_eq(h->hdr_size, 16384);
	ck_assert_uint_eq(h->seqid, 1);
	ck_assert_uint_eq(h->keyslots_size, 16744448);
	ck_assert_uint_eq(h->n_keyslots, 1);
	ck_assert_uint_eq(h->keyslots[0].key_size, c->vk_size);
	ck_assert_uint_eq(h->keyslots[0].area_offset, 32768);
	ck_assert_uint_eq(h->keyslots[0].area_size, c->area_size);
	ck_assert_uint_eq(h->keyslots[0].area_key_size, 64);
	ck_assert_int_eq(h->keyslots[0].kdf.type, c->kdf);
	ck_assert_int_eq(h->segment.integrity, c->integrity);
	ck_assert_uint_eq(h->segment.sector_size, c->sector);
	ck_assert_uint_eq(h->segment.offset, 16u << 20);
	ck_assert(h->segment.dynamic);
	ck_assert_uint_eq(h->segment.key_size, c->vk_size);
	ck_assert_uint_eq(h->digest.iterations, LUKS2_WRITE_DIGEST_ITER);
	ck_assert_int_eq(h->no_journal, c->no_journal);
	/* Binary copies: magics, offsets, per-copy salts. */
	ck_assert_mem_eq(img, "LUKS\xba\xbe", 6);
	ck_assert_mem_eq(img + 16384, "SKUL\xba\xbe", 6);
	ck_assert_uint_eq(be64(img + 256), 0);
	ck_assert_uint_eq(be64(img + 16384 + 256), 16384);
	ck_assert_mem_ne(img + 104, img + 16384 + 104, 64);
	ck_assert_mem_eq(img + 4096, img + 16384 + 4096, 12288);
	check_keyslot_by_hand(h, img, pass, vk);
	check_unlock(h, img, pass, vk);
}
END_TEST

START_TEST(luks2_write_json_exact)
{
	static const uint8_t zero[32];
	static const char want[] =
		"{\"keyslots\":{\"0\":{\"type\":\"luks2\",\"key_size\":96,\"af\":{\"type\":"
		"\"luks1\",\"stripes\":4000,\"hash\":\"sha256\"},\"area\":{\"type\":\"raw\","
		"\"offset\":\"32768\",\"size\":\"385024\",\"encryption\":\"aes-xts-plain64\","
		"\"key_size\":64},\"kdf\":{\"type\":\"pbkdf2\",\"hash\":\"sha256\",\"iterations\":"
		"1000,\"salt\":\"" ZERO_B64 "\"}}},\"tokens\":{},\"segments\":{\"0\":{\"type\":"
		"\"crypt\",\"offset\":\"16777216\",\"size\":\"dynamic\",\"iv_tweak\":\"0\","
		"\"encryption\":\"aes-xts-plain64\",\"sector_size\":4096,\"integrity\":{\"type\":"
		"\"hmac(sha256)\",\"journal_encryption\":\"none\",\"journal_integrity\":\"none\"}}},"
		"\"digests\":{\"0\":{\"type\":\"pbkdf2\",\"keyslots\":[\"0\"],\"segments\":[\"0\"],"
		"\"hash\":\"sha256\",\"iterations\":1000,\"salt\":\"" ZERO_B64 "\",\"digest\":"
		"\"" ZERO_B64 "\"}},\"config\":{\"json_size\":\"12288\",\"keyslots_size\":"
		"\"16744448\"}}";
	_cleanup_free_ char *json = NULL, *nj = NULL;
	struct luks2_write_params p;

	luks2_write_params_init(&p);
	p.pbkdf2_iterations = 1000;
	ck_assert_int_eq(luks2_write_json(&p, zero, zero, zero, &json), 0);
	ck_assert_str_eq(json, want);
	/* no-journal goes last in config; argon2id and aead shapes. */
	p.no_journal = true;
	p.kdf = LUKS2_KDF_ARGON2ID;
	p.integrity = LUKS2_INTEGRITY_AEAD;
	ck_assert_int_eq(luks2_write_json(&p, zero, zero, zero, &nj), 0);
	ck_assert_ptr_nonnull(
		strstr(nj, "\"keyslots_size\":\"16744448\",\"flags\":[\"no-journal\"]}}"));
	ck_assert_ptr_nonnull(strstr(nj,
				     "\"kdf\":{\"type\":\"argon2id\",\"time\":4,\"memory\":65536,"
				     "\"cpus\":2,\"salt\":"));
	ck_assert_ptr_nonnull(strstr(nj, "\"encryption\":\"aes-gcm-random\",\"sector_size\":4096,"
					 "\"integrity\":{\"type\":\"aead\","));
	ck_assert_ptr_nonnull(strstr(nj, "\"key_size\":32,"));
}
END_TEST

START_TEST(luks2_write_header_random_parts_differ)
{
	_cleanup_(secret_freep) struct secret *pass = make_secret(32, 1), *vk = NULL;
	_cleanup_free_ uint8_t *a = NULL, *b = NULL;
	struct luks2_write_params p;

	luks2_write_params_init(&p);
	p.pbkdf2_iterations = 1000;
	p.uuid = "01234567-89ab-cdef-0123-456789abcdef";
	ck_assert_int_eq(luks2_write_vk_new(&p, &vk), 0);
	ck_assert_int_eq(luks2_write_header(&p, pass, vk, &a), 0);
	ck_assert_int_eq(luks2_write_header(&p, pass, vk, &b), 0);
	ck_assert_mem_eq(a + 168, "01234567-89ab-cdef-0123-456789abcdef", 37);
	ck_assert_mem_ne(a + 104, b + 104, 64); /* header salt */
	ck_assert_mem_ne(a + 32768, b + 32768, 4096); /* AF material */
	ck_assert_mem_ne(a + (8u << 20), b + (8u << 20), 4096); /* random fill */
	/* The checksum covers the JSON area: a flipped byte is refused. */
	{
		_cleanup_(luks2_hdr_freep) struct luks2_hdr *h = NULL;
		struct luks2_policy pol;

		luks2_policy_init(&pol);
		a[4096 + 20] ^= 1;
		ck_assert_int_eq(luks2_hdr_parse(a, 32768, DEV_SIZE, &pol, &h, NULL), -EBADMSG);
	}
}
END_TEST

START_TEST(luks2_write_refuses_bad_params)
{
	_cleanup_(secret_freep) struct secret *pass = make_secret(32, 1), *big = NULL;
	_cleanup_(secret_freep) struct secret *vk64 = make_secret(64, 3),
					      *vk96 = make_secret(96, 3);
	_cleanup_free_ uint8_t *out = NULL;
	struct luks2_write_params p;
	struct secret *vk = NULL;

	luks2_write_params_init(&p);
	p.sector_size = 1024;
	ck_assert_int_eq(luks2_write_header(&p, pass, vk96, &out), -EINVAL);
	luks2_write_params_init(&p);
	p.integrity = (enum luks2_integrity)7;
	ck_assert_int_eq(luks2_write_header(&p, pass, vk96, &out), -EINVAL);
	ck_assert_int_eq(luks2_write_vk_new(&p, &vk), -EINVAL);
	luks2_write_params_init(&p);
	p.pbkdf2_iterations = 999;
	ck_assert_int_eq(luks2_write_header(&p, pass, vk96, &out), -EINVAL);
	luks2_write_params_init(&p);
	p.kdf = LUKS2_KDF_ARGON2I;
	ck_assert_int_eq(luks2_write_header(&p, pass, vk96, &out), -EINVAL);
	luks2_write_params_init(&p);
	p.kdf = LUKS2_KDF_ARGON2ID;
	p.argon2_memory_kib = LUKS2_ARGON2_MAX_MEMORY_KIB + 1;
	ck_assert_int_eq(luks2_write_header(&p, pass, vk96, &out), -EINVAL);
	luks2_write_params_init(&p);
	p.uuid = "01234567-89AB-cdef-0123-456789abcdef"; /* upper case */
	ck_assert_int_eq(luks2_write_header(&p, pass, vk96, &out), -EINVAL);
	luks2_write_params_init(&p);
	ck_assert_int_eq(luks2_write_header(&p, pass, vk64, &out), -EINVAL); /* hmac needs 96 */
	big = make_secret(LUKS2_WRITE_PASS_MAX + 1, 5);
	ck_assert_int_eq(luks2_write_header(&p, big, vk96, &out), -EINVAL);
	ck_assert_ptr_null(out);
	ck_assert_ptr_null(vk);
}
END_TEST

static Suite *luks2_write_suite(void)
{
	Suite *s = suite_create("luks2_write");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, luks2_write_passes_validation, 0, (int)ELEMENTSOF(cfgs));
	tcase_add_test(tc, luks2_write_json_exact);
	tcase_add_test(tc, luks2_write_header_random_parts_differ);
	tcase_add_test(tc, luks2_write_refuses_bad_params);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(luks2_write_suite)
