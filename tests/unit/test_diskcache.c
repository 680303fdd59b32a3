/* SPDX-License-Identifier: MIT */
/*
 * Tests for the diskcache layer over a counting read-only in-memory device: byte-exact random
 * reads, hits after a restart (a new process-level instance over the same files), the size cap,
 * invalidation by a new ETag, corrupt data and index files detected and ignored, a second user
 * of the same cache refused, option checks, lower errors passed up, and threads.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sealmount/diskcache.h"
#include "unit.h"

#define KiB 1024u
#define CS (64u * KiB)

struct mem {
	uint8_t *data;
	uint64_t size;
	unsigned reads;
	uint64_t bytes;
	bool fail;
};

static struct mem M;
static char dir[64];

static int mem_read(void *s, void *buf, size_t len, uint64_t off)
{
	__atomic_fetch_add(&M.reads, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&M.bytes, len, __ATOMIC_RELAXED);
	if (M.fail)
		return -EIO;
	memcpy(buf, M.data + off, len);
	return 0;
}

static int mem_write(void *s, const void *buf, size_t len, uint64_t off)
{
	return -EIO;
}

static void mem_close(void *s)
{
}

static const struct bdev_ops mem_ops = { .name = "mem", .read = mem_read, .close = mem_close };
static const struct bdev_ops mem_rw_ops = { .name = "memrw",
					    .read = mem_read,
					    .write = mem_write,
					    .close = mem_close };

static void setup(void)
{
	M = (struct mem){ .size = 40 * CS + 1000 }; /* a partial last chunk */
	M.data = malloc(M.size);
	ck_assert_ptr_nonnull(M.data);
	for (uint64_t i = 0; i < M.size; i++)
		M.data[i] = (uint8_t)(i * 2654435761u >> 13);
	snprintf(dir, sizeof(dir), "/tmp/test-diskcache.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char pat[128];
	glob_t g;

	snprintf(pat, sizeof(pat), "%s/*", dir);
	if (glob(pat, 0, NULL, &g) == 0) {
		for (size_t i = 0; i < g.gl_pathc; i++)
			ck_assert_int_eq(unlink(g.gl_pathv[i]), 0);
		globfree(&g);
	}
	ck_assert_int_eq(rmdir(dir), 0);
	free(M.data);
}

static int open_dc(const char *etag, uint64_t max, struct bdev **ret)
{
	struct diskcache_options o = {
		.dir = dir, .key = "https://a/c/b", .etag = etag, .max_bytes = max
	};
	struct bdev *lower;

	ck_assert_int_eq(bdev_new(&mem_ops, NULL, M.size, 1, false, &lower), 0);
	return diskcache_new(lower, &o, ret);
}

static struct bdev *dc(const char *etag, uint64_t max)
{
	struct bdev *b = NULL;

	ck_assert_int_eq(open_dc(etag, max, &b), 0);
	return b;
}

static void read_check(struct bdev *b, uint64_t off, size_t len)
{
	uint8_t *buf = malloc(len);

	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(bdev_read(b, buf, len, off), 0);
	ck_assert_msg(memcmp(buf, M.data + off, len) == 0, "bytes differ at %llu+%zu",
		      (unsigned long long)off, len);
	free(buf);
}

static char *cache_file(const char *ext)
{
	char pat[128];
	glob_t g;
	char *p;

	snprintf(pat, sizeof(pat), "%s/sealmount-*.%s", dir, ext);
	ck_assert_int_eq(glob(pat, 0, NULL, &g), 0);
	ck_assert_uint_eq(g.gl_pathc, 1);
	p = strdup(g.gl_pathv[0]);
	globfree(&g);
	return p;
}

static struct diskcache_stats stats(struct bdev *b)
{
	struct diskcache_stats st;

	ck_assert_int_eq(diskcache_get_stats(b, &st), 0);
	return st;
}

START_TEST(diskcache_random_reads_are_byte_exact)
{
	struct bdev *b = dc("\"0x1\"", 64 * CS);
	unsigned seed = 7;

	for (int i = 0; i < 300; i++) {
		uint64_t off = (uint64_t)rand_r(&seed) % M.size;
		size_t len = 1 + (size_t)rand_r(&seed) % (3 * CS);

		if (off + len > M.size)
			len = (size_t)(M.size - off);
		read_check(b, off, len);
	}
	read_check(b, 0, (size_t)M.size);
	ck_assert_uint_gt(stats(b).hits, 0);
	ck_assert_uint_eq(stats(b).corrupt, 0);
	bdev_free(b);
}
END_TEST

