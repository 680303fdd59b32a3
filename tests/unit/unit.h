/* SPDX-License-Identifier: MIT */
/* unit.h - shared bits for the Check unit tests. Each test_<module>.c defines
 * `Suite *<module>_suite(void)` and ends with UNIT_MAIN(<module>_suite). */
#pragma once

#include <check.h>
#include <stdlib.h>

#include "sealmount/log.h"
#include "sealmount/secret.h"

/* Path of ../shared/testdata/ms-reference, or NULL when ../shared is absent (tests that need it
 * say so and skip). Set by meson through the SEALMOUNT_SHARED_TESTDATA environment variable. */
const char *unit_shared_testdata(void);
/* Read a whole file (malloc'd, NUL-terminated); aborts the test on failure. */
unsigned char *unit_read_file(const char *path, size_t *ret_len);
/* Path of tests/data inside the source tree. */
const char *unit_testdata(void);

#define UNIT_MAIN(suite_fn)                                                                        \
	int main(void)                                                                             \
	{                                                                                          \
		SRunner *sr = srunner_create(suite_fn());                                          \
		int failed;                                                                        \
		log_set_level(LOG_LVL_DEBUG);                                                      \
		secret_set_allow_unlocked(true);                                                   \
		srunner_run_all(sr, CK_NORMAL);                                                    \
		failed = srunner_ntests_failed(sr);                                                \
		srunner_free(sr);                                                                  \
		return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;                                  \
	}
