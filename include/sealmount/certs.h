/* SPDX-License-Identifier: MIT */
/*
 * certs.h - the AMD VCEK <- ASK <- ARK certificate chain, the THIM JSON that carries it on Azure,
 * the trust roots, and the full check of an SNP report against them.
 *
 * Sources: docs/snp.md, Certificates (chain, VCEK extensions, THIM), docs/snp.md, TCB (TCB
 * comparison).
 *
 * Trust: only ARKs in a struct snp_trust are anchors. snp_trust_new(true, ...) holds AMD's public
 * Milan and Genoa ARKs (built in); --trust-root adds more (tests, the simulator). An ARK shipped
 * inside the chain is never trusted by itself: if present it must equal the anchor that verified.
 *
 * Errors: -EBADMSG malformed input or failed verification; -ENOENT missing field/certificate;
 * -EFBIG input over cap; -ENOMEM. Functions log the OpenSSL detail at debug level only.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#include "sealmount/macros.h"
#include "sealmount/snp.h"

#define SNP_CERTS_MAX (256u * 1024) /* cap on a PEM bundle or THIM document */
#define SNP_VCEK_HWID_MAX 64u

/* ---- THIM JSON: {"vcekCert": PEM, "certificateChain": PEM(ASK,ARK), "tcbm": hex,
 *      "cacheControl": "86400"} (docs/snp.md, Certificates). ---- */
struct snp_thim {
	char *vcek_cert; /* PEM text, owned */
	char *certificate_chain; /* PEM text (ASK then ARK), owned */
	uint64_t tcbm; /* TCB_VERSION as a little-endian u64 ("7308000000000003") */
	uint64_t cache_control; /* seconds; 0 if absent */
};
/* Parse and validate (strings present, PEM-looking, tcbm 1..16 hex digits, cacheControl decimal).
 * On success the caller owns *ret and frees it with snp_thim_done(). */
_must_check_ int snp_thim_parse(const void *json, size_t len, struct snp_thim *ret) _nonnull_(3);
void snp_thim_done(struct snp_thim *t) _nonnull_(1);
/* Serialise (compact, same key names); malloc'd. */
_must_check_ int snp_thim_to_json(const struct snp_thim *t, char **ret) _nonnull_(1, 2);

/* ---- The chain of one report. ---- */
struct snp_certs; /* opaque: VCEK, ASK, optional ARK */

/* From PEM text holding VCEK, then ASK, then optionally ARK (the MAA VcekCertChain order). */
_must_check_ int snp_certs_from_pem(const char *pem, size_t len, struct snp_certs **ret)
	_nonnull_(1, 3);
/* From THIM: vcekCert + certificateChain. */
_must_check_ int snp_certs_from_thim(const struct snp_thim *t, struct snp_certs **ret)
	_nonnull_(1, 2);
/* From a file holding THIM JSON (first non-space byte '{') or a PEM bundle. If ret_tcbm is set it
 * gets the THIM tcbm, or UINT64_MAX for PEM input (no tcbm known). */
_must_check_ int snp_certs_load_file(const char *path, struct snp_certs **ret, uint64_t *ret_tcbm)
	_nonnull_(1, 2);
void snp_certs_free(struct snp_certs *c);
DEFINE_CLEANUP_FUNC(struct snp_certs, snp_certs_free)

/* The VCEK public key, borrowed (lives as long as c). */
EVP_PKEY *snp_certs_vcek_key(const struct snp_certs *c) _nonnull_(1);
/* PEM text VCEK + ASK (+ ARK when present), malloc'd, NUL-terminated: MAA's VcekCertChain. */
_must_check_ int snp_certs_to_pem(const struct snp_certs *c, char **ret, size_t *ret_len)
	_nonnull_(1, 2, 3);

/* The AMD extensions of the VCEK (OID 1.3.6.1.4.1.3704.1.*, docs/snp.md, Certificates). */
struct snp_vcek_info {
	uint8_t hwid[SNP_VCEK_HWID_MAX]; /* .4 hwID: 64 bytes (8 on Turin) */
	size_t hwid_len;
	struct snp_tcb tcb; /* .3.1 blSPL, .3.2 teeSPL, .3.3 snpSPL, .3.8 ucodeSPL, .3.9 fmcSPL */
	char product[32]; /* .2 productName, e.g. "Milan-B0"; "" if absent */
};
_must_check_ int snp_certs_vcek_info(const struct snp_certs *c, struct snp_vcek_info *ret)
	_nonnull_(1, 2);

/* ---- Trust roots. ---- */
struct snp_trust;
/* builtin_amd: start with AMD's Milan and Genoa ARKs. -ENOMEM, -EBADMSG (corrupt builtin). */
_must_check_ int snp_trust_new(bool builtin_amd, struct snp_trust **ret) _nonnull_(2);
/* Add every certificate in PEM text / a PEM file; each must be a self-signed CA. -EBADMSG. */
_must_check_ int snp_trust_add_pem(struct snp_trust *t, const char *pem, size_t len)
	_nonnull_(1, 2);
_must_check_ int snp_trust_add_file(struct snp_trust *t, const char *path) _nonnull_(1, 2);
size_t snp_trust_count(const struct snp_trust *t) _nonnull_(1);
void snp_trust_free(struct snp_trust *t);
DEFINE_CLEANUP_FUNC(struct snp_trust, snp_trust_free)
/* The built-in ARK PEMs (public AMD certificates), NULL-terminated. */
extern const char *const snp_builtin_ark_pems[];

/* ---- Checks. ---- */
/* VCEK <- ASK <- trusted ARK with OpenSSL's X509 verifier (ARK self-signature checked, ASK and
 * ARK must be CAs, all three signed RSASSA-PSS/SHA-384, VCEK key EC P-384). -EBADMSG. */
_must_check_ int snp_certs_verify_chain(const struct snp_certs *c, const struct snp_trust *t)
	_nonnull_(1, 2);
/* VCEK hwID == CHIP_ID (first 8 bytes for an 8-byte Turin hwID). -EBADMSG. */
_must_check_ int snp_certs_check_chip_id(const struct snp_certs *c, const struct snp_report *rep)
	_nonnull_(1, 2);
/* VCEK SPL extensions == REPORTED_TCB (decoded for the report's generation). -EBADMSG. */
_must_check_ int snp_certs_check_tcb(const struct snp_certs *c, const struct snp_report *rep)
	_nonnull_(1, 2);

enum snp_check {
	SNP_CHECK_NONE = 0,
	SNP_CHECK_CHAIN,
	SNP_CHECK_SIGNATURE,
	SNP_CHECK_CHIP_ID,
	SNP_CHECK_TCB,
};
/* "certificate chain", "report signature", "chip_id", "reported TCB". */
const char *snp_check_name(enum snp_check c);

/* All of: chain, signature (with the VCEK), chip_id, TCB. On failure *ret_failed (if set) names
 * the first failing check and the error of that check is returned. The guest policy (debug bit)
 * is a separate decision: snp_report_check_policy(). */
_must_check_ int snp_verify_report(const struct snp_report *rep, const struct snp_certs *c,
				   const struct snp_trust *t, enum snp_check *ret_failed)
	_nonnull_(1, 2, 3);
