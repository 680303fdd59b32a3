/* SPDX-License-Identifier: MIT */
/*
 * cmd_key.c - `sealmount key release` (attest, release the key from Managed HSM / Key Vault,
 * verify, unwrap, derive the LUKS passphrase into a new 0600 file) and the option parsing of
 * `sealmount key import` (cmd_key_import.c). docs/skr.md.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "key_util.h"
#include "sealmount/hsm.h"
#include "sealmount/log.h"
#include "sealmount/pipeline.h"
#include "sealmount/unwrap.h"

/* Which options each subcommand takes (getopt values). */
#define RELEASE_OPTS "vkVmSesloNCBIcFTA"
#define IMPORT_OPTS "vkmslCBIcPHtfpxFTA"

const struct option key_long_options[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "vault", required_argument, NULL, 'v' },
	{ "kid", required_argument, NULL, 'k' },
	{ "version", required_argument, NULL, 'V' },
	{ "maa", required_argument, NULL, 'm' },
	{ "snp", required_argument, NULL, 'S' },
	{ "enc", required_argument, NULL, 'e' },
	{ "salt", required_argument, NULL, 's' },
	{ "label", required_argument, NULL, 'l' },
	{ "out", required_argument, NULL, 'o' },
	{ "nonce", required_argument, NULL, 'N' },
	{ "ca-file", required_argument, NULL, 'C' },
	{ "bearer-file", required_argument, NULL, 'B' },
	{ "imds", required_argument, NULL, 'I' },
	{ "client-id", required_argument, NULL, 'c' },
	{ "federated-token-file", required_argument, NULL, 'F' },
	{ "tenant-id", required_argument, NULL, 'T' },
	{ "authority", required_argument, NULL, 'A' },
	{ "policy-file", required_argument, NULL, 'P' },
	{ "hostdata", required_argument, NULL, 'H' },
	{ "kty", required_argument, NULL, 't' },
	{ "key-file", required_argument, NULL, 'f' },
	{ "passphrase-out", required_argument, NULL, 'p' },
	{ "claim", required_argument, NULL, 'x' },
	{},
};

static void args_done(struct key_args *a)
{
	for (size_t i = 0; i < a->n_extra; i++)
		free(a->extra_buf[i]);
}

static int add_claim(struct key_args *a, const char *arg)
{
	char *copy, *eq;

	if (a->n_extra >= KEY_EXTRA_CLAIMS_MAX)
		return cli_usage_error("key", "at most %d --claim options", KEY_EXTRA_CLAIMS_MAX);
	eq = strchr(arg, '=');
	if (!eq || eq == arg)
		return cli_usage_error("key", "--claim takes NAME=VALUE, not '%s'", arg);
	copy = strdup(arg);
	if (!copy)
		return CLI_EXIT_FAILURE;
	copy[eq - arg] = '\0';
	a->extra_buf[a->n_extra] = copy;
	a->extra[a->n_extra++] = (struct hsm_claim){ copy, copy + (eq - arg) + 1 };
	return 0;
}

static const char **slot(struct key_args *a, int c)
{
	switch (c) {
	case 'v':
		return &a->vault;
	case 'k':
		return &a->kid;
	case 'V':
		return &a->version;
	case 'm':
		return &a->maa;
	case 'S':
		return &a->snp;
	case 's':
		return &a->salt;
	case 'l':
		return &a->label;
	case 'o':
		return &a->out;
	case 'N':
		return &a->nonce;
	case 'C':
		return &a->ca_file;
	case 'B':
		return &a->bearer_file;
	case 'I':
		return &a->imds;
	case 'c':
		return &a->client_id;
	case 'F':
		return &a->federated_token_file;
	case 'T':
		return &a->tenant_id;
	case 'A':
		return &a->authority;
	case 'P':
		return &a->policy_file;
	case 'H':
		return &a->hostdata;
	case 't':
		return &a->kty;
	case 'f':
		return &a->key_file;
	case 'p':
		return &a->passphrase_out;
	}
	return NULL;
}

bool key_is_release_option(int c)
{
	return c > 0 && c < 128 && c != 'o' && strchr(RELEASE_OPTS, c);
}

