/* SPDX-License-Identifier: MIT */
/* source_opts.c - the storage options shared by `blob` and `image upload` (source_opts.h). */
#include <string.h>

#include "cli.h"
#include "source_opts.h"

int source_parse_option(struct source_args *a, int c, int argc, char **argv)
{
	struct pl_source *s = &a->src;

	switch (c) {
	case 'k':
		s->auth = PL_AUTH_SHARED_KEY;
		s->account_key_file = optarg;
		a->n_auth++;
		return 0;
	case 't':
		s->auth = PL_AUTH_TOKEN_FILE;
		s->token_file = optarg;
		a->n_auth++;
		return 0;
	case 'I':
		s->auth = PL_AUTH_IMDS;
		a->n_auth++;
		/* "--imds URL" as well as "--imds=URL" and a bare "--imds" */
		if (!optarg && optind < argc && strncmp(argv[optind], "http", 4) == 0)
			optarg = argv[optind++];
		s->imds_endpoint = optarg;
		return 0;
	case 'i':
		s->client_id = optarg;
		return 0;
	case 'C':
		s->ca_file = optarg;
		return 0;
	}
	return 1;
}

int source_check(const char *cmd, const struct source_args *a)
{
	if (a->n_auth > 1)
		return cli_usage_error(cmd, "use one of --account-key-file, --bearer-token-file, "
					    "--imds");
	if (a->src.client_id && a->src.auth != PL_AUTH_IMDS)
		return cli_usage_error(cmd, "--client-id needs --imds");
	return 0;
}
