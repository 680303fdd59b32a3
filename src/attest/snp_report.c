/* SPDX-License-Identifier: MIT */
/*
 * snp_report.c - parse and check the SEV-SNP ATTESTATION_REPORT (docs/snp.md, Attestation report).
 *
 * The parser reads the report front to back through struct reader, one call per row of the spec
 * table; each field carries its offset as a "*=" citation and the running offset is asserted
 * against it, so a missed or mis-sized field cannot go unnoticed.
 *
 * The reads are chained as `e = e ?: reader_...()` instead of one `if (r < 0) return r;` per
 * field: every read fails the same way (-EBADMSG, cursor unchanged), the length is checked up
 * front, and the chain keeps each function a readable copy of its rows of the spec table.
 */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "sealmount/buf.h"
#include "sealmount/log.h"
#include "sealmount/snp.h"

/* Offsets that the layout below depends on (docs/snp.md, Attestation report). */
enum {
	OFF_REPORT_DATA = 0x050,
	OFF_REPORTED_TCB = 0x180,
	OFF_CHIP_ID = 0x1A0,
	OFF_LAUNCH_MIT = 0x1F8,
	OFF_SIGNATURE = 0x2A0,
	OFF_SIG_S = 0x2E8,
	OFF_SIG_RESERVED = 0x330,
};
static_assert(OFF_SIGNATURE == SNP_REPORT_SIGNED_SIZE, "signature follows the signed area");
static_assert(OFF_SIG_S == OFF_SIGNATURE + SNP_SIG_COMPONENT_SIZE, "S follows R");
static_assert(OFF_SIG_RESERVED == OFF_SIG_S + SNP_SIG_COMPONENT_SIZE, "reserved follows S");
static_assert(OFF_SIGNATURE + 512 == SNP_REPORT_SIZE, "512-byte signature ends the report");
static_assert(OFF_REPORT_DATA + 64 + 48 + 32 + 48 + 48 + 32 + 32 == OFF_REPORTED_TCB,
	      "digest block sizes");
static_assert(OFF_REPORTED_TCB + 8 + 3 + 21 == OFF_CHIP_ID, "reported_tcb..chip_id");
static_assert(OFF_CHIP_ID + 64 + 8 + 4 + 4 + 8 == OFF_LAUNCH_MIT, "chip_id..launch_tcb");
static_assert(sizeof(((struct snp_report *)0)->raw) == SNP_REPORT_SIZE, "raw copy size");

static int parse_header(struct reader *r, struct snp_report *p)
{
	int e = 0;

	e = e ?: reader_u32le(r, &p->version); /*= snp.md 0x000 VERSION */
	e = e ?: reader_u32le(r, &p->guest_svn); /*= snp.md 0x004 GUEST_SVN */
	e = e ?: reader_u64le(r, &p->policy); /*= snp.md 0x008 POLICY */
	e = e ?: reader_copy(r, p->family_id, 16); /*= snp.md 0x010 FAMILY_ID */
	e = e ?: reader_copy(r, p->image_id, 16); /*= snp.md 0x020 IMAGE_ID */
	e = e ?: reader_u32le(r, &p->vmpl); /*= snp.md 0x030 VMPL */
	e = e ?: reader_u32le(r, &p->sig_algo); /*= snp.md 0x034 SIGNATURE_ALGO */
	e = e ?: reader_u64le(r, &p->current_tcb); /*= snp.md 0x038 CURRENT_TCB */
	e = e ?: reader_u64le(r, &p->platform_info); /*= snp.md 0x040 PLATFORM_INFO */
	e = e ?: reader_u32le(r, &p->key_info); /*= snp.md 0x048 KEY_INFO */
	e = e ?: reader_skip(r, 4); /*= snp.md 0x04C reserved */
	assert(e < 0 || r->off == OFF_REPORT_DATA);
	return e;
}

