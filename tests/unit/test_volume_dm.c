/* SPDX-License-Identifier: MIT */
/*
 * test_volume_dm.c - the dm table check of the kernel engine (src/volume/dmtable.c): tables as
 * the kernel prints them (docs/dm-crypt.md, Tables; docs/dm-integrity.md, Formatting) for headers
 * made by real `cryptsetup luksFormat` (tests/data/luks2-*.hdr) pass; every field that differs from
 * the validated header - cipher, key size, iv offset, device, offset, tag size, mode, sector size,
 * an unknown option - is refused with -EPROTO.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sealmount/luks2.h"
#include "src/volume/volume_internal.h"
#include "unit.h"

#define DEV_SIZE (40ull << 20) /* the images behind the fixtures were 40 MiB */

static struct luks2_hdr *hdr(const char *name, bool require_integrity)
{
	struct luks2_hdr *h = NULL;
	struct luks2_policy p;
	char path[512];
	size_t len;
	_cleanup_free_ uint8_t *data = NULL;

	snprintf(path, sizeof(path), "%s/%s", unit_testdata(), name);
	data = unit_read_file(path, &len);
	luks2_policy_init(&p);
	p.require_integrity = require_integrity;
	ck_assert_int_eq(luks2_hdr_parse(data, len, DEV_SIZE, &p, &h, NULL), 0);
	return h;
}

static void expect(const char *name, bool journal, struct vol_dm_expect *e)
{
	_cleanup_(luks2_hdr_freep) struct luks2_hdr *h = hdr(name, false);

	ck_assert_int_eq(vol_dm_expect_init(h, journal, true, e), 0);
}

/* A hex key of n bytes (never a real one). */
static const char *hexkey(size_t n)
{
	static char buf[2 * LUKS2_VK_MAX + 1];

	ck_assert_uint_le(n, LUKS2_VK_MAX);
	memset(buf, 'a', 2 * n);
	buf[2 * n] = '\0';
	return buf;
}

#define INTEGRITY_J                                                                                \
	"7:0 32768 32 J 7 block_size:4096 journal_sectors:528 interleave_sectors:32768 "           \
	"buffer_sectors:128 journal_watermark:50 commit_time:10000 fix_padding"
#define INTEGRITY_D                                                                                \
	"7:0 32768 32 D 5 block_size:4096 journal_sectors:528 interleave_sectors:32768 "           \
	"buffer_sectors:128 fix_padding"

static int integ(const struct vol_dm_expect *e, const char *params)
{
	char why[160] = "";
	int r = vol_dm_check_integrity(params, e, "7:0", why, sizeof(why));

	ck_assert(r == 0 ? why[0] == '\0' : why[0] != '\0');
	return r;
}

static int crypt_(const struct vol_dm_expect *e, const char *lower, const char *fmt, ...)
	_printf_(3, 4);
static int crypt_(const struct vol_dm_expect *e, const char *lower, const char *fmt, ...)
{
	char params[512], why[160] = "";
	va_list ap;
	int r;

	va_start(ap, fmt);
	vsnprintf(params, sizeof(params), fmt, ap);
	va_end(ap);
	r = vol_dm_check_crypt(params, e, lower, why, sizeof(why));
	ck_assert(r == 0 ? why[0] == '\0' : why[0] != '\0');
	/* The reason never carries the key. */
	ck_assert_ptr_null(strstr(why, "aaaaaaaa"));
	return r;
}

START_TEST(expect_from_headers)
{
	struct vol_dm_expect e;

	expect("luks2-hmac-sha256-4k.hdr", true, &e);
	ck_assert_str_eq(e.cipher, "capi:authenc(hmac(sha256),xts(aes))-plain64");
	ck_assert_uint_eq(e.key_size, 96);
	ck_assert_uint_eq(e.tag_size, 32);
	ck_assert_uint_eq(e.sector_size, 4096);
	ck_assert_uint_eq(e.offset_sectors, 32768);
	ck_assert_uint_eq(e.crypt_sectors, 0);
	ck_assert_int_eq(e.integrity_mode, 'J');
	expect("luks2-hmac-sha256-4k.hdr", false, &e);
	ck_assert_int_eq(e.integrity_mode, 'D');
	/* The persistent no-journal flag wins over a journal request. */
	expect("luks2-hmac-sha256-4k-nojournal.hdr", true, &e);
	ck_assert_int_eq(e.integrity_mode, 'D');
	expect("luks2-aead.hdr", false, &e);
	ck_assert_str_eq(e.cipher, "capi:gcm(aes)-random");
	ck_assert_uint_eq(e.tag_size, 28);
	ck_assert_uint_eq(e.key_size, 32);
	expect("luks2-plain-4k.hdr", false, &e);
	ck_assert_str_eq(e.cipher, "aes-xts-plain64");
	ck_assert_uint_eq(e.tag_size, 0);
	ck_assert_uint_eq(e.crypt_sectors, (DEV_SIZE - 32768 * 512) / 512);
}
END_TEST

