/* SPDX-License-Identifier: MIT */
/*
 * cmd_attest.c - `sealmount attest --maa ENDPOINT`: get an SNP report whose REPORT_DATA binds
 * the runtime data (by default a fresh ephemeral RSA key as a JWK set), send it with its VCEK
 * chain to MAA, validate the token MAA returns, and print the token (or its claims).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <getopt.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "sealmount/buf.h"
#include "sealmount/codec.h"
#include "sealmount/jsonx.h"
#include "sealmount/log.h"
#include "sealmount/maa.h"
#include "sealmount/snp_source.h"
#include "sealmount/uvmctx.h"

struct attest_args {
	const char *maa;
	const char *runtime_file;
	const char *snp;
	const char *ca_file;
	const char *report_out;
	enum maa_api_version api;
	bool claims;
};

/* What REPORT_DATA binds: our key's JWK set, or the bytes of --runtime-data. */
struct runtime {
	struct maa_runtime_key *key; /* NULL with --runtime-data */
	struct buf file;
	const void *data;
	size_t len;
	bool binary;
};

static void runtime_done(struct runtime *rt)
{
	maa_runtime_key_free(rt->key);
	buf_done(&rt->file);
}

static int read_file_capped(const char *path, struct buf *b)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint8_t chunk[4096];
	ssize_t n;
	int r;

	if (fd < 0)
		return -errno;
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0)
			return -errno;
		r = buf_append(b, chunk, (size_t)n);
		if (r < 0)
			return r;
	}
	return 0;
}

static int runtime_load(const struct attest_args *a, struct runtime *rt)
{
	_cleanup_json_ json_t *probe = NULL;
	int r;

	buf_init(&rt->file, MAA_RUNTIME_DATA_MAX);
	if (!a->runtime_file) {
		r = maa_runtime_key_generate(MAA_RUNTIME_KEY_BITS, &rt->key);
		if (r < 0)
			return log_error_errno(r, "Cannot generate the ephemeral RSA key: %m");
		rt->data = maa_runtime_key_jwks(rt->key, &rt->len);
		return 0;
	}
	r = read_file_capped(a->runtime_file, &rt->file);
	if (r < 0)
		return log_error_errno(r, "Cannot read runtime data from %s (at most %u bytes): %m",
				       a->runtime_file, MAA_RUNTIME_DATA_MAX);
	if (rt->file.len == 0)
		return log_error_errno(-EINVAL, "Runtime data file %s is empty", a->runtime_file);
	rt->data = rt->file.data;
	rt->len = rt->file.len;
	/* A JSON object goes as dataType JSON (MAA re-emits it as x-ms-runtime), else Binary. */
	rt->binary = jsonx_load_object(rt->data, rt->len, MAA_RUNTIME_DATA_MAX, &probe) < 0;
	return 0;
}

static int report_error(int r, const struct snp_device_status *st, const uint64_t tcb[2])
{
	char msg[512];

	if (r == -EBADMSG && tcb[0] != tcb[1])
		return log_error_errno(r,
				       "SNP reported TCB %016llx does not match the certificate "
				       "TCB %016llx, even after refreshing the certificates",
				       (unsigned long long)tcb[0], (unsigned long long)tcb[1]);
	if (r == -ENOENT)
		return log_error_errno(r, "No VCEK certificates for the report: the UVM security "
					  "context has none (host-amd-cert-base64)");
	snp_device_strerror(r, st, msg, sizeof(msg));
	return log_error_errno(r, "Cannot get an SNP report: %s", msg);
}

/* The UVM endorsement (reference-info) when running on the device; optional. */
static void load_endorsement(bool simulated, struct uvm_context *ctx)
{
	int r;

	if (simulated)
		return;
	r = uvm_context_load(NULL, ctx);
	if (r < 0)
		log_debug_errno(r, "No UVM security context, sending no endorsements: %m");
}

static int get_evidence(const struct attest_args *a, struct http_client *http,
			const uint8_t rd[MAA_REPORT_DATA_SIZE], struct snp_evidence *ev,
			bool *ret_simulated)
{
	_cleanup_(snp_source_freep) struct snp_source *src = NULL;
	struct snp_evidence_config cfg = { .http = http };
	struct snp_device_status st = {};
	uint64_t tcb[2] = { 0, 0 };
	int r;

	r = snp_source_open(a->snp, &src);
	if (r < 0)
		return log_error_errno(r, "Cannot open SNP report source '%s': %m", a->snp);
	*ret_simulated = snp_source_is_simulated(src);
	r = snp_evidence_get(src, &cfg, rd, ev, &st, tcb);
	if (r < 0)
		return report_error(r, &st, tcb);
	return 0;
}