static int parse_digests(struct reader *r, struct snp_report *p)
{
	int e = 0;

	e = e ?: reader_copy(r, p->report_data, 64); /*= snp.md 0x050 REPORT_DATA */
	e = e ?: reader_copy(r, p->measurement, 48); /*= snp.md 0x090 MEASUREMENT */
	e = e ?: reader_copy(r, p->host_data, 32); /*= snp.md 0x0C0 HOST_DATA */
	e = e ?: reader_copy(r, p->id_key_digest, 48); /*= snp.md 0x0E0 ID_KEY_DIGEST */
	e = e ?: reader_copy(r, p->author_key_digest, 48); /*= snp.md 0x110 AUTHOR_KEY_DIGEST */
	e = e ?: reader_copy(r, p->report_id, 32); /*= snp.md 0x140 REPORT_ID */
	e = e ?: reader_copy(r, p->report_id_ma, 32); /*= snp.md 0x160 REPORT_ID_MA */
	e = e ?: reader_u64le(r, &p->reported_tcb); /*= snp.md 0x180 REPORTED_TCB */
	assert(e < 0 || r->off == OFF_REPORTED_TCB + 8);
	return e;
}

static int parse_platform(struct reader *r, struct snp_report *p)
{
	uint8_t cpuid[3], skip8;
	int e = 0;

	e = e ?: reader_copy(r, cpuid, 3); /*= snp.md 0x188 CPUID_FAM_ID, _MOD_ID, _STEP (v3+) */
	e = e ?: reader_skip(r, 21); /*= snp.md 0x18B reserved */
	e = e ?: reader_copy(r, p->chip_id, 64); /*= snp.md 0x1A0 CHIP_ID */
	e = e ?: reader_u64le(r, &p->committed_tcb); /*= snp.md 0x1E0 COMMITTED_TCB */
	e = e ?: reader_u8(r, &p->current_build); /*= snp.md 0x1E8 CURRENT_BUILD */
	e = e ?: reader_u8(r, &p->current_minor); /*= snp.md 0x1E9 CURRENT_MINOR */
	e = e ?: reader_u8(r, &p->current_major); /*= snp.md 0x1EA CURRENT_MAJOR */
	e = e ?: reader_u8(r, &skip8); /*= snp.md 0x1EB reserved */
	e = e ?: reader_u8(r, &p->committed_build); /*= snp.md 0x1EC COMMITTED_BUILD */
	e = e ?: reader_u8(r, &p->committed_minor); /*= snp.md 0x1ED COMMITTED_MINOR */
	e = e ?: reader_u8(r, &p->committed_major); /*= snp.md 0x1EE COMMITTED_MAJOR */
	e = e ?: reader_u8(r, &skip8); /*= snp.md 0x1EF reserved */
	e = e ?: reader_u64le(r, &p->launch_tcb); /*= snp.md 0x1F0 LAUNCH_TCB */
	if (e < 0)
		return e;
	assert(r->off == OFF_LAUNCH_MIT);
	if (p->version >= 3) {
		p->cpuid_fam_id = cpuid[0];
		p->cpuid_mod_id = cpuid[1];
		p->cpuid_step = cpuid[2];
	}
	return 0;
}

static int parse_tail(struct reader *r, struct snp_report *p)
{
	uint64_t launch_mit, current_mit;
	int e = 0;

	e = e ?: reader_u64le(r, &launch_mit); /*= snp.md 0x1F8 LAUNCH_MIT_VECTOR (v5+) */
	e = e ?: reader_u64le(r, &current_mit); /*= snp.md 0x200 CURRENT_MIT_VECTOR (v5+) */
	e = e ?: reader_seek(r, OFF_SIGNATURE); /*= snp.md 0x208..0x29F reserved */
	e = e ?: reader_copy(r, p->sig_r, SNP_SIG_COMPONENT_SIZE); /*= snp.md 0x2A0 SIGNATURE.R */
	e = e ?: reader_copy(r, p->sig_s, SNP_SIG_COMPONENT_SIZE); /*= snp.md 0x2E8 SIGNATURE.S */
	e = e ?: reader_skip(r, SNP_REPORT_SIZE - OFF_SIG_RESERVED); /*= snp.md 0x330 reserved */
	if (e < 0)
		return e;
	if (p->version >= 5) {
		p->launch_mit_vector = launch_mit;
		p->current_mit_vector = current_mit;
	}
	return 0;
}

