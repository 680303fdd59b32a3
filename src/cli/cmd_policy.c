/* SPDX-License-Identifier: MIT */
/*
 * cmd_policy.c - `sealmount policy hostdata FILE`: the SHA-256 of a confidential container
 * (CCE) policy, which the SEV-SNP report carries as HOST_DATA and MAA as x-ms-sevsnpvm-hostdata
 * (what Microsoft's tools/securitypolicydigest prints).
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "key_util.h"
#include "sealmount/codec.h"

static int run(int argc, char **argv)
{
	static const struct option opts[] = { { "help", no_argument, NULL, 'h' }, {} };
	uint8_t digest[32];
	char hex[2 * sizeof(digest) + 1];
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (c == 'h')
			return cli_help(&cmd_policy);
		return cli_bad_option("policy", c, argv);
	}
	if (optind >= argc)
		return cli_usage_error("policy", "missing subcommand (hostdata)");
	if (!streq(argv[optind], "hostdata"))
		return cli_usage_error("policy", "unknown subcommand '%s'", argv[optind]);
	if (argc - optind != 2)
		return cli_usage_error("policy", "'policy hostdata' takes exactly one FILE");
	if (key_policy_hostdata(argv[optind + 1], digest) < 0)
		return CLI_EXIT_FAILURE;
	hex_encode(digest, sizeof(digest), hex);
	printf("%s\n", hex);
	return CLI_EXIT_OK;
}

const struct cli_command cmd_policy = {
	.name = "policy",
	.summary = "Print the host data (SHA-256) of a confidential container policy",
	.usage =
		"Usage: sealmount policy hostdata FILE\n"
		"\n"
		"Print the SHA-256 of the CCE policy in FILE, in hex: the value SEV-SNP reports as\n"
		"HOST_DATA and MAA as x-ms-sevsnpvm-hostdata, for a key release policy. FILE holds\n"
		"the policy base64-encoded (the ARM template's ccePolicy) or as raw Rego text.\n",
	.run = run,
};
