/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sealmount/diag.h"
#include "sealmount/fsutil.h"
#include "sealmount/log.h"
#include <string.h>
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
	static const char *const names[] = { "new",  "real",   "link", "file",
					     "fifo", "target", "ready" };
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

static void put(const char *name, const char *content, char *path, size_t n)
{
	FILE *f;

	snprintf(path, n, "%s/%s", dir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputs(content, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
}

START_TEST(read_file_shapes_text)
{
	char p[256];
	uint8_t *d = NULL;
	size_t n = 0;

	setup();
	put("file", "  token-value\r\n", p, sizeof(p));
	ck_assert_int_eq(fs_read_file(p, 64, FS_READ_TRIM | FS_READ_ONE_LINE, &d, &n), 0);
	ck_assert_uint_eq(n, 11);
	ck_assert_str_eq((char *)d, "token-value");
	free(d);
	ck_assert_int_eq(fs_read_file(p, 64, 0, &d, &n), 0); /* as is */
	ck_assert_uint_eq(n, 15);
	free(d);
	ck_assert_int_eq(fs_read_file(p, 8, 0, &d, &n), -EFBIG);
	put("file", "two\nlines\n", p, sizeof(p));
	ck_assert_int_eq(fs_read_file(p, 64, FS_READ_TRIM | FS_READ_ONE_LINE, &d, &n), -EBADMSG);
	put("file", " \n", p, sizeof(p));
	ck_assert_int_eq(fs_read_file(p, 64, FS_READ_TRIM | FS_READ_NONEMPTY, &d, &n), -ENODATA);
	put("file", "aGVsbG8=\n", p, sizeof(p));
	ck_assert_int_eq(fs_read_file(p, 64, FS_READ_TRIM | FS_READ_BASE64, &d, &n), 0);
	ck_assert_uint_eq(n, 5);
	ck_assert_int_eq(memcmp(d, "hello", 5), 0);
	free(d);
	put("file", "not base64!", p, sizeof(p));
	ck_assert_int_eq(fs_read_file(p, 64, FS_READ_BASE64, &d, &n), -EBADMSG);
	ck_assert_int_eq(fs_read_file("/nonexistent/x", 64, 0, &d, &n), -ENOENT);
	cleanup();
}
END_TEST

START_TEST(read_secret_keeps_bytes_and_refuses_bad)
{
	struct secret *s = NULL;
	char p[256];

	setup();
	put("file", "pass\n", p, sizeof(p));
	ck_assert_int_eq(fs_read_secret(p, 64, 0, &s), 0); /* a key file: bytes as they are */
	ck_assert_uint_eq(s->len, 5);
	ck_assert_int_eq(memcmp(s->data, "pass\n", 5), 0);
	ck_assert_int_eq(s->data[5], 0);
	secret_free(s);
	ck_assert_int_eq(fs_read_secret(p, 64, FS_READ_TRIM | FS_READ_ONE_LINE, &s), 0);
	ck_assert_uint_eq(s->len, 4);
	secret_free(s);
	ck_assert_int_eq(fs_read_secret(p, 4, 0, &s), -EFBIG);
	put("file", "", p, sizeof(p));
	ck_assert_int_eq(fs_read_secret(p, 64, 0, &s), -ENODATA);
	put("file", "  AAECAw==  ", p, sizeof(p));
	ck_assert_int_eq(fs_read_secret(p, 64, FS_READ_TRIM | FS_READ_BASE64, &s), 0);
	ck_assert_uint_eq(s->len, 4);
	ck_assert_int_eq(memcmp(s->data, "\0\1\2\3", 4), 0);
	secret_free(s);
	put("file", "A", p, sizeof(p)); /* too short for one byte */
	ck_assert_int_eq(fs_read_secret(p, 64, FS_READ_BASE64, &s), -EBADMSG);
	put("file", "A*==", p, sizeof(p));
	ck_assert_int_eq(fs_read_secret(p, 64, FS_READ_BASE64, &s), -EBADMSG);
	cleanup();
}
END_TEST

START_TEST(read_secret_grows_past_the_first_chunk)
{
	struct secret *s = NULL;
	char p[256];
	char *big = malloc(20001);

	ck_assert_ptr_nonnull(big);
	memset(big, 'k', 20000);
	big[20000] = '\0';
	setup();
	put("file", big, p, sizeof(p));
	ck_assert_int_eq(fs_read_secret(p, 20000, 0, &s), 0);
	ck_assert_uint_eq(s->len, 20000);
	secret_free(s);
	ck_assert_int_eq(fs_read_secret(p, 19999, 0, &s), -EFBIG);
	free(big);
	cleanup();
}
END_TEST

static void read_back(const char *p, const char *want)
{
	char got[64] = { 0 };
	int fd = open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(read(fd, got, sizeof(got) - 1), (ssize_t)strlen(want));
	ck_assert_str_eq(got, want);
	close(fd);
}

/* A FIFO or a symlink planted where the readiness file goes is replaced, never opened. */
START_TEST(write_atomic_replaces_fifo_and_symlink)
{
	char p[256], t[256];
	struct stat st;

	setup();
	snprintf(p, sizeof(p), "%s/ready", dir);
	ck_assert_int_eq(mkfifo(p, 0644), 0);
	ck_assert_int_eq(fs_write_atomic(p, "1\n", 2, 0644), 0); /* would block on the FIFO */
	ck_assert_int_eq(lstat(p, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	read_back(p, "1\n");
	ck_assert_int_eq(unlink(p), 0);
	put("target", "precious", t, sizeof(t));
	ck_assert_int_eq(symlink(t, p), 0);
	ck_assert_int_eq(fs_write_atomic(p, "1\n", 2, 0644), 0);
	ck_assert_int_eq(lstat(p, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	read_back(t, "precious"); /* not written through the link */
	read_back(p, "1\n");
	ck_assert_uint_eq(st.st_mode & 0777, 0644);
	cleanup();
}
END_TEST

START_TEST(write_atomic_refuses_directory_and_missing_parent)
{
	char p[256];

	setup();
	snprintf(p, sizeof(p), "%s/new", dir);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	ck_assert_int_lt(fs_write_atomic(p, "1", 1, 0644), 0);
	snprintf(p, sizeof(p), "%s/missing/ready", dir);
	ck_assert_int_eq(fs_write_atomic(p, "1", 1, 0644), -ENOENT);
	cleanup();
}
END_TEST

START_TEST(diag_keeps_the_first_and_adds_context)
{
	struct diag d = { 0 };

	ck_assert(!diag_is_set(&d));
	ck_assert_str_eq(diag_text(&d, "fallback"), "fallback");
	ck_assert_int_eq(diag_set(&d, -ENOENT, "Cannot open %s: %m", "x"), -ENOENT);
	ck_assert_str_eq(d.text, "Cannot open x: No such file or directory");
	ck_assert_int_eq(d.err, -ENOENT);
	ck_assert_int_eq(diag_set(&d, -EIO, "later"), -EIO); /* the first one stays */
	ck_assert_str_eq(d.text, "Cannot open x: No such file or directory");
	diag_prefix(&d, "image %d", 3);
	ck_assert_str_eq(d.text, "image 3: Cannot open x: No such file or directory");
	diag_append(&d, "teardown: %s", "busy");
	ck_assert_str_eq(d.text,
			 "image 3: Cannot open x: No such file or directory; teardown: busy");
	diag_clear(&d);
	ck_assert(!diag_is_set(&d));
	ck_assert_int_eq(diag_set(NULL, -EPERM, "nowhere"), -EPERM); /* NULL-safe */
	for (int i = 0; i < 40; i++) /* truncates, never overflows */
		diag_append(&d, "%0100d", i);
	ck_assert_uint_eq(strlen(d.text), DIAG_MAX - 1);
}
END_TEST

static Suite *fsutil_suite(void)
{
	Suite *s = suite_create("fsutil");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, mkdir_private_creates_and_tightens);
	tcase_add_test(tc, mkdir_private_refuses_links_files_and_missing_parents);
	tcase_add_test(tc, read_file_shapes_text);
	tcase_add_test(tc, read_secret_keeps_bytes_and_refuses_bad);
	tcase_add_test(tc, read_secret_grows_past_the_first_chunk);
	tcase_add_test(tc, write_atomic_replaces_fifo_and_symlink);
	tcase_add_test(tc, write_atomic_refuses_directory_and_missing_parent);
	tcase_add_test(tc, diag_keeps_the_first_and_adds_context);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(fsutil_suite)