START_TEST(integrity_table_as_printed_passes)
{
	struct vol_dm_expect e;

	expect("luks2-hmac-sha256-4k.hdr", true, &e);
	ck_assert_int_eq(integ(&e, INTEGRITY_J), 0);
	expect("luks2-hmac-sha256-4k.hdr", false, &e);
	ck_assert_int_eq(integ(&e, INTEGRITY_D), 0);
	/* 512-byte sectors: no block_size (or an explicit 512). */
	expect("luks2-hmac-sha256-512.hdr", false, &e);
	ck_assert_int_eq(integ(&e, "7:0 32768 32 D 4 journal_sectors:616 interleave_sectors:32768 "
				   "buffer_sectors:128 fix_padding"),
			 0);
	ck_assert_int_eq(integ(&e, "7:0 32768 32 D 1 block_size:512"), 0);
}
END_TEST

START_TEST(integrity_table_differences_refused)
{
	static const char *const bad[] = {
		"7:1 32768 32 D 5 block_size:4096 journal_sectors:528 interleave_sectors:32768 "
		"buffer_sectors:128 fix_padding", /* other device */
		"7:0 0 32 D 1 block_size:4096", /* offset */
		"7:0 32767 32 D 1 block_size:4096",
		"7:0 32768 28 D 1 block_size:4096", /* tag size */
		"7:0 32768 0 D 1 block_size:4096",
		"7:0 32768 32 J 1 block_size:4096", /* mode */
		"7:0 32768 32 R 1 block_size:4096", /* recovery: no checks */
		"7:0 32768 32 B 1 block_size:4096",
		"7:0 32768 32 DD 1 block_size:4096",
		"7:0 32768 32 D 1 block_size:512", /* sector size */
		"7:0 32768 32 D 0", /* block_size missing = 512 */
		"7:0 32768 32 D 2 block_size:4096", /* option count */
		"7:0 32768 32 D 1 block_size:4096 fix_padding",
		"7:0 32768 32 D 2 block_size:4096 internal_hash:crc32c", /* unknown options */
		"7:0 32768 32 D 2 block_size:4096 allow_discards",
		"7:0 32768 32 D 2 block_size:4096 journal_crypt:cbc(aes)",
		"7:0 32768 32 D 2 block_size:4096 recalculate",
		"7:0 32768 32 D 1 block_size:4096 ", /* malformed */
		" 7:0 32768 32 D 1 block_size:4096",
		"7:0  32768 32 D 1 block_size:4096",
		"7:0 032768 32 D 1 block_size:4096",
		"7:0 +32768 32 D 1 block_size:4096",
		"7:0 32768 32 D",
		"",
	};
	struct vol_dm_expect e;

	expect("luks2-hmac-sha256-4k.hdr", false, &e);
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		ck_assert_msg(integ(&e, bad[i]) == -EPROTO, "accepted: %s", bad[i]);
}
END_TEST

START_TEST(crypt_table_as_printed_passes)
{
	struct vol_dm_expect e;

	expect("luks2-hmac-sha256-4k.hdr", false, &e);
	ck_assert_int_eq(crypt_(&e, "254:0",
				"capi:authenc(hmac(sha256),xts(aes))-plain64 %s 0 254:0 0 2 "
				"integrity:32:aead sector_size:4096",
				hexkey(96)),
			 0);
	/* With the key in the kernel keyring, and with the no-workqueue flags. */
	ck_assert_int_eq(crypt_(&e, "254:0",
				"capi:authenc(hmac(sha256),xts(aes))-plain64 "
				":96:logon:cryptsetup:0f3a-d0 0 254:0 0 4 no_read_workqueue "
				"no_write_workqueue integrity:32:aead sector_size:4096"),
			 0);
	expect("luks2-hmac-sha256-512.hdr", false, &e);
	ck_assert_int_eq(crypt_(&e, "254:0",
				"capi:authenc(hmac(sha256),xts(aes))-plain64 %s 0 254:0 0 1 "
				"integrity:32:aead",
				hexkey(96)),
			 0);
	expect("luks2-aead.hdr", false, &e);
	ck_assert_int_eq(crypt_(&e, "254:0",
				"capi:gcm(aes)-random %s 0 254:0 0 2 integrity:28:aead "
				"sector_size:4096",
				hexkey(32)),
			 0);
	expect("luks2-plain-4k.hdr", false, &e);
	ck_assert_int_eq(
		crypt_(&e, "7:0", "aes-xts-plain64 %s 0 7:0 32768 1 sector_size:4096", hexkey(64)),
		0);
	ck_assert_int_eq(crypt_(&e, "7:0",
				"capi:xts(aes)-plain64 %s 0 7:0 32768 1 sector_size:4096",
				hexkey(64)),
			 0);
}
END_TEST

