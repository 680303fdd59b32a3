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

int unit_main(Suite *s, int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	const char *exclude = TAG_SKIP, *include = NULL;
	char why[1280] = "";
	SRunner *sr;
	int failed;

	if (strcmp(mode, "--shared") == 0) {
		if (n_shared_cases == 0) {
			fprintf(stderr,
				"%s: --shared but no unit_tcase_shared() case (remove it from "
				"unit_shared in tests/unit/meson.build)\n",
				argv[0]);
			return EXIT_FAILURE;
		}
		if (!unit_shared_testdata()) {
			printf("SKIP: shared testdata absent (SEALMOUNT_SHARED_TESTDATA=%s)\n",
			       secure_getenv("SEALMOUNT_SHARED_TESTDATA") ?: "");
			return UNIT_SKIP_EXIT;
		}
		include = TAG_SHARED;
		skip_reasons[0] = 0; /* skipped cases are not shared ones: not part of this run */
	} else if (strcmp(mode, "--no-shared") == 0) {
		exclude = TAG_SKIP " " TAG_SHARED;
	} else if (mode[0]) {
		fprintf(stderr, "usage: %s [--shared | --no-shared]\n", argv[0]);
		return EXIT_FAILURE;
	} else if (n_shared_cases > 0 && !unit_shared_testdata()) {
		exclude = TAG_SKIP " " TAG_SHARED;
		snprintf(why, sizeof(why), "%u test case(s) need the shared testdata, absent%s",
			 n_shared_cases, skip_reasons[0] ? "; " : "");
	}
	if (skip_reasons[0])
		snprintf(why + strlen(why), sizeof(why) - strlen(why), "%s", skip_reasons);

	sr = srunner_create(s);
	srunner_run_tagged(sr, NULL, NULL, include, exclude, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (failed)
		return EXIT_FAILURE;
	if (why[0]) {
		printf("SKIP: %s\n", why);
		return UNIT_SKIP_EXIT;
	}
	return EXIT_SUCCESS;
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
