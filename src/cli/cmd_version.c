/* SPDX-License-Identifier: MIT */
#include <curl/curl.h>
#include <getopt.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "cli.h"
#include "config.h"

static int run(int argc, char **argv)
{
	static const struct option opts[] = { { "help", no_argument, NULL, 'h' }, {} };
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (c == 'h')
			return cli_help(&cmd_version);
		return cli_bad_option("version", c, argv);
	}
	if (optind < argc)
		return cli_usage_error("version", "unexpected argument '%s'", argv[optind]);
	printf("sealmount %s\n", SEALMOUNT_VERSION);
	printf("  OpenSSL %s\n", OpenSSL_version(OPENSSL_VERSION_STRING));
	printf("  libcurl %s\n", curl_version_info(CURLVERSION_NOW)->version);
	printf("  jansson %s\n", jansson_version_str());
	return CLI_EXIT_OK;
}

const struct cli_command cmd_version = {
	.name = "version",
	.summary = "Print the version of sealmount and of the libraries it uses",
	.usage = "Usage: sealmount version\n"
		 "\n"
		 "Print the version of sealmount and of the libraries it was built with.\n",
	.run = run,
};