START_TEST(diskcache_hits_after_restart)
{
	struct bdev *b = dc("\"0x1\"", 64 * CS);
	unsigned before;

	read_check(b, 0, (size_t)M.size);
	ck_assert_uint_eq(stats(b).cached_bytes, M.size);
	bdev_free(b);
	before = M.reads;
	b = dc("\"0x1\"", 64 * CS);
	ck_assert_uint_eq(stats(b).reset, 0);
	ck_assert_uint_eq(stats(b).cached_bytes, M.size);
	read_check(b, 0, (size_t)M.size);
	read_check(b, 5 * CS + 17, 3 * CS);
	ck_assert_uint_eq(M.reads, before); /* nothing from the lower device */
	ck_assert_uint_eq(stats(b).misses, 0);
	bdev_free(b);
}
END_TEST

START_TEST(diskcache_cap_is_respected)
{
	struct bdev *b = dc("e", 8 * CS);
	char *data = cache_file("data");
	struct stat st;
	unsigned before;

	for (int round = 0; round < 2; round++)
		for (uint64_t off = 0; off < M.size; off += CS)
			read_check(b, off, off + CS <= M.size ? CS : (size_t)(M.size - off));
	ck_assert_uint_le(stats(b).cached_bytes, 8 * CS);
	ck_assert_uint_gt(stats(b).evictions, 0);
	ck_assert_int_eq(stat(data, &st), 0);
	ck_assert_int_le(st.st_size, 8 * CS);
	ck_assert_int_le(st.st_blocks * 512, 8 * CS);
	/* the cached chunks are still served */
	before = M.reads;
	read_check(b, 0, (size_t)M.size);
	ck_assert_uint_lt(M.reads - before, 40);
	bdev_free(b);
	free(data);
}
END_TEST

START_TEST(diskcache_new_etag_invalidates)
{
	struct bdev *b = dc("\"v1\"", 64 * CS);
	unsigned before;

	read_check(b, 0, 4 * CS);
	bdev_free(b);
	M.data[100] ^= 0xff; /* the blob changed, and with it its ETag */
	b = dc("\"v2\"", 64 * CS);
	ck_assert_uint_eq(stats(b).reset, 1);
	ck_assert_uint_eq(stats(b).cached_bytes, 0);
	before = M.reads;
	read_check(b, 0, 4 * CS);
	ck_assert_uint_gt(M.reads, before);
	bdev_free(b);
	/* a different cap or chunk size starts afresh too */
	b = dc("\"v2\"", 32 * CS);
	ck_assert_uint_eq(stats(b).reset, 1);
	bdev_free(b);
}
END_TEST

static void flip_byte(const char *path, off_t at)
{
	int fd = open(path, O_RDWR);
	uint8_t c;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &c, 1, at), 1);
	c ^= 0x40;
	ck_assert_int_eq(pwrite(fd, &c, 1, at), 1);
	close(fd);
}

START_TEST(diskcache_corrupt_data_is_refetched)
{
	struct bdev *b = dc("e", 64 * CS);
	char *data = cache_file("data");
	struct stat st;
	unsigned before;

	read_check(b, 0, (size_t)M.size);
	bdev_free(b);
	for (off_t at = 10; at < 40 * (off_t)CS; at += 3 * CS + 11)
		flip_byte(data, at);
	ck_assert_int_eq(stat(data, &st), 0);
	ck_assert_int_eq(truncate(data, st.st_size - 500), 0); /* a torn last chunk */
	b = dc("e", 64 * CS);
	before = M.reads;
	read_check(b, 0, (size_t)M.size);
	ck_assert_uint_ge(stats(b).corrupt, 14);
	ck_assert_uint_gt(M.reads, before);
	bdev_free(b);
	/* rewritten: the next instance serves everything from disk */
	b = dc("e", 64 * CS);
	before = M.reads;
	read_check(b, 0, (size_t)M.size);
	ck_assert_uint_eq(M.reads, before);
	ck_assert_uint_eq(stats(b).corrupt, 0);
	bdev_free(b);
	free(data);
}
END_TEST

START_TEST(diskcache_corrupt_index_is_ignored)
{
	struct bdev *b = dc("e", 64 * CS);
	char *idx = cache_file("idx");
	int fd;

	read_check(b, 0, (size_t)M.size);
	bdev_free(b);
	/* an entry pointing at another chunk: its checksum does not match that chunk */
	fd = open(idx, O_RDWR);
	ck_assert_int_ge(fd, 0);
	{
		uint64_t chunk_plus1;

		ck_assert_int_eq(pread(fd, &chunk_plus1, 8, 512 + 48 * 3), 8);
		chunk_plus1 = chunk_plus1 % 39 + 1;
		ck_assert_int_eq(pwrite(fd, &chunk_plus1, 8, 512 + 48 * 3), 8);
		chunk_plus1 = 1u << 30; /* beyond the device: dropped at load */
		ck_assert_int_eq(pwrite(fd, &chunk_plus1, 8, 512 + 48 * 5), 8);
	}
	close(fd);
	b = dc("e", 64 * CS);
	ck_assert_uint_eq(stats(b).reset, 0);
	read_check(b, 0, (size_t)M.size);
	bdev_free(b);
	/* a damaged header empties the cache */
	flip_byte(idx, 20);
	b = dc("e", 64 * CS);
	ck_assert_uint_eq(stats(b).reset, 1);
	ck_assert_uint_eq(stats(b).cached_bytes, 0);
	read_check(b, 0, (size_t)M.size);
	bdev_free(b);
	/* a truncated index: header unreadable, emptied */
	ck_assert_int_eq(truncate(idx, 100), 0);
	b = dc("e", 64 * CS);
	ck_assert_uint_eq(stats(b).reset, 1);
	read_check(b, 0, (size_t)M.size);
	bdev_free(b);
	free(idx);
}
END_TEST

