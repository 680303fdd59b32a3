/* SPDX-License-Identifier: MIT */
/* Target: snp_report_parse() and the field helpers on arbitrary bytes (src/attest/snp_report.c).
 *
 * The signature check is split from parsing (snp_report_verify_signature), so the fuzzer reaches
 * every field without forging ECDSA signatures. Inputs of exactly 1184 bytes are the interesting
 * ones; a seed corpus is the real ACI report (../shared/testdata/ms-reference/snp_report.bin) and
 * the simulator's reports (`sealmount sim report`). Build: clang -fsanitize=fuzzer,address,...
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sealmount/log.h"
#include "sealmount/snp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t out[SNP_REPORT_SIZE];
	struct snp_report r, again;

	log_set_level(LOG_LVL_ERROR);
	if (snp_report_parse(data, size, &r) < 0)
		return 0;
	/* Accepted reports must re-parse to the same fields after serialisation. */
	snp_report_serialize(&r, out);
	if (snp_report_parse(out, sizeof(out), &again) < 0)
		__builtin_trap();
	memcpy(again.raw, r.raw, sizeof(r.raw));
	if (memcmp(&again, &r, sizeof(r)) != 0)
		__builtin_trap();
	(void)snp_report_is_debug(&r);
	(void)snp_report_check_policy(&r, false);
	(void)snp_tcb_decode(r.reported_tcb, snp_report_generation(&r));
	return 0;
}
