/* SPDX-License-Identifier: MIT */
/*
 * snp.h - the AMD SEV-SNP attestation report: parse, serialise, signature check, field helpers.
 *
 * The report is 1184 (0x4A0) bytes, little-endian (AMD SEV-SNP ABI spec, "ATTESTATION_REPORT";
 * our notes: docs/snp.md, Attestation report). snp_report_parse() reads it through the
 * bounds-checked reader into a plain struct; nothing here trusts a report until
 * snp_report_verify_signature() (and the chain checks in certs.h) have passed.
 *
 * Report versions 2, 3, 4 and 5 are accepted (3 adds the CPUID fields, 5 the mitigation vectors;
 * 4 uses the version 3 layout, as in virtee/sev). Fields a version does not define are zero in
 * the parsed struct.
 *
 * Errors: -EBADMSG malformed report or failed check; -EOPNOTSUPP unsupported version, signature
 * algorithm or signing key (VLEK); -ENOMEM. No function here logs above debug level.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#include "sealmount/macros.h"

#define SNP_REPORT_SIZE 0x4A0u /* docs/snp.md, Attestation report */
#define SNP_REPORT_SIGNED_SIZE 0x2A0u /* signature covers [0x000, 0x2A0) */
#define SNP_REPORT_DATA_SIZE 64u
#define SNP_MEASUREMENT_SIZE 48u
#define SNP_HOST_DATA_SIZE 32u
#define SNP_CHIP_ID_SIZE 64u
#define SNP_SIG_COMPONENT_SIZE 72u /* r and s, little-endian, zero-padded */

#define SNP_SIG_ALGO_ECDSA_P384_SHA384 1u

/* POLICY bits (docs/snp.md, Attestation report). */
#define SNP_POLICY_SMT (UINT64_C(1) << 16)
#define SNP_POLICY_RESERVED_1 (UINT64_C(1) << 17) /* must be 1 */
#define SNP_POLICY_MIGRATE_MA (UINT64_C(1) << 18)
#define SNP_POLICY_DEBUG (UINT64_C(1) << 19)
#define SNP_POLICY_SINGLE_SOCKET (UINT64_C(1) << 20)

/* KEY_INFO (0x048). */
#define SNP_KEY_INFO_MASK_CHIP_KEY (1u << 1)
#define SNP_KEY_INFO_SIGNING_KEY(k) (((k) >> 2) & 7u) /* 0 VCEK, 1 VLEK, 7 none */

struct snp_report {
	uint32_t version; /*= 0x000 VERSION */
	uint32_t guest_svn; /*= 0x004 GUEST_SVN */
	uint64_t policy; /*= 0x008 POLICY */
	uint8_t family_id[16]; /*= 0x010 FAMILY_ID */
	uint8_t image_id[16]; /*= 0x020 IMAGE_ID */
	uint32_t vmpl; /*= 0x030 VMPL */
	uint32_t sig_algo; /*= 0x034 SIGNATURE_ALGO */
	uint64_t current_tcb; /*= 0x038 CURRENT_TCB */
	uint64_t platform_info; /*= 0x040 PLATFORM_INFO */
	uint32_t key_info; /*= 0x048 KEY_INFO; 0x04C reserved */
	uint8_t report_data[SNP_REPORT_DATA_SIZE]; /*= 0x050 REPORT_DATA */
	uint8_t measurement[SNP_MEASUREMENT_SIZE]; /*= 0x090 MEASUREMENT */
	uint8_t host_data[SNP_HOST_DATA_SIZE]; /*= 0x0C0 HOST_DATA */
	uint8_t id_key_digest[48]; /*= 0x0E0 ID_KEY_DIGEST */
	uint8_t author_key_digest[48]; /*= 0x110 AUTHOR_KEY_DIGEST */
	uint8_t report_id[32]; /*= 0x140 REPORT_ID */
	uint8_t report_id_ma[32]; /*= 0x160 REPORT_ID_MA */
	uint64_t reported_tcb; /*= 0x180 REPORTED_TCB */
	uint8_t cpuid_fam_id; /*= 0x188 v3+ */
	uint8_t cpuid_mod_id; /*= 0x189 v3+ */
	uint8_t cpuid_step; /*= 0x18A v3+; 0x18B..0x19F reserved */
	uint8_t chip_id[SNP_CHIP_ID_SIZE]; /*= 0x1A0 CHIP_ID */
	uint64_t committed_tcb; /*= 0x1E0 COMMITTED_TCB */
	uint8_t current_build, current_minor, current_major; /*= 0x1E8..0x1EA */
	uint8_t committed_build, committed_minor, committed_major; /*= 0x1EC..0x1EE */
	uint64_t launch_tcb; /*= 0x1F0 LAUNCH_TCB */
	uint64_t launch_mit_vector; /*= 0x1F8 v5+ */
	uint64_t current_mit_vector; /*= 0x200 v5+; then reserved to 0x29F */
	uint8_t sig_r[SNP_SIG_COMPONENT_SIZE]; /*= 0x2A0 SIGNATURE.R, little-endian */
	uint8_t sig_s[SNP_SIG_COMPONENT_SIZE]; /*= 0x2E8 SIGNATURE.S; 0x330..0x49F reserved */