static int check_header(const struct snp_report *p)
{
	if (p->version < 2 || p->version > 5) {
		log_debug("SNP report: unsupported version %u (2..5 accepted)", p->version);
		return -EOPNOTSUPP;
	}
	if (p->sig_algo != SNP_SIG_ALGO_ECDSA_P384_SHA384) {
		log_debug("SNP report: unsupported signature algorithm %u", p->sig_algo);
		return -EOPNOTSUPP;
	}
	if (!(p->policy & SNP_POLICY_RESERVED_1)) {
		log_debug("SNP report: POLICY bit 17 (reserved, must be 1) is clear");
		return -EBADMSG;
	}
	return 0;
}

int snp_report_parse(const void *data, size_t len, struct snp_report *ret)
{
	struct reader r = reader_init(data, len);
	struct snp_report p = {};
	int e;

	if (len != SNP_REPORT_SIZE) {
		log_debug("SNP report: %zu bytes, expected %u", len, SNP_REPORT_SIZE);
		return -EBADMSG;
	}
	e = parse_header(&r, &p);
	if (e < 0)
		return e;
	e = check_header(&p);
	if (e < 0)
		return e;
	e = parse_digests(&r, &p);
	if (e < 0)
		return e;
	e = parse_platform(&r, &p);
	if (e < 0)
		return e;
	e = parse_tail(&r, &p);
	if (e < 0)
		return e;
	if (reader_left(&r) != 0)
		return -EBADMSG;
	memcpy(p.raw, data, SNP_REPORT_SIZE);
	*ret = p;
	return 0;
}

void snp_report_serialize(const struct snp_report *p, uint8_t out[SNP_REPORT_SIZE])
{
	memset(out, 0, SNP_REPORT_SIZE);
	put_u32le(out + 0x000, p->version);
	put_u32le(out + 0x004, p->guest_svn);
	put_u64le(out + 0x008, p->policy);
	memcpy(out + 0x010, p->family_id, 16);
	memcpy(out + 0x020, p->image_id, 16);
	put_u32le(out + 0x030, p->vmpl);
	put_u32le(out + 0x034, p->sig_algo);
	put_u64le(out + 0x038, p->current_tcb);
	put_u64le(out + 0x040, p->platform_info);
	put_u32le(out + 0x048, p->key_info);
	memcpy(out + 0x050, p->report_data, 64);
	memcpy(out + 0x090, p->measurement, 48);
	memcpy(out + 0x0C0, p->host_data, 32);
	memcpy(out + 0x0E0, p->id_key_digest, 48);
	memcpy(out + 0x110, p->author_key_digest, 48);
	memcpy(out + 0x140, p->report_id, 32);
	memcpy(out + 0x160, p->report_id_ma, 32);
	put_u64le(out + 0x180, p->reported_tcb);
	if (p->version >= 3) {
		out[0x188] = p->cpuid_fam_id;
		out[0x189] = p->cpuid_mod_id;
		out[0x18A] = p->cpuid_step;
	}
	memcpy(out + 0x1A0, p->chip_id, 64);
	put_u64le(out + 0x1E0, p->committed_tcb);
	out[0x1E8] = p->current_build;
	out[0x1E9] = p->current_minor;
	out[0x1EA] = p->current_major;
	out[0x1EC] = p->committed_build;
	out[0x1ED] = p->committed_minor;
	out[0x1EE] = p->committed_major;
	put_u64le(out + 0x1F0, p->launch_tcb);
	if (p->version >= 5) {
		put_u64le(out + 0x1F8, p->launch_mit_vector);
		put_u64le(out + 0x200, p->current_mit_vector);
	}
	memcpy(out + OFF_SIGNATURE, p->sig_r, SNP_SIG_COMPONENT_SIZE);
	memcpy(out + OFF_SIG_S, p->sig_s, SNP_SIG_COMPONENT_SIZE);
}

static void drain_openssl(const char *what)
{
	unsigned long err;
	char msg[256];

	while ((err = ERR_get_error()) != 0) {
		ERR_error_string_n(err, msg, sizeof(msg));
		log_debug("%s: %s", what, msg);
	}
}

static bool is_p384(EVP_PKEY *key)
{
	char group[64];

	if (!EVP_PKEY_is_a(key, "EC"))
		return false;
	if (!EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
					    NULL))
		return false;
	return strcmp(group, "secp384r1") == 0;
}

