/* SPDX-License-Identifier: MIT */
/* unit.h - shared bits for the Check unit tests. Each test_<module>.c defines
 * `Suite *<module>_suite(void)` and ends with UNIT_MAIN(<module>_suite).
 *
 * Skips are honest: a test case that cannot run here is never reported as passed.
 *  - Cases that need the real captures in ../shared/testdata/ms-reference go in a test case made
 *    with unit_tcase_shared(). Such a suite is listed in `unit_shared` in tests/unit/meson.build
 *    and registered twice: NAME runs it with --no-shared (every other case), NAME_shared with
 *    --shared (only those cases; exit 77, meson's SKIP, when the data is absent).
 *  - A test case whose environment is missing (e.g. no usable /dev/fuse) is marked with
 *    unit_skip_tcase() while the suite is built: the other cases run, and the executable exits
 *    77 instead of 0 when they pass.
 * Without an argument every case runs; absent shared data then also makes the exit 77. */
#pragma once

#include <check.h>
#include <stdlib.h>

#include "sealmount/log.h"
#include "sealmount/secret.h"

/* Path of the shared reference data (SEALMOUNT_SHARED_TESTDATA, set by meson to
 * ../shared/testdata/ms-reference), or NULL when it is absent. In a unit_tcase_shared() case it
 * is never NULL. */
const char *unit_shared_testdata(void);
/* A file of the shared reference data, read whole (malloc'd, NUL-terminated); aborts the test
 * when it cannot be read. Only for unit_tcase_shared() cases. */
unsigned char *unit_read_shared(const char *name, size_t *ret_len);
/* A test case for tests that need the shared reference data (tagged "shared"). */
TCase *unit_tcase_shared(const char *name);
/* Mark a test case as not runnable here, with the reason (printed with the SKIP). Call while
 * building the suite, not for unit_tcase_shared() cases. */
void unit_skip_tcase(TCase *tc, const char *reason);
/* Read a whole file (malloc'd, NUL-terminated); aborts the test on failure. */
unsigned char *unit_read_file(const char *path, size_t *ret_len);
/* Path of tests/data inside the source tree. */
const char *unit_testdata(void);

/* Run the suite as described above; the exit code for main(). */
int unit_main(Suite *s, int argc, char **argv);

#define UNIT_MAIN(suite_fn)                                                                        \
	int main(int argc, char **argv)                                                            \
	{                                                                                          \
		log_set_level(LOG_LVL_DEBUG);                                                      \
		secret_set_allow_unlocked(true);                                                   \
		return unit_main(suite_fn(), argc, argv);                                          \
	}
