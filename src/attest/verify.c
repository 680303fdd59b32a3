/* SPDX-License-Identifier: MIT */
/*
 * verify.c - snp_verify_report(): the whole check of a report against its certificates and the
 * trust roots, in order (chain, signature, chip id, TCB). It uses certs.c and trust.c; neither
 * uses it.
 */
#include "sealmount/certs.h"
#include "sealmount/snp.h"

const char *snp_check_name(enum snp_check c)
{
	switch (c) {
	case SNP_CHECK_CHAIN:
		return "certificate chain";
	case SNP_CHECK_SIGNATURE:
		return "report signature";
	case SNP_CHECK_CHIP_ID:
		return "chip_id";
	case SNP_CHECK_TCB:
		return "reported TCB";
	case SNP_CHECK_NONE:
		break;
	}
	return "none";
}

int snp_verify_report(const struct snp_report *rep, const struct snp_certs *c,
		      const struct snp_trust *t, enum snp_check *ret_failed)
{
	enum snp_check step;
	int e;

	step = SNP_CHECK_CHAIN;
	e = snp_certs_verify_chain(c, t);
	if (e >= 0) {
		step = SNP_CHECK_SIGNATURE;
		e = snp_report_verify_signature(rep, snp_certs_vcek_key(c));
	}
	if (e >= 0) {
		step = SNP_CHECK_CHIP_ID;
		e = snp_certs_check_chip_id(c, rep);
	}
	if (e >= 0) {
		step = SNP_CHECK_TCB;
		e = snp_certs_check_tcb(c, rep);
	}
	if (ret_failed)
		*ret_failed = e < 0 ? step : SNP_CHECK_NONE;
	return e < 0 ? e : 0;
}
