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
#include "src/blob/cache_fresh.h"
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

/* ---- freshness: the digest table ---- */

static void digest_of(struct fresh_table *t, const char *s, uint8_t md[FRESH_DIGEST])
{
	ck_assert_int_eq(fresh_digest(t, s, strlen(s), md), 0);
}

START_TEST(fresh_table_first_use_then_mismatch)
{
	struct fresh_table t;
	uint8_t a[FRESH_DIGEST], b[FRESH_DIGEST], got[FRESH_DIGEST];
	static const uint8_t abc[FRESH_DIGEST] = {
		0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
		0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
		0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
	};

	ck_assert_int_eq(fresh_init(&t, 3000), 0);
	digest_of(&t, "abc", a); /* SHA-256, FIPS 180-2 example */
	ck_assert_mem_eq(a, abc, FRESH_DIGEST);
	digest_of(&t, "abd", b);
	/* Never seen: nothing to compare with; the first fetch is remembered. */
	ck_assert_int_eq(fresh_lookup(&t, 5, got), -ENOENT);
	ck_assert_uint_eq(fresh_count(&t), 0);
	ck_assert_int_eq(fresh_check(&t, 5, a), 0);
	ck_assert_int_eq(fresh_lookup(&t, 5, got), 0);
	ck_assert_mem_eq(got, a, FRESH_DIGEST);
	ck_assert_int_eq(fresh_check(&t, 5, a), 0);
	/* Other bytes for the same chunk: refused, and the remembered digest stays. */
	ck_assert_int_eq(fresh_check(&t, 5, b), -EBADMSG);
	ck_assert_int_eq(fresh_check(&t, 5, b), -EBADMSG);
	ck_assert_int_eq(fresh_lookup(&t, 5, got), 0);
	ck_assert_mem_eq(got, a, FRESH_DIGEST);
	/* Chunks are independent: a neighbour and a chunk in another leaf start fresh. */
	ck_assert_int_eq(fresh_lookup(&t, 4, got), -ENOENT);
	ck_assert_int_eq(fresh_check(&t, 4, b), 0);
	ck_assert_int_eq(fresh_check(&t, 2999, b), 0);
	ck_assert_uint_eq(fresh_count(&t), 3);
	/* Out of range. */
	ck_assert_int_eq(fresh_check(&t, 3000, a), -EINVAL);
	ck_assert_int_eq(fresh_lookup(&t, 3000, got), -EINVAL);
	ck_assert_int_eq(fresh_reserve(&t, 3000), -EINVAL);
	ck_assert(!fresh_remember(&t, 3000, a));
	fresh_done(&t);
	ck_assert_int_eq(fresh_init(&t, 0), -EINVAL);
	fresh_done(&t);
}
END_TEST

START_TEST(fresh_table_written_then_refetched)
{
	struct fresh_table t;
	uint8_t old[FRESH_DIGEST], new[FRESH_DIGEST], got[FRESH_DIGEST];

	ck_assert_int_eq(fresh_init(&t, 5000), 0);
	digest_of(&t, "version 1", old);
	digest_of(&t, "version 2", new);
	ck_assert_int_eq(fresh_check(&t, 7, old), 0); /* fetched */
	ck_assert_int_eq(fresh_reserve(&t, 7), 0); /* written ... */
	ck_assert(fresh_remember(&t, 7, new)); /* ... and written back */
	ck_assert_uint_eq(fresh_count(&t), 1);
	/* Refetched: the older version is refused, the written one accepted. */
	ck_assert_int_eq(fresh_check(&t, 7, old), -EBADMSG);
	ck_assert_int_eq(fresh_check(&t, 7, new), 0);
	/* Written without a fetch first (a whole chunk): remembered all the same. */
	ck_assert_int_eq(fresh_reserve(&t, 4500), 0);
	ck_assert(fresh_remember(&t, 4500, new));
	ck_assert_int_eq(fresh_check(&t, 4500, old), -EBADMSG);
	/* Remembering needs a reserved leaf (the write path reserves; nothing else remembers). */
	ck_assert(!fresh_remember(&t, 2100, new));
	ck_assert_int_eq(fresh_lookup(&t, 2100, got), -ENOENT);
	fresh_done(&t);
}
END_TEST

