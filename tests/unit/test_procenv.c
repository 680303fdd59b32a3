/* SPDX-License-Identifier: MIT */
/*
 * test_procenv.c - helpers get PATH and nothing else; a forgotten variable is unset and its bytes
 * wiped where they were (the integration test test-secret-hygiene-mount.sh checks what
 * /proc/PID/environ shows of a real sidecar and its fuse2fs).
 */
#define _GNU_SOURCE
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sealmount/procenv.h"
#include "unit.h"

START_TEST(procenv_child_env_is_path_only)
{
	char *const argv[] = { (char *)"env", NULL };
	char *const *e;
	char out[8192];
	posix_spawn_file_actions_t fa;
	int p[2], st;
	ssize_t n, got = 0;
	pid_t pid;

	ck_assert_int_eq(setenv("SEALMOUNT_TEST_CANARY", "credential-in-env", 1), 0);
	e = proc_child_env();
	ck_assert_ptr_eq(e, proc_child_env()); /* built once */
	ck_assert_int_eq(strncmp(e[0], "PATH=", 5), 0);
	ck_assert_str_eq(e[0] + 5, secure_getenv("PATH") ? secure_getenv("PATH") : "");
	ck_assert_ptr_null(e[1]);
	/* What a real helper sees. */
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(posix_spawn_file_actions_init(&fa), 0);
	ck_assert_int_eq(posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO), 0);
	ck_assert_int_eq(posix_spawnp(&pid, "env", &fa, NULL, argv, e), 0);
	close(p[1]);
	while ((n = read(p[0], out + got, sizeof(out) - 1 - (size_t)got)) > 0)
		got += n;
	close(p[0]);
	out[got] = 0;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	posix_spawn_file_actions_destroy(&fa);
	ck_assert_int_eq(strncmp(out, "PATH=", 5), 0);
	ck_assert_ptr_null(strchr(out, '\n') ? strchr(strchr(out, '\n') + 1, '=') : NULL);
	ck_assert_ptr_null(strstr(out, "credential-in-env"));
}
END_TEST

START_TEST(procenv_forget_wipes_in_place)
{
	const char *v;
	size_t len;

	ck_assert_int_eq(setenv("SM_TEST_SECRET", "sv=2021&sig=abcdef", 1), 0);
	ck_assert_int_eq(setenv("SM_TEST_SECRET2", "keep me", 1), 0);
	v = secure_getenv("SM_TEST_SECRET");
	ck_assert_ptr_nonnull(v);
	len = strlen(v);
	proc_env_forget("SM_TEST_SECRET");
	ck_assert_ptr_null(secure_getenv("SM_TEST_SECRET"));
	/* glibc keeps setenv()'s strings: the value's bytes are still there to look at. */
	for (size_t i = 0; i < len; i++)
		ck_assert_int_eq(v[i], 0);
	ck_assert_str_eq(secure_getenv("SM_TEST_SECRET2"), "keep me"); /* a longer name: kept */
	proc_env_forget("SM_TEST_SECRET"); /* gone already: nothing happens */
	proc_env_forget("SM_TEST_ABSENT");
}
END_TEST

static Suite *procenv_suite(void)
{
	Suite *s = suite_create("procenv");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, procenv_child_env_is_path_only);
	tcase_add_test(tc, procenv_forget_wipes_in_place);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(procenv_suite)
