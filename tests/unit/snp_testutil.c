/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "snp_testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sealmount/snp_sim.h"
#include "unit.h"

static char sim_dir[256];

uint8_t *snptest_shared(const char *name, size_t *ret_len)
{
	return unit_read_shared(name, ret_len);
}

void snptest_real_report(struct snp_report *ret)
{
	size_t len;
	uint8_t *raw = snptest_shared("snp_report.bin", &len);

	ck_assert_int_eq(snp_report_parse(raw, len, ret), 0);
	free(raw);
}

void snptest_sim_setup(void)
{
	snprintf(sim_dir, sizeof(sim_dir), "/tmp/sealmount-snp-test-XXXXXX");
	if (!mkdtemp(sim_dir))
		abort();
	if (snp_sim_init(sim_dir, NULL) != 0)
		abort();
}

void snptest_sim_teardown(void)
{
	DIR *d = opendir(sim_dir);
	struct dirent *de;

	while (d && (de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.')
			(void)unlinkat(dirfd(d), de->d_name, 0);
	}
	if (d)
		closedir(d);
	(void)rmdir(sim_dir);
}

const char *snptest_sim_dir(void)
{
	return sim_dir;
}

const char *snptest_sim_path(const char *name)
{
	static char path[512];

	snprintf(path, sizeof(path), "%s/%s", sim_dir, name);
	return path;
}
