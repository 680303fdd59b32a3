/* SPDX-License-Identifier: MIT */
/*
 * cmd_key.c - `sealmount key release` (attest, release the key from Managed HSM / Key Vault,
 * verify, unwrap, derive the LUKS passphrase into a new 0600 file) and the option parsing of
 * `sealmount key import` (cmd_key_import.c). docs/skr.md.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "key_util.h"
#include "sealmount/hsm.h"
#include "sealmount/keyderive.h"
#include "sealmount/log.h"
#include "sealmount/skr.h"
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

/* Without a readable policy: the token's claims that release policies usually test. */
static void show_claims(const json_t *claims)
{
	static const char *const usual[] = { "iss",
					     "x-ms-attestation-type",
					     "x-ms-compliance-status",
					     "x-ms-sevsnpvm-hostdata",
					     "x-ms-sevsnpvm-is-debuggable",
					     "x-ms-sevsnpvm-vmpl" };

	log_error("The key's release policy is not readable with this identity (keys/get); the "
		  "token's claims that release policies usually test:");
	for (size_t i = 0; i < ELEMENTSOF(usual); i++) {
		json_t *c = json_object_get(claims, usual[i]);
		_cleanup_free_ char *v = c ? json_dumps(c, JSON_ENCODE_ANY) : NULL;

		log_error("  %s = %s", usual[i], v ? v : "(absent)");
	}
}

static int release_error(int r, struct hsm_client *hc, struct skr_auth *auth,
			 const struct key_args *a, const json_t *claims,
			 const struct skr_failure *f)
{
	char what[1024];

	if (streq(f->step, "token"))
		return key_auth_error(r, auth);
	key_vault_error_text(f->status, f->error, f->request_id, what, sizeof(what));
	switch (streq(f->step, "release") ? r : 0) {
	case -EACCES:
		return log_error_errno(
			r,
			"%s refused the bearer token (%s). Check the identity: it "
			"needs the 'Managed HSM Crypto Service Release User' (or Key "
			"Vault Crypto Service Release User) role, and the token must "
			"be for %s",
			hsm_client_base(hc), what, skr_auth_resource(auth));
	case -EPERM:
		log_error("Key release refused by %s (%s): the attestation does not satisfy the "
			  "key's release policy, or the identity may not release keys",
			  hsm_client_base(hc), what);
		if (f->explanation)
			log_error("The key's release policy against this attestation:\n%s",
				  f->explanation);
		else
			show_claims(claims);
		return r;
	case -ENOENT:
		return log_error_errno(r, "No key '%s'%s%s in %s (%s): check --kid and --version",
				       a->kid, a->version ? " version " : "",
				       a->version ? a->version : "", hsm_client_base(hc), what);
	case -EOPNOTSUPP: /* a JWS naming another algorithm (none, HS256) */
	case -EBADMSG:
		return log_error_errno(r,
				       "The release response from %s does not verify: its JWS must "
				       "be RS256-signed by a certificate chaining to the trusted "
				       "roots (--ca-file adds some) and naming the vault host",
				       hsm_client_base(hc));
	case 0:
		return log_error_errno(r, "Cannot %s the released key: %m", f->step);
	}
	if (f->status)
		return log_error_errno(r, "Key release from %s failed (%s)", hsm_client_base(hc),
				       what);
	return log_error_errno(r,
			       "Key release from %s failed: %m (no answer: check the endpoint, and "
			       "the TLS trust roots - --ca-file adds some)",
			       hsm_client_base(hc));
}

int key_release_passphrase(const struct key_args *a, struct secret **ret)
{
	_cleanup_(key_session_close) struct key_session ks = {};
	_cleanup_(key_attested_done) struct key_attested att = {};
	_cleanup_(skr_result_done) struct skr_result res = {};
	_cleanup_(skr_failure_done) struct skr_failure fail = {};
	int r;

	r = key_session_open(a, &ks);
	if (r < 0)
		return r;
	r = key_attest(ks.http, a->maa, a->snp, &att);
	if (r < 0)
		return r;
	r = skr_release_passphrase(
		ks.hsm, ks.auth,
		&(struct skr_release){ .name = a->kid,
				       .version = a->version,
				       .target = att.token,
				       .claims = att.claims,
				       .runtime_key = maa_runtime_key_pkey(att.key),
				       .enc = a->enc,
				       .nonce = a->nonce,
				       .kd = { .salt_hex = a->salt, .label = a->label } },
		&res, &fail);
	if (r < 0)
		return release_error(r, ks.hsm, ks.auth, a, att.claims, &fail);
	log_info("Released %s (%s, %s): a %zu-byte passphrase", res.kid, res.kty,
		 unwrap_enc_name(res.enc), res.passphrase->len);
	*ret = TAKE_PTR(res.passphrase);
	return 0;
}

static int do_release(const struct key_args *a)
{
	_cleanup_(secret_freep) struct secret *pass = NULL;
	int r;

	r = key_release_passphrase(a, &pass);
	if (r < 0)
		return r;
	r = key_write_secret_file(a->out, pass);
	if (r < 0)
		return r;
	log_info("The passphrase is in %s", a->out);
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
