/* SPDX-License-Identifier: MIT */
/*
 * test_volume_fsck.c - vol_fsck()/vol_fsck_run() (src/volume/fsck.c) with the real e2fsck: a clean
 * ext4 passes, a damaged one or no filesystem at all is refused (-EUCLEAN, with what e2fsck
 * said), xfs is not checked; and the helper runs with PATH as its whole environment, no new
 * privileges and no capabilities (a stand-in e2fsck early in PATH reports what it got); a hung
 * checker is killed at the timeout; no e2fsck at all is -ENOENT.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "src/volume/volume_internal.h"
#include "unit.h"

static char dir[64];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_fsck.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char path[128];
	static const char *const names[] = { "img", "e2fsck", "report" };

	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		(void)unlink(path);
	}
	(void)rmdir(dir);
}

static void run(char *const argv[])
{
	extern char **environ;
	pid_t pid;
	int st;

	ck_assert_int_eq(posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ), 0);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s failed", argv[0]);
}

/* An 8 MiB ext4 image at dir/img. */
static const char *make_ext4(void)
{
	static char img[96];
	char *const argv[] = { (char *)"mke2fs", (char *)"-q", (char *)"-F",   (char *)"-t",
			       (char *)"ext4",	 (char *)"-b", (char *)"4096", img,
			       (char *)"8M",	 NULL };

	snprintf(img, sizeof(img), "%s/img", dir);
	run(argv);
	return img;
}

static void overwrite(const char *path, off_t off, uint8_t byte, size_t len)
{
	uint8_t buf[4096];
	int fd = open(path, O_WRONLY);

	ck_assert_int_ge(fd, 0);
	ck_assert_uint_le(len, sizeof(buf));
	memset(buf, byte, len);
	ck_assert_int_eq(pwrite(fd, buf, len, off), (ssize_t)len);
	close(fd);
}

START_TEST(vol_fsck_clean_ext4_passes)
{
	struct diag d = { 0 };

	ck_assert_int_eq(vol_fsck(make_ext4(), "ext4", &d), 0);
	ck_assert(!diag_is_set(&d));
}
END_TEST

START_TEST(vol_fsck_refuses_damaged_ext4)
{
	const char *img = make_ext4();
	struct diag d = { 0 };

	/* The group descriptors (block 1 with 4 KiB blocks): what flipped ciphertext in an image
	 * without integrity turns into - 16-byte blocks of garbage. */
	overwrite(img, 4096 + 16, 0x5a, 48);
	ck_assert_int_eq(vol_fsck(img, "ext4", &d), -EUCLEAN);
	ck_assert_ptr_nonnull(strstr(d.text, "e2fsck -n"));
	ck_assert_ptr_nonnull(strstr(d.text, "It says:"));
}
END_TEST

START_TEST(vol_fsck_refuses_no_filesystem)
{
	const char *img = make_ext4();
	struct diag d = { 0 };

	overwrite(img, 1024, 0, 1024); /* the superblock, and with it the magic */
	ck_assert_int_eq(vol_fsck(img, "ext4", &d), -EUCLEAN);
	ck_assert_ptr_nonnull(strstr(d.text, "not mounted"));
}
END_TEST

START_TEST(vol_fsck_skips_other_filesystems)
{
	struct diag d = { 0 };

	/* Not even opened: there is no read-only checker wired up for xfs. */
	ck_assert_int_eq(vol_fsck("/nonexistent", "xfs", &d), 0);
	ck_assert(!diag_is_set(&d));
}
END_TEST

/* A stand-in e2fsck first in PATH: writes what it got to dir/report and exits with `code`
 * (after `sleep` seconds). */
