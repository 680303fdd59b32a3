/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

#include "jose_util.h"
#include "sealmount/codec.h"
#include "sealmount/jsonx.h"
#include "sealmount/maa.h"
#include "unit.h"

#define ISS "https://sharedeus2.eus2.attest.azure.net"
#define NOW 1800000000

static EVP_PKEY *maa_key, *evil_key, *rt_pkey, *other_rt;
static struct maa_runtime_key *rt;
static char *signers_json;
static uint8_t report_data[MAA_REPORT_DATA_SIZE];

static void keys_setup(void)
{
	size_t len;
	const char *jwks;

	maa_key = ju_rsa_key(2048);
	evil_key = ju_rsa_key(2048);
	rt_pkey = ju_rsa_key(2048);
	other_rt = ju_rsa_key(2048);
	ck_assert_int_eq(maa_runtime_key_from_pkey(rt_pkey, &rt), 0);
	jwks = maa_runtime_key_jwks(rt, &len);
	maa_report_data(jwks, len, report_data);
	signers_json = ju_jwks_ne(maa_key, "maa-kid=");
}

/* ---- runtime data ---- */

START_TEST(maa_runtime_jwks_matches_golden_bytes)
{
	const char *dir = unit_shared_testdata();
	_cleanup_free_ char *pem_path = NULL, *jwks_path = NULL;
	_cleanup_free_ unsigned char *pem = NULL, *want = NULL;
	_cleanup_(maa_runtime_key_freep) struct maa_runtime_key *k = NULL;
	size_t pem_len, want_len, got_len;
	const char *got;
	EVP_PKEY *pkey;
	BIO *bio;

	ck_assert_ptr_nonnull(dir);
	ck_assert_int_ge(asprintf(&pem_path, "%s/rsa2048-test-key.pem", dir), 0);
	ck_assert_int_ge(asprintf(&jwks_path, "%s/rsa2048-test-key.jwks.json", dir), 0);
	pem = unit_read_file(pem_path, &pem_len);
	want = unit_read_file(jwks_path, &want_len);
	while (want_len > 0 && want[want_len - 1] == '\n') /* the file ends with a newline */
		want_len--;
	bio = BIO_new_mem_buf(pem, (int)pem_len);
	pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	ck_assert_ptr_nonnull(pkey);
	ck_assert_int_eq(maa_runtime_key_from_pkey(pkey, &k), 0);
	EVP_PKEY_free(pkey);
	got = maa_runtime_key_jwks(k, &got_len);
	ck_assert_uint_eq(got_len, want_len);
	ck_assert_int_eq(memcmp(got, want, want_len), 0);
}
END_TEST

START_TEST(maa_report_data_binds_real_capture)
{
	static const char runtime[] = "{\n   \"akey\" : \"avalue\"\n}\n";
	const char *dir = unit_shared_testdata();
	_cleanup_free_ char *path = NULL;
	_cleanup_free_ unsigned char *report = NULL;
	uint8_t rd[MAA_REPORT_DATA_SIZE];
	size_t len;

	ck_assert_ptr_nonnull(dir);
	ck_assert_int_ge(asprintf(&path, "%s/snp_report.bin", dir), 0);
	report = unit_read_file(path, &len);
	ck_assert_uint_eq(len, 0x4A0);
	maa_report_data(runtime, strlen(runtime), rd);
	ck_assert_int_eq(memcmp(rd, report + 0x50, sizeof(rd)), 0);
	for (size_t i = 32; i < sizeof(rd); i++)
		ck_assert_uint_eq(rd[i], 0);
}
END_TEST

