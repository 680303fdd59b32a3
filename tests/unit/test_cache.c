/* SPDX-License-Identifier: MIT */
/*
 * Tests for the cache layer over a counting in-memory lower device: read amplification,
 * read-ahead and its parallelism, in-flight de-duplication, eviction that keeps hot metadata,
 * write-back coalescing and correctness, failure propagation, and threads.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "sealmount/cache.h"
#include "unit.h"

#define MiB (1024u * 1024)
#define KiB 1024u

struct mem {
	uint8_t *data;
	uint64_t size;
	pthread_mutex_t lock;
	unsigned reads, writes, cur, max_cur;
	uint64_t bytes_read, bytes_written, max_write;
	unsigned delay_us;
	int fail_reads; /* >0: fail the next N reads; <0: fail all */
	int fail_writes; /* same for writes */
	uint8_t *page_writes; /* per 4 KiB page: times written */
};

static struct mem M;

static bool take_failure(int *n)
{
	if (*n < 0)
		return true;
	if (*n > 0) {
		(*n)--;
		return true;
	}
	return false;
}

static void enter(void)
{
	pthread_mutex_lock(&M.lock);
	if (++M.cur > M.max_cur)
		M.max_cur = M.cur;
	pthread_mutex_unlock(&M.lock);
	if (M.delay_us)
		usleep(M.delay_us);
}

static int mem_read(void *s, void *buf, size_t len, uint64_t off)
{
	bool fail;

	enter();
	pthread_mutex_lock(&M.lock);
	M.cur--;
	M.reads++;
	fail = take_failure(&M.fail_reads);
	if (!fail) {
		M.bytes_read += len;
		memcpy(buf, M.data + off, len);
	}
	pthread_mutex_unlock(&M.lock);
	return fail ? -EIO : 0;
}

static int mem_write(void *s, const void *buf, size_t len, uint64_t off)
{
	bool fail;

	enter();
	pthread_mutex_lock(&M.lock);
	M.cur--;
	M.writes++;
	fail = take_failure(&M.fail_writes);
	if (!fail) {
		M.bytes_written += len;
		if (len > M.max_write)
			M.max_write = len;
		memcpy(M.data + off, buf, len);
		for (uint64_t p = off / 4096; p < (off + len + 4095) / 4096; p++)
			M.page_writes[p]++;
	}
	pthread_mutex_unlock(&M.lock);
	return fail ? -EIO : 0;
}

static void mem_close(void *s)
{
}

static const struct bdev_ops mem_ops = { .name = "mem",
					 .read = mem_read,
					 .write = mem_write,
					 .close = mem_close };

static uint8_t *ref;

/* The counters, read under the lock: read-ahead may still be running in the background. */
static struct mem snap(void)
{
	struct mem s;

	pthread_mutex_lock(&M.lock);
	s = M;
	pthread_mutex_unlock(&M.lock);
	return s;
}

static void mem_setup_size(uint64_t size)
{
	free(M.data);
	free(M.page_writes);
	free(ref);
	M = (struct mem){ .size = size };
	pthread_mutex_init(&M.lock, NULL);
	M.data = malloc(size);
	ref = malloc(size);
	M.page_writes = calloc((size + 4095) / 4096, 1);
	ck_assert_ptr_nonnull(M.data);
	for (uint64_t i = 0; i < size; i++)
		M.data[i] = (uint8_t)(i * 131 + (i >> 12) * 7);
	memcpy(ref, M.data, size);
}

static void setup(void)
{
	mem_setup_size(64 * MiB);
}

static void teardown(void)
{
	free(M.data);
	free(M.page_writes);
	free(ref);
	M.data = NULL;
	M.page_writes = NULL;
	ref = NULL;
}

static struct bdev *make_cache(bool rw, const struct cache_options *o)
{
	struct bdev *lower = NULL, *c = NULL;

