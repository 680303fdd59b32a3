/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "sealmount/codec.h"
#include "unit.h"

static void check_dec(enum b64_alphabet a, const char *in, const char *want)
{
	uint8_t *out;
	size_t n;

	ck_assert_int_eq(b64_decode(a, in, strlen(in), &out, &n), 0);
	ck_assert_uint_eq(n, strlen(want));
	ck_assert_int_eq(memcmp(out, want, n), 0);
	free(out);
}

static void check_bad(enum b64_alphabet a, const char *in)
{
	uint8_t *out = NULL;
	size_t n;

	ck_assert_int_eq(b64_decode(a, in, strlen(in), &out, &n), -EBADMSG);
	ck_assert_ptr_null(out);
}

/* RFC 4648 section 10 vectors. */
START_TEST(b64_rfc4648_vectors)
{
	static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *const enc[] = { "",	       "Zg==",	   "Zm8=",    "Zm9v",
					   "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };

	for (size_t i = 0; i < ELEMENTSOF(plain); i++) {
		char *e;
		ck_assert_int_eq(b64_encode(B64_STD, plain[i], strlen(plain[i]), &e), 0);
		ck_assert_str_eq(e, enc[i]);
		free(e);
		check_dec(B64_STD, enc[i], plain[i]);
	}
}
END_TEST

START_TEST(b64_accepts_unpadded)
{
	check_dec(B64_STD, "Zg", "f");
	check_dec(B64_STD, "Zm8", "fo");
	check_dec(B64_URL, "Zm9vYg", "foob");
	check_dec(B64_URL, "Zm9vYg==", "foob");
}
END_TEST

START_TEST(b64_url_alphabet)
{
	static const uint8_t bin[] = { 0xfb, 0xff, 0xbf };
	char *e;
	uint8_t *out;
	size_t n;

	ck_assert_int_eq(b64_encode(B64_URL, bin, 3, &e), 0);
	ck_assert_str_eq(e, "-_-_");
	ck_assert_int_eq(b64_decode(B64_URL, e, strlen(e), &out, &n), 0);
	ck_assert_int_eq(memcmp(out, bin, 3), 0);
	free(out);
	free(e);
	ck_assert_int_eq(b64_encode(B64_URL, "f", 1, &e), 0);
	ck_assert_str_eq(e, "Zg");
	free(e);
	check_bad(B64_STD, "-_-_");
	check_bad(B64_URL, "+/+/");
}
END_TEST

START_TEST(b64_rejects_malformed)
{
	check_bad(B64_STD, "Z"); /* impossible length */
	check_bad(B64_STD, "Zg="); /* padding without a full quantum */
	check_bad(B64_STD, "Zg==="); /* too much padding */
	check_bad(B64_STD, "Z===");
	check_bad(B64_STD, "Zh=="); /* non-zero trailing bits */
	check_bad(B64_STD, "Zm 9v"); /* whitespace */
	check_bad(B64_STD, "Zm9v\n");
	check_bad(B64_STD, "Zg==Zg=="); /* padding in the middle */
	check_bad(B64_STD, "Zm9\x80");
}
END_TEST

START_TEST(b64_decode_any_and_fixed)
{
	uint8_t *out;
	size_t n;
	uint8_t fixed[3];

	ck_assert_int_eq(b64_decode_any("-_-_", 4, &out, &n), 0);
	free(out);
	ck_assert_int_eq(b64_decode_any("+/+/", 4, &out, &n), 0);
	free(out);
	ck_assert_int_eq(b64_decode_any("+_+_", 4, &out, &n), -EBADMSG);
	ck_assert_int_eq(b64_decode_fixed(B64_STD, "Zm9v", 4, fixed, 3), 0);
	ck_assert_int_eq(memcmp(fixed, "foo", 3), 0);
	ck_assert_int_eq(b64_decode_fixed(B64_STD, "Zm9v", 4, fixed, 2), -EBADMSG);
}
END_TEST

START_TEST(hex_roundtrip_and_errors)
{
	static const uint8_t bin[] = { 0x00, 0xab, 0xff, 0x10 };
	char s[9];
	uint8_t *out;
	size_t n;
	uint8_t fixed[2];

	hex_encode(bin, 4, s);
	ck_assert_str_eq(s, "00abff10");
	ck_assert_int_eq(hex_decode("00ABff10", 8, &out, &n), 0);
	ck_assert_uint_eq(n, 4);
	ck_assert_int_eq(memcmp(out, bin, 4), 0);
	free(out);
	ck_assert_int_eq(hex_decode("abc", 3, &out, &n), -EBADMSG);
	ck_assert_int_eq(hex_decode("zz", 2, &out, &n), -EBADMSG);
	ck_assert_int_eq(hex_decode("0x", 2, &out, &n), -EBADMSG);
	ck_assert_int_eq(hex_decode_fixed("abcd", 4, fixed, 2), 0);
	ck_assert_int_eq(hex_decode_fixed("abcdef", 6, fixed, 2), -EBADMSG);
	ck_assert_int_eq(hex_decode("", 0, &out, &n), 0);
	ck_assert_uint_eq(n, 0);
	free(out);
}
END_TEST

static Suite *codec_suite(void)
{
	Suite *s = suite_create("codec");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, b64_rfc4648_vectors);
	tcase_add_test(tc, b64_accepts_unpadded);
	tcase_add_test(tc, b64_url_alphabet);
	tcase_add_test(tc, b64_rejects_malformed);
	tcase_add_test(tc, b64_decode_any_and_fixed);
	tcase_add_test(tc, hex_roundtrip_and_errors);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(codec_suite)
