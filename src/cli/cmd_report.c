/* SPDX-License-Identifier: MIT */
/*
 * cmd_report.c - `sealmount report show [--json] FILE` and
 * `sealmount report verify FILE --certs THIM_JSON_OR_PEM [--trust-root PEM]...`.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "sealmount/certs.h"
#include "sealmount/codec.h"
#include "sealmount/jsonx.h"
#include "sealmount/log.h"
#include "sealmount/snp.h"

static const struct cli_command report_show_help, report_verify_help;

static int load_report(const char *path, struct snp_report *ret)
{
	uint8_t buf[SNP_REPORT_SIZE + 1];
	FILE *f = fopen(path, "re");
	size_t n;
	int r;

	if (!f)
		return log_error_errno(-errno, "Cannot open report %s: %m", path);
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	r = snp_report_parse(buf, n, ret);
	if (r == -EOPNOTSUPP)
		return log_error_errno(r,
				       "%s: unsupported SNP report (version or signature "
				       "algorithm; versions 2 to 5 are supported)",
				       path);
	if (r < 0)
		return log_error_errno(r, "%s: not a valid SNP report (%zu%s bytes, expected %u)",
				       path, n, n > SNP_REPORT_SIZE ? "+" : "", SNP_REPORT_SIZE);
	return 0;
}

static int add_hex(json_t *o, const char *key, const uint8_t *p, size_t n)
{
	char hex[2 * 128 + 1];

	hex_encode(p, n, hex);
	return json_object_set_new(o, key, json_string(hex));
}

static int add_u64hex(json_t *o, const char *key, uint64_t v)
{
	char hex[17];

	snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)v);
	return json_object_set_new(o, key, json_string(hex));
}

static json_t *report_json(const struct snp_report *r)
{
	json_t *o = json_pack(
		"{s:I, s:I, s:I, s:b, s:I, s:I, s:I, s:I, s:I}", "version", (json_int_t)r->version,
		"guest_svn", (json_int_t)r->guest_svn, "policy", (json_int_t)r->policy, "debug",
		snp_report_is_debug(r), "vmpl", (json_int_t)r->vmpl, "signature_algo",
		(json_int_t)r->sig_algo, "platform_info", (json_int_t)r->platform_info, "key_info",
		(json_int_t)r->key_info, "firmware_major", (json_int_t)r->current_major);
	int e = 0;

	if (!o)
		return NULL;
	e |= add_hex(o, "report_data", r->report_data, sizeof(r->report_data));
	e |= add_hex(o, "measurement", r->measurement, sizeof(r->measurement));
	e |= add_hex(o, "host_data", r->host_data, sizeof(r->host_data));
	e |= add_hex(o, "chip_id", r->chip_id, sizeof(r->chip_id));
	e |= add_hex(o, "family_id", r->family_id, sizeof(r->family_id));
	e |= add_hex(o, "image_id", r->image_id, sizeof(r->image_id));
	e |= add_hex(o, "id_key_digest", r->id_key_digest, sizeof(r->id_key_digest));
	e |= add_hex(o, "author_key_digest", r->author_key_digest, sizeof(r->author_key_digest));
	e |= add_hex(o, "report_id", r->report_id, sizeof(r->report_id));
	e |= add_hex(o, "report_id_ma", r->report_id_ma, sizeof(r->report_id_ma));
	e |= add_u64hex(o, "reported_tcb", r->reported_tcb);
	e |= add_u64hex(o, "current_tcb", r->current_tcb);
	e |= add_u64hex(o, "committed_tcb", r->committed_tcb);
	e |= add_u64hex(o, "launch_tcb", r->launch_tcb);
	e |= json_object_set_new(o, "firmware_minor", json_integer(r->current_minor));
	e |= json_object_set_new(o, "firmware_build", json_integer(r->current_build));
	if (e) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static void print_hex_line(const char *name, const uint8_t *p, size_t n)
{
	char hex[2 * 128 + 1];

	hex_encode(p, n, hex);
	printf("%-18s %s\n", name, hex);
}

static void print_text(const struct snp_report *r)
{
	struct snp_tcb t = snp_tcb_decode(r->reported_tcb, snp_report_generation(r));

	printf("%-18s %u\n", "version:", r->version);
	printf("%-18s %u\n", "guest_svn:", r->guest_svn);
	printf("%-18s 0x%llx%s\n", "policy:", (unsigned long long)r->policy,
	       snp_report_is_debug(r) ? " (DEBUG allowed)" : "");
	printf("%-18s %u\n", "vmpl:", r->vmpl);
	printf("%-18s %u\n", "signature_algo:", r->sig_algo);
	print_hex_line("report_data:", r->report_data, sizeof(r->report_data));
	print_hex_line("measurement:", r->measurement, sizeof(r->measurement));
	print_hex_line("host_data:", r->host_data, sizeof(r->host_data));
	print_hex_line("chip_id:", r->chip_id, sizeof(r->chip_id));
	printf("%-18s %016llx (bl %u tee %u snp %u ucode %u)\n",
	       "reported_tcb:", (unsigned long long)r->reported_tcb, t.bootloader, t.tee, t.snp,
	       t.microcode);
	printf("%-18s %016llx\n", "current_tcb:", (unsigned long long)r->current_tcb);
	printf("%-18s %u.%u build %u\n", "firmware:", r->current_major, r->current_minor,
	       r->current_build);
}

static int show(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	_cleanup_json_ json_t *o = NULL;
	_cleanup_free_ char *text = NULL;
	struct snp_report r;
	bool json = false;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		if (c == 'h')
			return cli_help(&report_show_help);
		if (c != 'j')
			return cli_usage_error("report", "unknown option '%s'", argv[optind - 1]);
		json = true;
	}
	if (optind + 1 != argc)
		return cli_usage_error("report", "show takes exactly one FILE");
	if (load_report(argv[optind], &r) < 0)
		return CLI_EXIT_FAILURE;
	if (!json) {
		print_text(&r);
		return CLI_EXIT_OK;
	}
	o = report_json(&r);
	if (!o || jsonx_dump_sorted(o, &text) < 0) {
		log_error_errno(-ENOMEM, "Cannot format the report: %m");
		return CLI_EXIT_FAILURE;
	}
	printf("%s\n", text);
	return CLI_EXIT_OK;
}

struct verify_args {
	const char *file;
	const char *certs;
	const char *roots[8];
	size_t n_roots;
	bool reject_debug;
};

static int parse_verify(int argc, char **argv, struct verify_args *a)
{
	static const struct option opts[] = {
		{ "certs", required_argument, NULL, 'c' },
		{ "trust-root", required_argument, NULL, 't' },
		{ "reject-debug", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			a->certs = optarg;
			break;
		case 't':
			if (a->n_roots == ELEMENTSOF(a->roots))
				return cli_usage_error("report", "too many --trust-root");
			a->roots[a->n_roots++] = optarg;
			break;
		case 'd':
			a->reject_debug = true;
			break;
		case 'h':
			cli_help(&report_verify_help);
			return -1; /* help printed: exit 0 */
		default:
			return cli_usage_error("report", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error("report", "verify takes exactly one FILE");
	if (!a->certs)
		return cli_usage_error("report", "verify needs --certs THIM_JSON_OR_PEM");
	a->file = argv[optind];
	return 0;
}

