/* SPDX-License-Identifier: MIT */
/*
 * test_volume_guard.c - the guard layer between the FUSE plaintext file and fuse2fs
 * (engine_user.c): reads and writes pass through unchanged; an error is returned as it is; once
 * armed, the first error SIGKILLs the armed process (a forked child here) before returning, and
 * only once; unarmed or disarmed, nothing is killed; freeing the guard leaves the lower device.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sealmount/bdev.h"
#include "src/volume/volume_internal.h"
#include "unit.h"

#define DEV_SIZE 65536
#define BAD_OFF 32768 /* reads and writes at or past this fail with -EILSEQ */

struct lower {
	unsigned char data[DEV_SIZE];
	int *closed;
};

static int lower_read(void *state, void *buf, size_t len, uint64_t off)
{
	struct lower *l = state;

	if (off + len > BAD_OFF)
		return -EILSEQ;
	memcpy(buf, l->data + off, len);
	return 0;
}

static int lower_write(void *state, const void *buf, size_t len, uint64_t off)
{
	struct lower *l = state;

	if (off + len > BAD_OFF)
		return -EIO;
	memcpy(l->data + off, buf, len);
	return 0;
}

static void lower_close(void *state)
{
	struct lower *l = state;

	(*l->closed)++;
	free(l);
}

static const struct bdev_ops lower_ops = { .name = "test-lower",
					   .read = lower_read,
					   .write = lower_write,
					   .close = lower_close };

static int closed;

static struct bdev *new_lower(void)
{
	struct lower *l = calloc(1, sizeof(*l));
	struct bdev *b = NULL;

	ck_assert_ptr_nonnull(l);
	for (size_t i = 0; i < DEV_SIZE; i++)
		l->data[i] = (unsigned char)(i * 7);
	l->closed = &closed;
	ck_assert_int_eq(bdev_new(&lower_ops, l, DEV_SIZE, 512, true, &b), 0);
	return b;
}

static pid_t spawn_sleeper(void)
{
	pid_t pid = fork();

	if (pid == 0) /* no Check calls in the child: they would report into the test's pipe */
		for (;;)
			pause();
	ck_assert_int_gt(pid, 0);
	return pid;
}

/* The child's fate: -1 still running (then killed and reaped here), else the signal. */
static int reap(pid_t pid)
{
	const struct timespec pause_10ms = { .tv_nsec = 10 * 1000 * 1000 };
	int st;

	for (int i = 0; i < 100; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFSIGNALED(st) ? WTERMSIG(st) : 0;
		(void)nanosleep(&pause_10ms, NULL);
	}
	(void)kill(pid, SIGKILL);
	(void)waitpid(pid, &st, 0);
	return -1;
}

START_TEST(passes_through)
{
	struct bdev *lower = new_lower(), *g = NULL;
	unsigned char buf[4096], want[4096];

	closed = 0;
	ck_assert_int_eq(vol_guard_new(lower, &g), 0);
	ck_assert_uint_eq(bdev_size(g), DEV_SIZE);
	ck_assert(bdev_is_writable(g));
	ck_assert_uint_eq(bdev_write_align(g), 512);
	ck_assert_int_eq(bdev_read(g, buf, sizeof(buf), 4096), 0);
	ck_assert_int_eq(bdev_read(lower, want, sizeof(want), 4096), 0);
	ck_assert_mem_eq(buf, want, sizeof(buf));
	memset(buf, 0xab, sizeof(buf));
	ck_assert_int_eq(bdev_write(g, buf, sizeof(buf), 8192), 0);
	ck_assert_int_eq(bdev_read(lower, want, sizeof(want), 8192), 0);
	ck_assert_mem_eq(buf, want, sizeof(buf));
	ck_assert_int_eq(bdev_flush(g), 0);
	/* The guard borrows the lower device. */
	bdev_free(g);
	ck_assert_int_eq(closed, 0);
	bdev_free(lower);
	ck_assert_int_eq(closed, 1);
}
END_TEST

START_TEST(unarmed_error_kills_nothing)
{
	struct bdev *lower = new_lower(), *g = NULL;
	unsigned char buf[4096];
	pid_t child = spawn_sleeper();

	ck_assert_int_eq(vol_guard_new(lower, &g), 0);
	ck_assert_int_eq(bdev_read(g, buf, sizeof(buf), BAD_OFF), -EILSEQ);
	/* Armed, then disarmed (fuse2fs exited): still nothing. */
	vol_guard_arm(g, child);
	vol_guard_arm(g, 0);
	ck_assert_int_eq(bdev_read(g, buf, sizeof(buf), BAD_OFF), -EILSEQ);
	/* Arming another layer is a no-op. */
	vol_guard_arm(lower, child);
	vol_guard_arm(NULL, child);
	ck_assert_int_eq(bdev_read(lower, buf, sizeof(buf), BAD_OFF), -EILSEQ);
	ck_assert_int_eq(reap(child), -1);
	bdev_free(g);
	bdev_free(lower);
}
END_TEST

START_TEST(armed_read_error_kills_once)
{
	struct bdev *lower = new_lower(), *g = NULL;
	unsigned char buf[4096];
	pid_t child = spawn_sleeper(), other = spawn_sleeper();

	ck_assert_int_eq(vol_guard_new(lower, &g), 0);
	vol_guard_arm(g, child);
	/* Good reads do not trigger it. */
	ck_assert_int_eq(bdev_read(g, buf, sizeof(buf), 0), 0);
	ck_assert_int_eq(kill(child, 0), 0);
	/* The error is still returned, after the kill. */
	ck_assert_int_eq(bdev_read(g, buf, sizeof(buf), BAD_OFF - 512), -EILSEQ);
	ck_assert_int_eq(reap(child), SIGKILL);
	/* Once: the next error kills nothing (the pid may be reused by then). */
	ck_assert_int_eq(bdev_read(g, buf, sizeof(buf), BAD_OFF), -EILSEQ);
	ck_assert_int_eq(reap(other), -1);
	bdev_free(g);
	bdev_free(lower);
}
END_TEST

START_TEST(armed_write_error_kills)
{
	struct bdev *lower = new_lower(), *g = NULL;
	unsigned char buf[4096] = { 0 };
	pid_t child = spawn_sleeper();

	ck_assert_int_eq(vol_guard_new(lower, &g), 0);
	vol_guard_arm(g, child);
	ck_assert_int_eq(bdev_write(g, buf, sizeof(buf), 0), 0);
	ck_assert_int_eq(bdev_write(g, buf, sizeof(buf), BAD_OFF), -EIO);
	ck_assert_int_eq(reap(child), SIGKILL);
	bdev_free(g);
	bdev_free(lower);
}
END_TEST

static Suite *volume_guard_suite(void)
{
	Suite *s = suite_create("volume_guard");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, passes_through);
	tcase_add_test(tc, unarmed_error_kills_nothing);
	tcase_add_test(tc, armed_read_error_kills_once);
	tcase_add_test(tc, armed_write_error_kills);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(volume_guard_suite)