START_TEST(fresh_table_huge_device)
{
	struct fresh_table t;
	uint8_t a[FRESH_DIGEST], b[FRESH_DIGEST];
	uint64_t n = BDEV_SIZE_MAX / CACHE_DEFAULT_CHUNK;

	ck_assert_int_eq(fresh_init(&t, n), 0);
	ck_assert_uint_ge(t.depth, 4); /* 2^46 chunks: leaves of 2^10, nodes of 2^10 */
	digest_of(&t, "a", a);
	digest_of(&t, "b", b);
	ck_assert_int_eq(fresh_check(&t, 0, a), 0);
	ck_assert_int_eq(fresh_check(&t, n - 1, b), 0);
	ck_assert_int_eq(fresh_check(&t, n / 2 + 12345, a), 0);
	ck_assert_int_eq(fresh_check(&t, n - 1, a), -EBADMSG);
	ck_assert_int_eq(fresh_check(&t, 0, b), -EBADMSG);
	ck_assert_int_eq(fresh_check(&t, n, a), -EINVAL);
	ck_assert_uint_eq(fresh_count(&t), 3);
	fresh_done(&t);
}
END_TEST

/* ---- freshness: the cache ---- */

#define FC (16 * KiB) /* chunk size of these tests: 16 chunks of cache, read-ahead off */

static struct bdev *fresh_cache(bool rw)
{
	struct cache_options o = {
		.mem_max = 16 * FC, .chunk_size = FC, .no_readahead = true, .hot_bytes = FC
	};

	return make_cache(rw, &o);
}

/* Read 64 other chunks so that everything read before is evicted (outside chunk 0, the "hot"
 * metadata region of fresh_cache()). */
static void evict_all(struct bdev *c)
{
	static uint8_t buf[FC];

	for (uint64_t i = 100; i < 164; i++)
		ck_assert_int_eq(bdev_read(c, buf, FC, i * FC), 0);
	for (uint64_t i = 100; i < 164; i++)
		ck_assert_int_eq(bdev_read(c, buf, FC, i * FC), 0);
}

/* Read [off, off + len) into buf and check that it was fetched from the lower device. */
static int read_fetched(struct bdev *c, uint8_t *buf, size_t len, uint64_t off)
{
	unsigned before = snap().reads;
	int r = bdev_read(c, buf, len, off);

	ck_assert_uint_gt(snap().reads, before);
	return r;
}

static struct cache_stats cstats(struct bdev *c)
{
	struct cache_stats st;

	ck_assert_int_eq(cache_get_stats(c, &st), 0);
	return st;
}

/* The storage serves old bytes for [off, off + len) (under the lower device's lock). */
static void replay(uint64_t off, const uint8_t *old, size_t len)
{
	pthread_mutex_lock(&M.lock);
	memcpy(M.data + off, old, len);
	pthread_mutex_unlock(&M.lock);
}

static bool has_bytes_of(const uint8_t *buf, const uint8_t *other, size_t len)
{
	return memcmp(buf, other, len) == 0;
}

