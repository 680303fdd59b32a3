/* SPDX-License-Identifier: MIT */
/*
 * source_opts.h - the storage options that `blob stat|attach` and `image upload` share: a URL's
 * credentials (account key file, bearer token file, IMDS managed identity) and extra TLS roots,
 * parsed into the pipeline's struct pl_source (pipeline.h).
 */
#pragma once

#include <getopt.h>
#include <stdbool.h>

#include "sealmount/pipeline.h"

struct source_args {
	struct pl_source src;
	unsigned n_auth; /* credential options given: at most one */
};

/* getopt_long entries, to put into a command's option table. */
#define SOURCE_LONG_OPTIONS                                                                        \
	{ "account-key-file", required_argument, NULL, 'k' },                                      \
		{ "bearer-token-file", required_argument, NULL, 't' },                             \
		{ "imds", optional_argument, NULL, 'I' },                                          \
		{ "client-id", required_argument, NULL, 'i' },                                     \
	{                                                                                          \
		"ca-file", required_argument, NULL, 'C'                                            \
	}

/* Store option c (from SOURCE_LONG_OPTIONS): 0, or 1 when c is not one of them. */
int source_parse_option(struct source_args *a, int c, int argc, char **argv) _nonnull_(1, 4);
/* After parsing: one credential at most, --client-id only with --imds. 0 or a usage exit code. */
int source_check(const char *cmd, const struct source_args *a) _nonnull_(1, 2);

/* The help lines for SOURCE_LONG_OPTIONS. */
#define SOURCE_HELP                                                                                \
	"  --account-key-file F   SharedKey with the base64 account key in file F\n"               \
	"  --bearer-token-file F  Entra ID bearer token read from F at every request\n"            \
	"                         (kept fresh by someone else)\n"                                  \
	"  --imds[=ENDPOINT]      managed-identity token from IMDS (default\n"                     \
	"                         http://169.254.169.254) for resource https://<URL host>,\n"      \
	"                         refreshed before it expires\n"                                   \
	"  --client-id ID         user-assigned identity for --imds\n"                             \
	"  --ca-file F            extra CA bundle for https (private or test CAs)\n"