START_TEST(maa_runtime_key_generate_and_refuse_small)
{
	_cleanup_(maa_runtime_key_freep) struct maa_runtime_key *k = NULL;
	struct maa_runtime_key *bad = NULL;
	EVP_PKEY *small = ju_rsa_key(1024);
	const char *jwks;
	size_t len;

	ck_assert_int_eq(maa_runtime_key_generate(0, &k), 0);
	ck_assert_int_eq(EVP_PKEY_get_bits(maa_runtime_key_pkey(k)), 2048);
	jwks = maa_runtime_key_jwks(k, &len);
	ck_assert_uint_eq(strlen(jwks), len);
	ck_assert_ptr_nonnull(strstr(jwks, "\"key_ops\":[\"encrypt\"]"));
	ck_assert_int_eq(maa_runtime_key_generate(1024, &bad), -EINVAL);
	ck_assert_int_eq(maa_runtime_key_from_pkey(small, &bad), -EINVAL);
	ck_assert_ptr_null(bad);
	EVP_PKEY_free(small);
}
END_TEST

/* ---- request ---- */

static json_t *decode_json_member(const json_t *o, const char *key, uint8_t **ret_raw,
				  size_t *ret_len)
{
	const char *s;
	json_t *doc = NULL;

	ck_assert_int_eq(jsonx_get_string(o, key, &s), 0);
	ck_assert_int_eq(b64_decode(B64_URL, s, strlen(s), ret_raw, ret_len), 0);
	if (jsonx_load_object(*ret_raw, *ret_len, 1 << 20, &doc) < 0)
		doc = NULL;
	return doc;
}

START_TEST(maa_request_body_layout)
{
	static const uint8_t report[0x4A0] = { 2, 0, 0, 0, 0xAA };
	static const char chain[] =
		"-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n";
	static const uint8_t cose[] = { 0xd2, 0x84, 0x01, 0x02 };
	_cleanup_free_ char *body = NULL;
	_cleanup_json_ json_t *doc = NULL, *blob = NULL, *endo = NULL;
	_cleanup_free_ uint8_t *raw1 = NULL, *raw2 = NULL, *raw3 = NULL, *raw4 = NULL, *raw5 = NULL;
	size_t len, n;
	json_t *rtd, *uvm;
	const char *s;
	struct maa_evidence e = {
		.report = report,
		.report_len = sizeof(report),
		.vcek_chain_pem = chain,
		.vcek_chain_len = strlen(chain),
		.uvm_endorsement = cose,
		.uvm_endorsement_len = sizeof(cose),
		.runtime_data = "{\"a\":1}",
		.runtime_data_len = 7,
		.nonce = "n0nce",
	};

	ck_assert_int_eq(maa_request_body(&e, &body, &len), 0);
	ck_assert_int_eq(jsonx_load_object(body, len, 1 << 20, &doc), 0);
	blob = decode_json_member(doc, "report", &raw1, &n);
	ck_assert_ptr_nonnull(blob);
	json_decref(decode_json_member(blob, "SnpReport", &raw2, &n));
	ck_assert_uint_eq(n, sizeof(report));
	ck_assert_int_eq(memcmp(raw2, report, n), 0);
	json_decref(decode_json_member(blob, "VcekCertChain", &raw3, &n));
	ck_assert_str_eq((char *)raw3, chain);
	endo = decode_json_member(blob, "Endorsements", &raw4, &n);
	ck_assert_int_eq(jsonx_get_array(endo, "Uvm", &uvm), 0);
	ck_assert_int_eq(b64_decode(B64_URL, json_string_value(json_array_get(uvm, 0)),
				    strlen(json_string_value(json_array_get(uvm, 0))), &raw5, &n),
			 0);
	ck_assert_int_eq(memcmp(raw5, cose, sizeof(cose)), 0);
	ck_assert_int_eq(jsonx_get_object(doc, "runtimeData", &rtd), 0);
	ck_assert_int_eq(jsonx_get_string(rtd, "dataType", &s), 0);
	ck_assert_str_eq(s, "JSON");
	ck_assert_int_eq(jsonx_get_string(rtd, "data", &s), 0);
	ck_assert_str_eq(s, "eyJhIjoxfQ"); /* b64url, no padding */
	ck_assert_int_eq(jsonx_get_string(doc, "nonce", &s), 0);
	ck_assert_ptr_null(json_object_get(doc, "initTimeData"));
}
END_TEST