START_TEST(diskcache_refuses_bad_use)
{
	struct diskcache_options o = { .dir = dir, .key = "k", .etag = "", .max_bytes = 64 * CS };
	struct bdev *b = dc("e", 64 * CS), *lower, *x = NULL;
	char longtag[200];

	ck_assert_int_eq(open_dc("e", 64 * CS, &x), -EBUSY); /* same key, in use */
	bdev_free(b);
	ck_assert_int_eq(open_dc("e", 3 * CS, &x), -EINVAL); /* below the minimum */
	memset(longtag, 'a', sizeof(longtag) - 1);
	longtag[sizeof(longtag) - 1] = 0;
	ck_assert_int_eq(open_dc(longtag, 64 * CS, &x), -EINVAL);
	ck_assert_int_eq(bdev_new(&mem_rw_ops, NULL, M.size, 1, true, &lower), 0);
	ck_assert_int_eq(diskcache_new(lower, &o, &x), -EINVAL); /* writable lower */
	ck_assert_int_eq(bdev_new(&mem_ops, NULL, M.size, 1, false, &lower), 0);
	o.chunk_size = 5000;
	ck_assert_int_eq(diskcache_new(lower, &o, &x), -EINVAL);
	ck_assert_int_eq(bdev_new(&mem_ops, NULL, M.size, 1, false, &lower), 0);
	o = (struct diskcache_options){
		.dir = "/nonexistent/x", .key = "k", .etag = "", .max_bytes = 64 * CS
	};
	ck_assert_int_eq(diskcache_new(lower, &o, &x), -ENOENT);
	ck_assert_ptr_null(x);
	ck_assert_int_eq(diskcache_get_stats(b = dc("e", 64 * CS), &(struct diskcache_stats){ 0 }),
			 0);
	bdev_free(b);
}
END_TEST

START_TEST(diskcache_lower_errors_pass_up)
{
	struct bdev *b = dc("e", 64 * CS);
	uint8_t buf[100];

	M.fail = true;
	ck_assert_int_eq(bdev_read(b, buf, sizeof(buf), 5 * CS), -EIO);
	M.fail = false;
	read_check(b, 5 * CS, sizeof(buf));
	M.fail = true;
	read_check(b, 5 * CS, sizeof(buf)); /* cached now */
	M.fail = false;
	bdev_free(b);
}
END_TEST

static void *reader(void *arg)
{
	struct bdev *b = arg;
	unsigned seed = (unsigned)(uintptr_t)pthread_self();
	uint8_t *buf = malloc(2 * CS);

	for (int i = 0; i < 200 && buf; i++) {
		uint64_t off = (uint64_t)rand_r(&seed) % (M.size - 2 * CS);
		size_t len = 1 + (size_t)rand_r(&seed) % (2 * CS);

		if (bdev_read(b, buf, len, off) < 0 || memcmp(buf, M.data + off, len) != 0) {
			free(buf);
			return (void *)1;
		}
	}
	free(buf);
	return NULL;
}

START_TEST(diskcache_threads_under_eviction)
{
	struct bdev *b = dc("e", 6 * CS);
	pthread_t t[8];
	void *res;

	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, reader, b), 0);
	for (int i = 0; i < 8; i++) {
		ck_assert_int_eq(pthread_join(t[i], &res), 0);
		ck_assert_ptr_null(res);
	}
	ck_assert_uint_le(stats(b).cached_bytes, 6 * CS);
	bdev_free(b);
}
END_TEST

static Suite *diskcache_suite(void)
{
	Suite *s = suite_create("diskcache");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, diskcache_random_reads_are_byte_exact);
	tcase_add_test(tc, diskcache_hits_after_restart);
	tcase_add_test(tc, diskcache_cap_is_respected);
	tcase_add_test(tc, diskcache_new_etag_invalidates);
	tcase_add_test(tc, diskcache_corrupt_data_is_refetched);
	tcase_add_test(tc, diskcache_corrupt_index_is_ignored);
	tcase_add_test(tc, diskcache_refuses_bad_use);
	tcase_add_test(tc, diskcache_lower_errors_pass_up);
	tcase_add_test(tc, diskcache_threads_under_eviction);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(diskcache_suite)
