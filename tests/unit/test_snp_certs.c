/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
/* test_snp_certs.c - VCEK chain, trust roots, THIM JSON and report checks (certs.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "sealmount/certs.h"
#include "sealmount/codec.h"
#include "snp_testutil.h"
#include "unit.h"

static struct snp_trust *amd_trust(void)
{
	struct snp_trust *t;

	ck_assert_int_eq(snp_trust_new(true, &t), 0);
	return t;
}

START_TEST(snp_trust_builtin_arks_are_amds)
{
	static const char *const want[] = {
		"69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd", /* Milan */
		"4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1", /* Genoa */
	};
	struct snp_trust *t = amd_trust();
	size_t i;

	for (i = 0; snp_builtin_ark_pems[i]; i++) {
		BIO *bio = BIO_new_mem_buf(snp_builtin_ark_pems[i], -1);
		X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
		unsigned char *der = NULL, md[32];
		char hex[65];
		int n = i2d_X509(x, &der);

		ck_assert_int_gt(n, 0);
		SHA256(der, (size_t)n, md);
		hex_encode(md, 32, hex);
		ck_assert_uint_lt(i, ELEMENTSOF(want));
		ck_assert_str_eq(hex, want[i]);
		OPENSSL_free(der);
		X509_free(x);
		BIO_free(bio);
	}
	ck_assert_uint_eq(i, 2);
	ck_assert_uint_eq(snp_trust_count(t), 2);
	snp_trust_free(t);
	ck_assert_int_eq(snp_trust_new(false, &t), 0);
	ck_assert_uint_eq(snp_trust_count(t), 0);
	snp_trust_free(t);
}
END_TEST

START_TEST(snp_certs_real_chain_verifies)
{
	size_t len;
	SNPTEST_NEED_SHARED(pem, "uvm_host_amd_certificate.pem", &len);
	struct snp_trust *t = amd_trust();
	struct snp_certs *c;
	char *out;
	size_t out_len;

	ck_assert_int_eq(snp_certs_from_pem((const char *)pem, len, &c), 0);
	ck_assert_int_eq(snp_certs_verify_chain(c, t), 0);
	ck_assert_int_eq(snp_certs_to_pem(c, &out, &out_len), 0);
	ck_assert_uint_eq(out_len, strlen(out));
	ck_assert_ptr_nonnull(strstr(out, "-----BEGIN CERTIFICATE-----"));
	free(out);
	snp_certs_free(c);
	snp_trust_free(t);
	free(pem);
}
END_TEST

START_TEST(snp_certs_real_vcek_extensions)
{
	struct snp_vcek_info info;
	struct snp_certs *c;
	struct snp_report r;
	uint64_t tcbm = 0;
	char path[512];

	snptest_real_report(&r);
	snprintf(path, sizeof(path), "%s/uvm_host_amd_certificate.json", unit_shared_testdata());
	ck_assert_int_eq(snp_certs_load_file(path, &c, &tcbm), 0);
	ck_assert_uint_eq(tcbm, UINT64_C(0x7308000000000003));
	ck_assert_int_eq(snp_certs_vcek_info(c, &info), 0);
	ck_assert_uint_eq(info.hwid_len, 64);
	ck_assert_mem_eq(info.hwid, r.chip_id, 64);
	ck_assert_uint_eq(info.tcb.bootloader, 3);
	ck_assert_uint_eq(info.tcb.tee, 0);
	ck_assert_uint_eq(info.tcb.snp, 8);
	ck_assert_uint_eq(info.tcb.microcode, 115);
	ck_assert_str_eq(info.product, "Milan-B0");
	snp_certs_free(c);
	snprintf(path, sizeof(path), "%s/uvm_host_amd_certificate.pem", unit_shared_testdata());
	ck_assert_int_eq(snp_certs_load_file(path, &c, &tcbm), 0);
	ck_assert_uint_eq(tcbm, UINT64_MAX);
	snp_certs_free(c);
}
END_TEST

static struct snp_certs *real_certs(void)
{
	struct snp_certs *c;
	size_t len;
	uint8_t *pem = snptest_shared("uvm_host_amd_certificate.pem", &len);

	ck_assert_int_eq(snp_certs_from_pem((const char *)pem, len, &c), 0);
	free(pem);
	return c;
}

