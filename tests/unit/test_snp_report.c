/* SPDX-License-Identifier: MIT */
/* test_snp_report.c - SNP report parsing, serialisation and signature (snp.h), against the real
 * ACI capture in ../shared/testdata/ms-reference (the "shared" case: skipped when absent) and
 * synthetic variants. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>

#include "sealmount/buf.h"
#include "sealmount/certs.h"
#include "sealmount/codec.h"
#include "sealmount/snp.h"
#include "snp_testutil.h"
#include "unit.h"

static void hex_is(const uint8_t *p, size_t n, const char *want)
{
	char hex[2 * 128 + 1];

	ck_assert_uint_le(n, 128);
	hex_encode(p, n, hex);
	ck_assert_str_eq(hex, want);
}

static struct snp_certs *real_certs(void)
{
	struct snp_certs *c;
	size_t len;
	uint8_t *pem = snptest_shared("uvm_host_amd_certificate.pem", &len);

	ck_assert_ptr_nonnull(pem);
	ck_assert_int_eq(snp_certs_from_pem((const char *)pem, len, &c), 0);
	free(pem);
	return c;
}

START_TEST(snp_report_parse_real_capture_fields)
{
	struct snp_report r;

	snptest_real_report(&r);
	ck_assert_uint_eq(r.version, 2);
	ck_assert_uint_eq(r.guest_svn, 2);
	ck_assert_uint_eq(r.policy, 0x3001f);
	ck_assert_uint_eq(r.vmpl, 0);
	ck_assert_uint_eq(r.sig_algo, SNP_SIG_ALGO_ECDSA_P384_SHA384);
	ck_assert_uint_eq(r.current_tcb, UINT64_C(0x7308000000000003));
	ck_assert_uint_eq(r.reported_tcb, UINT64_C(0x7308000000000003));
	ck_assert_uint_eq(r.committed_tcb, UINT64_C(0x7308000000000003));
	ck_assert_uint_eq(r.launch_tcb, UINT64_C(0x7308000000000003));
	ck_assert_uint_eq(r.current_major, 1);
	ck_assert_uint_eq(r.current_minor, 52);
	ck_assert_uint_eq(r.current_build, 4);
	ck_assert_uint_eq(r.platform_info, 1);
	ck_assert_uint_eq(r.key_info, 0);
	ck_assert_uint_eq(r.cpuid_fam_id, 0); /* reserved in v2 */
	hex_is(r.chip_id, 8, "b12164b45a2a2742");
	hex_is(r.measurement, 8, "51068107cdc7ee3d");
	ck_assert(!snp_report_is_debug(&r));
	ck_assert_int_eq(snp_report_generation(&r), SNP_GEN_MILAN_GENOA);
}
END_TEST

START_TEST(snp_report_real_report_data_binds_runtime_data)
{
	static const char runtime[] = "{\n   \"akey\" : \"avalue\"\n}\n";
	static const uint8_t zero[32];
	uint8_t digest[32];
	struct snp_report r;

	snptest_real_report(&r);
	/* testdata README says "24 bytes"; the string it shows (and that hashes to REPORT_DATA)
	 * is 25 bytes long. */
	ck_assert_uint_eq(strlen(runtime), 25);
	SHA256((const uint8_t *)runtime, strlen(runtime), digest);
	ck_assert_mem_eq(r.report_data, digest, 32);
	ck_assert_mem_eq(r.report_data + 32, zero, 32);
}
END_TEST

START_TEST(snp_report_real_host_data_is_policy_hash)
{
	size_t len, plen;
	SNPTEST_NEED_SHARED(b64, "uvm_security_policy.base64", &len);
	uint8_t *policy, digest[32];
	struct snp_report r;

	snptest_real_report(&r);
	ck_assert_int_eq(b64_decode(B64_STD, (const char *)b64, len, &policy, &plen), 0);
	SHA256(policy, plen, digest);
	ck_assert_mem_eq(r.host_data, digest, 32);
	hex_is(r.host_data, 4, "cadd74f7");
	hex_is(r.host_data + 29, 3, "9b031c");
	free(policy);
	free(b64);
}
END_TEST

START_TEST(snp_report_real_signature_verifies)
{
	struct snp_report r;
	struct snp_certs *c;

	snptest_real_report(&r);
	c = real_certs();
	ck_assert_int_eq(snp_report_verify_signature(&r, snp_certs_vcek_key(c)), 0);
	snp_certs_free(c);
}
END_TEST

/* One flipped bit anywhere in [0, 0x2A0) or in r/s must be refused: by the parser (version,
 * algorithm, policy checks) or by the signature. */
