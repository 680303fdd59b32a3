/* SPDX-License-Identifier: MIT */
/*
 * cmd_attest.c - `sealmount attest --maa ENDPOINT`: get an SNP report whose REPORT_DATA binds
 * the runtime data (by default a fresh ephemeral RSA key as a JWK set), send it with its VCEK
 * chain to MAA, validate the token MAA returns, and print the token (or its claims).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "sealmount/attest.h"
#include "sealmount/buf.h"
#include "sealmount/jsonx.h"
#include "sealmount/log.h"
#include "sealmount/pipeline.h"
#include "sealmount/maa.h"

struct attest_args {
	const char *maa;
	const char *runtime_file;
	const char *snp;
	const char *ca_file;
	const char *report_out;
	enum maa_api_version api;
	bool claims;
};

/* --runtime-data FILE: bind these bytes; a JSON object goes as dataType JSON (MAA re-emits it
 * as x-ms-runtime), anything else as Binary. */
static int runtime_load(const char *path, struct buf *b, bool *ret_binary)
{
	_cleanup_json_ json_t *probe = NULL;
	int r;

	r = buf_append_file(b, path);
	if (r < 0)
		return log_error_errno(r, "Cannot read runtime data from %s (at most %u bytes): %m",
				       path, MAA_RUNTIME_DATA_MAX);
	if (b->len == 0)
		return log_error_errno(-EINVAL, "Runtime data file %s is empty", path);
	*ret_binary = jsonx_load_object(b->data, b->len, MAA_RUNTIME_DATA_MAX, &probe) < 0;
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
	_cleanup_(attest_result_done) struct attest_result res = {};
	_cleanup_(buf_done) struct buf file;
	struct pl_failure f = { .step = PL_STEP_ATTEST };
	struct attest_params p = {
		.maa = a->maa, .api = a->api, .snp = a->snp, .nonce = true, .diag = &f.diag
	};
	char msg[4096];
	int r;

	buf_init(&file, MAA_RUNTIME_DATA_MAX);
	r = http_client_new(&(struct http_options){ .ca_file = a->ca_file, .max_retries = 3 },
			    &http);
	if (r < 0)
		return log_error_errno(r, "Cannot set up HTTP: %m");
	p.http = http;
	if (a->runtime_file) {
		r = runtime_load(a->runtime_file, &file, &p.runtime_binary);
		if (r < 0)
			return r;
		p.runtime_data = file.data;
		p.runtime_len = file.len;
	}
	r = attest_run(&p, &res);
	if (r < 0) {
		f.err = r;
		pl_failure_message(&f, 0, NULL, msg, sizeof(msg));
		return log_error_errno(r, "%s", msg);
	}
	if (res.simulated)
		log_warn(
			"The SNP report is SIMULATED (--snp sim:): signed by a test key, not by AMD "
			"hardware - for local tests only");
	if (a->report_out) {
		r = save_report(a->report_out, res.report, sizeof(res.report));
		if (r < 0)
			return r;
	}
	warn_debuggable(res.claims);
	return print_result(res.token, res.claims, a->claims);
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
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
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
			return cli_bad_option("attest", c, argv);
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
