/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

const char *unit_shared_testdata(void)
{
	/* Test harness input, not production configuration: set by meson's test environment. */
	const char *p = secure_getenv("SEALMOUNT_SHARED_TESTDATA");
	struct stat st;

	if (!p || stat(p, &st) < 0 || !S_ISDIR(st.st_mode))
		return NULL;
	return p;
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
