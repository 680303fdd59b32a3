/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sealmount/bdev.h"
#include "unit.h"

static char tmpl[64];

static void make_file(size_t size)
{
	int fd;
	uint8_t buf[4096];

	snprintf(tmpl, sizeof(tmpl), "/tmp/test_bdev.XXXXXX");
	fd = mkstemp(tmpl);
	ck_assert_int_ge(fd, 0);
	for (size_t off = 0; off < size; off += sizeof(buf)) {
		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = (uint8_t)((off + i) * 7 + 3);
		ck_assert_int_eq(pwrite(fd, buf, sizeof(buf), (off_t)off), (ssize_t)sizeof(buf));
	}
	close(fd);
}

static void teardown(void)
{
	if (tmpl[0])
		unlink(tmpl);
	tmpl[0] = 0;
}

START_TEST(bdev_file_reads_exact)
{
	_cleanup_(bdev_freep) struct bdev *b = NULL;
	uint8_t buf[10000];

	make_file(65536);
	ck_assert_int_eq(bdev_file_open(tmpl, false, &b), 0);
	ck_assert_uint_eq(bdev_size(b), 65536);
	ck_assert(!bdev_is_writable(b));
	ck_assert_str_eq(bdev_name(b), "file");
	ck_assert_int_eq(bdev_read(b, buf, sizeof(buf), 1234), 0);
	for (size_t i = 0; i < sizeof(buf); i++)
		ck_assert_uint_eq(buf[i], (uint8_t)((1234 + i) * 7 + 3));
}
END_TEST

START_TEST(bdev_file_rejects_out_of_range)
{
	_cleanup_(bdev_freep) struct bdev *b = NULL;
	uint8_t buf[16];

	make_file(4096);
	ck_assert_int_eq(bdev_file_open(tmpl, false, &b), 0);
	ck_assert_int_eq(bdev_read(b, buf, 16, 4090), -EINVAL);
	ck_assert_int_eq(bdev_read(b, buf, 16, UINT64_MAX - 4), -EINVAL);
	ck_assert_int_eq(bdev_read(b, buf, 0, 4096), 0);
	ck_assert_int_eq(bdev_read(b, buf, 1, 4096), -EINVAL);
}
END_TEST

START_TEST(bdev_file_readonly_refuses_write)
{
	_cleanup_(bdev_freep) struct bdev *b = NULL;
	uint8_t buf[16] = { 0 };

	make_file(4096);
	ck_assert_int_eq(bdev_file_open(tmpl, false, &b), 0);
	ck_assert_int_eq(bdev_write(b, buf, 16, 0), -EROFS);
	ck_assert_int_eq(bdev_flush(b), 0);
}
END_TEST

START_TEST(bdev_file_write_persists)
{
	_cleanup_(bdev_freep) struct bdev *b = NULL;
	uint8_t buf[777], back[777];

	make_file(8192);
	memset(buf, 0xAB, sizeof(buf));
	ck_assert_int_eq(bdev_file_open(tmpl, true, &b), 0);
	ck_assert_int_eq(bdev_write(b, buf, sizeof(buf), 4000), 0);
	ck_assert_int_eq(bdev_flush(b), 0);
	bdev_free(TAKE_PTR(b));
	ck_assert_int_eq(bdev_file_open(tmpl, false, &b), 0);
	ck_assert_int_eq(bdev_read(b, back, sizeof(back), 4000), 0);
	ck_assert_mem_eq(buf, back, sizeof(buf));
	ck_assert_int_eq(bdev_write(b, buf, 1, 8192), -EROFS);
}
END_TEST

START_TEST(bdev_file_open_errors)
{
	struct bdev *b = NULL;

	ck_assert_int_eq(bdev_file_open("/nonexistent/x", false, &b), -ENOENT);
	ck_assert_int_eq(bdev_file_open("/tmp", false, &b), -EINVAL);
	ck_assert_ptr_null(b);
}
END_TEST

static int closes;
static int nop_read(void *s, void *buf, size_t len, uint64_t off)
{
	memset(buf, 0, len);
	return 0;
}
static int nop_write(void *s, const void *buf, size_t len, uint64_t off)
{
	return 0;
}
static void nop_close(void *s)
{
	closes++;
}
static const struct bdev_ops nop_ops = { .name = "nop",
					 .read = nop_read,
					 .write = nop_write,
					 .close = nop_close };
static const struct bdev_ops ro_ops = { .name = "ro", .read = nop_read, .close = nop_close };

