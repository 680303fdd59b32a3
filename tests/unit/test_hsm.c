/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "jose_util.h"
#include "sealmount/codec.h"
#include "sealmount/hsm.h"
#include "sealmount/jsonx.h"
#include "unit.h"

#define HOST "vault.example.net"

/* Built once in the parent (unchecked fixture) and inherited by every forked test. */
static EVP_PKEY *ca_key, *leaf_key, *evil_key;
static X509 *ca_cert, *leaf_cert, *expired_leaf, *evil_ca;
static char ca_file[64] = "/tmp/sealmount-test-hsm-ca.XXXXXX";

static void write_ca(void)
{
	int fd = mkstemp(ca_file);
	FILE *f;

	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(PEM_write_X509(f, ca_cert), 1);
	fclose(f);
}

static void setup(void)
{
	ca_key = ju_rsa_key(2048);
	leaf_key = ju_rsa_key(2048);
	evil_key = ju_rsa_key(2048);
	ca_cert = ju_cert(ca_key, "Test HSM CA", NULL, NULL, NULL, true);
	leaf_cert = ju_cert(leaf_key, HOST, HOST, ca_cert, ca_key, false);
	expired_leaf = ju_cert(leaf_key, HOST, HOST, ca_cert, ca_key, false);
	X509_gmtime_adj(X509_getm_notBefore(expired_leaf), -7200);
	X509_gmtime_adj(X509_getm_notAfter(expired_leaf), -3600);
	ck_assert_int_gt(X509_sign(expired_leaf, ca_key, EVP_sha256()), 0);
	evil_ca = ju_cert(evil_key, "Test HSM CA", NULL, NULL, NULL, true);
	write_ca();
}

static void teardown(void)
{
	unlink(ca_file);
}

static X509_STORE *store(void)
{
	X509_STORE *s = NULL;

	ck_assert_int_eq(hsm_trust_store_new(ca_file, &s), 0);
	return s;
}

/* A release payload with this key_hsm JSON (base64url'd here) and enc. */
static char *payload(const char *enc, const char *key_hsm_json)
{
	_cleanup_free_ char *kh = NULL;
	char *p;

	ck_assert_int_eq(b64_encode(B64_URL, key_hsm_json, strlen(key_hsm_json), &kh), 0);
	ck_assert_int_ge(
		asprintf(&p,
			 "{\"request\":{\"api-version\":\"7.4\",\"enc\":\"%s\",\"kid\":\"k\"},"
			 "\"response\":{\"key\":{\"attributes\":{},\"key\":{\"kid\":"
			 "\"https://" HOST "/keys/k/0123\",\"kty\":\"oct-HSM\","
			 "\"key_ops\":[],\"key_hsm\":\"%s\"}}}}",
			 enc, kh),
		0);
	return p;
}

#define KEY_HSM_GOOD "{\"schema_version\":\"1.0\",\"header\":{},\"ciphertext\":\"AAECAw\"}"

/* {"value": JWS signed by key with x5c = certs}. */
static char *response(EVP_PKEY *key, X509 *leaf, X509 *ca, const char *alg, const char *pl)
{
	_cleanup_free_ char *l = ju_cert_b64(leaf), *c = ca ? ju_cert_b64(ca) : NULL;
	_cleanup_free_ char *hdr = NULL, *tok = NULL;
	char *body;

	ck_assert_int_ge(asprintf(&hdr, "{\"alg\":\"%s\",\"kid\":\"x\",\"x5c\":[\"%s\"%s%s%s]}",
				  alg, l, c ? ",\"" : "", c ? c : "", c ? "\"" : ""),
			 0);
	tok = ju_sign_rs256(key, hdr, pl);
	ck_assert_int_ge(asprintf(&body, "{\"value\":\"%s\"}", tok), 0);
	return body;
}

