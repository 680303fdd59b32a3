/* SPDX-License-Identifier: MIT */
/*
 * key_util.h - what `sealmount key release|import` and `sealmount mount` share: the key
 * options and their mapping to the pipeline's release spec (pipeline.h, which does the
 * attestation, the vault session and the release), and secret files.
 *
 * Each function logs its failure once, at error level with context, and returns -errno.
 */
#pragma once

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>

#include "sealmount/hsm.h"
#include "sealmount/pipeline.h"
#include "sealmount/secret.h"

/* ---- files ---- */

/* Write s to a NEW file (O_EXCL, no symlink following) with mode 0600. Logs on failure. */
_must_check_ int key_write_secret_file(const char *path, const struct secret *s) _nonnull_(1, 2);

/* ---- options of `sealmount key release|import` ---- */

#define KEY_EXTRA_CLAIMS_MAX 16

struct key_args {
	const char *sub; /* "release" or "import" */
	const char *vault, *kid, *version, *maa, *snp, *salt, *label, *out, *nonce, *ca_file;
	const char *bearer_file, *imds, *client_id, *federated_token_file, *tenant_id, *authority;
	const char *policy_file, *hostdata, *kty, *key_file, *passphrase_out;
	char *extra_buf[KEY_EXTRA_CLAIMS_MAX]; /* owned copies of --claim NAME=VALUE */
	struct hsm_claim extra[KEY_EXTRA_CLAIMS_MAX];
	size_t n_extra;
	enum unwrap_enc enc;
};

/* The option parsing of `sealmount key` (cmd_key.c), shared with `sealmount mount`:
 * key_long_options is getopt_long's table; key_is_release_option() says which of its values
 * belong to `key release` (all but --out); key_parse_option() stores one option (a->sub is
 * "release", "import" or another command using the release options) and key_check_required()
 * checks --vault/--kid/--maa and the subcommand's own requirements. Both return 0 or an exit
 * code after printing a usage error. */
extern const struct option key_long_options[];
bool key_is_release_option(int c);
int key_parse_option(struct key_args *a, int c, char **argv) _nonnull_(1, 3);
int key_check_required(const struct key_args *a) _nonnull_(1);
/* The release options as the pipeline's release spec (strings borrowed from a). */
void key_args_to_release(const struct key_args *a, struct pl_release *ret) _nonnull_(1, 2);

/* `sealmount key import`, in cmd_key_import.c. Returns 0 or -errno (already logged). */
_must_check_ int key_import_run(const struct key_args *a) _nonnull_(1);

/* SHA-256 of a CCE policy file - the x-ms-sevsnpvm-hostdata claim. The file holds the policy
 * base64-encoded (as in the ARM template's ccePolicy; surrounding whitespace ignored) or as raw
 * text (hashed byte for byte). Logs and returns -errno. */
_must_check_ int key_policy_hostdata(const char *path, uint8_t ret[32]) _nonnull_(1, 2);
