/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdint.h>

#include "sealmount/units.h"
#include "unit.h"

static void ok(const char *s, uint64_t want)
{
	uint64_t v = 0;

	ck_assert_msg(units_parse_size(s, &v) == 0, "'%s' refused", s);
	ck_assert_msg(v == want, "'%s' -> %llu, want %llu", s, (unsigned long long)v,
		      (unsigned long long)want);
}

static void bad(const char *s, int want)
{
	uint64_t v = 12345;

	ck_assert_msg(units_parse_size(s, &v) == want, "'%s' not refused with %d", s, want);
	ck_assert_msg(v == 12345, "'%s' wrote the result on failure", s);
}

START_TEST(sizes_every_unit_any_case)
{
	ok("0", 0);
	ok("4096", 4096);
	ok("512k", 512ULL << 10);
	ok("512K", 512ULL << 10);
	ok("512kib", 512ULL << 10);
	ok("16M", 16ULL << 20);
	ok("16MiB", 16ULL << 20);
	ok("16mIb", 16ULL << 20);
	ok("1g", 1ULL << 30);
	ok("2GiB", 2ULL << 30);
	ok("2GIB", 2ULL << 30);
	ok("3t", 3ULL << 40);
	ok("3TiB", 3ULL << 40);
	ok("18446744073709551615", UINT64_MAX);
	ok("16777215T", 16777215ULL << 40);
}
END_TEST

START_TEST(sizes_refused)
{
	static const char *const invalid[] = {
		"",    "1.5G", "-1",  "+1",    "12X", "G",    " 1G", "1G ", "1 G", "1GB",
		"1KB", "1B",   "1Gi", "1GiBB", "1iB", "0x10", "1e3", "1P",  "1k2", "1\n",
	};

	for (size_t i = 0; i < ELEMENTSOF(invalid); i++)
		bad(invalid[i], -EINVAL);
	bad("18446744073709551616", -ERANGE);
	bad("99999999999999999999999", -ERANGE);
	bad("16777216T", -ERANGE);
	bad("17179869184G", -ERANGE);
	bad("18014398509481984K", -ERANGE);
}
END_TEST

static Suite *units_suite(void)
{
	Suite *s = suite_create("units");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, sizes_every_unit_any_case);
	tcase_add_test(tc, sizes_refused);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(units_suite)