static int verify(const char *body, const char *host)
{
	_cleanup_json_ json_t *p = NULL;
	X509_STORE *s = store();
	int r = hsm_response_verify(body, strlen(body), s, host, &p);

	X509_STORE_free(s);
	return r;
}

START_TEST(hsm_response_verify_good_and_validate)
{
	_cleanup_free_ char *pl = payload("RSA_AES_KEY_WRAP_256", KEY_HSM_GOOD);
	_cleanup_free_ char *body = response(leaf_key, leaf_cert, ca_cert, "RS256", pl);
	_cleanup_json_ json_t *p = NULL;
	struct hsm_released rel;
	X509_STORE *s = store();

	ck_assert_int_eq(hsm_response_verify(body, strlen(body), s, HOST, &p), 0);
	X509_STORE_free(s);
	ck_assert_int_eq(hsm_response_validate(p, UNWRAP_ENC_RSA_AES_KEY_WRAP_256, &rel), 0);
	ck_assert_int_eq(rel.enc, UNWRAP_ENC_RSA_AES_KEY_WRAP_256);
	ck_assert_str_eq(rel.kty, "oct-HSM");
	ck_assert_uint_eq(rel.ciphertext_len, 4);
	ck_assert_int_eq(rel.ciphertext[3], 3);
	hsm_released_done(&rel);
	ck_assert_ptr_null(rel.kid);
	/* The enc echoed must be the one asked for. */
	ck_assert_int_eq(hsm_response_validate(p, UNWRAP_ENC_CKM_RSA_AES_KEY_WRAP, &rel), -EBADMSG);
}
END_TEST

START_TEST(hsm_response_verify_rejects_alg_none_and_hs256)
{
	_cleanup_free_ char *pl = payload("RSA_AES_KEY_WRAP_256", KEY_HSM_GOOD);
	_cleanup_free_ char *l = ju_cert_b64(leaf_cert), *hdr = NULL, *tok = NULL, *body = NULL;
	_cleanup_free_ char *pem = NULL, *tok2 = NULL, *body2 = NULL, *hdr2 = NULL;
	unsigned char mac[32];
	unsigned maclen = 0;
	size_t pemlen;

	ck_assert_int_ge(asprintf(&hdr, "{\"alg\":\"none\",\"x5c\":[\"%s\"]}", l), 0);
	tok = ju_compact(hdr, pl, "", 0);
	ck_assert_int_ge(asprintf(&body, "{\"value\":\"%s\"}", tok), 0);
	ck_assert_int_eq(verify(body, HOST), -EOPNOTSUPP);
	/* HS256 keyed with the leaf's public key PEM: the classic confusion. */
	pem = ju_pubkey_pem(leaf_key, &pemlen);
	ck_assert_int_ge(asprintf(&hdr2, "{\"alg\":\"HS256\",\"x5c\":[\"%s\"]}", l), 0);
	{
		_cleanup_free_ char *unsigned_tok = ju_compact(hdr2, pl, "", 0);
		size_t n = strlen(unsigned_tok) - 1; /* without the trailing '.' */
		HMAC(EVP_sha256(), pem, (int)pemlen, (unsigned char *)unsigned_tok, n, mac,
		     &maclen);
	}
	tok2 = ju_compact(hdr2, pl, mac, maclen);
	ck_assert_int_ge(asprintf(&body2, "{\"value\":\"%s\"}", tok2), 0);
	ck_assert_int_eq(verify(body2, HOST), -EOPNOTSUPP);
}
END_TEST

