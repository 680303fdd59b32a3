/* SPDX-License-Identifier: MIT */
/* snp_testutil.h - shared by the SNP unit tests: the reference captures and a simulated chain. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sealmount/snp.h"

/* A file from ../shared/testdata/ms-reference (malloc'd, NUL-terminated); aborts the test when
 * it cannot be read. Only in unit_tcase_shared() cases (unit.h). */
uint8_t *snptest_shared(const char *name, size_t *ret_len);
#define SNPTEST_NEED_SHARED(var, name, lenp) uint8_t *var = snptest_shared(name, lenp)

/* The real ACI report, parsed; aborts the test when it is absent (shared cases only). */
void snptest_real_report(struct snp_report *ret);

/* A simulated chain made once per test process (unchecked fixture) in a temporary directory. */
void snptest_sim_setup(void);
void snptest_sim_teardown(void);
const char *snptest_sim_dir(void);
/* "<sim dir>/<name>" in a static buffer. */
const char *snptest_sim_path(const char *name);
