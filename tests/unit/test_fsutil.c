/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sealmount/fsutil.h"
#include "unit.h"

static char dir[64];

/* A fresh directory per test (CK_FORK=no under valgrind runs them in one process). */
static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_fsutil.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

/* Remove the entries the tests make, then the directory. */
static void cleanup(void)
{
	static const char *const names[] = { "new", "real", "link", "file" };
	char p[256];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		if (unlink(p) < 0)
			(void)rmdir(p);
	}
	ck_assert_int_eq(rmdir(dir), 0);
}

static mode_t mode_of(const char *p)
{
	struct stat st;

	ck_assert_int_eq(lstat(p, &st), 0);
	return st.st_mode & 07777;
}

START_TEST(mkdir_private_creates_and_tightens)
{
	char p[256];

	setup();
	snprintf(p, sizeof(p), "%s/new", dir);
	ck_assert_int_eq(fs_mkdir_private(p), 0);
	ck_assert_uint_eq(mode_of(p), 0700);
	ck_assert_int_eq(chmod(p, 0755), 0);
	ck_assert_int_eq(fs_mkdir_private(p), 0); /* existing, ours: tightened */
	ck_assert_uint_eq(mode_of(p), 0700);
	cleanup();
}
END_TEST

START_TEST(mkdir_private_refuses_links_files_and_missing_parents)
{
	char p[256], l[256], f[256], m[256];
	int fd;

	setup();
	snprintf(p, sizeof(p), "%s/real", dir);
	snprintf(l, sizeof(l), "%s/link", dir);
	snprintf(f, sizeof(f), "%s/file", dir);
	snprintf(m, sizeof(m), "%s/missing/child", dir);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	ck_assert_int_eq(symlink(p, l), 0);
	fd = open(f, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(fs_mkdir_private(l), -ENOTDIR);
	ck_assert_int_eq(fs_mkdir_private(f), -ENOTDIR);
	ck_assert_int_eq(fs_mkdir_private(m), -ENOENT);
	cleanup();
}
END_TEST

static Suite *fsutil_suite(void)
{
	Suite *s = suite_create("fsutil");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, mkdir_private_creates_and_tightens);
	tcase_add_test(tc, mkdir_private_refuses_links_files_and_missing_parents);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(fsutil_suite)