	ck_assert_int_eq(bdev_new(&mem_ops, NULL, M.size, 512, rw, &lower), 0);
	ck_assert_int_eq(cache_new(lower, o, &c), 0);
	return c;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

START_TEST(cache_random_reads_match_lower)
{
	struct cache_options o = { .mem_max = 1 * MiB, .chunk_size = 16 * KiB };
	_cleanup_(bdev_freep) struct bdev *c = make_cache(false, &o);
	uint64_t seed = 42;
	static uint8_t buf[300 * KiB];

	for (int i = 0; i < 400; i++) {
		size_t len = 1 + rnd(&seed) % sizeof(buf);
		uint64_t off = rnd(&seed) % (M.size - len);

		ck_assert_int_eq(bdev_read(c, buf, len, off), 0);
		ck_assert_mem_eq(buf, ref + off, len);
	}
	ck_assert_int_eq(bdev_read(c, buf, 10, M.size - 5), -EINVAL);
}
END_TEST

START_TEST(cache_random_4k_amplification_bounded)
{
	_cleanup_(bdev_freep) struct bdev *c = make_cache(false, NULL);
	struct cache_stats st;
	uint64_t seed = 7;
	uint8_t buf[4096];

	for (int i = 0; i < 500; i++) {
		uint64_t off = (rnd(&seed) % (M.size / 4096)) * 4096;

		ck_assert_int_eq(bdev_read(c, buf, sizeof(buf), off), 0);
		ck_assert_mem_eq(buf, ref + off, sizeof(buf));
	}
	/* A chance sequential pair may have started a read-ahead that is still running: let
	 * background fetches settle (slow under valgrind) before comparing the two counters. */
	for (int i = 0; i < 1000; i++) {
		ck_assert_int_eq(cache_get_stats(c, &st), 0);
		if (st.in_flight == 0 && st.bytes_fetched == snap().bytes_read)
			break;
		usleep(10000);
	}
	/* 64 KiB per random 4 KiB miss at most: amplification <= 16 */
	ck_assert_uint_le(st.bytes_fetched, 500ull * 64 * KiB);
	ck_assert_uint_le(snap().reads, 500);
	ck_assert_uint_eq(st.bytes_fetched, snap().bytes_read);
}
END_TEST

START_TEST(cache_sequential_grows_parallel_readahead)
{
	_cleanup_(bdev_freep) struct bdev *c = make_cache(false, NULL);
	struct cache_stats st;
	static uint8_t buf[128 * KiB];

	M.delay_us = 2000;
	for (uint64_t off = 0; off < 32 * MiB; off += sizeof(buf)) {
		ck_assert_int_eq(bdev_read(c, buf, sizeof(buf), off), 0);
		ck_assert_mem_eq(buf, ref + off, sizeof(buf));
	}
	ck_assert_int_eq(cache_get_stats(c, &st), 0);
	ck_assert_uint_gt(st.prefetches, 0);
	/* 32 MiB in 64 KiB chunks would be 512 requests; read-ahead makes them large. */
	ck_assert_uint_lt(snap().reads, 96);
	ck_assert_uint_ge(snap().max_cur, 2); /* fetched in parallel */
	ck_assert_uint_gt(st.hits, 0);
	ck_assert_uint_le(st.bytes_fetched, 32 * MiB + 17 * MiB); /* at most one window past */
}
END_TEST

struct dedup_arg {
	struct bdev *c;
	uint64_t off;
	int r;
};

static void *dedup_thread(void *p)
{
	struct dedup_arg *a = p;
	uint8_t buf[4096];

	a->r = bdev_read(a->c, buf, sizeof(buf), a->off);
	if (a->r == 0 && memcmp(buf, ref + a->off, sizeof(buf)) != 0)
		a->r = -EBADMSG;
	return NULL;
}

START_TEST(cache_concurrent_misses_fetch_once)
{
	struct cache_options o = { .no_readahead = true };
	_cleanup_(bdev_freep) struct bdev *c = make_cache(false, &o);
	pthread_t t[8];
	struct dedup_arg a[8];

	M.delay_us = 50000;
	for (int i = 0; i < 8; i++) {
		a[i] = (struct dedup_arg){ .c = c, .off = 5 * MiB + (uint64_t)i * 4096 };
		ck_assert_int_eq(pthread_create(&t[i], NULL, dedup_thread, &a[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(a[i].r, 0);
	}
	ck_assert_uint_eq(snap().reads, 1); /* all eight 4 KiB reads sit in one 64 KiB chunk */
}
END_TEST

START_TEST(cache_hot_metadata_survives_scan)
{
	struct cache_options o = { .mem_max = 2 * MiB, .no_readahead = true };
	_cleanup_(bdev_freep) struct bdev *c = make_cache(false, &o);
	static uint8_t buf[64 * KiB];
	unsigned before;

	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(bdev_read(c, buf, 4096, 0), 0); /* header, read often */
	for (uint64_t off = 4 * MiB; off < 20 * MiB; off += sizeof(buf))
		ck_assert_int_eq(bdev_read(c, buf, sizeof(buf), off), 0);
	before = snap().reads;
	ck_assert_int_eq(bdev_read(c, buf, 4096, 0), 0);
	ck_assert_uint_eq(snap().reads, before); /* still cached after a 16 MiB scan */
	ck_assert_mem_eq(buf, ref, 4096);
}
END_TEST

START_TEST(cache_writeback_coalesces_and_persists)
{
	_cleanup_(bdev_freep) struct bdev *c = make_cache(true, NULL);
	static uint8_t buf[4096];
	struct cache_stats st;

	for (uint64_t off = 1 * MiB; off < 9 * MiB; off += sizeof(buf)) {
		memset(buf, (int)(off >> 12), sizeof(buf));
		memcpy(ref + off, buf, sizeof(buf));
		ck_assert_int_eq(bdev_write(c, buf, sizeof(buf), off), 0);
	}
	ck_assert_uint_eq(snap().writes, 0); /* nothing written before flush */
	ck_assert_int_eq(cache_get_stats(c, &st), 0);
	ck_assert_uint_eq(st.dirty_bytes, 8 * MiB);
	ck_assert_int_eq(bdev_flush(c), 0);
	ck_assert_uint_eq(snap().writes, 2); /* 8 MiB in two 4 MiB runs */
	ck_assert_uint_eq(snap().max_write, 4 * MiB);
	ck_assert_uint_eq(snap().bytes_written, 8 * MiB);
	ck_assert_int_eq(memcmp(M.data, ref, M.size), 0);
	ck_assert_int_eq(bdev_flush(c), 0);
	ck_assert_uint_eq(snap().writes, 2); /* clean now: nothing more */
	ck_assert_int_eq(cache_get_stats(c, &st), 0);
	ck_assert_uint_eq(st.dirty_bytes, 0);
}
END_TEST

START_TEST(cache_clean_pages_never_written)
{
	_cleanup_(bdev_freep) struct bdev *c = make_cache(true, NULL);
	static uint8_t buf[256 * KiB];
	const char msg[] = "hello, unaligned";

	ck_assert_int_eq(bdev_read(c, buf, sizeof(buf), 0), 0); /* cached, clean */
	memcpy(ref + 70000, msg, sizeof(msg));
	ck_assert_int_eq(bdev_write(c, msg, sizeof(msg), 70000), 0);
	memcpy(ref + 10 * MiB + 4090, msg, sizeof(msg)); /* uncached chunk, straddles pages */
	ck_assert_int_eq(bdev_write(c, msg, sizeof(msg), 10 * MiB + 4090), 0);
	ck_assert_int_eq(bdev_flush(c), 0);
	ck_assert_int_eq(memcmp(M.data, ref, M.size), 0);
	ck_assert_uint_eq(snap().bytes_written, 3 * 4096);
	for (uint64_t p = 0; p < M.size / 4096; p++) {
		bool dirty =
			p == 70000 / 4096 || p == (10 * MiB) / 4096 || p == (10 * MiB) / 4096 + 1;

		ck_assert_uint_eq(M.page_writes[p], dirty ? 1 : 0);
	}
}
END_TEST

START_TEST(cache_flush_failure_reported_then_retried)
{
	_cleanup_(bdev_freep) struct bdev *c = make_cache(true, NULL);
	uint8_t buf[8192];
	struct cache_stats st;

	memset(buf, 0x5A, sizeof(buf));
	memcpy(ref + 3 * MiB, buf, sizeof(buf));
	ck_assert_int_eq(bdev_write(c, buf, sizeof(buf), 3 * MiB), 0);
	M.fail_writes = -1;
	ck_assert_int_eq(bdev_flush(c), -EIO);
	ck_assert_int_eq(bdev_flush(c), -EIO); /* still dirty, still failing: not dropped */
	ck_assert_int_eq(cache_get_stats(c, &st), 0);
	ck_assert_uint_eq(st.dirty_bytes, sizeof(buf));
	ck_assert_uint_ge(st.write_errors, 2);
	ck_assert_int_ne(memcmp(M.data + 3 * MiB, buf, sizeof(buf)), 0);
	M.fail_writes = 0;
	ck_assert_int_eq(bdev_flush(c), 0);
	ck_assert_int_eq(memcmp(M.data, ref, M.size), 0);
	/* reads still see the written data throughout */
	ck_assert_int_eq(bdev_read(c, buf, sizeof(buf), 3 * MiB), 0);
	ck_assert_mem_eq(buf, ref + 3 * MiB, sizeof(buf));
}
END_TEST

START_TEST(cache_read_failure_propagates)
{
	struct cache_options o = { .no_readahead = true };
	_cleanup_(bdev_freep) struct bdev *c = make_cache(false, &o);
	uint8_t buf[4096];
	struct cache_stats st;

	M.fail_reads = -1;
	ck_assert_int_eq(bdev_read(c, buf, sizeof(buf), 0), -EIO);
	M.fail_reads = 1; /* one transient failure: retried inside the cache */
	ck_assert_int_eq(bdev_read(c, buf, sizeof(buf), 0), 0);
	ck_assert_mem_eq(buf, ref, sizeof(buf));
	ck_assert_int_eq(cache_get_stats(c, &st), 0);
	ck_assert_uint_ge(st.retries, 2);
}
END_TEST

struct rw_arg {
	struct bdev *c;
	unsigned id;
	int r;
};

static void *rw_thread(void *p)
{
	struct rw_arg *a = p;
	uint64_t seed = a->id + 1, base = (uint64_t)a->id * 4 * MiB;
	uint8_t buf[12288];

	for (int i = 0; i < 300 && a->r == 0; i++) {
		size_t len = 1 + rnd(&seed) % sizeof(buf);
		uint64_t off = base + rnd(&seed) % (4 * MiB - len);

		if (i % 3 == 0) {
			memset(buf, (int)rnd(&seed), len);
			memcpy(ref + off, buf, len); /* own region: no race on ref */
			a->r = bdev_write(a->c, buf, len, off);
		} else {
			a->r = bdev_read(a->c, buf, len, off);
			if (a->r == 0 && memcmp(buf, ref + off, len) != 0)
				a->r = -EBADMSG;
		}
		if (i % 100 == 99 && a->r == 0)
			a->r = bdev_flush(a->c);
	}
	return NULL;
}

START_TEST(cache_threads_read_write_under_pressure)
{
	struct cache_options o = { .mem_max = 1 * MiB, .chunk_size = 32 * KiB, .workers = 3 };
	_cleanup_(bdev_freep) struct bdev *c = make_cache(true, &o);
	pthread_t t[8];
	struct rw_arg a[8];

	for (unsigned i = 0; i < 8; i++) {
		a[i] = (struct rw_arg){ .c = c, .id = i };
		ck_assert_int_eq(pthread_create(&t[i], NULL, rw_thread, &a[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(a[i].r, 0);
	}
	ck_assert_int_eq(bdev_flush(c), 0);
	ck_assert_int_eq(memcmp(M.data, ref, M.size), 0);
}
END_TEST

START_TEST(cache_close_writes_back)
{
	struct bdev *c = make_cache(true, NULL);
	uint8_t buf[512];

	memset(buf, 0xEE, sizeof(buf));
	memcpy(ref + 12345, buf, sizeof(buf));
	ck_assert_int_eq(bdev_write(c, buf, sizeof(buf), 12345), 0);
	bdev_free(c);
	ck_assert_int_eq(memcmp(M.data, ref, M.size), 0);
}
END_TEST

START_TEST(cache_readonly_and_bad_options)
{
	_cleanup_(bdev_freep) struct bdev *c = make_cache(false, NULL);
	struct bdev *lower = NULL, *c2 = NULL;
	struct cache_options bad = { .chunk_size = 3000 };
	struct cache_stats st;
	uint8_t buf[16] = { 0 };

	ck_assert_int_eq(bdev_write(c, buf, 16, 0), -EROFS);
	ck_assert_int_eq(bdev_new(&mem_ops, NULL, M.size, 1, false, &lower), 0);
	ck_assert_int_eq(cache_get_stats(lower, &st), -EINVAL);
	ck_assert_int_eq(cache_new(lower, &bad, &c2), -EINVAL); /* consumes lower */
	bad = (struct cache_options){ .mem_max = 64 * KiB }; /* fewer than 4 chunks */
	ck_assert_int_eq(bdev_new(&mem_ops, NULL, M.size, 1, false, &lower), 0);
	ck_assert_int_eq(cache_new(lower, &bad, &c2), -EINVAL);
	ck_assert_ptr_null(c2);
}
END_TEST

START_TEST(cache_odd_device_size)
{
	_cleanup_(bdev_freep) struct bdev *c = NULL;
	uint8_t buf[5000];

	mem_setup_size(1 * MiB + 1536); /* a page blob: multiple of 512, not of 4096 */
	c = make_cache(true, NULL);
	ck_assert_int_eq(bdev_read(c, buf, 3000, M.size - 3000), 0);
	ck_assert_mem_eq(buf, ref + M.size - 3000, 3000);
	memset(buf, 1, sizeof(buf));
	memcpy(ref + M.size - 5000, buf, 5000);
	ck_assert_int_eq(bdev_write(c, buf, 5000, M.size - 5000), 0);
	ck_assert_int_eq(bdev_flush(c), 0);
	ck_assert_int_eq(memcmp(M.data, ref, M.size), 0);
}
END_TEST

/* A lower device of the largest size a bdev may have, reading a pattern: chunk and offset
 * arithmetic near the end must neither overflow nor wrap. */
static int huge_read(void *s, void *buf, size_t len, uint64_t off)
{
	for (size_t i = 0; i < len; i++)
		((uint8_t *)buf)[i] = (uint8_t)((off + i) * 13);
	return 0;
}

static uint32_t hint_value;

static uint32_t huge_hint(void *s)
{
	return hint_value;
}

static const struct bdev_ops huge_ops = { .name = "huge",
					  .read = huge_read,
					  .fetch_hint = huge_hint,
					  .close = mem_close };

START_TEST(cache_huge_device)
{
	struct bdev *lower = NULL;
	_cleanup_(bdev_freep) struct bdev *c = NULL;
	uint8_t buf[70000];

	hint_value = 0;
	ck_assert_int_eq(bdev_new(&huge_ops, NULL, BDEV_SIZE_MAX, 1, false, &lower), 0);
	ck_assert_int_eq(cache_new(lower, NULL, &c), 0);
	for (uint64_t off = BDEV_SIZE_MAX - 4 * sizeof(buf); off < BDEV_SIZE_MAX;
	     off += sizeof(buf) / 2) {
		size_t n = BDEV_SIZE_MAX - off < sizeof(buf) ? BDEV_SIZE_MAX - off : sizeof(buf);

		ck_assert_int_eq(bdev_read(c, buf, n, off), 0);
		for (size_t i = 0; i < n; i++)
			ck_assert_uint_eq(buf[i], (uint8_t)((off + i) * 13));
	}
	ck_assert_int_eq(bdev_read(c, buf, 2, BDEV_SIZE_MAX - 1), -EINVAL);
}
END_TEST

/* A lower layer that asks for larger fetches (a throttled blob) gets them for sequential
 * read-ahead, in fewer requests; random misses stay one chunk (bytes nobody reads would spend a
 * throttled byte budget). */
static struct cache_stats scan_with_hint(uint32_t hint, uint64_t off)
{
	struct bdev *lower = NULL;
	_cleanup_(bdev_freep) struct bdev *c = NULL;
	static uint8_t buf[128 * KiB];
	struct cache_stats st;

	hint_value = hint;
	ck_assert_int_eq(bdev_new(&huge_ops, NULL, 128 * MiB, 1, false, &lower), 0);
	ck_assert_int_eq(cache_new(lower, NULL, &c), 0);
	ck_assert_int_eq(bdev_read(c, buf, 4096, 100 * MiB + 5), 0); /* a random miss */
	ck_assert_int_eq(cache_get_stats(c, &st), 0);
	ck_assert_uint_eq(st.bytes_fetched, CACHE_DEFAULT_CHUNK);
	for (uint64_t pos = off; pos < off + 48 * MiB; pos += sizeof(buf)) {
		ck_assert_int_eq(bdev_read(c, buf, sizeof(buf), pos), 0);
		ck_assert_uint_eq(buf[7], (uint8_t)((pos + 7) * 13));
	}
	ck_assert_int_eq(cache_get_stats(c, &st), 0);
	hint_value = 0;
	return st;
}

START_TEST(cache_follows_fetch_hint)
{
	struct cache_stats plain = scan_with_hint(0, 0), raised = scan_with_hint(16 * MiB, 0);

	ck_assert_uint_lt(raised.fetches, plain.fetches);
	ck_assert_uint_le(raised.fetches * 2, plain.fetches); /* 4 MiB pieces became 16 MiB */
}
END_TEST

/* Reads in place: the bytes are right, the chunks stay put while held even as other reads churn
 * the cache, and what cannot be held (too many pieces, a writable cache) is declined. */
START_TEST(cache_map_holds_chunks)
{
	struct cache_options o = { .mem_max = 8 * MiB };
	_cleanup_(bdev_freep) struct bdev *c = make_cache(false, &o);
	_cleanup_(bdev_freep) struct bdev *w = make_cache(true, NULL);
	static uint8_t tmp[1 * MiB];
	struct bdev_map m;
	struct cache_stats st;
	uint64_t off = 3 * MiB + 12345;
	size_t done = 0;

	ck_assert_int_eq(bdev_map(c, off, 1 * MiB, &m), 0);
	ck_assert_uint_eq(m.cnt, 17); /* unaligned: 17 chunks of 64 KiB */
	for (unsigned i = 0; i < 16; i++) /* 16 MiB elsewhere: twice the cache */
		ck_assert_int_eq(bdev_read(c, tmp, sizeof(tmp), 40 * MiB + i * MiB), 0);
	for (unsigned i = 0; i < m.cnt; i++) {
		ck_assert_mem_eq(m.iov[i].iov_base, ref + off + done, m.iov[i].iov_len);
		done += m.iov[i].iov_len;
	}
	ck_assert_uint_eq(done, 1 * MiB);
	bdev_unmap(c, &m);
	ck_assert_uint_eq(m.cnt, 0);
	ck_assert_int_eq(cache_get_stats(c, &st), 0);
	ck_assert_uint_eq(st.mapped, 1);
	ck_assert_int_eq(bdev_map(c, 0, 5 * MiB, &m), -ENOBUFS); /* 80 pieces */
	ck_assert_int_eq(bdev_map(c, M.size - 10, 20, &m), -EINVAL);
	ck_assert_int_eq(bdev_map(w, 0, 4096, &m), -EOPNOTSUPP); /* writes could change it */
	/* Everything released: the whole cache can be filled and read again. */
	for (unsigned i = 0; i < 8; i++)
		ck_assert_int_eq(bdev_read(c, tmp, sizeof(tmp), i * MiB), 0);
	ck_assert_mem_eq(tmp, ref + 7 * MiB, sizeof(tmp));
}
END_TEST

/* Many threads reading in place at once from a small cache: no deadlock, right bytes. */
static void *map_worker(void *arg)
{
	struct bdev *c = arg;
	uint64_t seed = (uint64_t)pthread_self() | 1;

	for (int i = 0; i < 200; i++) {
		uint64_t off = rnd(&seed) % (M.size - 300 * KiB);
		size_t len = 1 + rnd(&seed) % (256 * KiB);
		struct bdev_map m;
		int r = bdev_map(c, off, len, &m);
		size_t done = 0;

		if (r == -ENOBUFS)
			continue;
		ck_assert_int_eq(r, 0);
		for (unsigned k = 0; k < m.cnt; k++) {
			ck_assert_mem_eq(m.iov[k].iov_base, ref + off + done, m.iov[k].iov_len);
			done += m.iov[k].iov_len;
		}
		ck_assert_uint_eq(done, len);
		bdev_unmap(c, &m);
	}
	return NULL;
}

START_TEST(cache_map_threads_small_cache)
{
	struct cache_options o = { .mem_max = 2 * MiB };
	_cleanup_(bdev_freep) struct bdev *c = make_cache(false, &o);
	pthread_t t[8];
	struct cache_stats st;

	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, map_worker, c), 0);
	for (int i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	ck_assert_int_eq(cache_get_stats(c, &st), 0);
	ck_assert_uint_gt(st.mapped, 0);
}
END_TEST

static Suite *cache_suite(void)
{
	Suite *s = suite_create("cache");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, cache_random_reads_match_lower);
	tcase_add_test(tc, cache_random_4k_amplification_bounded);
	tcase_add_test(tc, cache_sequential_grows_parallel_readahead);
	tcase_add_test(tc, cache_concurrent_misses_fetch_once);
	tcase_add_test(tc, cache_hot_metadata_survives_scan);
	tcase_add_test(tc, cache_writeback_coalesces_and_persists);
	tcase_add_test(tc, cache_clean_pages_never_written);
	tcase_add_test(tc, cache_flush_failure_reported_then_retried);
	tcase_add_test(tc, cache_read_failure_propagates);
	tcase_add_test(tc, cache_threads_read_write_under_pressure);
	tcase_add_test(tc, cache_close_writes_back);
	tcase_add_test(tc, cache_readonly_and_bad_options);
	tcase_add_test(tc, cache_odd_device_size);
	tcase_add_test(tc, cache_huge_device);
	tcase_add_test(tc, cache_follows_fetch_hint);
	tcase_add_test(tc, cache_map_holds_chunks);
	tcase_add_test(tc, cache_map_threads_small_cache);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(cache_suite)