START_TEST(hsm_response_verify_rejects_wrong_chain_host_and_expired_leaf)
{
	_cleanup_free_ char *pl = payload("RSA_AES_KEY_WRAP_256", KEY_HSM_GOOD);
	_cleanup_free_ char *good = response(leaf_key, leaf_cert, NULL, "RS256", pl);
	_cleanup_free_ char *expired = response(leaf_key, expired_leaf, NULL, "RS256", pl);
	X509 *rogue = ju_cert(leaf_key, HOST, HOST, evil_ca, evil_key, false);
	_cleanup_free_ char *wrong_chain = response(leaf_key, rogue, evil_ca, "RS256", pl);
	X509 *self = ju_cert(leaf_key, HOST, HOST, NULL, NULL, false);
	_cleanup_free_ char *self_signed = response(leaf_key, self, NULL, "RS256", pl);

	ck_assert_int_eq(verify(good, HOST), 0);
	ck_assert_int_eq(verify(good, "other.example.net"), -EBADMSG);
	ck_assert_int_eq(verify(good, "vault.example.net.evil.com"), -EBADMSG);
	ck_assert_int_eq(verify(expired, HOST), -EBADMSG);
	ck_assert_int_eq(verify(wrong_chain, HOST), -EBADMSG);
	ck_assert_int_eq(verify(self_signed, HOST), -EBADMSG);
	X509_free(rogue);
	X509_free(self);
}
END_TEST

START_TEST(hsm_response_verify_rejects_tampering_and_foreign_signer)
{
	_cleanup_free_ char *pl = payload("RSA_AES_KEY_WRAP_256", KEY_HSM_GOOD);
	_cleanup_free_ char *body = response(leaf_key, leaf_cert, ca_cert, "RS256", pl);
	_cleanup_free_ char *foreign = response(evil_key, leaf_cert, ca_cert, "RS256", pl);
	char *dot1, *dot2;

	ck_assert_int_eq(verify(foreign, HOST), -EBADMSG);
	/* Flip one payload character (staying in the base64url alphabet). */
	dot1 = strchr(body, '.');
	dot2 = strchr(dot1 + 1, '.');
	ck_assert_ptr_nonnull(dot2);
	dot1[5] = dot1[5] == 'A' ? 'B' : 'A';
	ck_assert_int_eq(verify(body, HOST), -EBADMSG);
	ck_assert_int_eq(verify("{\"value\":42}", HOST), -EBADMSG);
	ck_assert_int_eq(verify("{\"other\":\"a.b.c\"}", HOST), -EBADMSG);
	ck_assert_int_eq(verify("not json", HOST), -EBADMSG);
	ck_assert_int_eq(verify("{\"value\":\"a.b\"}", HOST), -EBADMSG);
}
END_TEST

static int validate_kh(const char *enc, const char *key_hsm)
{
	_cleanup_free_ char *pl = payload(enc, key_hsm);
	_cleanup_json_ json_t *p = NULL;
	struct hsm_released rel;
	int r;

	ck_assert_int_eq(jsonx_load_object(pl, strlen(pl), 1 << 20, &p), 0);
	r = hsm_response_validate(p, UNWRAP_ENC_CKM_RSA_AES_KEY_WRAP, &rel);
	if (r == 0)
		hsm_released_done(&rel);
	return r;
}

START_TEST(hsm_response_validate_rejects_malformed)
{
	struct hsm_released rel;
	_cleanup_json_ json_t *p = json_pack("{s:{}}", "request");

	ck_assert_int_eq(validate_kh("CKM_RSA_AES_KEY_WRAP", KEY_HSM_GOOD), 0);
	ck_assert_int_eq(validate_kh("RSA_AES_KEY_WRAP_512", KEY_HSM_GOOD), -EBADMSG);
	ck_assert_int_eq(validate_kh("CKM_RSA_AES_KEY_WRAP", "{}"), -EBADMSG);
	ck_assert_int_eq(validate_kh("CKM_RSA_AES_KEY_WRAP", "[1]"), -EBADMSG);
	ck_assert_int_eq(validate_kh("CKM_RSA_AES_KEY_WRAP", "{\"ciphertext\":\"+/+\"}"), -EBADMSG);
	ck_assert_int_eq(validate_kh("CKM_RSA_AES_KEY_WRAP", "{\"ciphertext\":\"\"}"), -EBADMSG);
	ck_assert_int_eq(validate_kh("CKM_RSA_AES_KEY_WRAP", "{\"ciphertext\":7}"), -EBADMSG);
	ck_assert_int_eq(hsm_response_validate(p, UNWRAP_ENC_CKM_RSA_AES_KEY_WRAP, &rel), -EBADMSG);
}
END_TEST