	uint8_t raw[SNP_REPORT_SIZE]; /* the bytes as parsed: the signature covers raw[0..0x29F] */
};

/* TCB_VERSION split into its SVNs. Milan/Genoa: [0]=BL [1]=TEE [6]=SNP [7]=UCODE;
 * Turin: [0]=FMC [1]=BL [2]=TEE [3]=SNP [7]=UCODE (docs/snp.md, TCB_VERSION). */
struct snp_tcb {
	uint8_t fmc; /* Turin only */
	uint8_t bootloader;
	uint8_t tee;
	uint8_t snp;
	uint8_t microcode;
};

enum snp_generation {
	SNP_GEN_MILAN_GENOA, /* same TCB layout for both */
	SNP_GEN_TURIN,
};

/* Parse len bytes (must be exactly SNP_REPORT_SIZE). -EBADMSG short/long or inconsistent
 * (signature algorithm, reserved policy bit), -EOPNOTSUPP version not in 2..5. */
_must_check_ int snp_report_parse(const void *data, size_t len, struct snp_report *ret)
	_nonnull_(1, 3);

/* Encode the fields of rep (not rep->raw) into out; the signature bytes are copied from
 * sig_r/sig_s. Used by the simulator; parse(serialize(x)) == x for supported versions. */
void snp_report_serialize(const struct snp_report *rep, uint8_t out[SNP_REPORT_SIZE])
	_nonnull_(1, 2);

/* Verify the ECDSA P-384/SHA-384 signature over raw[0..0x29F] with the VCEK public key.
 * 0, -EBADMSG (bad signature, key not EC P-384), -EOPNOTSUPP (VLEK-signed or unsigned report),
 * -ENOMEM. */
_must_check_ int snp_report_verify_signature(const struct snp_report *rep, EVP_PKEY *vcek_key)
	_nonnull_(1, 2);

/* POLICY bit 19: the guest can be debugged (its memory read by the host). */
bool snp_report_is_debug(const struct snp_report *rep) _nonnull_(1);
/* Fail closed on a debuggable guest unless allow_debug: 0 or -EPERM. */
_must_check_ int snp_report_check_policy(const struct snp_report *rep, bool allow_debug)
	_nonnull_(1);

/* Split an 8-byte TCB_VERSION for the given generation. */
struct snp_tcb snp_tcb_decode(uint64_t tcb, enum snp_generation gen);
uint64_t snp_tcb_encode(const struct snp_tcb *t, enum snp_generation gen) _nonnull_(1);
/* Guess the generation: v3+ from CPUID family (0x1A = Turin), v2: a chip_id with only the first
 * 8 bytes non-zero means Turin (virtee's rule). */
enum snp_generation snp_report_generation(const struct snp_report *rep) _nonnull_(1);