START_TEST(bdev_alignment_enforced)
{
	_cleanup_(bdev_freep) struct bdev *b = NULL;
	uint8_t buf[1024] = { 0 };

	ck_assert_int_eq(bdev_new(&nop_ops, NULL, 4096, 512, true, &b), 0);
	ck_assert_uint_eq(bdev_write_align(b), 512);
	ck_assert_int_eq(bdev_write(b, buf, 512, 512), 0);
	ck_assert_int_eq(bdev_write(b, buf, 512, 100), -EINVAL);
	ck_assert_int_eq(bdev_write(b, buf, 100, 0), -EINVAL);
	ck_assert_int_eq(bdev_write(b, buf, 1024, 3584), -EINVAL);
	ck_assert_int_eq(bdev_read(b, buf, 3, 5), 0); /* reads need no alignment */
	ck_assert_ptr_eq(bdev_state(b, &nop_ops), NULL);
	ck_assert_ptr_null(bdev_state(b, &ro_ops));
}
END_TEST

/* A layer without readv whose bytes are the pattern of make_file(), counting its reads. */
static int pattern_reads;
static int pattern_read(void *s, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	pattern_reads++;
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)((off + i) * 7 + 3);
	return 0;
}
static const struct bdev_ops pattern_ops = { .name = "pattern",
					     .read = pattern_read,
					     .close = nop_close };

static void check_scatter(struct bdev *b, uint64_t off)
{
	uint8_t x[3], y[4096], z[77];
	struct iovec iov[] = { { x, sizeof(x) }, { NULL, 0 }, { y, sizeof(y) }, { z, sizeof(z) } };
	size_t k = 0;

	ck_assert_int_eq(bdev_readv(b, iov, 4, off), 0);
	for (unsigned i = 0; i < 4; i++)
		for (size_t j = 0; j < iov[i].iov_len; j++, k++)
			ck_assert_uint_eq(((uint8_t *)iov[i].iov_base)[j],
					  (uint8_t)((off + k) * 7 + 3));
}

/* Scatter reads: natively (file) and through the bounce buffer (a layer without readv, one
 * lower read for the whole list); range checks on the total, an overflowing total refused. */
START_TEST(bdev_readv_scatters)
{
	_cleanup_(bdev_freep) struct bdev *f = NULL;
	_cleanup_(bdev_freep) struct bdev *p = NULL;
	uint8_t one[10];
	struct iovec big[] = { { one, SIZE_MAX }, { one, 2 } };
	struct iovec single[] = { { one, sizeof(one) } };

	make_file(65536);
	ck_assert_int_eq(bdev_file_open(tmpl, false, &f), 0);
	check_scatter(f, 0);
	check_scatter(f, 12345);
	ck_assert_int_eq(bdev_new(&pattern_ops, NULL, 1u << 20, 1, false, &p), 0);
	pattern_reads = 0;
	check_scatter(p, 999);
	ck_assert_int_eq(pattern_reads, 1);
	ck_assert_int_eq(bdev_readv(p, single, 1, 5), 0);
	ck_assert_uint_eq(one[0], (uint8_t)(5 * 7 + 3));
	ck_assert_int_eq(bdev_readv(f, single, 1, 65536 - 9), -EINVAL);
	ck_assert_int_eq(bdev_readv(p, big, 2, 0), -EINVAL);
	ck_assert_int_eq(bdev_readv(p, single, 0, 1u << 20), 0);
	ck_assert_int_eq(pattern_reads, 2);
}
END_TEST

START_TEST(bdev_new_rejects_bad_args)
{
	struct bdev *b = NULL;

	closes = 0;
	ck_assert_int_eq(bdev_new(&nop_ops, NULL, 4096, 3, false, &b), -EINVAL);
	ck_assert_int_eq(bdev_new(&nop_ops, NULL, 4096, 0, false, &b), -EINVAL);
	ck_assert_int_eq(bdev_new(&ro_ops, NULL, 4096, 1, true, &b), -EINVAL);
	/* A size from a hostile server: every later offset computation must fit. */
	ck_assert_int_eq(bdev_new(&nop_ops, NULL, UINT64_MAX, 1, false, &b), -EFBIG);
	ck_assert_int_eq(bdev_new(&nop_ops, NULL, BDEV_SIZE_MAX + 1, 1, false, &b), -EFBIG);
	ck_assert_int_eq(closes, 5); /* state is consumed even on failure */
	ck_assert_ptr_null(b);
	bdev_free(NULL);
}
END_TEST

static Suite *bdev_suite(void)
{
	Suite *s = suite_create("bdev");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, bdev_file_reads_exact);
	tcase_add_test(tc, bdev_file_rejects_out_of_range);
	tcase_add_test(tc, bdev_file_readonly_refuses_write);
	tcase_add_test(tc, bdev_file_write_persists);
	tcase_add_test(tc, bdev_file_open_errors);
	tcase_add_test(tc, bdev_alignment_enforced);
	tcase_add_test(tc, bdev_new_rejects_bad_args);
	tcase_add_test(tc, bdev_readv_scatters);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(bdev_suite)
