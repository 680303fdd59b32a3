/* SPDX-License-Identifier: MIT */
/*
 * key_util.h - what `sealmount key release` and `sealmount key import` share: attesting for a
 * release (SNP evidence -> MAA -> validated token bound to a fresh ephemeral key), getting the
 * vault's bearer token (given as is, or from IMDS), and writing secret files.
 *
 * Each function logs its failure once, at error level with context, and returns -errno.
 */
#pragma once

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>

#include "sealmount/buf.h"
#include "sealmount/hsm.h"
#include "sealmount/http.h"
#include "sealmount/imds.h"
#include "sealmount/jsonx.h"
#include "sealmount/maa.h"
#include "sealmount/secret.h"
#include "sealmount/skr.h"

/* ---- attestation ---- */

struct key_attested {
	struct maa_runtime_key *key; /* the ephemeral key the HSM wraps to */
	char *token; /* the validated MAA token */
	json_t *claims; /* its claims */
};

/* Attest with the SNP source spec ("device", "device:PATH", "sim:DIR") to the MAA endpoint and
 * validate the token. On 0 the caller owns *ret (key_attested_done). */
_must_check_ int key_attest(struct http_client *http, const char *maa, const char *snp,
			    struct key_attested *ret) _nonnull_(1, 2, 3, 4);
void key_attested_done(struct key_attested *a) _nonnull_(1);

/* ---- bearer token for the vault ---- */

struct key_auth_args {
	const char *vault; /* decides the IMDS resource (hsm_token_resource) */
	const char *bearer_file; /* a token used as is (akv.bearer_token); NULL = IMDS */
	const char *imds; /* IMDS endpoint; NULL = IMDS_DEFAULT_ENDPOINT */
	const char *client_id; /* user-assigned identity, optional */
	const char *federated_token_file, *tenant_id, *authority; /* AKS workload identity */
};

/* The vault's token source: the --bearer-file token as is, else IMDS. Logs on failure. */
_must_check_ int key_auth_new(struct http_client *http, const struct key_auth_args *args,
			      struct skr_auth **ret) _nonnull_(1, 2, 3);
/* Log a failure to get a token (IMDS's answer included) and return r. */
int key_auth_error(int r, struct skr_auth *a) _nonnull_(2);

/* ---- a session with the vault: HTTP, the vault client and its bearer token ---- */

struct key_args;
struct key_session {
	struct http_client *http;
	struct hsm_client *hsm;
	struct skr_auth *auth;
};

/* Set up HTTP (a->ca_file, retries), the vault client for a->vault and its token source (the
 * --bearer-file token, else IMDS or workload identity). Logs on failure. On 0 the caller owns
 * *ret (key_session_close). */
_must_check_ int key_session_open(const struct key_args *a, struct key_session *ret)
	_nonnull_(1, 2);
void key_session_close(struct key_session *s) _nonnull_(1);

/* ---- files ---- */

/* Read a whole file of at most max bytes into b (initialised here; buf_done_wipe it). */
_must_check_ int key_read_file(const char *path, size_t max, struct buf *b) _nonnull_(1, 3);
/* A key file, whole, as `cryptsetup --key-file` takes it: at most max bytes straight into secret
 * memory. Does not log. -ENODATA (empty file), -EFBIG (over max), -errno of open/read. */
_must_check_ int key_read_passphrase(const char *path, size_t max, struct secret **ret)
	_nonnull_(1, 3);
/* Write s to a NEW file (O_EXCL, no symlink following) with mode 0600. */
_must_check_ int key_write_secret_file(const char *path, const struct secret *s) _nonnull_(1, 2);

/* A one-line description of a vault error for the user (status, Key Vault error text, request
 * id), into buf. */
void key_vault_error_text(long status, const char *err, const char *request_id, char *buf,
			  size_t len) _nonnull_(4);

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
/* Attest, release and unwrap: the passphrase in secret memory (caller frees). Logs once. */
_must_check_ int key_release_passphrase(const struct key_args *a, struct secret **ret)
	_nonnull_(1, 2);

/* `sealmount key import`, in cmd_key_import.c. Returns 0 or -errno (already logged). */
_must_check_ int key_import_run(const struct key_args *a) _nonnull_(1);

/* SHA-256 of a CCE policy file - the x-ms-sevsnpvm-hostdata claim. The file holds the policy
 * base64-encoded (as in the ARM template's ccePolicy; surrounding whitespace ignored) or as raw
 * text (hashed byte for byte). Logs and returns -errno. */
_must_check_ int key_policy_hostdata(const char *path, uint8_t ret[32]) _nonnull_(1, 2);