static int post_evidence(struct maa_client *mc, const struct snp_evidence *ev,
			 const struct runtime *rt, const struct uvm_context *ctx, const char *nonce,
			 char **ret_token)
{
	_cleanup_free_ char *chain = NULL;
	const char *id, *err;
	int r;

	r = snp_evidence_chain_pem(ev, &chain);
	if (r < 0)
		return log_error_errno(r, "Cannot assemble the VCEK chain: %m");
	r = maa_client_attest(
		mc,
		&(struct maa_evidence){ .report = ev->raw,
					.report_len = sizeof(ev->raw),
					.vcek_chain_pem = chain,
					.vcek_chain_len = strlen(chain),
					.uvm_endorsement = ctx->reference_info,
					.uvm_endorsement_len = ctx->reference_info_len,
					.runtime_data = rt->data,
					.runtime_data_len = rt->len,
					.runtime_data_binary = rt->binary,
					.nonce = nonce },
		ret_token);
	if (r >= 0)
		return 0;
	id = maa_client_last_request_id(mc);
	err = maa_client_last_error(mc);
	if (r != -EPERM && r != -EACCES)
		return log_error_errno(r, "Attestation by %s failed: %m%s%s%s%s%s",
				       maa_client_base(mc), err ? " - MAA says: " : "",
				       err ? err : "", id ? " (x-ms-request-id " : "", id ? id : "",
				       id ? ")" : "");
	return log_error_errno(r,
			       "%s refused the evidence%s%s%s%s%s. Check the endpoint, its "
			       "attestation policy, the container policy (host data) and that the "
			       "guest is not debuggable",
			       maa_client_base(mc), err ? ": " : "", err ? err : "",
			       id ? " (x-ms-request-id " : "", id ? id : "", id ? ")" : "");
}

static const char *validate_hint(const char *failed)
{
	if (streq(failed, "signature"))
		return "the token is not signed by a key the endpoint publishes at /certs";
	if (streq(failed, "validity period"))
		return "check this machine's clock";
	if (streq(failed, "issuer"))
		return "the token names another issuer than the configured endpoint";
	return "the token does not describe this report and key";
}

static int validate(struct maa_client *mc, const char *token, const uint8_t *rd,
		    const struct runtime *rt, const char *nonce, json_t **ret_claims)
{
	_cleanup_(jwk_set_freep) struct jwk_set *signers = NULL;
	const char *failed = "?";
	int r;

	r = maa_client_get_signers(mc, &signers);
	if (r < 0)
		return log_error_errno(r, "Cannot get MAA's signing keys from %s/certs: %m",
				       maa_client_base(mc));
	r = maa_token_validate(
		token, strlen(token), signers,
		&(struct maa_expect){ .issuer = maa_client_base(mc),
				      .report_data = rd,
				      .runtime_key = rt->key ? maa_runtime_key_pkey(rt->key) : NULL,
				      .nonce = nonce,
				      .now = time(NULL),
				      .skew = MAA_TOKEN_SKEW_S },
		ret_claims, &failed);
	if (r < 0)
		return log_error_errno(r, "MAA token refused, check '%s' failed (%s): %m", failed,
				       validate_hint(failed));
	return 0;
}

/* The raw report, for inspection (`sealmount report show`) or tests; it holds no secret. */
static int save_report(const char *path, const uint8_t *raw, size_t len)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ssize_t n;

	if (fd < 0)
		return log_error_errno(-errno, "Cannot create %s: %m", path);
	n = write(fd, raw, len);
	if (n != (ssize_t)len)
		return log_error_errno(n < 0 ? -errno : -EIO, "Cannot write %s: %m", path);
	return 0;
}

static void warn_debuggable(const json_t *claims)
{
	bool debug = false;

	if (jsonx_opt_bool(claims, "x-ms-sevsnpvm-is-debuggable", &debug) == 0 && debug)
		log_warn(
			"MAA reports a DEBUGGABLE guest (SNP policy bit 19): the host can read its "
			"memory, and a key release policy should refuse this token");
}

