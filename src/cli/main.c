/* SPDX-License-Identifier: MIT */
/*
 * sealmount - mount an encrypted remote disk image inside a confidential container, only after
 * the hardware has proven what is running.
 *
 * main() hardens the process, parses the global options and dispatches to a subcommand.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "sealmount/http.h"
#include "sealmount/jsonx.h"
#include "sealmount/log.h"
#include "sealmount/secret.h"

/* clang-format off */
static const struct cli_command *const commands[] = {
	&cmd_version,
	&cmd_report,
	&cmd_sim,
	&cmd_attest,
	&cmd_key,
	&cmd_policy,
	&cmd_blob,
	&cmd_image,
	&cmd_mount,
	&cmd_umount,
	&cmd_list,
	&cmd_run,
};
/* clang-format on */

static void print_main_usage(FILE *f)
{
	fprintf(f,
		"Usage: sealmount [--log-level LEVEL] [--log-json] <command> [options]\n"
		"\n"
		"Mount an encrypted, integrity-protected disk image from Azure Blob Storage inside a\n"
		"confidential container, after SEV-SNP attestation and Secure Key Release.\n"
		"\n"
		"Commands:\n");
	for (size_t i = 0; i < ELEMENTSOF(commands); i++)
		fprintf(f, "  %-12s %s\n", commands[i]->name, commands[i]->summary);
	fprintf(f, "\n"
		   "Global options:\n"
		   "  --log-level LEVEL  error, warn, info (default) or debug\n"
		   "  --log-json         log as JSON lines\n"
		   "  -V, --version      print the version\n"
		   "  -h, --help         show this help; 'sealmount COMMAND --help' for a command\n"
		   "\n"
		   "Exit codes: 0 success, 1 failure, 2 usage error.\n");
}

static const struct cli_command *find_command(const char *name)
{
	for (size_t i = 0; i < ELEMENTSOF(commands); i++)
		if (strcmp(commands[i]->name, name) == 0)
			return commands[i];
	return NULL;
}

/* Parse options up to the command name. Returns the index of the command, or 0 when main should
 * exit at once with *ret_exit. */
static int parse_global(int argc, char **argv, int *ret_exit)
{
	static const struct option opts[] = {
		{ "log-level", required_argument, NULL, 'l' },
		{ "log-json", no_argument, NULL, 'j' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	enum log_level lvl;
	int c;

	/* '+' stops at the first non-option: the command. */
	while ((c = getopt_long(argc, argv, "+:Vh", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			if (log_level_parse(optarg, &lvl) < 0) {
				*ret_exit =
					cli_usage_error(NULL, "invalid --log-level '%s'", optarg);
				return 0;
			}
			log_set_level(lvl);
			break;
		case 'j':
			log_set_json(true);
			break;
		case 'V':
			printf("sealmount %s\n", SEALMOUNT_VERSION);
			*ret_exit = CLI_EXIT_OK;
			return 0;
		case 'h':
			print_main_usage(stdout);
			*ret_exit = CLI_EXIT_OK;
			return 0;
		default:
			*ret_exit = cli_bad_option(NULL, c, argv);
			return 0;
		}
	}
	if (optind >= argc) {
		print_main_usage(stderr);
		*ret_exit = CLI_EXIT_USAGE;
		return 0;
	}
	return optind;
}

int main(int argc, char **argv)
{
	const struct cli_command *cmd;
	int r, idx, code = CLI_EXIT_FAILURE;

	opterr = 0; /* we print one line of our own instead of getopt's */
	jsonx_use_wiping_allocator();
	r = process_harden();
	if (r < 0) {
		log_error_errno(r, "Cannot make the process non-dumpable: %m");
		return CLI_EXIT_FAILURE;
	}
	idx = parse_global(argc, argv, &code);
	if (idx == 0)
		return code;
	cmd = find_command(argv[idx]);
	if (!cmd)
		return cli_usage_error(NULL, "unknown command '%s'", argv[idx]);
	r = http_global_init();
	if (r < 0) {
		log_error_errno(r, "Cannot initialise the HTTP library: %m");
		return CLI_EXIT_FAILURE;
	}
	r = cmd->run(argc - idx, argv + idx);
	http_global_cleanup();
	return r;
}