START_TEST(crypt_table_differences_refused)
{
	static const struct {
		const char *cipher, *rest;
	} bad[] = {
		{ "cipher_null-ecb", "0 254:0 0 2 integrity:32:aead sector_size:4096" },
		{ "capi:xts(aes)-plain64", "0 254:0 0 2 integrity:32:aead sector_size:4096" },
		{ "capi:authenc(hmac(sha256),xts(aes))-random",
		  "0 254:0 0 2 integrity:32:aead sector_size:4096" },
		{ "capi:authenc(hmac(sha256),xts(aes))-plain64",
		  "1 254:0 0 2 integrity:32:aead sector_size:4096" },
		{ "capi:authenc(hmac(sha256),xts(aes))-plain64",
		  "0 254:1 0 2 integrity:32:aead sector_size:4096" },
		{ "capi:authenc(hmac(sha256),xts(aes))-plain64",
		  "0 254:0 8 2 integrity:32:aead sector_size:4096" },
		{ "capi:authenc(hmac(sha256),xts(aes))-plain64", "0 254:0 0 1 sector_size:4096" },
		{ "capi:authenc(hmac(sha256),xts(aes))-plain64",
		  "0 254:0 0 2 integrity:28:aead sector_size:4096" },
		{ "capi:authenc(hmac(sha256),xts(aes))-plain64",
		  "0 254:0 0 2 integrity:32:none sector_size:4096" },
		{ "capi:authenc(hmac(sha256),xts(aes))-plain64", "0 254:0 0 1 integrity:32:aead" },
		{ "capi:authenc(hmac(sha256),xts(aes))-plain64",
		  "0 254:0 0 2 integrity:32:aead sector_size:512" },
		{ "capi:authenc(hmac(sha256),xts(aes))-plain64",
		  "0 254:0 0 3 integrity:32:aead sector_size:4096 allow_discards" },
		{ "capi:authenc(hmac(sha256),xts(aes))-plain64",
		  "0 254:0 0 3 integrity:32:aead sector_size:4096 iv_large_sectors" },
		{ "capi:authenc(hmac(sha256),xts(aes))-plain64",
		  "0 254:0 0 3 integrity:32:aead sector_size:4096 integrity_key_size:16" },
		{ "capi:authenc(hmac(sha256),xts(aes))-plain64",
		  "0 254:0 0 3 integrity:32:aead sector_size:4096" },
		{ "capi:authenc(hmac(sha256),xts(aes))-plain64", "0 254:0" },
	};
	struct vol_dm_expect e;
	const char *k = hexkey(96);

	expect("luks2-hmac-sha256-4k.hdr", false, &e);
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		ck_assert_msg(crypt_(&e, "254:0", "%s %s %s", bad[i].cipher, k, bad[i].rest) ==
				      -EPROTO,
			      "accepted: %s ... %s", bad[i].cipher, bad[i].rest);
	/* Key of another size, keyring key of another size, a non-hex key. */
	ck_assert_int_eq(crypt_(&e, "254:0",
				"capi:authenc(hmac(sha256),xts(aes))-plain64 %s 0 254:0 0 2 "
				"integrity:32:aead sector_size:4096",
				hexkey(64)),
			 -EPROTO);
	ck_assert_int_eq(
		crypt_(&e, "254:0",
		       "capi:authenc(hmac(sha256),xts(aes))-plain64 :64:logon:x 0 254:0 0 2 "
		       "integrity:32:aead sector_size:4096"),
		-EPROTO);
	ck_assert_int_eq(crypt_(&e, "254:0",
				"capi:authenc(hmac(sha256),xts(aes))-plain64 :96 0 254:0 0 2 "
				"integrity:32:aead sector_size:4096"),
			 -EPROTO);
	ck_assert_int_eq(crypt_(&e, "254:0",
				"capi:authenc(hmac(sha256),xts(aes))-plain64 %.190sxy 0 254:0 0 2 "
				"integrity:32:aead sector_size:4096",
				k),
			 -EPROTO);
	/* Without integrity: the integrity option and an offset of 0 are refused. */
	expect("luks2-plain-4k.hdr", false, &e);
	ck_assert_int_eq(
		crypt_(&e, "7:0",
		       "aes-xts-plain64 %s 0 7:0 32768 2 integrity:32:aead sector_size:4096",
		       hexkey(64)),
		-EPROTO);
	ck_assert_int_eq(
		crypt_(&e, "7:0", "aes-xts-plain64 %s 0 7:0 0 1 sector_size:4096", hexkey(64)),
		-EPROTO);
	ck_assert_int_eq(crypt_(&e, "7:0", "aes-xts-plain64 %s 0 7:0 32768", hexkey(64)), -EPROTO);
}
END_TEST

static Suite *volume_dm_suite(void)
{
	Suite *s = suite_create("volume_dm");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, expect_from_headers);
	tcase_add_test(tc, integrity_table_as_printed_passes);
	tcase_add_test(tc, integrity_table_differences_refused);
	tcase_add_test(tc, crypt_table_as_printed_passes);
	tcase_add_test(tc, crypt_table_differences_refused);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(volume_dm_suite)