static int load_trust(const struct verify_args *a, struct snp_trust **ret)
{
	int r = snp_trust_new(true, ret);

	if (r < 0)
		return log_error_errno(r, "Cannot load the built-in AMD root certificates: %m");
	for (size_t i = 0; i < a->n_roots; i++) {
		r = snp_trust_add_file(*ret, a->roots[i]);
		if (r < 0)
			return log_error_errno(r,
					       "Cannot use --trust-root %s (must be a self-signed "
					       "CA certificate in PEM): %m",
					       a->roots[i]);
	}
	return 0;
}

static int verify(int argc, char **argv)
{
	_cleanup_(snp_trust_freep) struct snp_trust *trust = NULL;
	_cleanup_(snp_certs_freep) struct snp_certs *certs = NULL;
	struct verify_args a = {};
	enum snp_check failed;
	struct snp_report rep;
	int r;

	r = parse_verify(argc, argv, &a);
	if (r != 0)
		return r < 0 ? CLI_EXIT_OK : r;
	if (load_report(a.file, &rep) < 0)
		return CLI_EXIT_FAILURE;
	r = snp_certs_load_file(a.certs, &certs, NULL);
	if (r < 0) {
		log_error_errno(r,
				"Cannot load certificates from %s (THIM JSON or PEM with VCEK, "
				"ASK[, ARK]): %m",
				a.certs);
		return CLI_EXIT_FAILURE;
	}
	if (load_trust(&a, &trust) < 0)
		return CLI_EXIT_FAILURE;
	r = snp_verify_report(&rep, certs, trust, &failed);
	if (r < 0) {
		log_error("Report verification FAILED: %s check (%s)", snp_check_name(failed),
			  strerror(-r));
		printf("FAILED: %s\n", snp_check_name(failed));
		return CLI_EXIT_FAILURE;
	}
	if (snp_report_is_debug(&rep)) {
		log_warn("The report's policy allows debugging (POLICY bit 19): the host can read "
			 "this guest's memory");
		if (a.reject_debug) {
			printf("FAILED: debug policy\n");
			return CLI_EXIT_FAILURE;
		}
	}
	printf("OK: certificate chain, report signature, chip_id and reported TCB verified\n");
	return CLI_EXIT_OK;
}

