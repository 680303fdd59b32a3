/* SPDX-License-Identifier: MIT */
/*
 * cmd_run.c - `sealmount run`: the sidecar (sidecar.h). Options only choose where the
 * configuration comes from and whether to just check it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "sealmount/log.h"
#include "sealmount/sidecar.h"

static int run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'k' },
		{ "dump", no_argument, NULL, 'd' },
		{},
	};
	_cleanup_(sm_config_freep) struct sm_config *cfg = NULL;
	const char *path = NULL;
	bool check = false, dump = false;
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			return cli_help(&cmd_run);
		case 'c':
			path = optarg;
			break;
		case 'k':
			check = true;
			break;
		case 'd':
			dump = true;
			break;
		default:
			return cli_bad_option("run", c, argv);
		}
	}
	if (optind < argc)
		return cli_usage_error("run", "unexpected argument '%s'", argv[optind]);
	if (dump && !check)
		return cli_usage_error("run", "--dump goes with --check-config");
	r = sidecar_config_load(path, &cfg);
	if (r < 0)
		return CLI_EXIT_FAILURE;
	/* Before attesting: what publishing needs (also for --check-config). */
	r = sidecar_config_check_paths(cfg);
	if (r < 0)
		return CLI_EXIT_FAILURE;
	if (check) {
		if (dump)
			sidecar_config_dump(cfg, stdout);
		log_info("Configuration is valid: %zu filesystem(s)", cfg->n_fs);
		return CLI_EXIT_OK;
	}
	r = sidecar_run(cfg);
	return r < 0 && r != -EINTR ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

const struct cli_command cmd_run = {
	.name = "run",
	.summary = "Run as the sidecar: attest, release keys, mount and publish every filesystem",
	.usage =
		"Usage: sealmount run [--config FILE] [--check-config [--dump]]\n"
		"\n"
		"The configuration is Microsoft's encfs sidecar JSON (plus an optional \"sealmount\"\n"
		"object with our extensions; see README 'Sidecar'), read from FILE, or else from\n"
		"the environment variable EncfsSideCarArgs (standard or URL-safe base64 of the\n"
		"JSON), with LogFile and LogLevel from the environment as Microsoft's sidecar reads\n"
		"them.\n"
		"\n"
		"Attests once, then for every filesystem in parallel: gets the vault token, releases\n"
		"the key, opens the blob with a cache, validates the LUKS2 header, mounts at\n"
		"<parent>/.filesystem-<i> and publishes the symlink mount_point. Then writes the\n"
		"readiness file, serves the health endpoint and waits for SIGTERM/SIGINT: flushes,\n"
		"unmounts, closes everything and exits 0. On a failure: one message naming the step\n"
		"and its likely causes, everything torn down, exit 1 (or stays up with\n"
		"\"on_error\": \"stay\").\n"
		"\n"
		"  --config FILE    read the JSON configuration from FILE\n"
		"  --check-config   validate the configuration and exit 0 or 1; touches nothing.\n"
		"                   Also checks that each mount_point's parent is a directory\n"
		"                   and that the mount_point does not exist (as `run` does first)\n"
		"  --dump           with --check-config: print what the configuration means\n"
		"                   (secrets redacted)\n",
	.run = run,
};
