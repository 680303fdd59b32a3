/* SPDX-License-Identifier: MIT */
/*
 * test_verity_dm.c - the dm-verity table check of the kernel engine (verity_dm.h) on tables as
 * the kernel prints them (drivers/md/dm-verity-target.c, verity_status STATUSTYPE_TABLE): the
 * expected table passes; every field changed, optional arguments (ignore_corruption, ...),
 * missing fields and malformed spacing are refused. Activation itself runs in the VM
 * (tests/vm/test-vm-verity.sh).
 */
#include <stdio.h>
#include <string.h>

#include "sealmount/codec.h"
#include "sealmount/verity_dm.h"
#include "unit.h"

static struct verity_image img;
static uint8_t root[32];
static char good[512];

static void setup(void)
{
	char r[65], s[65];

	memset(&img, 0, sizeof(img));
	ck_assert_int_eq(verity_geometry_init(4096, &img.g), 0);
	img.sb.data_blocks = 4096;
	img.sb.salt_size = 32;
	for (int i = 0; i < 32; i++) {
		img.sb.salt[i] = (uint8_t)i;
		root[i] = (uint8_t)(0xa0 + i);
	}
	hex_encode(root, 32, r);
	hex_encode(img.sb.salt, 32, s);
	snprintf(good, sizeof(good), "1 7:3 7:3 4096 4096 4096 4097 sha256 %s %s", r, s);
}

START_TEST(verity_dm_table_good)
{
	struct diag d = { 0 };

	ck_assert_msg(verity_dm_check_table(good, &img, root, "7:3", &d) == 0, "%s", d.text);
}
END_TEST

/* Replace the n-th space-separated field of good by val. */
static void with_field(char *out, size_t len, int n, const char *val)
{
	const char *p = good;
	size_t used = 0;

	for (int i = 0; *p; i++) {
		size_t k = strcspn(p, " ");

		used += (size_t)snprintf(out + used, len - used, "%s%.*s", i ? " " : "",
					 i == n ? (int)strlen(val) : (int)k, i == n ? val : p);
		p += k + (p[k] == ' ');
	}
}

static const struct {
	int field;
	const char *val;
} bad_fields[] = {
	{ 0, "0" },    { 1, "7:4" },  { 2, "8:3" }, { 3, "512" }, { 4, "1024" }, { 5, "4095" },
	{ 6, "4096" }, { 7, "sha1" }, { 8, "00" },  { 9, "-" },	  { 9, "0001" },
};

START_TEST(verity_dm_table_rejects_field)
{
	char t[512];
	struct diag d = { 0 };

	with_field(t, sizeof(t), bad_fields[_i].field, bad_fields[_i].val);
	ck_assert_int_eq(verity_dm_check_table(t, &img, root, "7:3", &d), -EPROTO);
	ck_assert_ptr_nonnull(strstr(d.text, "dm-verity table"));
}
END_TEST

START_TEST(verity_dm_table_rejects_shape)
{
	static const char *const opts[] = { " 1 ignore_corruption", " 1 restart_on_corruption",
					    " 1 ignore_zero_blocks", " 1 check_at_most_once",
					    " 0" };
	char t[600];
	uint8_t other[32];

	for (size_t i = 0; i < ELEMENTSOF(opts); i++) {
		snprintf(t, sizeof(t), "%s%s", good, opts[i]);
		ck_assert_msg(verity_dm_check_table(t, &img, root, "7:3", NULL) == -EPROTO,
			      "accepted%s", opts[i]);
	}
	snprintf(t, sizeof(t), "%.*s", (int)(strrchr(good, ' ') - good), good);
	ck_assert_int_eq(verity_dm_check_table(t, &img, root, "7:3", NULL), -EPROTO);
	snprintf(t, sizeof(t), "%s ", good);
	ck_assert_int_eq(verity_dm_check_table(t, &img, root, "7:3", NULL), -EPROTO);
	snprintf(t, sizeof(t), " %s", good);
	ck_assert_int_eq(verity_dm_check_table(t, &img, root, "7:3", NULL), -EPROTO);
	with_field(t, sizeof(t), 1, "7:3 ");
	ck_assert_int_eq(verity_dm_check_table(t, &img, root, "7:3", NULL), -EPROTO);
	ck_assert_int_eq(verity_dm_check_table("", &img, root, "7:3", NULL), -EPROTO);
	/* the device the caller expects, and the root it trusts, must be the ones shown */
	ck_assert_int_eq(verity_dm_check_table(good, &img, root, "7:4", NULL), -EPROTO);
	memcpy(other, root, 32);
	other[5] ^= 1;
	ck_assert_int_eq(verity_dm_check_table(good, &img, other, "7:3", NULL), -EPROTO);
}
END_TEST

START_TEST(verity_dm_table_no_salt)
{
	char t[512], r[65];

	img.sb.salt_size = 0;
	hex_encode(root, 32, r);
	snprintf(t, sizeof(t), "1 7:3 7:3 4096 4096 4096 4097 sha256 %s -", r);
	ck_assert_int_eq(verity_dm_check_table(t, &img, root, "7:3", NULL), 0);
	ck_assert_int_eq(verity_dm_check_table(good, &img, root, "7:3", NULL), -EPROTO);
}
END_TEST

static Suite *verity_dm_suite(void)
{
	Suite *s = suite_create("verity_dm");
	TCase *tc = tcase_create("table");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, verity_dm_table_good);
	tcase_add_loop_test(tc, verity_dm_table_rejects_field, 0, (int)ELEMENTSOF(bad_fields));
	tcase_add_test(tc, verity_dm_table_rejects_shape);
	tcase_add_test(tc, verity_dm_table_no_salt);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(verity_dm_suite)