START_TEST(hsm_vault_parse_forms)
{
	_cleanup_free_ char *b1 = NULL, *h1 = NULL, *b2 = NULL, *h2 = NULL, *b3 = NULL, *h3 = NULL;
	char *b = NULL, *h = NULL;

	ck_assert_int_eq(hsm_vault_parse("myhsm.managedhsm.azure.net", &b1, &h1), 0);
	ck_assert_str_eq(b1, "https://myhsm.managedhsm.azure.net");
	ck_assert_str_eq(h1, "myhsm.managedhsm.azure.net");
	ck_assert_int_eq(hsm_vault_parse("https://localhost:8443/", &b2, &h2), 0);
	ck_assert_str_eq(b2, "https://localhost:8443");
	ck_assert_str_eq(h2, "localhost");
	ck_assert_int_eq(hsm_vault_parse("http://[::1]:80", &b3, &h3), 0);
	ck_assert_str_eq(h3, "::1");
	ck_assert_int_eq(hsm_vault_parse("https://x.net/keys", &b, &h), -EINVAL);
	ck_assert_int_eq(hsm_vault_parse("https://x.net?a=b", &b, &h), -EINVAL);
	ck_assert_int_eq(hsm_vault_parse("https://u@x.net", &b, &h), -EINVAL);
	ck_assert_int_eq(hsm_vault_parse("ftp://x.net", &b, &h), -EINVAL);
	ck_assert_int_eq(hsm_vault_parse("", &b, &h), -EINVAL);
	ck_assert_int_eq(hsm_vault_parse("x .net", &b, &h), -EINVAL);
	ck_assert_ptr_null(b);
	ck_assert_str_eq(hsm_token_resource("a.managedhsm.azure.net"), HSM_RESOURCE_MHSM);
	ck_assert_str_eq(hsm_token_resource("a.vault.azure.net"), HSM_RESOURCE_VAULT);
}
END_TEST

START_TEST(hsm_release_url_and_body)
{
	_cleanup_free_ char *u1 = NULL, *u2 = NULL, *b1 = NULL, *b2 = NULL;
	char *bad = NULL;

	ck_assert_int_eq(hsm_release_url("https://h", "my-key1", NULL, &u1), 0);
	ck_assert_str_eq(u1, "https://h/keys/my-key1/release?api-version=7.4");
	ck_assert_int_eq(hsm_release_url("https://h", "k", "0123456789abcdef0123456789ABCDEF", &u2),
			 0);
	ck_assert_str_eq(
		u2, "https://h/keys/k/0123456789abcdef0123456789ABCDEF/release?api-version=7.4");
	ck_assert_int_eq(hsm_release_url("https://h", "../x", NULL, &bad), -EINVAL);
	ck_assert_int_eq(hsm_release_url("https://h", "k", "12", &bad), -EINVAL);
	ck_assert_int_eq(hsm_release_url("https://h", "", NULL, &bad), -EINVAL);
	ck_assert_int_eq(
		hsm_release_body(
			&(struct hsm_release_request){ .target = "a.b.c",
						       .enc = UNWRAP_ENC_RSA_AES_KEY_WRAP_256 },
			&b1),
		0);
	ck_assert_str_eq(b1, "{\"target\":\"a.b.c\",\"enc\":\"RSA_AES_KEY_WRAP_256\"}");
	ck_assert_int_eq(
		hsm_release_body(
			&(struct hsm_release_request){ .target = "t",
						       .enc = UNWRAP_ENC_CKM_RSA_AES_KEY_WRAP,
						       .nonce = "n1" },
			&b2),
		0);
	ck_assert_str_eq(b2,
			 "{\"target\":\"t\",\"enc\":\"CKM_RSA_AES_KEY_WRAP\",\"nonce\":\"n1\"}");
	ck_assert_int_eq(hsm_release_body(&(struct hsm_release_request){ .target = "" }, &bad),
			 -EINVAL);
	ck_assert_ptr_null(bad);
}
END_TEST