int key_parse_option(struct key_args *a, int c, char **argv)
{
	const char *allowed = streq(a->sub, "import") ? IMPORT_OPTS : RELEASE_OPTS;
	const char **p;

	if (c == '?' || c == ':')
		return cli_bad_option("key", c, argv);
	if (!strchr(allowed, c))
		return cli_usage_error("key", "option '%s' does not apply to 'key %s'",
				       argv[optind - 1], a->sub);
	if (c == 'x')
		return add_claim(a, optarg);
	if (c == 'e')
		return unwrap_enc_parse(optarg, &a->enc) < 0 ?
			       cli_usage_error("key",
					       "unknown --enc '%s' (CKM_RSA_AES_KEY_WRAP, "
					       "RSA_AES_KEY_WRAP_256 or RSA_AES_KEY_WRAP_384)",
					       optarg) :
			       0;
	p = slot(a, c);
	if (!p)
		return cli_bad_option("key", '?', argv);
	*p = optarg;
	return 0;
}

int key_check_required(const struct key_args *a)
{
	if (!a->vault || !a->kid || !a->maa)
		return cli_usage_error("key", "--vault, --kid and --maa are required");
	if (!hsm_is_valid_name(a->kid))
		return cli_usage_error(
			"key", "--kid '%s' is not a key name (1-127 of 0-9 a-z A-Z -)", a->kid);
	if (a->version && !hsm_is_valid_version(a->version))
		return cli_usage_error("key", "--version takes 32 hex digits");
	if (streq(a->sub, "release") && !a->out)
		return cli_usage_error("key", "--out FILE is required");
	if (streq(a->sub, "import") && !a->policy_file == !a->hostdata)
		return cli_usage_error("key", "give exactly one of --policy-file and --hostdata");
	return 0;
}

static int parse(int argc, char **argv, struct key_args *a)
{
	int c, r;

	if (argc < 2 || streq(argv[1], "--help") || streq(argv[1], "-h"))
		return argc < 2 ? cli_usage_error("key", "missing subcommand (release or import)") :
				  1;
	a->sub = argv[1];
	if (!streq(a->sub, "release") && !streq(a->sub, "import"))
		return cli_usage_error("key", "unknown subcommand '%s'", a->sub);
	a->enc = UNWRAP_ENC_RSA_AES_KEY_WRAP_256;
	a->snp = "device";
	optind = 0;
	while ((c = getopt_long(argc - 1, argv + 1, ":h", key_long_options, NULL)) != -1) {
		if (c == 'h')
			return 1;
		r = key_parse_option(a, c, argv + 1);
		if (r != 0)
			return r;
	}
	if (optind < argc - 1)
		return cli_usage_error("key", "unexpected argument '%s'", argv[optind + 1]);
	return key_check_required(a);
}

/* After a step: what it did, any warning; the step's result. */
static int next(struct pl_fs *fs, int r)
{
	const char *w;

	if (r < 0)
		return r;
	if (*pl_fs_done_text(fs))
		log_info("%s", pl_fs_done_text(fs));
	w = pl_fs_take_warning(fs);
	if (w)
		log_warn("%s", w);
	return 0;
}

/* `key release`: the pipeline's attest, token and release steps, then the passphrase to a new
 * 0600 file (for tests: the sidecar and `mount` never write it anywhere). */
static int do_release(const struct key_args *a)
{
	_cleanup_(http_client_freep) struct http_client *http = NULL;
	_cleanup_(pl_fs_freep) struct pl_fs *fs = NULL;
	_cleanup_(secret_freep) struct secret *pass = NULL;
	struct pl_spec spec;
	char msg[4096];
	int r;

	if (access(a->out, F_OK) == 0 || errno != ENOENT)
		return log_error_errno(-EEXIST,
				       "--out %s already exists: nothing was released (it "
				       "must name a new file)",
				       a->out);
	pl_spec_init(&spec);
	key_args_to_release(a, &spec.release);
	r = http_client_new(&(struct http_options){ .ca_file = a->ca_file, .max_retries = 4 },
			    &http);
	if (r == 0)
		r = pl_fs_new(&spec, http, &fs);
	if (r < 0)
		return log_error_errno(r, "Cannot set up HTTP: %m");
	r = next(fs, pl_attest(fs, NULL));
	r = r ?: next(fs, pl_token(fs));
	r = r ?: next(fs, pl_release(fs));
	if (r < 0) {
		pl_failure_message(pl_fs_failure(fs), 0, NULL, msg, sizeof(msg));
		return log_error_errno(r, "%s", msg);
	}
	pass = pl_fs_take_passphrase(fs);
	r = key_write_secret_file(a->out, pass);
	if (r < 0)
		return r;
	log_info("The %zu-byte passphrase is in %s", pass->len, a->out);
	return 0;
}

