/* SPDX-License-Identifier: MIT */
/*
 * snp_sim.h - SIMULATED SEV-SNP: a test ARK/ASK/VCEK chain and a report source that signs
 * real-format reports with it. For tests, the local MAA stand-in and the demo only.
 *
 * Nothing here proves anything about hardware: the VCEK private key sits in a file. It is an
 * explicit opt-in (the caller names a directory), snp_sim_load() logs a warning every time, and
 * the chain only verifies if its ARK is added as a trust root: the built-in AMD roots never
 * accept it. There is no automatic fallback from the device to the simulator anywhere.
 *
 * Directory layout written by snp_sim_init() (the directory must exist; files must not):
 *   ark.pem    ARK: RSA-4096, self-signed RSASSA-PSS/SHA-384, CA   (the --trust-root to use)
 *   ask.pem    ASK: RSA-4096, signed by the ARK, CA (pathlen 0)
 *   vcek.pem   VCEK: EC P-384, signed by the ASK, AMD extensions (hwID, blSPL, teeSPL, snpSPL,
 *              ucodeSPL, productName) as on real VCEKs (docs/snp.md, Certificates)
 *   vcek-key.pem  the VCEK private key (mode 0600)
 *   chain.pem  VCEK + ASK + ARK (MAA's VcekCertChain)
 *   thim.json  THIM format {"vcekCert","certificateChain","tcbm","cacheControl"}
 * The ARK and ASK private keys are discarded after signing.
 *
 * Errors: -EEXIST (file exists), -errno from the file system, -ENOMEM, -EBADMSG (a damaged
 * directory), -EINVAL (bad options).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "sealmount/macros.h"
#include "sealmount/snp.h"

#define SNP_SIM_DEFAULT_TCB UINT64_C(0x7308000000000003) /* the ACI capture's REPORTED_TCB */
#define SNP_SIM_PRODUCT "Milan-B0"

struct snp_sim_init_options {
	uint8_t chip_id[SNP_CHIP_ID_SIZE]; /* used when chip_id_set, else random */
	bool chip_id_set;
	uint64_t tcb; /* VCEK SPLs; 0 = SNP_SIM_DEFAULT_TCB (Milan/Genoa layout) */
};

/* Create the chain in dir. opts may be NULL (random chip_id, default TCB). Takes a few seconds
 * (two RSA-4096 keys). */
_must_check_ int snp_sim_init(const char *dir, const struct snp_sim_init_options *opts)
	_nonnull_(1);

struct snp_sim; /* a loaded simulator: VCEK key, chip_id, TCB, THIM text */

_must_check_ int snp_sim_load(const char *dir, struct snp_sim **ret) _nonnull_(1, 2);
void snp_sim_free(struct snp_sim *s);
DEFINE_CLEANUP_FUNC(struct snp_sim, snp_sim_free)

/* What a simulated report says. Start from snp_sim_report_defaults(). */
struct snp_sim_report_options {
	uint32_t version; /* 2, 3 or 5 */
	uint32_t guest_svn;
	uint64_t policy; /* default 0x3001f (ACI); | SNP_POLICY_DEBUG for a debuggable guest */
	uint32_t vmpl;
	uint8_t measurement[SNP_MEASUREMENT_SIZE];
	uint8_t host_data[SNP_HOST_DATA_SIZE];
	bool chip_id_set; /* override the VCEK's hwID (negative tests) */
	uint8_t chip_id[SNP_CHIP_ID_SIZE];
	bool reported_tcb_set; /* override the VCEK's TCB (negative tests) */
	uint64_t reported_tcb;
};
void snp_sim_report_defaults(struct snp_sim_report_options *o) _nonnull_(1);

/* Build and sign a report with the given REPORT_DATA. opts NULL = defaults. */
_must_check_ int snp_sim_get_report(const struct snp_sim *s, const struct snp_sim_report_options *o,
				    const uint8_t report_data[SNP_REPORT_DATA_SIZE],
				    uint8_t out[SNP_REPORT_SIZE]) _nonnull_(1, 3, 4);

/* Borrowed text of the loaded directory's thim.json (NUL-terminated). */
const char *snp_sim_thim_json(const struct snp_sim *s) _nonnull_(1);
