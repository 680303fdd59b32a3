/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "sealmount/log.h"
#include "sealmount/pipeline.h"

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "sealmount%s%s: ", cmd ? " " : "", cmd ? cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see 'sealmount %s%s--help')\n", cmd ? cmd : "", cmd ? " " : "");
	return CLI_EXIT_USAGE;
}

int cli_bad_option(const char *cmd, int c, char **argv)
{
	const char *opt = argv[optind - 1];

	if (c == ':')
		return cli_usage_error(cmd, "option '%s' needs a value", opt);
	return cli_usage_error(cmd, "unknown option '%s'", opt);
}

void cli_print_usage(const struct cli_command *c, FILE *f)
{
	fprintf(f, "%s", c->usage);
}

int cli_help(const struct cli_command *c)
{
	cli_print_usage(c, stdout);
	return CLI_EXIT_OK;
}

int cli_parse_uint(const char *s, uint64_t max, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE || v > max)
		return -ERANGE;
	if (*end != 0)
		return -EINVAL;
	*ret = v;
	return 0;
}

int cli_parse_size(const char *s, uint64_t *ret)
{
	static const struct {
		const char *suffix;
		unsigned shift;
	} units[] = { { "", 0 },     { "k", 10 }, { "K", 10 },	 { "KiB", 10 }, { "M", 20 },
		      { "MiB", 20 }, { "G", 30 }, { "GiB", 30 }, { "T", 40 },	{ "TiB", 40 } };
	char *end;
	unsigned long long v;

	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	for (size_t i = 0; i < ELEMENTSOF(units); i++) {
		if (strcmp(end, units[i].suffix) != 0)
			continue;
		if (units[i].shift && v > (UINT64_MAX >> units[i].shift))
			return -ERANGE;
		*ret = (uint64_t)v << units[i].shift;
		return 0;
	}
	return -EINVAL;
}

int image_open_source(const char *image, const char *account_key_file, struct pl_stack *ret)
{
	struct pl_source src = { .url = image };
	struct diag d = { 0 };
	int r;

	if (account_key_file) {
		src.auth = PL_AUTH_SHARED_KEY;
		src.account_key_file = account_key_file;
	}
	r = pl_stack_open(&src, NULL, ret, &d);
	if (r < 0)
		return log_error_errno(r, "%s. Likely causes: %s", diag_or_strerror(&d, r),
				       pl_explain_diag(PL_STEP_OPEN, &d, r));
	return 0;
}
