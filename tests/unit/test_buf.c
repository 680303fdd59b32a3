/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sealmount/buf.h"
#include "unit.h"

START_TEST(buf_append_grows_and_terminates)
{
	struct buf b;

	buf_init(&b, 1024);
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(buf_append_str(&b, "abcdefghi"), 0);
	ck_assert_uint_eq(b.len, 900);
	ck_assert_int_eq(b.data[b.len], 0);
	ck_assert_int_eq(memcmp(b.data + 891, "abcdefghi", 9), 0);
	buf_done(&b);
}
END_TEST

START_TEST(buf_append_rejects_past_cap)
{
	struct buf b;
	char big[100] = { 0 };

	buf_init(&b, 150);
	ck_assert_int_eq(buf_append(&b, big, 100), 0);
	ck_assert_int_eq(buf_append(&b, big, 51), -EFBIG);
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.len, 0);
	buf_done(&b);
}
END_TEST

START_TEST(buf_append_exact_cap_ok)
{
	struct buf b;
	char big[150] = { 0 };

	buf_init(&b, 150);
	ck_assert_int_eq(buf_append(&b, big, 150), 0);
	ck_assert_int_eq(buf_append(&b, big, 0), 0);
	ck_assert_int_eq(buf_append(&b, big, 1), -EFBIG);
	buf_done(&b);
}
END_TEST

START_TEST(buf_append_overflowing_length)
{
	struct buf b;
	char c = 'x';

	buf_init(&b, SIZE_MAX);
	ck_assert_int_eq(buf_append(&b, &c, 1), 0);
	ck_assert_int_eq(buf_append(&b, &c, SIZE_MAX), -EFBIG);
	buf_done(&b);
}
END_TEST

START_TEST(buf_printf_formats_and_caps)
{
	struct buf b;
	size_t n;
	uint8_t *p;

	buf_init(&b, 16);
	ck_assert_int_eq(buf_printf(&b, "%d-%s", 42, "ok"), 0);
	ck_assert_str_eq((char *)b.data, "42-ok");
	ck_assert_int_eq(buf_printf(&b, "%s", "0123456789abcdef"), -EFBIG);
	ck_assert_int_eq(buf_printf(&b, "%s", "xy"), 0);
	p = buf_steal(&b, &n);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq((char *)p, "xy");
	ck_assert_ptr_null(b.data);
	free(p);
}
END_TEST

START_TEST(reader_reads_both_endians)
{
	static const uint8_t d[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };
	struct reader r = reader_init(d, sizeof(d));
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;

	ck_assert_int_eq(reader_u8(&r, &u8), 0);
	ck_assert_uint_eq(u8, 1);
	ck_assert_int_eq(reader_u16le(&r, &u16), 0);
	ck_assert_uint_eq(u16, 0x0302);
	ck_assert_int_eq(reader_u32be(&r, &u32), 0);
	ck_assert_uint_eq(u32, 0x04050607);
	ck_assert_int_eq(reader_u64le(&r, &u64), 0);
	ck_assert_uint_eq(u64, 0x0f0e0d0c0b0a0908ULL);
	ck_assert_uint_eq(reader_left(&r), 0);
	ck_assert_int_eq(reader_u8(&r, &u8), -EBADMSG);
}
END_TEST

START_TEST(reader_truncated_leaves_cursor)
{
	static const uint8_t d[] = { 1, 2, 3 };
	struct reader r = reader_init(d, sizeof(d));
	uint32_t u32;
	uint64_t u64;
	uint16_t u16;

	ck_assert_int_eq(reader_u32le(&r, &u32), -EBADMSG);
	ck_assert_int_eq(reader_u64be(&r, &u64), -EBADMSG);
	ck_assert_uint_eq(r.off, 0);
	ck_assert_int_eq(reader_u16be(&r, &u16), 0);
	ck_assert_uint_eq(u16, 0x0102);
	ck_assert_int_eq(reader_u16le(&r, &u16), -EBADMSG);
	ck_assert_uint_eq(r.off, 2);
}
END_TEST

START_TEST(reader_skip_seek_slice_bounds)
{
	uint8_t d[32] = { 0 };
	struct reader r = reader_init(d, sizeof(d)), sub;
	const uint8_t *p;

	for (int i = 0; i < 32; i++)
		d[i] = (uint8_t)i;
	ck_assert_int_eq(reader_skip(&r, SIZE_MAX), -EBADMSG);
	ck_assert_int_eq(reader_skip(&r, 4), 0);
	ck_assert_int_eq(reader_slice(&r, 8, &sub), 0);
	ck_assert_uint_eq(r.off, 12);
	ck_assert_int_eq(reader_bytes(&sub, 8, &p), 0);
	ck_assert_uint_eq(p[0], 4);
	ck_assert_int_eq(reader_bytes(&sub, 1, &p), -EBADMSG);
	ck_assert_int_eq(reader_slice(&r, 21, &sub), -EBADMSG);
	ck_assert_int_eq(reader_seek(&r, 33), -EBADMSG);
	ck_assert_int_eq(reader_seek(&r, 32), 0);
	ck_assert_int_eq(reader_copy(&r, d, 1), -EBADMSG);
	ck_assert_int_eq(reader_copy(&r, d, 0), 0);
}
END_TEST

START_TEST(put_get_roundtrip)
{
	uint8_t p[8];

	put_u64be(p, 0x0102030405060708ULL);
	ck_assert_uint_eq(p[0], 1);
	ck_assert_uint_eq(get_u64be(p), 0x0102030405060708ULL);
	put_u64le(p, 0x0102030405060708ULL);
	ck_assert_uint_eq(p[0], 8);
	ck_assert_uint_eq(get_u64le(p), 0x0102030405060708ULL);
	put_u16be(p, 0xabcd);
	ck_assert_uint_eq(p[0], 0xab);
}
END_TEST

START_TEST(buf_append_file_reads_caps_and_fails)
{
	char path[] = "/tmp/test_buf.XXXXXX";
	int fd = mkstemp(path);
	struct buf b;
	uint8_t data[10000];

	ck_assert_int_ge(fd, 0);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	ck_assert_int_eq(write(fd, data, sizeof(data)), (ssize_t)sizeof(data));
	close(fd);
	buf_init(&b, sizeof(data));
	ck_assert_int_eq(buf_append_file(&b, path), 0);
	ck_assert_uint_eq(b.len, sizeof(data));
	ck_assert_mem_eq(b.data, data, sizeof(data));
	buf_done(&b);
	buf_init(&b, sizeof(data) - 1);
	ck_assert_int_eq(buf_append_file(&b, path), -EFBIG);
	ck_assert_ptr_null(b.data);
	unlink(path);
	ck_assert_int_eq(buf_append_file(&b, path), -ENOENT);
	ck_assert_int_eq(buf_append_file(&b, "/"), -EISDIR);
	buf_done(&b);
}
END_TEST

static Suite *buf_suite(void)
{
	Suite *s = suite_create("buf");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, buf_append_grows_and_terminates);
	tcase_add_test(tc, buf_append_rejects_past_cap);
	tcase_add_test(tc, buf_append_exact_cap_ok);
	tcase_add_test(tc, buf_append_overflowing_length);
	tcase_add_test(tc, buf_printf_formats_and_caps);
	tcase_add_test(tc, reader_reads_both_endians);
	tcase_add_test(tc, reader_truncated_leaves_cursor);
	tcase_add_test(tc, reader_skip_seek_slice_bounds);
	tcase_add_test(tc, put_get_roundtrip);
	tcase_add_test(tc, buf_append_file_reads_caps_and_fails);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(buf_suite)