START_TEST(hsm_error_parse_forms)
{
	_cleanup_free_ char *e1 = NULL, *e2 = NULL;
	char *bad = NULL;
	const char *nf = "{\"error\":{\"code\":\"KeyNotFound\"}}";
	const char *kv = "{\"error\":{\"code\":\"Forbidden\",\"message\":\"Target environment "
			 "attestation statement cannot be verified.\"}}";

	ck_assert_int_eq(hsm_error_parse(kv, strlen(kv), &e1), 0);
	ck_assert_str_eq(e1, "Forbidden: Target environment attestation statement cannot be "
			     "verified.");
	ck_assert_int_eq(hsm_error_parse(nf, strlen(nf), &e2), 0);
	ck_assert_str_eq(e2, "KeyNotFound");
	ck_assert_int_eq(hsm_error_parse("{\"error\":\"x\"}", 13, &bad), -EBADMSG);
	ck_assert_int_eq(hsm_error_parse("<html>", 6, &bad), -EBADMSG);
	ck_assert_int_eq(hsm_error_parse("{\"error\":{}}", 12, &bad), -EBADMSG);
}
END_TEST

#define AUTH "http://127.0.0.1:1234"

static json_t *claims(const char *hostdata, bool debuggable)
{
	json_t *c = json_pack("{s:s, s:s, s:s, s:b, s:i, s:s}", "iss", AUTH,
			      "x-ms-sevsnpvm-hostdata", hostdata, "x-ms-compliance-status",
			      "azure-compliant-uvm", "x-ms-sevsnpvm-is-debuggable", debuggable,
			      "x-ms-sevsnpvm-vmpl", 0, "x-ms-attestation-type", "sevsnpvm");
	ck_assert_ptr_nonnull(c);
	return c;
}

static const struct hsm_claim std_claims[] = {
	{ "x-ms-sevsnpvm-hostdata", "aa" },
	{ "x-ms-compliance-status", "azure-compliant-uvm" },
	{ "x-ms-sevsnpvm-is-debuggable", "false" },
	{ "x-ms-sevsnpvm-vmpl", "0" },
};

static int explain(const json_t *pol, const json_t *c, char **text)
{
	struct buf b;
	int r;

	buf_init(&b, 65536);
	r = hsm_policy_explain(pol, c, &b);
	*text = (char *)buf_steal(&b, NULL);
	return r;
}