START_TEST(maa_request_body_refuses_bad_evidence)
{
	static const uint8_t report[0x4A0];
	_cleanup_free_ char *body = NULL;
	size_t len;
	struct maa_evidence e = {
		.report = report,
		.report_len = sizeof(report),
		.vcek_chain_pem = "x",
		.vcek_chain_len = 1,
		.runtime_data = "not json",
		.runtime_data_len = 8,
	};

	ck_assert_int_eq(maa_request_body(&e, &body, &len), -EINVAL);
	e.runtime_data_binary = true;
	ck_assert_int_eq(maa_request_body(&e, &body, &len), 0);
	ck_assert_ptr_nonnull(strstr(body, "\"dataType\":\"Binary\""));
	e.runtime_data_len = MAA_RUNTIME_DATA_MAX + 1;
	free(TAKE_PTR(body));
	ck_assert_int_eq(maa_request_body(&e, &body, &len), -EINVAL);
	e.runtime_data_len = 8;
	e.report = NULL;
	ck_assert_int_eq(maa_request_body(&e, &body, &len), -EINVAL);
}
END_TEST

START_TEST(maa_endpoint_and_url_forms)
{
	static const char *const ok[][2] = {
		{ "sharedeus2.eus2.attest.azure.net", ISS },
		{ "https://sharedeus2.eus2.attest.azure.net/", ISS },
		{ "HTTPS://SharedEUS2.eus2.attest.azure.net", ISS },
		{ "http://127.0.0.1:8443", "http://127.0.0.1:8443" },
	};
	static const char *const bad[] = {
		"",    "https://", "https://x/path", "https://x?q", "https://u:p@x", "https://x#f",
		"x y", "ftp://x",
	};
	enum maa_api_version v;
	char *s;

	for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
		ck_assert_int_eq(maa_endpoint_base(ok[i][0], &s), 0);
		ck_assert_str_eq(s, ok[i][1]);
		free(s);
	}
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		ck_assert_int_eq(maa_endpoint_base(bad[i], &s), -EINVAL);
	ck_assert_int_eq(maa_attest_url(ISS, MAA_API_2022_08_01, &s), 0);
	ck_assert_str_eq(s, ISS "/attest/SevSnpVm?api-version=2022-08-01");
	free(s);
	ck_assert_int_eq(maa_api_version_parse("2020-10-01", &v), 0);
	ck_assert_int_eq(maa_attest_url(ISS, v, &s), 0);
	ck_assert_str_eq(s, ISS "/attest/SevSnpVm?api-version=2020-10-01");
	free(s);
	ck_assert_int_eq(maa_api_version_parse("2025-06-01x", &v), -EINVAL);
}
END_TEST

START_TEST(maa_response_parse_cases)
{
	char *tok = NULL;

	ck_assert_int_eq(maa_response_parse("{\"token\":\"a.b.c\"}", 17, &tok), 0);
	ck_assert_str_eq(tok, "a.b.c");
	free(tok);
	tok = NULL;
	ck_assert_int_eq(maa_response_parse("{\"token\":\"\"}", 12, &tok), -EBADMSG);
	ck_assert_int_eq(maa_response_parse("{\"Token\":\"a\"}", 13, &tok), -EBADMSG);
	ck_assert_int_eq(maa_response_parse("{\"token\":1}", 11, &tok), -EBADMSG);
	ck_assert_int_eq(maa_response_parse("{\"token\":\"a\",\"token\":\"b\"}", 25, &tok),
			 -EBADMSG);
	ck_assert_int_eq(maa_response_parse("<html>", 6, &tok), -EBADMSG);
	ck_assert_ptr_null(tok);
}
END_TEST

/* ---- token validation ---- */

