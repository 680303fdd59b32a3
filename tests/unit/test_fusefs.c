/* SPDX-License-Identifier: MIT */
/*
 * The FUSE frontend over an in-memory device: a real mount in a temporary directory. The mount
 * cases need a usable /dev/fuse and the right to mount, decided before any of them runs: without
 * them the executable exits 77 (SKIP); with them a failing fusefs_new() fails the test.
 * Covers sizes, reads, writes, fsync reaching the device's flush, a failing flush coming back
 * as EIO, and the refusals (read-only, past the end, truncation).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sealmount/fusefs.h"
#include "unit.h"

#define DEV_SIZE (1024 * 1024 + 512)

static uint8_t mem[DEV_SIZE];
static int flushes;
static int flush_result;

static int mem_read(void *s, void *buf, size_t len, uint64_t off)
{
	memcpy(buf, mem + off, len);
	return 0;
}

static int mem_write(void *s, const void *buf, size_t len, uint64_t off)
{
	memcpy(mem + off, buf, len);
	return 0;
}

static int mem_flush(void *s)
{
	__atomic_add_fetch(&flushes, 1, __ATOMIC_SEQ_CST);
	return flush_result;
}

static void mem_close(void *s)
{
}

static const struct bdev_ops mem_ops = { .name = "mem",
					 .read = mem_read,
					 .write = mem_write,
					 .flush = mem_flush,
					 .close = mem_close };

/* A read-only device that serves reads in place, in pieces of at most 5000 bytes, counting what
 * it hands out and gets back; with map_busy set it declines (-ENOBUFS) and reads are copied. */
static int maps, unmaps, reads, map_busy;

static int map_read(void *s, void *buf, size_t len, uint64_t off)
{
	__atomic_add_fetch(&reads, 1, __ATOMIC_SEQ_CST);
	return mem_read(s, buf, len, off);
}

static int map_map(void *s, uint64_t off, size_t len, struct bdev_map *m)
{
	if (__atomic_load_n(&map_busy, __ATOMIC_SEQ_CST))
		return -ENOBUFS;
	for (size_t done = 0; done < len;) {
		size_t n = len - done < 5000 ? len - done : 5000;

		if (m->cnt == BDEV_MAP_MAX)
			return -ENOBUFS;
		m->iov[m->cnt++] = (struct iovec){ mem + off + done, n };
		done += n;
	}
	m->priv[m->npriv++] = 42;
	__atomic_add_fetch(&maps, 1, __ATOMIC_SEQ_CST);
	return 0;
}

static void map_unmap(void *s, struct bdev_map *m)
{
	ck_assert_uint_eq(m->npriv, 1);
	ck_assert_uint_eq(m->priv[0], 42);
	__atomic_add_fetch(&unmaps, 1, __ATOMIC_SEQ_CST);
}

static const struct bdev_ops map_ops = { .name = "mapped",
					 .read = map_read,
					 .map = map_map,
					 .unmap = map_unmap,
					 .close = mem_close };

struct mount {
	char dir[64];
	char path[96];
	struct bdev *dev;
	struct fusefs *fs;
	pthread_t thread;
	int run_result;
};

static void *run_thread(void *p)
{
	struct mount *m = p;

	m->run_result = fusefs_run(m->fs);
	return NULL;
}