START_TEST(cache_written_chunk_replayed_after_eviction_fails)
{
	_cleanup_(bdev_freep) struct bdev *c = fresh_cache(true);
	static uint8_t old[3 * FC], buf[3 * FC], neu[FC];
	uint64_t x = 10 * FC; /* the chunk written */

	ck_assert_int_eq(bdev_read(c, old, sizeof(old), x - FC), 0); /* chunks 9, 10, 11 */
	memset(neu, 0x5c, sizeof(neu));
	neu[100] = 1;
	ck_assert_int_eq(bdev_write(c, neu, 3000, x + 500), 0); /* part of chunk 10 */
	memcpy(ref + x + 500, neu, 3000);
	ck_assert_int_eq(bdev_flush(c), 0);
	evict_all(c);
	ck_assert_uint_gt(cstats(c).evictions, 0);
	ck_assert_uint_ge(cstats(c).digests, 3 + 64);

	/* Without a replay everything reads back as written. */
	ck_assert_int_eq(read_fetched(c, buf, sizeof(buf), x - FC), 0);
	ck_assert_mem_eq(buf, ref + x - FC, sizeof(buf));
	ck_assert_uint_eq(cstats(c).stale, 0);
	evict_all(c);

	/* The storage serves chunk 10 as it was before the write: EIO, never those bytes. */
	replay(x, old + FC, FC);
	memset(buf, 0xAA, sizeof(buf));
	ck_assert_int_eq(read_fetched(c, buf, sizeof(buf), x - FC), -EIO);
	ck_assert(!has_bytes_of(buf + FC, old + FC, FC));
	ck_assert_int_eq(bdev_read(c, buf, 10, x + 600), -EIO);
	ck_assert_uint_eq(cstats(c).stale, 2);
	/* Its neighbours are fine; a partial write into the stale chunk (read-modify-write) fails
	 * too rather than writing the old bytes back. */
	ck_assert_int_eq(bdev_read(c, buf, FC, x - FC), 0);
	ck_assert_mem_eq(buf, ref + x - FC, FC);
	ck_assert_int_eq(bdev_write(c, neu, 10, x + 20), -EIO);
	ck_assert_uint_eq(cstats(c).stale, 3);

	/* The storage serves the current version again: readable. */
	replay(x, ref + x, FC);
	ck_assert_int_eq(bdev_read(c, buf, sizeof(buf), x - FC), 0);
	ck_assert_mem_eq(buf, ref + x - FC, sizeof(buf));
	ck_assert_int_eq(bdev_flush(c), 0);
	ck_assert_int_eq(memcmp(M.data, ref, M.size), 0);
}
END_TEST

START_TEST(cache_whole_chunk_write_then_replay_fails)
{
	_cleanup_(bdev_freep) struct bdev *c = fresh_cache(true);
	static uint8_t neu[2 * FC], buf[FC];
	uint64_t x = 20 * FC;

	/* Never fetched: whole chunks are written without a fetch. */
	memset(neu, 0x33, sizeof(neu));
	ck_assert_int_eq(bdev_write(c, neu, sizeof(neu), x), 0);
	memcpy(ref + x, neu, sizeof(neu));
	ck_assert_int_eq(bdev_flush(c), 0);
	ck_assert_uint_eq(snap().bytes_read, 0);
	evict_all(c);
	/* The storage still has (or again serves) what was there before: refused. */
	replay(x + FC, M.data + x + FC + 4 * FC, FC); /* any other bytes */
	ck_assert_int_eq(read_fetched(c, buf, FC, x), 0);
	ck_assert_mem_eq(buf, neu, FC);
	ck_assert_int_eq(read_fetched(c, buf, FC, x + FC), -EIO);
	ck_assert_uint_eq(cstats(c).stale, 1);
}
END_TEST

START_TEST(cache_readonly_changed_chunk_fails)
{
	_cleanup_(bdev_freep) struct bdev *c = fresh_cache(false);
	static uint8_t buf[FC], other[FC];
	struct bdev_map m = { 0 };
	uint64_t x = 3 * FC;

	ck_assert_int_eq(bdev_read(c, buf, FC, x), 0);
	evict_all(c);
	memset(other, 0x77, sizeof(other));
	replay(x, other, FC);
	/* Never read before in this session: nothing to compare with, served. */
	replay(x + 40 * FC, other, FC);
	ck_assert_int_eq(bdev_read(c, buf, FC, x + 40 * FC), 0);
	ck_assert_mem_eq(buf, other, FC);
	/* Read before: refused on both read paths. */
	ck_assert_int_eq(read_fetched(c, buf, FC, x), -EIO);
	ck_assert_int_eq(bdev_map(c, x, 100, &m), -EIO);
	ck_assert_uint_eq(m.cnt, 0);
	ck_assert_uint_eq(cstats(c).stale, 2);
	replay(x, ref + x, FC);
	ck_assert_int_eq(bdev_read(c, buf, FC, x), 0);
	ck_assert_mem_eq(buf, ref + x, FC);
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
	tcase_add_test(tc, fresh_table_first_use_then_mismatch);
	tcase_add_test(tc, fresh_table_written_then_refetched);
	tcase_add_test(tc, fresh_table_huge_device);
	tcase_add_test(tc, cache_written_chunk_replayed_after_eviction_fails);
	tcase_add_test(tc, cache_whole_chunk_write_then_replay_fails);
	tcase_add_test(tc, cache_readonly_changed_chunk_fails);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(cache_suite)
