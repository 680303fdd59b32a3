/* SPDX-License-Identifier: MIT */
/*
 * cmd_sim.c - `sealmount sim init DIR` and `sealmount sim report DIR --out FILE ...`: the
 * SIMULATED SNP chain and reports (snp_sim.h), for tests, the local stand-ins and the demo.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "sealmount/codec.h"
#include "sealmount/log.h"
#include "sealmount/snp_sim.h"

static const struct cli_command sim_init_help, sim_report_help;

static int hex_opt(const char *name, const char *s, void *out, size_t n)
{
	if (hex_decode_fixed(s, strlen(s), out, n) < 0)
		return cli_usage_error("sim", "--%s needs %zu hex digits", name, 2 * n);
	return 0;
}

static int parse_u64(const char *name, const char *s, int base, uint64_t max, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, base);
	if (!*s || *end || errno || v > max || s[0] == '-')
		return cli_usage_error("sim", "invalid --%s '%s'", name, s);
	*ret = v;
	return 0;
}

static int init(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "chip-id", required_argument, NULL, 'c' },
		{ "tcb", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	struct snp_sim_init_options o = {};
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		r = 0;
		if (c == 'h')
			return cli_help(&sim_init_help);
		else if (c == 'c')
			r = hex_opt("chip-id", optarg, o.chip_id, sizeof(o.chip_id));
		else if (c == 't')
			r = parse_u64("tcb", optarg, 16, UINT64_MAX, &o.tcb);
		else
			r = cli_usage_error("sim", "unknown option '%s'", argv[optind - 1]);
		if (r)
			return r;
		o.chip_id_set |= c == 'c';
	}
	if (optind + 1 != argc)
		return cli_usage_error("sim", "init takes exactly one DIR");
	r = snp_sim_init(argv[optind], &o);
	if (r < 0) {
		log_error_errno(r,
				"Cannot create the simulated SNP chain in %s (the directory must "
				"exist and hold none of its files): %m",
				argv[optind]);
		return CLI_EXIT_FAILURE;
	}
	printf("Simulated SNP chain written to %s (trust root: %s/ark.pem)\n", argv[optind],
	       argv[optind]);
	return CLI_EXIT_OK;
}

static int report_opt(int c, const char *arg, struct snp_sim_report_options *o,
		      uint8_t report_data[SNP_REPORT_DATA_SIZE], const char **out)
{
	uint64_t v;
	int r;

	switch (c) {
	case 'o':
		*out = arg;
		return 0;
	case 'r':
		return hex_opt("report-data", arg, report_data, SNP_REPORT_DATA_SIZE);
	case 'm':
		return hex_opt("measurement", arg, o->measurement, sizeof(o->measurement));
	case 'H':
		return hex_opt("host-data", arg, o->host_data, sizeof(o->host_data));
	case 'd':
		o->policy |= SNP_POLICY_DEBUG;
		return 0;
	case 'p':
		return parse_u64("policy", arg, 0, UINT64_MAX, &o->policy);
	case 'v':
		r = parse_u64("vmpl", arg, 10, 3, &v);
		o->vmpl = (uint32_t)v;
		return r;
	case 'V':
		r = parse_u64("version", arg, 10, 5, &v);
		o->version = (uint32_t)v;
		return r;
	}
	return CLI_EXIT_USAGE;
}

static int write_out(const char *path, const uint8_t *p, size_t n)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0 || write(fd, p, n) != (ssize_t)n)
		return -errno;
	return 0;
}

static int report(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "report-data", required_argument, NULL, 'r' },
		{ "measurement", required_argument, NULL, 'm' },
		{ "host-data", required_argument, NULL, 'H' },
		{ "policy", required_argument, NULL, 'p' },
		{ "debug", no_argument, NULL, 'd' },
		{ "vmpl", required_argument, NULL, 'v' },
		{ "report-version", required_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	_cleanup_(snp_sim_freep) struct snp_sim *sim = NULL;
	uint8_t rd[SNP_REPORT_DATA_SIZE] = {}, raw[SNP_REPORT_SIZE];
	struct snp_sim_report_options o;
	const char *out = NULL;
	int c, r;

	snp_sim_report_defaults(&o);
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h')
			return cli_help(&sim_report_help);
		if (c == '?')
			return cli_usage_error("sim", "unknown option '%s'", argv[optind - 1]);
		r = report_opt(c, optarg, &o, rd, &out);
		if (r)
			return r;
	}
	if (optind + 1 != argc || !out)
		return cli_usage_error("sim", "report takes DIR and --out FILE");
	r = snp_sim_load(argv[optind], &sim);
	if (r >= 0)
		r = snp_sim_get_report(sim, &o, rd, raw);
	if (r >= 0)
		r = write_out(out, raw, sizeof(raw));
	if (r < 0) {
		log_error_errno(r, "Cannot produce a simulated report from %s: %m", argv[optind]);
		return CLI_EXIT_FAILURE;
	}
	return CLI_EXIT_OK;
}

static int run(int argc, char **argv)
{
	if (argc < 2)
		return cli_usage_error("sim", "missing subcommand (init or report)");
	if (streq(argv[1], "--help") || streq(argv[1], "-h"))
		return cli_help(&cmd_sim);
	if (streq(argv[1], "init"))
		return init(argc - 1, argv + 1);
	if (streq(argv[1], "report"))
		return report(argc - 1, argv + 1);
	return cli_usage_error("sim", "unknown subcommand '%s'", argv[1]);
}

#define SIM_NOTE                                                                                   \
	"\n"                                                                                       \
	"Nothing here involves AMD hardware: such reports only verify with\n"                      \
	"--trust-root DIR/ark.pem, never against the built-in AMD roots.\n"

static const struct cli_command sim_init_help = {
	.name = "init",
	.summary = "Write a TEST ARK/ASK/VCEK chain into a directory",
	.usage = "Usage: sealmount sim init DIR [--chip-id HEX] [--tcb HEX]\n"
		 "\n"
		 "Write a TEST ARK/ASK/VCEK chain (ark.pem, ask.pem, vcek.pem, vcek-key.pem,\n"
		 "chain.pem, thim.json) into the existing directory DIR.\n"
		 "\n"
		 "  --chip-id HEX   the CHIP_ID: 128 hex digits (64 bytes; default random)\n"
		 "  --tcb HEX       the reported TCB: 16 hex digits (a 64-bit value)\n" SIM_NOTE,
};

static const struct cli_command sim_report_help = {
	.name = "report",
	.summary = "Sign a real-format SNP report with a simulated VCEK",
	.usage = "Usage: sealmount sim report DIR --out FILE [--report-data HEX]\n"
		 "           [--measurement HEX] [--host-data HEX] [--policy N] [--debug]\n"
		 "           [--vmpl 0-3] [--report-version 2|3|5]\n"
		 "\n"
		 "Sign a real-format 1184-byte SNP report with the VCEK key of DIR (made by\n"
		 "`sealmount sim init`) and write it to FILE.\n"
		 "\n"
		 "  --out FILE            where to write the report (replaced if it exists)\n"
		 "  --report-data HEX     REPORT_DATA: 128 hex digits (64 bytes; default zeros)\n"
		 "  --measurement HEX     MEASUREMENT: 96 hex digits (48 bytes)\n"
		 "  --host-data HEX       HOST_DATA: 64 hex digits (32 bytes)\n"
		 "  --policy N            the guest policy: a number, decimal or 0x-hex\n"
		 "  --debug               set the policy's DEBUG bit\n"
		 "  --vmpl N              the VMPL, 0-3\n"
		 "  --report-version N    2, 3 or 5\n" SIM_NOTE,
};

const struct cli_command cmd_sim = {
	.name = "sim",
	.summary = "SIMULATED SEV-SNP for tests: make a test VCEK chain, sign reports",
	.usage =
		"Usage: sealmount sim SUBCOMMAND [OPTIONS]\n"
		"\n"
		"  sealmount sim init DIR               write a TEST ARK/ASK/VCEK chain into DIR\n"
		"  sealmount sim report DIR --out FILE  sign an SNP report with DIR's VCEK key\n"
		"\n"
		"`sealmount sim SUBCOMMAND --help` shows the options of one subcommand.\n" SIM_NOTE,
	.run = run,
};