START_TEST(snp_verify_report_real_and_each_failing_check)
{
	struct snp_trust *t = amd_trust(), *none;
	enum snp_check failed = SNP_CHECK_TCB;
	struct snp_report r, bad;
	struct snp_certs *c;

	snptest_real_report(&r);
	c = real_certs();
	ck_assert_int_eq(snp_verify_report(&r, c, t, &failed), 0);
	ck_assert_int_eq(failed, SNP_CHECK_NONE);
	/* ARK not trusted. */
	ck_assert_int_eq(snp_trust_new(false, &none), 0);
	ck_assert_int_eq(snp_verify_report(&r, c, none, &failed), -EBADMSG);
	ck_assert_int_eq(failed, SNP_CHECK_CHAIN);
	ck_assert_str_eq(snp_check_name(failed), "certificate chain");
	/* chip_id that is not the VCEK's (the parsed field; the signed bytes are untouched). */
	bad = r;
	bad.chip_id[63] ^= 1;
	ck_assert_int_eq(snp_certs_check_chip_id(c, &bad), -EBADMSG);
	ck_assert_int_eq(snp_verify_report(&bad, c, t, &failed), -EBADMSG);
	ck_assert_int_eq(failed, SNP_CHECK_CHIP_ID);
	/* REPORTED_TCB that is not the VCEK's: every SPL byte matters. */
	for (int byte = 0; byte < 8; byte++) {
		bad = r;
		bad.reported_tcb ^= UINT64_C(1) << (8 * byte);
		if (byte >= 2 && byte <= 5) { /* reserved bytes of the Milan layout */
			ck_assert_int_eq(snp_certs_check_tcb(c, &bad), 0);
			continue;
		}
		ck_assert_int_eq(snp_verify_report(&bad, c, t, &failed), -EBADMSG);
		ck_assert_int_eq(failed, SNP_CHECK_TCB);
	}
	/* A raw byte changed: the signature. */
	bad = r;
	bad.raw[0x90] ^= 0x80;
	ck_assert_int_eq(snp_verify_report(&bad, c, t, &failed), -EBADMSG);
	ck_assert_int_eq(failed, SNP_CHECK_SIGNATURE);
	snp_certs_free(c);
	snp_trust_free(none);
	snp_trust_free(t);
}
END_TEST

START_TEST(snp_certs_from_pem_rejects_malformed)
{
	size_t len;
	SNPTEST_NEED_SHARED(pem, "uvm_host_amd_certificate.pem", &len);
	const char *text = (const char *)pem;
	const char *second = strstr(text + 1, "-----BEGIN");
	struct snp_certs *c;
	char *buf;

	ck_assert_int_eq(snp_certs_from_pem("", 0, &c), -EBADMSG);
	ck_assert_int_eq(snp_certs_from_pem("garbage", 7, &c), -EBADMSG);
	/* Only the VCEK. */
	ck_assert_int_eq(snp_certs_from_pem(text, (size_t)(second - text), &c), -EBADMSG);
	/* ASK first: the leaf is not an EC P-384 key. */
	ck_assert_int_eq(snp_certs_from_pem(second, len - (size_t)(second - text), &c), -EBADMSG);
	/* Four certificates. */
	ck_assert_int_ge(asprintf(&buf, "%s%s", text, second), 0);
	ck_assert_int_eq(snp_certs_from_pem(buf, strlen(buf), &c), -EBADMSG);
	free(buf);
	/* A corrupted base64 body inside the PEM. */
	buf = strdup(text);
	buf[100] = '!';
	ck_assert_int_eq(snp_certs_from_pem(buf, strlen(buf), &c), -EBADMSG);
	free(buf);
	/* Truncated in the middle of the ARK. */
	ck_assert_int_eq(snp_certs_from_pem(text, len - 200, &c), -EBADMSG);
	free(pem);
}
END_TEST

START_TEST(snp_trust_rejects_non_roots)
{
	size_t len;
	SNPTEST_NEED_SHARED(pem, "uvm_host_amd_certificate.pem", &len);
	const char *text = (const char *)pem;
	const char *ask = strstr(text + 1, "-----BEGIN");
	const char *ark = strstr(ask + 1, "-----BEGIN");
	struct snp_trust *t;

	ck_assert_int_eq(snp_trust_new(false, &t), 0);
	ck_assert_int_eq(snp_trust_add_pem(t, text, (size_t)(ask - text)), -EBADMSG); /* VCEK */
	ck_assert_int_eq(snp_trust_add_pem(t, ask, (size_t)(ark - ask)), -EBADMSG); /* ASK */
	ck_assert_int_eq(snp_trust_add_pem(t, "nope", 4), -EBADMSG);
	ck_assert_int_eq(snp_trust_add_file(t, "/nonexistent/ark.pem"), -ENOENT);
	ck_assert_uint_eq(snp_trust_count(t), 0);
	ck_assert_int_eq(snp_trust_add_pem(t, ark, strlen(ark)), 0);
	ck_assert_uint_eq(snp_trust_count(t), 1);
	snp_trust_free(t);
	free(pem);
}
END_TEST