/* Mount a device with ops; fails the test when that does not work. */
static void mount_ops(struct mount *m, bool rw, const struct bdev_ops *ops)
{
	struct fusefs_options o = { .rw = rw, .max_threads = 4 };

	for (size_t i = 0; i < sizeof(mem); i++)
		mem[i] = (uint8_t)(i * 13 + 1);
	flushes = 0;
	flush_result = 0;
	snprintf(m->dir, sizeof(m->dir), "/tmp/test_fusefs.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(m->dir));
	snprintf(m->path, sizeof(m->path), "%s/%s", m->dir, FUSEFS_FILE_NAME);
	ck_assert_int_eq(bdev_new(ops, NULL, DEV_SIZE, 1, ops->write != NULL, &m->dev), 0);
	ck_assert_int_eq(fusefs_new(m->dev, m->dir, &o, &m->fs), 0);
	ck_assert_int_eq(pthread_create(&m->thread, NULL, run_thread, m), 0);
}

static void mount_mem(struct mount *m, bool rw)
{
	mount_ops(m, rw, &mem_ops);
}

static void unmount_mem(struct mount *m)
{
	ck_assert_int_eq(umount2(m->dir, MNT_DETACH), 0);
	pthread_join(m->thread, NULL);
	ck_assert_int_eq(m->run_result, 0);
	fusefs_free(m->fs);
	bdev_free(m->dev);
	rmdir(m->dir);
}

START_TEST(fusefs_serves_one_file)
{
	struct mount m;
	struct stat st;
	uint8_t buf[5000];
	int fd;

	mount_mem(&m, false);
	ck_assert_int_eq(stat(m.path, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_int_eq(st.st_size, DEV_SIZE);
	fd = open(m.path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, buf, sizeof(buf), 777), (ssize_t)sizeof(buf));
	ck_assert_mem_eq(buf, mem + 777, sizeof(buf));
	ck_assert_int_eq(pread(fd, buf, sizeof(buf), DEV_SIZE - 100), 100); /* short at the end */
	ck_assert_int_eq(pread(fd, buf, sizeof(buf), DEV_SIZE), 0);
	close(fd);
	errno = 0;
	ck_assert_int_lt(open(m.path, O_RDWR), 0);
	ck_assert_int_eq(errno, EROFS);
	snprintf(m.path, sizeof(m.path), "%s/other", m.dir);
	errno = 0;
	ck_assert_int_lt(open(m.path, O_RDONLY), 0);
	ck_assert_int_eq(errno, ENOENT);
	unmount_mem(&m);
}
END_TEST

START_TEST(fusefs_write_fsync_reaches_device)
{
	struct mount m;
	uint8_t buf[3000];
	int fd;

	mount_mem(&m, true);
	fd = open(m.path, O_RDWR);
	ck_assert_int_ge(fd, 0);
	memset(buf, 0xC3, sizeof(buf));
	ck_assert_int_eq(pwrite(fd, buf, sizeof(buf), 4097), (ssize_t)sizeof(buf));
	ck_assert_int_eq(fsync(fd), 0);
	ck_assert_int_ge(flushes, 1);
	ck_assert_mem_eq(mem + 4097, buf, sizeof(buf));
	errno = 0;
	ck_assert_int_eq(pwrite(fd, buf, 10, DEV_SIZE), -1); /* the file cannot grow */
	ck_assert_int_eq(errno, EFBIG);
	flush_result = -EIO; /* a lost write-back must reach the writer */
	errno = 0;
	ck_assert_int_eq(fsync(fd), -1);
	ck_assert_int_eq(errno, EIO);
	flush_result = 0;
	close(fd);
	errno = 0;
	ck_assert_int_lt(open(m.path, O_RDWR | O_TRUNC), 0);
	ck_assert_int_eq(errno, EPERM);
	unmount_mem(&m);
}
END_TEST

/* A device that serves reads in place has its memory handed to the kernel (and given back);
 * when it declines, the read is copied; either way the bytes are right. O_DIRECT keeps the
 * kernel's page cache out of it, so every read reaches us. */
START_TEST(fusefs_reads_in_place)
{
	struct mount m;
	static uint8_t buf[300000];
	char names[64] = "";
	struct dirent *e;
	DIR *d;
	int fd;

	mount_ops(&m, false, &map_ops);
	maps = unmaps = reads = map_busy = 0;
	fd = open(m.path, O_RDONLY | O_DIRECT);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, buf, 262144, 8192), 262144);
	ck_assert_mem_eq(buf, mem + 8192, 262144);
	ck_assert_int_gt(maps, 0);
	ck_assert_int_eq(reads, 0);
	__atomic_store_n(&map_busy, 1, __ATOMIC_SEQ_CST);
	ck_assert_int_eq(pread(fd, buf, 4096, 4096 * 100), 4096);
	ck_assert_mem_eq(buf, mem + 4096 * 100, 4096);
	ck_assert_int_gt(reads, 0);
	close(fd);
	ck_assert_int_eq(maps, unmaps);
	d = opendir(m.dir);
	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d))) {
		size_t have = strlen(names), n = strlen(e->d_name);

		ck_assert_uint_lt(have + n + 1, sizeof(names));
		memcpy(names + have, e->d_name, n);
		memcpy(names + have + n, " ", 2);
	}
	closedir(d);
	ck_assert_str_eq(names, ". .. " FUSEFS_FILE_NAME " ");
	unmount_mem(&m);
}
END_TEST

START_TEST(fusefs_rejects_rw_on_readonly_device)
{
	struct bdev *dev = NULL;
	struct fusefs *fs = NULL;
	struct fusefs_options o = { .rw = true };

	ck_assert_int_eq(bdev_new(&mem_ops, NULL, DEV_SIZE, 1, false, &dev), 0);
	ck_assert_int_eq(fusefs_new(dev, "/tmp", &o, &fs), -EROFS);
	ck_assert_ptr_null(fs);
	bdev_free(dev);
}
END_TEST

/* Whether a FUSE mount can work here at all: /dev/fuse opens read-write, and we may mount (root,
 * or libfuse's setuid fusermount3 helper). NULL when it can, else why not. */
static const char *fuse_unusable(void)
{
	static char why[128];
	int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		snprintf(why, sizeof(why), "FUSE mount cases: /dev/fuse: %s", strerror(errno));
		return why;
	}
	close(fd);
	if (geteuid() != 0 && access("/bin/fusermount3", X_OK) < 0 &&
	    access("/usr/bin/fusermount3", X_OK) < 0)
		return "FUSE mount cases: not root and no fusermount3";
	return NULL;
}

static Suite *fusefs_suite(void)
{
	Suite *s = suite_create("fusefs");
	TCase *tc = tcase_create("core");
	TCase *mount = tcase_create("mount");
	const char *why = fuse_unusable();

	tcase_set_timeout(mount, 60);
	tcase_add_test(mount, fusefs_serves_one_file);
	tcase_add_test(mount, fusefs_write_fsync_reaches_device);
	if (why)
		unit_skip_tcase(mount, why);
	tcase_add_test(tc, fusefs_rejects_rw_on_readonly_device);
	tcase_add_test(mount, fusefs_reads_in_place);
	suite_add_tcase(s, tc);
	suite_add_tcase(s, mount);
	return s;
}

UNIT_MAIN(fusefs_suite)