START_TEST(snp_report_rejects_any_flipped_byte)
{
	size_t len, rejected = 0;
	SNPTEST_NEED_SHARED(raw, "snp_report.bin", &len);
	struct snp_certs *c = real_certs();

	for (size_t pos = 0; pos < SNP_REPORT_SIGNED_SIZE + 2 * SNP_SIG_COMPONENT_SIZE; pos++) {
		struct snp_report r;

		raw[pos] ^= (uint8_t)(1u << (pos % 8));
		if (snp_report_parse(raw, len, &r) < 0 ||
		    snp_report_verify_signature(&r, snp_certs_vcek_key(c)) < 0)
			rejected++;
		else
			ck_abort_msg("flipped bit at offset 0x%zx was accepted", pos);
		raw[pos] ^= (uint8_t)(1u << (pos % 8));
	}
	ck_assert_uint_eq(rejected, SNP_REPORT_SIGNED_SIZE + 2 * SNP_SIG_COMPONENT_SIZE);
	snp_certs_free(c);
	free(raw);
}
END_TEST

START_TEST(snp_report_parse_rejects_bad_length)
{
	uint8_t buf[SNP_REPORT_SIZE + 1] = {};
	struct snp_report r;

	put_u32le(buf, 2);
	put_u32le(buf + 0x34, 1);
	put_u64le(buf + 8, 0x30000);
	ck_assert_int_eq(snp_report_parse(buf, SNP_REPORT_SIZE, &r), 0);
	ck_assert_int_eq(snp_report_parse(buf, 0, &r), -EBADMSG);
	ck_assert_int_eq(snp_report_parse(buf, SNP_REPORT_SIZE - 1, &r), -EBADMSG);
	ck_assert_int_eq(snp_report_parse(buf, SNP_REPORT_SIGNED_SIZE, &r), -EBADMSG);
	ck_assert_int_eq(snp_report_parse(buf, SNP_REPORT_SIZE + 1, &r), -EBADMSG);
}
END_TEST

START_TEST(snp_report_parse_rejects_unsupported)
{
	static const uint32_t bad_versions[] = { 0, 1, 6, 0xffffffffu };
	uint8_t buf[SNP_REPORT_SIZE] = {};
	struct snp_report r;

	put_u32le(buf + 0x34, 1);
	put_u64le(buf + 8, 0x30000);
	for (size_t i = 0; i < ELEMENTSOF(bad_versions); i++) {
		put_u32le(buf, bad_versions[i]);
		ck_assert_int_eq(snp_report_parse(buf, sizeof(buf), &r), -EOPNOTSUPP);
	}
	for (uint32_t v = 2; v <= 5; v++) {
		put_u32le(buf, v);
		ck_assert_int_eq(snp_report_parse(buf, sizeof(buf), &r), 0);
	}
	put_u32le(buf + 0x34, 2); /* unknown signature algorithm */
	ck_assert_int_eq(snp_report_parse(buf, sizeof(buf), &r), -EOPNOTSUPP);
	put_u32le(buf + 0x34, 1);
	put_u64le(buf + 8, 0x1001f); /* reserved policy bit 17 clear */
	ck_assert_int_eq(snp_report_parse(buf, sizeof(buf), &r), -EBADMSG);
}
END_TEST

START_TEST(snp_report_serialize_roundtrips_real)
{
	size_t len;
	SNPTEST_NEED_SHARED(raw, "snp_report.bin", &len);
	uint8_t out[SNP_REPORT_SIZE];
	struct snp_report r;

	ck_assert_int_eq(snp_report_parse(raw, len, &r), 0);
	snp_report_serialize(&r, out);
	ck_assert_mem_eq(out, raw, SNP_REPORT_SIZE);
	free(raw);
}
END_TEST

START_TEST(snp_report_versions_3_and_5_fields)
{
	struct snp_report in = {
		.version = 5, .policy = 0x3001f, .sig_algo = 1, .cpuid_fam_id = 0x19,
		.cpuid_mod_id = 0x11, .cpuid_step = 1, .launch_mit_vector = 0x1122,
		.current_mit_vector = 0x3344, .reported_tcb = 0x1b,
	}, out;
	uint8_t raw[SNP_REPORT_SIZE];

	snp_report_serialize(&in, raw);
	ck_assert_int_eq(snp_report_parse(raw, sizeof(raw), &out), 0);
	ck_assert_uint_eq(out.cpuid_mod_id, 0x11);
	ck_assert_uint_eq(out.current_mit_vector, 0x3344);
	ck_assert_uint_eq(out.launch_mit_vector, 0x1122);
	/* Version 3: mitigation vectors are reserved and not reported. */
	put_u32le(raw, 3);
	ck_assert_int_eq(snp_report_parse(raw, sizeof(raw), &out), 0);
	ck_assert_uint_eq(out.cpuid_fam_id, 0x19);
	ck_assert_uint_eq(out.current_mit_vector, 0);
	/* Version 2: the CPUID bytes are reserved too. */
	put_u32le(raw, 2);
	ck_assert_int_eq(snp_report_parse(raw, sizeof(raw), &out), 0);
	ck_assert_uint_eq(out.cpuid_fam_id, 0);
	/* A v3 report from family 0x1A is Turin. */
	in.version = 3;
	in.cpuid_fam_id = 0x1A;
	ck_assert_int_eq(snp_report_generation(&in), SNP_GEN_TURIN);
}
END_TEST