START_TEST(hsm_policy_build_and_explain)
{
	_cleanup_json_ json_t *pol = NULL, *good = claims("aa", false), *bad = claims("bb", true);
	_cleanup_json_ json_t *slash = NULL, *other = NULL;
	_cleanup_free_ char *t1 = NULL, *t2 = NULL, *t3 = NULL, *t4 = NULL;

	ck_assert_int_eq(hsm_policy_build(AUTH, std_claims, ELEMENTSOF(std_claims), &pol), 0);
	ck_assert_int_eq(explain(pol, good, &t1), 1);
	ck_assert_ptr_null(strstr(t1, "FAIL"));
	ck_assert_int_eq(explain(pol, bad, &t2), 0);
	ck_assert_ptr_nonnull(strstr(t2, "FAIL claim x-ms-sevsnpvm-hostdata: policy wants 'aa', "
					 "token has 'bb'"));
	ck_assert_ptr_nonnull(strstr(t2, "FAIL claim x-ms-sevsnpvm-is-debuggable: policy wants "
					 "'false', token has 'true'"));
	ck_assert_ptr_nonnull(strstr(t2, "ok   claim x-ms-sevsnpvm-vmpl"));
	/* Trailing slash on the authority is ignored; another authority is not. */
	slash = json_pack("{s:s, s:[{s:s, s:[{s:s, s:s, s:s}]}]}", "version", "0.2", "anyOf",
			  "authority", AUTH "/", "allOf", "claim", "x-ms-sevsnpvm-is-debuggable",
			  "condition", "equals", "value", "FALSE");
	ck_assert_int_eq(explain(slash, good, &t3), 1);
	other = json_pack("{s:[{s:s, s:[{s:s, s:b}, {s:s, s:s}]}]}", "anyOf", "authority",
			  "https://other.attest.azure.net", "anyOf", "claim", "nope", "exists", 1,
			  "claim", "x-ms-sevsnpvm-hostdata", "notEquals", "aa");
	ck_assert_int_eq(explain(other, good, &t4), 0);
	ck_assert_ptr_nonnull(strstr(t4, "is NOT the token's issuer"));
	ck_assert_ptr_nonnull(strstr(t4, "FAIL claim nope: must exist"));
	ck_assert_ptr_nonnull(strstr(t4, "FAIL claim x-ms-sevsnpvm-hostdata: policy forbids"));
}
END_TEST

START_TEST(hsm_policy_rejects_malformed)
{
	_cleanup_json_ json_t *c = claims("aa", false), *p1 = json_pack("{s:[]}", "anyOf");
	_cleanup_json_ json_t *p2 = json_pack("{s:[{s:[]}]}", "anyOf", "allOf");
	_cleanup_json_ json_t *p3 = json_pack("{s:[{s:s, s:[{s:s}]}]}", "anyOf", "authority", AUTH,
					      "allOf", "equals", "x");
	_cleanup_free_ char *t1 = NULL, *t2 = NULL, *t3 = NULL;
	json_t *out = NULL;

	ck_assert_int_eq(explain(p1, c, &t1), -EBADMSG);
	ck_assert_int_eq(explain(p2, c, &t2), -EBADMSG);
	ck_assert_int_eq(explain(p3, c, &t3), -EBADMSG);
	ck_assert_int_eq(hsm_policy_build(AUTH, std_claims, 0, &out), -EINVAL);
	ck_assert_int_eq(hsm_policy_build("", std_claims, 1, &out), -EINVAL);
	ck_assert_ptr_null(out);
}
END_TEST

/* The import body carries the key and a policy that decodes back to what we built. */
static void check_import(const struct buf *b, const char *kty, const json_t *pol)
{
	_cleanup_json_ json_t *o = NULL, *p2 = NULL;
	const char *got;
	bool hsm = false, exportable = false;
	json_t *key, *attr;

	ck_assert_int_eq(jsonx_load_object(b->data, b->len, 1 << 20, &o), 0);
	ck_assert_int_eq(jsonx_get_object(o, "key", &key), 0);
	ck_assert_int_eq(jsonx_get_string(key, "kty", &got), 0);
	ck_assert_str_eq(got, kty);
	ck_assert_int_eq(jsonx_get_bool(o, "hsm", &hsm), 0);
	ck_assert(hsm);
	ck_assert_int_eq(jsonx_get_object(o, "attributes", &attr), 0);
	ck_assert_int_eq(jsonx_get_bool(attr, "exportable", &exportable), 0);
	ck_assert(exportable);
	ck_assert_int_eq(hsm_policy_from_bundle(o, &p2), 0);
	ck_assert(json_equal(pol, p2));
}