/* Claims of a good token for our runtime key; `extra` is spliced in last (may override). */
static char *claims_json(const char *extra, EVP_PKEY *runtime)
{
	_cleanup_(maa_runtime_key_freep) struct maa_runtime_key *k = NULL;
	char hex[2 * MAA_REPORT_DATA_SIZE + 1];
	const char *jwks;
	char *out;
	size_t len;

	ck_assert_int_eq(maa_runtime_key_from_pkey(runtime, &k), 0);
	jwks = maa_runtime_key_jwks(k, &len);
	hex_encode(report_data, sizeof(report_data), hex);
	ck_assert_int_ge(asprintf(&out,
				  "{\"iss\":\"" ISS "\",\"iat\":%d,\"nbf\":%d,\"exp\":%d,"
				  "\"jti\":\"ab\",\"x-ms-ver\":\"1.0\","
				  "\"x-ms-attestation-type\":\"sevsnpvm\","
				  "\"x-ms-sevsnpvm-is-debuggable\":false,"
				  "\"x-ms-sevsnpvm-reportdata\":\"%s\",\"x-ms-runtime\":%s%s}",
				  NOW - 10, NOW - 10, NOW + 28800, hex, jwks, extra),
			 0);
	return out;
}

static int validate(const char *tok, const char **failed)
{
	_cleanup_(jwk_set_freep) struct jwk_set *s = NULL;
	_cleanup_json_ json_t *claims = NULL;
	struct maa_expect x = { .issuer = ISS,
				.report_data = report_data,
				.runtime_key = maa_runtime_key_pkey(rt),
				.nonce = "n1",
				.now = NOW,
				.skew = MAA_TOKEN_SKEW_S };
	int r;

	*failed = "none";
	ck_assert_int_eq(jwk_set_parse(signers_json, strlen(signers_json), &s), 0);
	r = maa_token_validate(tok, strlen(tok), s, &x, &claims, failed);
	if (r == 0)
		ck_assert_ptr_nonnull(claims);
	else
		ck_assert_ptr_null(claims);
	return r;
}

static int validate_claims(const char *extra, EVP_PKEY *runtime, const char **failed)
{
	_cleanup_free_ char *c = claims_json(extra, runtime);
	_cleanup_free_ char *tok = ju_sign_rs256(
		maa_key, "{\"alg\":\"RS256\",\"jku\":\"" ISS "/certs\",\"kid\":\"maa-kid=\"}", c);

	return validate(tok, failed);
}

START_TEST(maa_token_validate_accepts_good)
{
	const char *failed;

	ck_assert_int_eq(validate_claims("", rt_pkey, &failed), 0);
	ck_assert_int_eq(validate_claims(",\"nonce\":\"n1\"", rt_pkey, &failed), 0);
}
END_TEST

START_TEST(maa_token_validate_rejects_claims)
{
	static const struct {
		const char *extra;
		int err;
		const char *failed;
	} cases[] = {
		{ ",\"iss\":\"https://evil.attest.azure.net\"", -EBADMSG, "issuer" },
		{ ",\"iss\":\"" ISS "/\"", -EBADMSG, "issuer" },
		{ ",\"exp\":1799990000", -EKEYEXPIRED, "validity period" },
		{ ",\"nbf\":1800001000", -EKEYEXPIRED, "validity period" },
		{ ",\"exp\":\"soon\"", -EBADMSG, "validity period" },
		{ ",\"x-ms-attestation-type\":\"sgx\"", -EBADMSG, "attestation type" },
		{ ",\"x-ms-sevsnpvm-reportdata\":\"00\"", -EBADMSG, "report data" },
		{ ",\"x-ms-runtime\":{\"keys\":[]}", -EBADMSG, "runtime key" },
		{ ",\"x-ms-runtime\":\"x\"", -EBADMSG, "runtime key" },
		{ ",\"nonce\":\"other\"", -EBADMSG, "nonce" },
	};
	const char *failed;

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_free_ char *c = claims_json("", rt_pkey);
		_cleanup_free_ char *tok = NULL;
		/* Duplicate keys are refused by the strict loader, so replace in place instead. */
		_cleanup_json_ json_t *o = NULL, *patch = NULL;
		_cleanup_free_ char *patched = NULL, *pj = NULL;

		ck_assert_int_eq(jsonx_load_object(c, strlen(c), 1 << 20, &o), 0);
		ck_assert_int_ge(asprintf(&pj, "{%s}", cases[i].extra + 1), 0);
		ck_assert_int_eq(jsonx_load_object(pj, strlen(pj), 4096, &patch), 0);
		json_object_update(o, patch);
		ck_assert_int_eq(jsonx_dump_sorted(o, &patched), 0);
		tok = ju_sign_rs256(maa_key, "{\"alg\":\"RS256\",\"kid\":\"maa-kid=\"}", patched);
		ck_assert_int_eq(validate(tok, &failed), cases[i].err);
		ck_assert_str_eq(failed, cases[i].failed);
	}
}
END_TEST

