/* SPDX-License-Identifier: MIT */
/*
 * cli.h - the command table and helpers shared by the subcommands.
 *
 * Each subcommand lives in src/cli/cmd_<name>.c and exports a `const struct cli_command`.
 * It parses its own options with getopt_long (starting at argv[0] = its name) and returns an exit
 * code: CLI_EXIT_OK, CLI_EXIT_FAILURE, CLI_EXIT_USAGE. Errors are logged once, here in the CLI,
 * with the context a user needs (what failed, likely cause, what to check).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "sealmount/macros.h"

enum {
	CLI_EXIT_OK = 0,
	CLI_EXIT_FAILURE = 1,
	CLI_EXIT_USAGE = 2,
};

struct cli_command {
	const char *name;
	const char *summary; /* one line for `sealmount --help` */
	const char *usage; /* full help text for `sealmount NAME --help` */
	int (*run)(int argc, char **argv);
};

/* Print one clear line "sealmount NAME: <msg>" plus a hint, return CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) _printf_(2, 3);
/* Print a command's usage to f. */
void cli_print_usage(const struct cli_command *c, FILE *f);
/* "64M", "1G", "4096", "512k" -> bytes. -EINVAL. */
_must_check_ int cli_parse_size(const char *s, uint64_t *ret) _nonnull_(1, 2);
/* Strict unsigned decimal. -EINVAL / -ERANGE. */
_must_check_ int cli_parse_uint(const char *s, uint64_t max, uint64_t *ret) _nonnull_(1, 3);

/* For getopt_long's '?' and ':' returns (optstring starting with ':'): one clear line naming the
 * unknown option or the option missing its value; returns CLI_EXIT_USAGE. */
int cli_bad_option(const char *cmd, int c, char **argv);

/* getopt_long convention shared by all commands: --help is option 'h'. Return from the command
 * with this when it saw 'h'. */
int cli_help(const struct cli_command *c);

extern const struct cli_command cmd_version;
extern const struct cli_command cmd_report;
extern const struct cli_command cmd_sim;
extern const struct cli_command cmd_blob;
extern const struct cli_command cmd_attest;
extern const struct cli_command cmd_key;
extern const struct cli_command cmd_policy;
extern const struct cli_command cmd_image;

/* The subcommands of `sealmount image`, dispatched by cmd_image (argv[0] = the subcommand). */
extern const struct cli_command cmd_image_inspect;
extern const struct cli_command cmd_image_create;
extern const struct cli_command cmd_image_upload;
extern const struct cli_command cmd_image_decrypt;
extern const struct cli_command cmd_image_seal;
extern const struct cli_command cmd_image_sign;

/* `blob attach --nbd SOCKET`: serve dev on the Unix socket until SIGINT/SIGTERM
 * (cmd_blob_nbd.c). Logs its errors; 0 or -errno. */
struct bdev;
_must_check_ int blob_nbd_serve(struct bdev *dev, const char *socket, bool rw);

/* Open IMAGE read-only as a stack without a cache (pipeline.h's builder): a local file (or
 * file://PATH) or a blob URL (SharedKey with account_key_file, else anonymous/SAS). Logs and
 * returns -errno. */
struct pl_stack;
_must_check_ int image_open_source(const char *image, const char *account_key_file,
				   struct pl_stack *ret);
extern const struct cli_command cmd_run;
extern const struct cli_command cmd_mount;
extern const struct cli_command cmd_umount;
extern const struct cli_command cmd_list;