START_TEST(hsm_import_bodies)
{
	_cleanup_json_ json_t *pol = NULL;
	_cleanup_(secret_freep) struct secret *k = NULL, *k31 = NULL;
	uint8_t raw[32] = { 1, 2, 3 };
	struct buf b, b2, b3;

	ck_assert_int_eq(hsm_policy_build(AUTH, std_claims, 2, &pol), 0);
	ck_assert_int_eq(secret_new_copy(raw, 32, &k), 0);
	buf_init(&b, 1 << 20);
	ck_assert_int_eq(hsm_import_body_oct(k, pol, &b), 0);
	check_import(&b, "oct-HSM", pol);
	ck_assert_ptr_nonnull(strstr((char *)b.data, "\"k\":\"AQIDAAAA"));
	buf_done_wipe(&b);
	buf_init(&b2, 1 << 20);
	ck_assert_int_eq(hsm_import_body_rsa(leaf_key, pol, &b2), 0);
	check_import(&b2, "RSA-HSM", pol);
	ck_assert_ptr_nonnull(strstr((char *)b2.data, "\"qi\":\""));
	buf_done_wipe(&b2);
	ck_assert_int_eq(secret_new_copy(raw, 31, &k31), 0);
	buf_init(&b3, 1 << 20);
	ck_assert_int_eq(hsm_import_body_oct(k31, pol, &b3), -EINVAL);
	buf_done(&b3);
}
END_TEST

/* docs/skr.md, The 401 challenge. */
static int challenge(const char *v, struct hsm_challenge *ch)
{
	return hsm_challenge_parse(v, strlen(v), ch);
}

START_TEST(hsm_challenge_parse_forms)
{
	struct hsm_challenge ch;

	/* What Key Vault sends (the Azure SDKs' recordings). */
	ck_assert_int_eq(challenge("Bearer authorization=\"https://login.windows.net/72f988bf\", "
				   "resource=\"https://vault.azure.net\"",
				   &ch),
			 0);
	ck_assert_str_eq(ch.resource, "https://vault.azure.net");
	ck_assert_str_eq(ch.authorization, "https://login.windows.net/72f988bf");
	/* scope=, authorization_uri=, case-insensitive names and scheme, extra whitespace and
	 * empty list elements, unknown parameters, a token value, a second challenge after it. */
	ck_assert_int_eq(challenge("bearer  Authorization_URI=\"https://login/t\" ,, "
				   "SCOPE = \"https://managedhsm.azure.net/.default\", realm=x, "
				   "error=\"invalid_token\", PoP nonce=\"abc\"",
				   &ch),
			 0);
	ck_assert_str_eq(ch.resource, "https://managedhsm.azure.net");
	ck_assert_str_eq(ch.authorization, "https://login/t");
	ck_assert_int_eq(challenge("Bearer resource=\"https://vault.azure.net\", "
				   "scope=\"https://VAULT.azure.net/.default\"",
				   &ch),
			 0);
	ck_assert_int_eq(challenge("Bearer resource=\"a\\\"b\"", &ch), 0); /* quoted-pair */
	ck_assert_str_eq(ch.resource, "a\"b");
	ck_assert_str_eq(ch.authorization, "");
}
END_TEST