START_TEST(snp_thim_parse_real_and_roundtrip)
{
	size_t len;
	SNPTEST_NEED_SHARED(json, "uvm_host_amd_certificate.json", &len);
	struct snp_thim t, t2;
	char *out;

	ck_assert_int_eq(snp_thim_parse(json, len, &t), 0);
	ck_assert_uint_eq(t.tcbm, UINT64_C(0x7308000000000003));
	ck_assert_uint_eq(t.cache_control, 86400);
	ck_assert_int_eq(snp_thim_to_json(&t, &out), 0);
	ck_assert_int_eq(snp_thim_parse(out, strlen(out), &t2), 0);
	ck_assert_str_eq(t2.vcek_cert, t.vcek_cert);
	ck_assert_str_eq(t2.certificate_chain, t.certificate_chain);
	ck_assert_uint_eq(t2.tcbm, t.tcbm);
	free(out);
	snp_thim_done(&t);
	snp_thim_done(&t2);
	free(json);
}
END_TEST

#define PEMSTR "-----BEGIN CERTIFICATE-----\\nAAAA\\n-----END CERTIFICATE-----\\n"

START_TEST(snp_thim_parse_rejects_malformed)
{
	static const char *const bad[] = {
		"",
		"[]",
		"{}",
		"{\"vcekCert\":\"" PEMSTR "\",\"certificateChain\":\"" PEMSTR "\"}",
		"{\"vcekCert\":\"x\",\"certificateChain\":\"" PEMSTR "\",\"tcbm\":\"73\"}",
		"{\"vcekCert\":\"" PEMSTR "\",\"certificateChain\":1,\"tcbm\":\"73\"}",
		"{\"vcekCert\":\"" PEMSTR "\",\"certificateChain\":\"" PEMSTR "\",\"tcbm\":73}",
		"{\"vcekCert\":\"" PEMSTR "\",\"certificateChain\":\"" PEMSTR "\",\"tcbm\":\"\"}",
		"{\"vcekCert\":\"" PEMSTR "\",\"certificateChain\":\"" PEMSTR
		"\",\"tcbm\":\"0x73\"}",
		"{\"vcekCert\":\"" PEMSTR "\",\"certificateChain\":\"" PEMSTR
		"\",\"tcbm\":\"73080000000000031\"}",
		"{\"vcekCert\":\"" PEMSTR "\",\"certificateChain\":\"" PEMSTR
		"\",\"tcbm\":\"7308000000000003\",\"cacheControl\":\"-1\"}",
		"{\"vcekCert\":\"" PEMSTR "\",\"certificateChain\":\"" PEMSTR
		"\",\"tcbm\":\"7308000000000003\",\"cacheControl\":86400}",
		"{\"vcekCert\":\"" PEMSTR "\",\"vcekCert\":\"" PEMSTR
		"\",\"certificateChain\":\"" PEMSTR "\",\"tcbm\":\"73\"}",
		"{\"vcekCert\":\"" PEMSTR "\",\"certificateChain\":\"" PEMSTR
		"\",\"tcbm\":\"73\"} x",
	};
	static const char good[] =
		"{\"vcekCert\":\"" PEMSTR "\",\"certificateChain\":\"" PEMSTR "\",\"tcbm\":\"73\"}";
	struct snp_thim t;

	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		ck_assert_msg(snp_thim_parse(bad[i], strlen(bad[i]), &t) < 0, "accepted #%zu", i);
	ck_assert_int_eq(snp_thim_parse(good, strlen(good), &t), 0);
	ck_assert_uint_eq(t.tcbm, 0x73);
	ck_assert_uint_eq(t.cache_control, 0);
	snp_thim_done(&t);
}
END_TEST

static Suite *snp_certs_suite(void)
{
	Suite *s = suite_create("snp_certs");
	TCase *tc = tcase_create("core");
	TCase *real = unit_tcase_shared("real capture");

	tcase_add_test(tc, snp_trust_builtin_arks_are_amds);
	tcase_add_test(real, snp_certs_real_chain_verifies);
	tcase_add_test(real, snp_certs_real_vcek_extensions);
	tcase_add_test(real, snp_verify_report_real_and_each_failing_check);
	tcase_add_test(real, snp_certs_from_pem_rejects_malformed);
	tcase_add_test(real, snp_trust_rejects_non_roots);
	tcase_add_test(real, snp_thim_parse_real_and_roundtrip);
	tcase_add_test(tc, snp_thim_parse_rejects_malformed);
	suite_add_tcase(s, tc);
	suite_add_tcase(s, real);
	return s;
}

UNIT_MAIN(snp_certs_suite)