START_TEST(maa_token_validate_rejects_report_data_flip_and_other_key)
{
	char hex[2 * MAA_REPORT_DATA_SIZE + 1];
	uint8_t rd[MAA_REPORT_DATA_SIZE];
	const char *failed;

	/* Report data one bit off (e.g. a report made for another runtime key). */
	memcpy(rd, report_data, sizeof(rd));
	rd[63] ^= 1;
	hex_encode(rd, sizeof(rd), hex);
	{
		_cleanup_free_ char *c = claims_json("", rt_pkey);
		char *p = strstr(c, "reportdata\":\"") + 13;
		_cleanup_free_ char *tok = NULL;
		memcpy(p, hex, strlen(hex));
		tok = ju_sign_rs256(maa_key, "{\"alg\":\"RS256\",\"kid\":\"maa-kid=\"}", c);
		ck_assert_int_eq(validate(tok, &failed), -EBADMSG);
		ck_assert_str_eq(failed, "report data");
	}
	/* x-ms-runtime carrying someone else's key. */
	ck_assert_int_eq(validate_claims("", other_rt, &failed), -EBADMSG);
	ck_assert_str_eq(failed, "runtime key");
}
END_TEST

START_TEST(maa_token_validate_rejects_bad_signers)
{
	_cleanup_free_ char *c = claims_json("", rt_pkey);
	_cleanup_free_ char *foreign =
		ju_sign_rs256(evil_key, "{\"alg\":\"RS256\",\"kid\":\"maa-kid=\"}", c);
	_cleanup_free_ char *jku = ju_sign_rs256(
		evil_key,
		"{\"alg\":\"RS256\",\"jku\":\"https://evil.example/certs\",\"kid\":\"e\"}", c);
	_cleanup_free_ char *none =
		ju_compact("{\"alg\":\"none\",\"kid\":\"maa-kid=\"}", c, "x", 1);
	const char *failed;

	ck_assert_int_eq(validate(foreign, &failed), -EBADMSG);
	ck_assert_str_eq(failed, "signature");
	ck_assert_int_eq(validate(jku, &failed), -ENOKEY);
	ck_assert_str_eq(failed, "signature");
	ck_assert_int_eq(validate(none, &failed), -EOPNOTSUPP);
	ck_assert_int_eq(validate("garbage", &failed), -EBADMSG);
}
END_TEST

static Suite *maa_suite(void)
{
	Suite *s = suite_create("maa");
	TCase *tc = tcase_create("core");

	tcase_add_unchecked_fixture(tc, keys_setup, NULL);
	tcase_add_test(tc, maa_runtime_key_generate_and_refuse_small);
	tcase_add_test(tc, maa_request_body_layout);
	tcase_add_test(tc, maa_request_body_refuses_bad_evidence);
	tcase_add_test(tc, maa_endpoint_and_url_forms);
	tcase_add_test(tc, maa_response_parse_cases);
	tcase_add_test(tc, maa_token_validate_accepts_good);
	tcase_add_test(tc, maa_token_validate_rejects_claims);
	tcase_add_test(tc, maa_token_validate_rejects_report_data_flip_and_other_key);
	tcase_add_test(tc, maa_token_validate_rejects_bad_signers);
	suite_add_tcase(s, tc);
	tc = unit_tcase_shared("golden");
	tcase_add_test(tc, maa_runtime_jwks_matches_golden_bytes);
	tcase_add_test(tc, maa_report_data_binds_real_capture);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(maa_suite)
