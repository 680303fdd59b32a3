/* SPDX-License-Identifier: MIT */
/* Target: snp_thim_parse() and snp_certs_from_thim() (src/attest/thim.c, certs.c): the THIM JSON
 * that ACI's security context and the IMDS THIM endpoint hand us, and the PEM certificates in it.
 * Seeds: the real capture (../shared/testdata/ms-reference/uvm_host_amd_certificate.json, added
 * by scripts/fuzz.sh) and the simulator's THIM JSON. */
#include <stdint.h>
#include <stdlib.h>

#include "sealmount/certs.h"
#include "sealmount/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct snp_thim t = {};
	struct snp_certs *c = NULL;
	char *again = NULL;

	log_set_level(LOG_LVL_ERROR);
	if (snp_thim_parse(data, size, &t) < 0)
		return 0;
	if (snp_certs_from_thim(&t, &c) == 0)
		snp_certs_free(c);
	/* What parses must serialise and parse again. */
	if (snp_thim_to_json(&t, &again) == 0) {
		struct snp_thim t2 = {};
		size_t n = 0;
		while (again[n])
			n++;
		if (snp_thim_parse(again, n, &t2) < 0 || t2.tcbm != t.tcbm)
			__builtin_trap();
		snp_thim_done(&t2);
		free(again);
	}
	snp_thim_done(&t);
	return 0;
}