/* r and s as a DER ECDSA-Sig-Value, the form EVP_DigestVerify wants. */
static int sig_to_der(const struct snp_report *rep, unsigned char **ret, size_t *ret_len)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *r = BN_lebin2bn(rep->sig_r, SNP_SIG_COMPONENT_SIZE, NULL);
	BIGNUM *s = BN_lebin2bn(rep->sig_s, SNP_SIG_COMPONENT_SIZE, NULL);
	unsigned char *der = NULL;
	int n;

	if (!sig || !r || !s || !ECDSA_SIG_set0(sig, r, s)) {
		ECDSA_SIG_free(sig);
		BN_free(r);
		BN_free(s);
		return -ENOMEM;
	}
	n = i2d_ECDSA_SIG(sig, &der);
	ECDSA_SIG_free(sig);
	if (n <= 0)
		return -ENOMEM;
	*ret = der;
	*ret_len = (size_t)n;
	return 0;
}

int snp_report_verify_signature(const struct snp_report *rep, EVP_PKEY *vcek_key)
{
	unsigned char *der = NULL;
	size_t der_len;
	EVP_MD_CTX *ctx;
	int e, ok;

	if (SNP_KEY_INFO_SIGNING_KEY(rep->key_info) != 0 ||
	    (rep->key_info & SNP_KEY_INFO_MASK_CHIP_KEY)) {
		log_debug("SNP report: not signed by a VCEK (KEY_INFO 0x%x)", rep->key_info);
		return -EOPNOTSUPP;
	}
	if (!is_p384(vcek_key)) {
		log_debug("SNP report: the VCEK key is not an EC P-384 key");
		return -EBADMSG;
	}
	e = sig_to_der(rep, &der, &der_len);
	if (e < 0)
		return e;
	ctx = EVP_MD_CTX_new();
	if (!ctx) {
		OPENSSL_free(der);
		return -ENOMEM;
	}
	ok = EVP_DigestVerifyInit_ex(ctx, NULL, "SHA384", NULL, NULL, vcek_key, NULL) == 1 &&
	     EVP_DigestVerify(ctx, der, der_len, rep->raw, SNP_REPORT_SIGNED_SIZE) == 1;
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	if (!ok) {
		drain_openssl("SNP report signature");
		log_debug("SNP report: ECDSA P-384 signature does not verify with the VCEK");
		return -EBADMSG;
	}
	return 0;
}

bool snp_report_is_debug(const struct snp_report *rep)
{
	return rep->policy & SNP_POLICY_DEBUG;
}

int snp_report_check_policy(const struct snp_report *rep, bool allow_debug)
{
	if (snp_report_is_debug(rep) && !allow_debug) {
		log_debug("SNP report: POLICY 0x%llx allows debugging (bit 19)",
			  (unsigned long long)rep->policy);
		return -EPERM;
	}
	return 0;
}

struct snp_tcb snp_tcb_decode(uint64_t tcb, enum snp_generation gen)
{
	uint8_t b[8];

	put_u64le(b, tcb);
	if (gen == SNP_GEN_TURIN)
		return (struct snp_tcb){
			.fmc = b[0], .bootloader = b[1], .tee = b[2], .snp = b[3], .microcode = b[7]
		};
	return (struct snp_tcb){ .bootloader = b[0], .tee = b[1], .snp = b[6], .microcode = b[7] };
}

uint64_t snp_tcb_encode(const struct snp_tcb *t, enum snp_generation gen)
{
	uint8_t b[8] = {};

	if (gen == SNP_GEN_TURIN) {
		b[0] = t->fmc;
		b[1] = t->bootloader;
		b[2] = t->tee;
		b[3] = t->snp;
	} else {
		b[0] = t->bootloader;
		b[1] = t->tee;
		b[6] = t->snp;
	}
	b[7] = t->microcode;
	return get_u64le(b);
}

enum snp_generation snp_report_generation(const struct snp_report *rep)
{
	static const uint8_t zero[SNP_CHIP_ID_SIZE - 8];

	if (rep->version >= 3)
		return rep->cpuid_fam_id == 0x1A ? SNP_GEN_TURIN : SNP_GEN_MILAN_GENOA;
	if (memcmp(rep->chip_id + 8, zero, sizeof(zero)) == 0 && memcmp(rep->chip_id, zero, 8) != 0)
		return SNP_GEN_TURIN;
	return SNP_GEN_MILAN_GENOA;
}
