/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define UNIT_SKIP_EXIT 77 /* meson: SKIP */
#define TAG_SHARED "shared"
#define TAG_SKIP "unit-skip"

static unsigned n_shared_cases;
static char skip_reasons[1024];

const char *unit_shared_testdata(void)
{
	/* Test harness input, not production configuration: set by meson's test environment. */
	const char *p = secure_getenv("SEALMOUNT_SHARED_TESTDATA");
	struct stat st;

	if (!p || stat(p, &st) < 0 || !S_ISDIR(st.st_mode))
		return NULL;
	return p;
}

unsigned char *unit_read_shared(const char *name, size_t *ret_len)
{
	const char *dir = unit_shared_testdata();
	char path[4096];
	size_t len;

	ck_assert_msg(dir != NULL, "shared testdata absent: a shared-data test outside a "
				   "unit_tcase_shared() case");
	ck_assert_int_lt(snprintf(path, sizeof(path), "%s/%s", dir, name), (int)sizeof(path));
	return unit_read_file(path, ret_len ? ret_len : &len);
}

TCase *unit_tcase_shared(const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_set_tags(tc, TAG_SHARED);
	n_shared_cases++;
	return tc;
}

void unit_skip_tcase(TCase *tc, const char *reason)
{
	size_t used = strlen(skip_reasons);

	tcase_set_tags(tc, TAG_SKIP);
	snprintf(skip_reasons + used, sizeof(skip_reasons) - used, "%s%s", used ? "; " : "",
		 reason);
}

/* What this run includes and excludes; -1, or the exit code when it cannot run at all. */
static int select_cases(const char *prog, const char *mode, const char **include,
			const char **exclude, char *why, size_t why_size)
{
	*include = NULL;
	*exclude = TAG_SKIP;
	if (strcmp(mode, "--shared") == 0) {
		if (n_shared_cases == 0) {
			fprintf(stderr,
				"%s: --shared but no unit_tcase_shared() case (remove it from "
				"unit_shared in tests/unit/meson.build)\n",
				prog);
			return EXIT_FAILURE;
		}
		if (!unit_shared_testdata()) {
			printf("SKIP: shared testdata absent (SEALMOUNT_SHARED_TESTDATA=%s)\n",
			       secure_getenv("SEALMOUNT_SHARED_TESTDATA") ?: "");
			return UNIT_SKIP_EXIT;
		}
		*include = TAG_SHARED;
		return -1; /* skipped cases are not shared ones: not part of this run */
	}
	if (strcmp(mode, "--no-shared") == 0) {
		*exclude = TAG_SKIP " " TAG_SHARED;
	} else if (mode[0]) {
		fprintf(stderr, "usage: %s [--shared | --no-shared]\n", prog);
		return EXIT_FAILURE;
	} else if (n_shared_cases > 0 && !unit_shared_testdata()) {
		*exclude = TAG_SKIP " " TAG_SHARED;
		snprintf(why, why_size, "%u test case(s) need the shared testdata, absent%s",
			 n_shared_cases, skip_reasons[0] ? "; " : "");
	}
	if (skip_reasons[0])
		snprintf(why + strlen(why), why_size - strlen(why), "%s", skip_reasons);
	return -1;
}

int unit_main(Suite *s, int argc, char **argv)
{
	SRunner *sr = srunner_create(s); /* owns the suite: freed on every path */
	const char *include, *exclude;
	char why[1280] = "";
	int r;

	r = select_cases(argv[0], argc > 1 ? argv[1] : "", &include, &exclude, why, sizeof(why));
	if (r < 0) {
		srunner_run_tagged(sr, NULL, NULL, include, exclude, CK_NORMAL);
		r = srunner_ntests_failed(sr) ? EXIT_FAILURE : EXIT_SUCCESS;
		if (r == EXIT_SUCCESS && why[0]) {
			printf("SKIP: %s\n", why);
			r = UNIT_SKIP_EXIT;
		}
	}
	srunner_free(sr);
	return r;
}

const char *unit_testdata(void)
{
	const char *p = secure_getenv("SEALMOUNT_TESTDATA");

	return p ? p : "tests/data";
}

unsigned char *unit_read_file(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *data = NULL;
	size_t len = 0, alloc = 0;

	ck_assert_msg(f != NULL, "cannot open %s", path);
	for (;;) {
		if (alloc - len < 4096) {
			alloc = alloc ? alloc * 2 : 8192;
			data = realloc(data, alloc + 1);
			ck_assert_ptr_nonnull(data);
		}
		size_t n = fread(data + len, 1, alloc - len, f);
		len += n;
		if (n == 0)
			break;
	}
	fclose(f);
	data[len] = 0;
	*ret_len = len;
	return data;
}