static void fake_e2fsck(int code, int sleep_s)
{
	char path[128], script[1024], newpath[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/e2fsck", dir);
	snprintf(script, sizeof(script),
		 "#!/bin/sh\n"
		 "{ echo \"args: $*\"; env; grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs):' "
		 "/proc/self/status; } >%s/report\n"
		 "echo 'Pass 1: \\001\\033[31mbad inode'\n"
		 "sleep %d\n"
		 "exit %d\n",
		 dir, sleep_s, code);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(script, f);
	fclose(f);
	ck_assert_int_eq(chmod(path, 0755), 0);
	snprintf(newpath, sizeof(newpath), "%s:%s", dir, secure_getenv("PATH"));
	ck_assert_int_eq(setenv("PATH", newpath, 1), 0);
	ck_assert_int_eq(setenv("SEALMOUNT_TEST_CANARY", "a credential", 1), 0);
}

static char *report(void)
{
	char path[128];
	size_t len;

	snprintf(path, sizeof(path), "%s/report", dir);
	return (char *)unit_read_file(path, &len);
}

START_TEST(vol_fsck_helper_has_nothing)
{
	_cleanup_free_ char *rep = NULL;
	struct diag d = { 0 };

	fake_e2fsck(0, 0);
	ck_assert_int_eq(vol_fsck("/dev/null", "ext4", &d), 0);
	rep = report();
	ck_assert_ptr_nonnull(strstr(rep, "args: -n -f /dev/null\n"));
	ck_assert_ptr_null(strstr(rep, "SEALMOUNT_TEST_CANARY"));
	ck_assert_ptr_nonnull(strstr(rep, "\nPATH="));
	/* The environment lines (between "args:" and the Cap lines): PATH, and what sh adds
	 * itself (PWD, maybe SHLVL and _) - nothing else of ours. */
	for (char *l = strchr(rep, '\n') + 1; *l && strncmp(l, "Cap", 3) != 0;
	     l = strchr(l, '\n') + 1)
		ck_assert_msg(!strncmp(l, "PATH=", 5) || !strncmp(l, "PWD=", 4) ||
				      !strncmp(l, "SHLVL=", 6) || !strncmp(l, "_=", 2) ||
				      !strncmp(l, "OLDPWD=", 7),
			      "unexpected environment line: %.60s", l);
	ck_assert_ptr_nonnull(strstr(rep, "CapEff:\t0000000000000000"));
	ck_assert_ptr_nonnull(strstr(rep, "CapPrm:\t0000000000000000"));
	ck_assert_ptr_nonnull(strstr(rep, "CapAmb:\t0000000000000000"));
	ck_assert_ptr_nonnull(strstr(rep, "NoNewPrivs:\t1"));
	if (geteuid() == 0)
		ck_assert_ptr_nonnull(strstr(rep, "CapBnd:\t0000000000000000"));
}
END_TEST

START_TEST(vol_fsck_reports_errors_sanitized)
{
	struct diag d = { 0 };

	fake_e2fsck(4, 0);
	ck_assert_int_eq(vol_fsck("/dev/null", "ext4", &d), -EUCLEAN);
	ck_assert_ptr_nonnull(strstr(d.text, "exit 4"));
	/* The checker's output (which names files of the hostile image) without control bytes. */
	ck_assert_ptr_nonnull(strstr(d.text, "Pass 1: ??[31mbad inode"));
}
END_TEST

START_TEST(vol_fsck_kills_a_hung_checker)
{
	struct timespec a, b;
	char out[256];
	int st = 0;

	fake_e2fsck(0, 30);
	clock_gettime(CLOCK_MONOTONIC, &a);
	ck_assert_int_eq(vol_fsck_run("/dev/null", 1, out, sizeof(out), &st), -ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &b);
	ck_assert_int_lt(b.tv_sec - a.tv_sec, 10);
	ck_assert_ptr_nonnull(strstr(out, "Pass 1"));
}
END_TEST

START_TEST(vol_fsck_without_e2fsck)
{
	struct diag d = { 0 };

	ck_assert_int_eq(setenv("PATH", "/nonexistent", 1), 0);
	ck_assert_int_eq(vol_fsck("/dev/null", "ext4", &d), -ENOENT);
	ck_assert_ptr_nonnull(strstr(d.text, "e2fsprogs"));
}
END_TEST

static Suite *volume_fsck_suite(void)
{
	Suite *s = suite_create("volume_fsck");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, vol_fsck_clean_ext4_passes);
	tcase_add_test(tc, vol_fsck_refuses_damaged_ext4);
	tcase_add_test(tc, vol_fsck_refuses_no_filesystem);
	tcase_add_test(tc, vol_fsck_skips_other_filesystems);
	tcase_add_test(tc, vol_fsck_helper_has_nothing);
	tcase_add_test(tc, vol_fsck_reports_errors_sanitized);
	tcase_add_test(tc, vol_fsck_kills_a_hung_checker);
	tcase_add_test(tc, vol_fsck_without_e2fsck);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(volume_fsck_suite)