static int run(int argc, char **argv)
{
	struct key_args a = {};
	int r;

	r = parse(argc, argv, &a);
	if (r == 1) {
		args_done(&a);
		return cli_help(&cmd_key);
	}
	if (r != 0) {
		args_done(&a);
		return r;
	}
	r = streq(a.sub, "release") ? do_release(&a) : key_import_run(&a);
	args_done(&a);
	return r < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

const struct cli_command cmd_key = {
	.name = "key",
	.summary = "Release a key from Managed HSM / Key Vault (SKR), or import one with a policy",
	.usage =
		"Usage: sealmount key release --vault ENDPOINT --kid NAME --maa ENDPOINT\n"
		"           [--snp device|sim:DIR] [--enc ALG] [--salt HEX] [--label TEXT]\n"
		"           [--version VER] [--nonce TEXT] --out FILE\n"
		"       sealmount key import --vault ENDPOINT --kid NAME --maa ENDPOINT\n"
		"           (--policy-file CCE_POLICY | --hostdata HEX) [--kty oct-HSM|RSA-HSM]\n"
		"           [--key-file FILE] [--passphrase-out FILE] [--claim NAME=VALUE]...\n"
		"           [--salt HEX] [--label TEXT]\n"
		"   both: [--bearer-file FILE | --imds ENDPOINT [--client-id ID]] [--ca-file PEM]\n"
		"\n"
		"release: attest this guest with MAA (a fresh ephemeral RSA key bound into the SNP\n"
		"report), POST the token to ENDPOINT/keys/NAME/release, verify the JWS answer (RS256\n"
		"by x5c[0], chain to the system roots and --ca-file, vault host name), unwrap the key\n"
		"and write the 32-byte LUKS passphrase to FILE (a new file, mode 0600; for tests - the\n"
		"sidecar never writes it anywhere). oct keys: the 32 released bytes; RSA keys:\n"
		"HKDF-SHA256(d, salt, label), as Microsoft's encfs sidecar does.\n"
		"  --enc ALG        RSA_AES_KEY_WRAP_256 (default), RSA_AES_KEY_WRAP_384 or\n"
		"                   CKM_RSA_AES_KEY_WRAP (SHA-1 OAEP, what Microsoft's sidecar gets)\n"
		"  --salt HEX       key_derivation.salt for RSA keys (default empty)\n"
		"  --label TEXT     key_derivation.label (default \"Symmetric Encryption Key\")\n"
		"  --snp SOURCE     device (default), device:PATH, or sim:DIR (SIMULATED, tests only)\n"
		"\n"
		"import: upload an exportable HSM key with a release policy for the MAA endpoint:\n"
		"x-ms-sevsnpvm-hostdata (SHA-256 of the CCE policy, or --hostdata), compliance status\n"
		"azure-compliant-uvm, is-debuggable false, vmpl 0, plus --claim extras (a --claim of\n"
		"the same name replaces a default). Without --key-file a random key is made. For an\n"
		"RSA-HSM key without --salt a random salt is generated and PRINTED: the same --salt\n"
		"must be given to 'key release' (and the sidecar's key_derivation.salt).\n"
		"  --passphrase-out FILE  also write the passphrase the release will yield (0600)\n"
		"\n"
		"The vault's bearer token comes from --bearer-file (used as is) or from the IMDS\n"
		"managed identity (resource https://managedhsm.azure.net for *.managedhsm.* vaults,\n"
		"else https://vault.azure.net), retried while IMDS is not ready.\n",
	.run = run,
};