static int print_result(const char *token, json_t *claims, bool want_claims)
{
	char *s;

	if (!want_claims) {
		printf("%s\n", token);
		return 0;
	}
	s = json_dumps(claims, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (!s)
		return -ENOMEM;
	printf("%s\n", s);
	free(s);
	return 0;
}

static int do_attest(const struct attest_args *a)
{
	_cleanup_(http_client_freep) struct http_client *http = NULL;
	_cleanup_(maa_client_freep) struct maa_client *mc = NULL;
	_cleanup_(runtime_done) struct runtime rt = {};
	_cleanup_(snp_evidence_done) struct snp_evidence ev = {};
	_cleanup_(uvm_context_done) struct uvm_context ctx = {};
	_cleanup_free_ char *token = NULL;
	_cleanup_json_ json_t *claims = NULL;
	uint8_t rd[MAA_REPORT_DATA_SIZE], nonce_raw[16];
	char nonce[2 * sizeof(nonce_raw) + 1];
	bool simulated = false;
	int r;

	r = http_client_new(&(struct http_options){ .ca_file = a->ca_file, .max_retries = 3 },
			    &http);
	if (r < 0)
		return log_error_errno(r, "Cannot set up HTTP: %m");
	r = maa_client_new(http, a->maa, a->api, &mc);
	if (r < 0)
		return log_error_errno(r,
				       "Invalid MAA endpoint '%s' (a host name, or https://HOST; "
				       "plain http only to loopback): %m",
				       a->maa);
	r = runtime_load(a, &rt);
	if (r < 0)
		return r;
	maa_report_data(rt.data, rt.len, rd);
	r = get_evidence(a, http, rd, &ev, &simulated);
	if (r < 0)
		return r;
	if (a->report_out) {
		r = save_report(a->report_out, ev.raw, sizeof(ev.raw));
		if (r < 0)
			return r;
	}
	load_endorsement(simulated, &ctx);
	if (RAND_bytes(nonce_raw, sizeof(nonce_raw)) != 1)
		return log_error_errno(-EIO, "No randomness for the nonce");
	hex_encode(nonce_raw, sizeof(nonce_raw), nonce);
	r = post_evidence(mc, &ev, &rt, &ctx, nonce, &token);
	if (r < 0)
		return r;
	r = validate(mc, token, rd, &rt, nonce, &claims);
	if (r < 0)
		return r;
	warn_debuggable(claims);
	return print_result(token, claims, a->claims);
}

static int parse(int argc, char **argv, struct attest_args *a)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "maa", required_argument, NULL, 'm' },
		{ "runtime-data", required_argument, NULL, 'r' },
		{ "snp", required_argument, NULL, 's' },
		{ "claims", no_argument, NULL, 'c' },
		{ "ca-file", required_argument, NULL, 'C' },
		{ "api-version", required_argument, NULL, 'a' },
		{ "report-out", required_argument, NULL, 'o' },
		{},
	};
	int c;

	*a = (struct attest_args){ .snp = "device", .api = MAA_API_2022_08_01 };
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			cli_print_usage(&cmd_attest, stdout);
			return 1;
		case 'm':
			a->maa = optarg;
			break;
		case 'r':
			a->runtime_file = optarg;
			break;
		case 's':
			a->snp = optarg;
			break;
		case 'c':
			a->claims = true;
			break;
		case 'C':
			a->ca_file = optarg;
			break;
		case 'o':
			a->report_out = optarg;
			break;
		case 'a':
			if (maa_api_version_parse(optarg, &a->api) < 0)
				return cli_usage_error("attest", "unsupported --api-version '%s'",
						       optarg);
			break;
		default:
			return cli_usage_error("attest", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc)
		return cli_usage_error("attest", "unexpected argument '%s'", argv[optind]);
	if (!a->maa)
		return cli_usage_error("attest", "--maa ENDPOINT is required");
	return 0;
}

static int run(int argc, char **argv)
{
	struct attest_args a;
	int r;

	r = parse(argc, argv, &a);
	if (r == 1)
		return CLI_EXIT_OK;
	if (r != 0)
		return r;
	return do_attest(&a) < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

const struct cli_command cmd_attest = {
	.name = "attest",
	.summary = "Attest this SEV-SNP guest with Microsoft Azure Attestation; print the token",
	.usage =
		"Usage: sealmount attest --maa ENDPOINT [--runtime-data FILE]\n"
		"                        [--snp device|device:PATH|sim:DIR] [--claims]\n"
		"                        [--ca-file PEM] [--api-version 2022-08-01|2020-10-01]\n"
		"                        [--report-out FILE]\n"
		"\n"
		"Gets an SNP report whose REPORT_DATA is SHA-256(runtime data) followed by 32 zero\n"
		"bytes, sends it with its VCEK chain to POST ENDPOINT/attest/SevSnpVm, and validates\n"
		"the token: RS256 signature by a key from ENDPOINT/certs, issuer, expiry, report data\n"
		"and runtime key. Prints the token, or with --claims its claims as JSON.\n"
		"\n"
		"  --maa ENDPOINT      host name (https implied) or https://HOST; http only to loopback\n"
		"  --runtime-data FILE bind these bytes instead of a fresh ephemeral RSA key (a JSON\n"
		"                      object is sent as JSON, anything else as Binary)\n"
		"  --snp SOURCE        device (default: /dev/sev, /dev/sev-guest), device:PATH, or\n"
		"                      sim:DIR - SIMULATED reports, for tests only, never trusted by\n"
		"                      Azure\n"
		"  --claims            print the validated claims instead of the token\n"
		"  --ca-file PEM       extra TLS trust roots (tests)\n"
		"  --report-out FILE   also save the raw SNP report sent to MAA\n",
	.run = run,
};
