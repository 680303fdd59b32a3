/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "sealmount/jsonx.h"
#include "unit.h"

static int load(const char *s, json_t **ret)
{
	return jsonx_load(s, strlen(s), 4096, ret);
}

START_TEST(jsonx_load_ok_and_getters)
{
	_cleanup_json_ json_t *v = NULL;
	const char *str;
	bool b;
	uint64_t u;
	int64_t i;
	json_t *o, *a;

	ck_assert_int_eq(load("{\"s\":\"x\",\"b\":true,\"u\":7,\"i\":-3,\"o\":{},\"a\":[1]}", &v),
			 0);
	ck_assert_int_eq(jsonx_get_string(v, "s", &str), 0);
	ck_assert_str_eq(str, "x");
	ck_assert_int_eq(jsonx_get_bool(v, "b", &b), 0);
	ck_assert(b);
	ck_assert_int_eq(jsonx_get_u64(v, "u", &u), 0);
	ck_assert_uint_eq(u, 7);
	ck_assert_int_eq(jsonx_get_int(v, "i", &i), 0);
	ck_assert_int_eq(i, -3);
	ck_assert_int_eq(jsonx_get_object(v, "o", &o), 0);
	ck_assert_int_eq(jsonx_get_array(v, "a", &a), 0);
}
END_TEST

START_TEST(jsonx_getters_fail_on_missing_or_wrong_type)
{
	_cleanup_json_ json_t *v = NULL;
	const char *str = "unchanged";
	bool b;
	uint64_t u = 99;
	json_t *o;

	ck_assert_int_eq(load("{\"s\":1,\"b\":\"true\",\"i\":-3,\"f\":1.5,\"n\":null}", &v), 0);
	ck_assert_int_eq(jsonx_get_string(v, "s", &str), -EBADMSG);
	ck_assert_str_eq(str, "unchanged");
	ck_assert_int_eq(jsonx_get_string(v, "missing", &str), -ENOENT);
	ck_assert_int_eq(jsonx_get_bool(v, "b", &b), -EBADMSG);
	ck_assert_int_eq(jsonx_get_u64(v, "i", &u), -EBADMSG);
	ck_assert_int_eq(jsonx_get_u64(v, "f", &u), -EBADMSG);
	ck_assert_uint_eq(u, 99);
	ck_assert_int_eq(jsonx_get_object(v, "s", &o), -EBADMSG);
	ck_assert_int_eq(jsonx_get_array(v, "n", &o), -EBADMSG);
	ck_assert_int_eq(jsonx_opt_string(v, "n", &str), 0);
	ck_assert_int_eq(jsonx_opt_string(v, "missing", &str), 0);
	ck_assert_str_eq(str, "unchanged");
	ck_assert_int_eq(jsonx_opt_string(v, "s", &str), -EBADMSG);
}
END_TEST

START_TEST(jsonx_rejects_duplicates)
{
	json_t *v = NULL;

	ck_assert_int_eq(load("{\"a\":1,\"a\":2}", &v), -EBADMSG);
	ck_assert_ptr_null(v);
}
END_TEST

START_TEST(jsonx_rejects_deep_nesting)
{
	char deep[200];
	json_t *v = NULL;
	size_t n = 0;

	for (int i = 0; i < JSONX_MAX_DEPTH + 1; i++)
		deep[n++] = '[';
	for (int i = 0; i < JSONX_MAX_DEPTH + 1; i++)
		deep[n++] = ']';
	deep[n] = 0;
	ck_assert_int_eq(load(deep, &v), -EBADMSG);
	/* Brackets inside strings do not count. */
	ck_assert_int_eq(load("{\"k\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\"[[[\"}", &v),
			 0);
	json_decref(v);
}
END_TEST

START_TEST(jsonx_rejects_oversized_truncated_garbage)
{
	json_t *v = NULL;
	char big[5000];

	memset(big, ' ', sizeof(big));
	big[0] = '{';
	big[sizeof(big) - 1] = '}';
	ck_assert_int_eq(jsonx_load(big, sizeof(big), 4096, &v), -EFBIG);
	ck_assert_int_eq(load("{\"a\":", &v), -EBADMSG);
	ck_assert_int_eq(load("{\"a\":1} trailing", &v), -EBADMSG);
	ck_assert_int_eq(load("{\"a\":\"\\u0000\"}", &v), -EBADMSG);
	ck_assert_int_eq(load("", &v), -EBADMSG);
	ck_assert_int_eq(jsonx_load_object("[1]", 3, 100, &v), -EBADMSG);
	ck_assert_ptr_null(v);
}
END_TEST

START_TEST(jsonx_check_keys_and_dump)
{
	_cleanup_json_ json_t *v = NULL;
	static const char *const allowed[] = { "a", "b", NULL };
	const char *unknown = NULL;
	char *s;

	ck_assert_int_eq(load("{\"b\":2,\"a\":1}", &v), 0);
	ck_assert_int_eq(jsonx_check_keys(v, allowed, &unknown), 0);
	ck_assert_int_eq(jsonx_dump_sorted(v, &s), 0);
	ck_assert_str_eq(s, "{\"a\":1,\"b\":2}");
	free(s);
	json_object_set_new(v, "evil", json_true());
	ck_assert_int_eq(jsonx_check_keys(v, allowed, &unknown), -EBADMSG);
	ck_assert_str_eq(unknown, "evil");
}
END_TEST

static Suite *jsonx_suite(void)
{
	Suite *s = suite_create("jsonx");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, jsonx_load_ok_and_getters);
	tcase_add_test(tc, jsonx_getters_fail_on_missing_or_wrong_type);
	tcase_add_test(tc, jsonx_rejects_duplicates);
	tcase_add_test(tc, jsonx_rejects_deep_nesting);
	tcase_add_test(tc, jsonx_rejects_oversized_truncated_garbage);
	tcase_add_test(tc, jsonx_check_keys_and_dump);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(jsonx_suite)