static int run(int argc, char **argv)
{
	if (argc < 2)
		return cli_usage_error("report", "missing subcommand (show or verify)");
	if (streq(argv[1], "--help") || streq(argv[1], "-h"))
		return cli_help(&cmd_report);
	if (streq(argv[1], "show"))
		return show(argc - 1, argv + 1);
	if (streq(argv[1], "verify"))
		return verify(argc - 1, argv + 1);
	return cli_usage_error("report", "unknown subcommand '%s'", argv[1]);
}

static const struct cli_command report_show_help = {
	.name = "show",
	.summary = "Print the fields of a raw SEV-SNP report",
	.usage = "Usage: sealmount report show [--json] FILE\n"
		 "\n"
		 "Print the fields of a 1184-byte SNP report (the raw binary FILE).\n"
		 "\n"
		 "  --json   one JSON object: byte fields as lower-case hex, TCB values as 16 hex\n"
		 "           digits\n",
};

static const struct cli_command report_verify_help = {
	.name = "verify",
	.summary = "Verify a raw SEV-SNP report against its VCEK chain",
	.usage =
		"Usage: sealmount report verify FILE --certs THIM_JSON_OR_PEM [--trust-root PEM]...\n"
		"                               [--reject-debug]\n"
		"\n"
		"Check the VCEK <- ASK <- ARK chain against AMD's built-in Milan and Genoa roots\n"
		"(plus any --trust-root), the report's ECDSA P-384 signature, that the VCEK's hwID\n"
		"is the report's CHIP_ID and its TCB the REPORTED_TCB.\n"
		"\n"
		"  --certs FILE        THIM JSON ({\"vcekCert\",\"certificateChain\",...}) or PEM\n"
		"                      (VCEK, ASK[, ARK])\n"
		"  --trust-root PEM    one more trusted ARK (PEM file; up to 8)\n"
		"  --reject-debug      also fail a debuggable guest\n"
		"\n"
		"Exit codes: 0 verified, 1 a check failed (named on stdout), 2 usage error.\n",
};

const struct cli_command cmd_report = {
	.name = "report",
	.summary = "Show or verify a raw SEV-SNP attestation report",
	.usage = "Usage: sealmount report SUBCOMMAND [OPTIONS]\n"
		 "\n"
		 "  sealmount report show [--json] FILE          print a raw SNP report's fields\n"
		 "  sealmount report verify FILE --certs CERTS   verify its chain and signature\n"
		 "\n"
		 "`sealmount report SUBCOMMAND --help` shows the options of one subcommand.\n",
	.run = run,
};