START_TEST(hsm_challenge_parse_rejects)
{
	static const char *const bad[] = {
		"",
		"Bearer",
		"Basic realm=\"x\"",
		"Bearerresource=\"https://vault.azure.net\"",
		"Bearer abc123==", /* token68 */
		"Bearer authorization=\"https://login/t\"", /* no resource */
		"Bearer resource=\"https://vault.azure.net", /* unterminated */
		"Bearer resource=\"a\", resource=\"b\"", /* repeated */
		"Bearer resource=\"a\" scope=\"a/.default\"", /* no comma */
		"Bearer scope=\"https://vault.azure.net/user_impersonation\"",
		"Bearer resource=\"https://vault.azure.net\", scope=\"https://x/.default\"",
		"Bearer resource=",
		"Bearer =x",
		"Bearer resource=\"https://vault.azure.net\"\r\nX-Evil: 1",
		"Bearer resource=\"https://vault.azure.n\xc3\xa9t\"",
		"Bearer resource=\"\\",
		"Bearer scope=\"/.default\"",
		"Bearer resource=\"https://vault.azure.net\", scope =  ", /* found by the fuzzer */
		"Bearer resource=",
		"Bearer authorization=\"https://login\", resource=\"\"", /* found by the fuzzer */
	};
	struct hsm_challenge ch;
	char big[HSM_CHALLENGE_MAX + 64], longval[HSM_CHALLENGE_VALUE_MAX + 32];

	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		ck_assert_msg(challenge(bad[i], &ch) == -EBADMSG, "accepted: %s", bad[i]);
	/* An embedded NUL ends nothing: the length is what counts. */
	ck_assert_int_eq(hsm_challenge_parse("Bearer resource=\"a\0b\"", 22, &ch), -EBADMSG);
	memset(big, 'a', sizeof(big));
	memcpy(big, "Bearer resource=\"", 17);
	ck_assert_int_eq(hsm_challenge_parse(big, sizeof(big), &ch), -EFBIG);
	memset(longval, 'a', sizeof(longval));
	memcpy(longval, "Bearer resource=", 16);
	longval[sizeof(longval) - 1] = 0;
	ck_assert_int_eq(challenge(longval, &ch), -EBADMSG);
}
END_TEST

START_TEST(hsm_resource_allowlist)
{
	ck_assert_str_eq(hsm_resource_allowed("https://vault.azure.net"), HSM_RESOURCE_VAULT);
	ck_assert_str_eq(hsm_resource_allowed("https://VAULT.azure.net/"), HSM_RESOURCE_VAULT);
	ck_assert_str_eq(hsm_resource_allowed("https://managedhsm.azure.net"), HSM_RESOURCE_MHSM);
	ck_assert_str_eq(hsm_resource_allowed("https://vault.azure.cn"), "https://vault.azure.cn");
	ck_assert_str_eq(hsm_resource_allowed("https://managedhsm.usgovcloudapi.net"),
			 "https://managedhsm.usgovcloudapi.net");
	ck_assert_ptr_null(hsm_resource_allowed("https://evil.example"));
	ck_assert_ptr_null(hsm_resource_allowed("http://vault.azure.net"));
	ck_assert_ptr_null(hsm_resource_allowed("https://vault.azure.net.evil.example"));
	ck_assert_ptr_null(hsm_resource_allowed("https://evil.vault.azure.net"));
	ck_assert_ptr_null(hsm_resource_allowed("https://vault.azure.net//"));
	ck_assert_ptr_null(hsm_resource_allowed("https://vault.azure.net:444"));
	ck_assert_ptr_null(hsm_resource_allowed("https://management.azure.com"));
	ck_assert_ptr_null(hsm_resource_allowed(""));
}
END_TEST

static Suite *hsm_suite(void)
{
	Suite *s = suite_create("hsm");
	TCase *tc = tcase_create("core");

	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_add_test(tc, hsm_response_verify_good_and_validate);
	tcase_add_test(tc, hsm_response_verify_rejects_alg_none_and_hs256);
	tcase_add_test(tc, hsm_response_verify_rejects_wrong_chain_host_and_expired_leaf);
	tcase_add_test(tc, hsm_response_verify_rejects_tampering_and_foreign_signer);
	tcase_add_test(tc, hsm_response_validate_rejects_malformed);
	tcase_add_test(tc, hsm_vault_parse_forms);
	tcase_add_test(tc, hsm_release_url_and_body);
	tcase_add_test(tc, hsm_error_parse_forms);
	tcase_add_test(tc, hsm_policy_build_and_explain);
	tcase_add_test(tc, hsm_policy_rejects_malformed);
	tcase_add_test(tc, hsm_import_bodies);
	tcase_add_test(tc, hsm_challenge_parse_forms);
	tcase_add_test(tc, hsm_challenge_parse_rejects);
	tcase_add_test(tc, hsm_resource_allowlist);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(hsm_suite)
