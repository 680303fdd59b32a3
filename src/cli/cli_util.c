/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "sealmount/luks2.h"
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

int cli_kdf_max_memory_mb(const char *cmd, const char *arg, struct luks2_policy *p)
{
	uint64_t v;

	if (cli_parse_uint(arg, CLI_KDF_MAX_MEMORY_MB, &v) < 0 || v == 0)
		return cli_usage_error(cmd,
				       "--kdf-max-memory-mb takes 1..%u (MiB of argon2 memory)",
				       CLI_KDF_MAX_MEMORY_MB);
	p->kdf_max_memory_kib = (uint32_t)v * 1024;
	return 0;
}

int cli_kdf_max_seconds(const char *cmd, const char *arg, struct luks2_policy *p)
{
	uint64_t v;

	if (cli_parse_uint(arg, CLI_KDF_MAX_SECONDS, &v) < 0 || v == 0)
		return cli_usage_error(cmd, "--kdf-max-seconds takes 1..%u", CLI_KDF_MAX_SECONDS);
	p->kdf_max_ms = (uint32_t)v * 1000;
	return 0;
}

int cli_kdf_opt(const char *cmd, int c, const char *arg, struct luks2_policy *p)
{
	if (c == 'M')
		return cli_kdf_max_memory_mb(cmd, arg, p) != 0 ? CLI_EXIT_USAGE : 0;
	if (c == 'T')
		return cli_kdf_max_seconds(cmd, arg, p) != 0 ? CLI_EXIT_USAGE : 0;
	return 1;
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