START_TEST(snp_report_rejects_wrong_vcek)
{
	EVP_PKEY *p384 = EVP_EC_gen("secp384r1"), *p256 = EVP_EC_gen("P-256");
	EVP_PKEY *rsa = EVP_RSA_gen(2048);
	struct snp_report r;

	snptest_real_report(&r);
	ck_assert_int_eq(snp_report_verify_signature(&r, p384), -EBADMSG);
	ck_assert_int_eq(snp_report_verify_signature(&r, p256), -EBADMSG);
	ck_assert_int_eq(snp_report_verify_signature(&r, rsa), -EBADMSG);
	EVP_PKEY_free(p384);
	EVP_PKEY_free(p256);
	EVP_PKEY_free(rsa);
}
END_TEST

START_TEST(snp_report_rejects_vlek_and_unsigned)
{
	struct snp_report r;
	struct snp_certs *c;

	snptest_real_report(&r);
	c = real_certs();
	r.key_info = 1u << 2; /* VLEK */
	ck_assert_int_eq(snp_report_verify_signature(&r, snp_certs_vcek_key(c)), -EOPNOTSUPP);
	r.key_info = SNP_KEY_INFO_MASK_CHIP_KEY;
	ck_assert_int_eq(snp_report_verify_signature(&r, snp_certs_vcek_key(c)), -EOPNOTSUPP);
	snp_certs_free(c);
}
END_TEST

START_TEST(snp_report_policy_debug)
{
	struct snp_report r = { .policy = 0x3001f };

	ck_assert_int_eq(snp_report_check_policy(&r, false), 0);
	r.policy |= SNP_POLICY_DEBUG;
	ck_assert(snp_report_is_debug(&r));
	ck_assert_int_eq(snp_report_check_policy(&r, false), -EPERM);
	ck_assert_int_eq(snp_report_check_policy(&r, true), 0);
}
END_TEST

START_TEST(snp_tcb_decode_layouts)
{
	struct snp_tcb t = snp_tcb_decode(UINT64_C(0x7308000000000003), SNP_GEN_MILAN_GENOA);

	ck_assert_uint_eq(t.bootloader, 3);
	ck_assert_uint_eq(t.tee, 0);
	ck_assert_uint_eq(t.snp, 8);
	ck_assert_uint_eq(t.microcode, 0x73);
	ck_assert_uint_eq(snp_tcb_encode(&t, SNP_GEN_MILAN_GENOA), UINT64_C(0x7308000000000003));
	t = snp_tcb_decode(UINT64_C(0x4800000003040501), SNP_GEN_TURIN);
	ck_assert_uint_eq(t.fmc, 1);
	ck_assert_uint_eq(t.bootloader, 5);
	ck_assert_uint_eq(t.tee, 4);
	ck_assert_uint_eq(t.snp, 3);
	ck_assert_uint_eq(t.microcode, 0x48);
	ck_assert_uint_eq(snp_tcb_encode(&t, SNP_GEN_TURIN), UINT64_C(0x4800000003040501));
}
END_TEST

static Suite *snp_report_suite(void)
{
	Suite *s = suite_create("snp_report");
	TCase *tc = tcase_create("core");
	TCase *real = unit_tcase_shared("real capture");

	tcase_add_test(real, snp_report_parse_real_capture_fields);
	tcase_add_test(real, snp_report_real_report_data_binds_runtime_data);
	tcase_add_test(real, snp_report_real_host_data_is_policy_hash);
	tcase_add_test(real, snp_report_real_signature_verifies);
	tcase_add_test(real, snp_report_rejects_any_flipped_byte);
	tcase_add_test(tc, snp_report_parse_rejects_bad_length);
	tcase_add_test(tc, snp_report_parse_rejects_unsupported);
	tcase_add_test(real, snp_report_serialize_roundtrips_real);
	tcase_add_test(tc, snp_report_versions_3_and_5_fields);
	tcase_add_test(real, snp_report_rejects_wrong_vcek);
	tcase_add_test(real, snp_report_rejects_vlek_and_unsigned);
	tcase_add_test(tc, snp_report_policy_debug);
	tcase_add_test(tc, snp_tcb_decode_layouts);
	suite_add_tcase(s, tc);
	suite_add_tcase(s, real);
	return s;
}

UNIT_MAIN(snp_report_suite)
