/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "jose_util.h"
#include "sealmount/codec.h"
#include "sealmount/jsonx.h"
#include "sealmount/jws.h"
#include "unit.h"

/* Built once in the parent (unchecked fixture) and inherited by every forked test. */
static EVP_PKEY *good_key, *evil_key, *ca_key, *leaf_key;
static X509 *ca_cert, *leaf_cert;
static char *good_jwks;

#define HDR_GOOD "{\"alg\":\"RS256\",\"kid\":\"good\",\"typ\":\"JWT\"}"
#define PAYLOAD "{\"iss\":\"https://maa.example\",\"exp\":4102444800,\"nbf\":1700000000}"

static void keys_setup(void)
{
	good_key = ju_rsa_key(2048);
	evil_key = ju_rsa_key(2048);
	ca_key = ju_rsa_key(2048);
	leaf_key = ju_rsa_key(2048);
	ca_cert = ju_cert(ca_key, "Test HSM CA", NULL, NULL, NULL, true);
	leaf_cert = ju_cert(leaf_key, "hsm.example.net", "hsm.example.net", ca_cert, ca_key, false);
	good_jwks = ju_jwks_ne(good_key, "good");
}

static struct jwk_set *good_set(void)
{
	struct jwk_set *s;

	ck_assert_int_eq(jwk_set_parse(good_jwks, strlen(good_jwks), &s), 0);
	return s;
}

/* Parse + verify against the good set; returns the first failing code. */
static int check_token(const char *tok)
{
	_cleanup_(jwk_set_freep) struct jwk_set *s = good_set();
	_cleanup_(jws_freep) struct jws *j = NULL;
	int r = jws_parse(tok, strlen(tok), &j);

	if (r < 0)
		return r;
	return jws_verify_jwks(j, s);
}

START_TEST(jws_verify_accepts_good_token)
{
	_cleanup_free_ char *tok = ju_sign_rs256(good_key, HDR_GOOD, PAYLOAD);
	_cleanup_(jwk_set_freep) struct jwk_set *s = good_set();
	_cleanup_(jws_freep) struct jws *j = NULL;
	_cleanup_json_ json_t *claims = NULL;

	ck_assert_int_eq(jws_parse(tok, strlen(tok), &j), 0);
	ck_assert_str_eq(j->kid, "good");
	ck_assert_int_eq(jws_verify_jwks(j, s), 0);
	ck_assert_int_eq(jws_payload_json(j, &claims), 0);
	ck_assert_int_eq(jwt_check_issuer(claims, "https://maa.example"), 0);
	ck_assert_int_eq(jwt_check_issuer(claims, "https://maa.example/"), -EBADMSG);
	ck_assert_int_eq(jwt_check_time(claims, 1800000000, 60, true), 0);
}
END_TEST

START_TEST(jws_verify_accepts_x5c_only_jwks)
{
	_cleanup_free_ char *jwks = ju_jwks_x5c(leaf_cert, "leaf");
	_cleanup_free_ char *tok =
		ju_sign_rs256(leaf_key, "{\"alg\":\"RS256\",\"kid\":\"leaf\"}", PAYLOAD);
	_cleanup_(jwk_set_freep) struct jwk_set *s = NULL;
	_cleanup_(jws_freep) struct jws *j = NULL;

	ck_assert_int_eq(jwk_set_parse(jwks, strlen(jwks), &s), 0);
	ck_assert_int_eq(jws_parse(tok, strlen(tok), &j), 0);
	ck_assert_int_eq(jws_verify_jwks(j, s), 0);
}
END_TEST

START_TEST(jws_parse_rejects_alg_none)
{
	_cleanup_free_ char *tok =
		ju_compact("{\"alg\":\"none\",\"kid\":\"good\"}", PAYLOAD, "", 0);
	_cleanup_free_ char *signed_none =
		ju_sign_rs256(good_key, "{\"alg\":\"none\",\"kid\":\"good\"}", PAYLOAD);

	ck_assert_int_eq(check_token(tok), -EOPNOTSUPP); /* refused before the empty signature */
	ck_assert_int_eq(check_token(signed_none), -EOPNOTSUPP);
}
END_TEST

START_TEST(jws_parse_rejects_hs256_with_public_key_secret)
{
	size_t pem_len;
	_cleanup_free_ char *pem = ju_pubkey_pem(good_key, &pem_len);
	const char *hdr = "{\"alg\":\"HS256\",\"kid\":\"good\"}";
	_cleanup_free_ char *h = NULL, *p = NULL, *input = NULL, *tok = NULL;
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned mac_len = 0;

	ck_assert_int_eq(b64_encode(B64_URL, hdr, strlen(hdr), &h), 0);
	ck_assert_int_eq(b64_encode(B64_URL, PAYLOAD, strlen(PAYLOAD), &p), 0);
	ck_assert_int_ge(asprintf(&input, "%s.%s", h, p), 0);
	HMAC(EVP_sha256(), pem, (int)pem_len, (unsigned char *)input, strlen(input), mac, &mac_len);
	tok = ju_compact(hdr, PAYLOAD, mac, mac_len);
	ck_assert_int_eq(check_token(tok), -EOPNOTSUPP);
}
END_TEST

START_TEST(jws_parse_rejects_unknown_algs_and_crit)
{
	const char *hdrs[] = {
		"{\"alg\":\"HS512\",\"kid\":\"good\"}",
		"{\"alg\":\"ES256\",\"kid\":\"good\"}",
		"{\"alg\":\"rs256\",\"kid\":\"good\"}",
		"{\"alg\":\"\",\"kid\":\"good\"}",
		"{\"alg\":\"RS256\",\"kid\":\"good\",\"crit\":[\"exp\"],\"exp\":1}",
		"{\"alg\":\"RS256\",\"kid\":\"good\",\"b64\":false}",
	};

	for (size_t i = 0; i < ELEMENTSOF(hdrs); i++) {
		_cleanup_free_ char *tok = ju_sign_rs256(good_key, hdrs[i], PAYLOAD);
		ck_assert_int_eq(check_token(tok), -EOPNOTSUPP);
	}
	{
		_cleanup_free_ char *tok = ju_sign_rs256(good_key, "{\"kid\":\"good\"}", PAYLOAD);
		ck_assert_int_eq(check_token(tok), -EBADMSG);
	}
	{
		_cleanup_free_ char *tok = ju_sign_rs256(good_key, "{\"alg\":7}", PAYLOAD);
		ck_assert_int_eq(check_token(tok), -EBADMSG);
	}
}
END_TEST

START_TEST(jws_verify_ignores_jku_and_jwk_headers)
{
	_cleanup_free_ char *evil_pub = ju_jwks_ne(evil_key, "evil");
	_cleanup_free_ char *h1 = NULL, *h2 = NULL, *h3 = NULL;
	_cleanup_free_ char *t1 = NULL, *t2 = NULL, *t3 = NULL;

	/* The attacker signs with its own key and points jku at its own key set. */
	ck_assert_int_ge(asprintf(&h1, "{\"alg\":\"RS256\",\"jku\":\"https://evil.example/certs\","
				       "\"kid\":\"evil\"}"),
			 0);
	t1 = ju_sign_rs256(evil_key, h1, PAYLOAD);
	ck_assert_int_eq(check_token(t1), -ENOKEY);
	/* Same, claiming the trusted kid. */
	ck_assert_int_ge(asprintf(&h2, "{\"alg\":\"RS256\",\"jku\":\"https://evil.example/certs\","
				       "\"kid\":\"good\"}"),
			 0);
	t2 = ju_sign_rs256(evil_key, h2, PAYLOAD);
	ck_assert_int_eq(check_token(t2), -EBADMSG);
	/* Embedding its public key as "jwk" and an x5u does not help either. */
	ck_assert_int_ge(asprintf(&h3,
				  "{\"alg\":\"RS256\",\"kid\":\"good\",\"jwk\":%s,"
				  "\"x5u\":\"https://evil.example/c.pem\"}",
				  evil_pub),
			 0);
	t3 = ju_sign_rs256(evil_key, h3, PAYLOAD);
	ck_assert_int_eq(check_token(t3), -EBADMSG);
}
END_TEST

START_TEST(jws_verify_rejects_foreign_signature_and_tampering)
{
	_cleanup_free_ char *tok = ju_sign_rs256(evil_key, HDR_GOOD, PAYLOAD);
	_cleanup_free_ char *good = ju_sign_rs256(good_key, HDR_GOOD, PAYLOAD);
	_cleanup_free_ char *other = ju_sign_rs256(good_key, HDR_GOOD, "{\"iss\":\"x\"}");
	char *dot1, *dot2, *spliced = NULL;

	ck_assert_int_eq(check_token(tok), -EBADMSG);
	/* Payload of one token with the signature of another. */
	dot1 = strrchr(good, '.');
	dot2 = strrchr(other, '.');
	ck_assert_int_ge(asprintf(&spliced, "%.*s%s", (int)(dot2 - other), other, dot1), 0);
	ck_assert_int_eq(check_token(spliced), -EBADMSG);
	free(spliced);
	/* One flipped signature character. */
	dot1[5] = dot1[5] == 'A' ? 'B' : 'A';
	ck_assert_int_eq(check_token(good), -EBADMSG);
}
END_TEST

START_TEST(jws_verify_kid_not_found_or_missing)
{
	_cleanup_free_ char *t1 =
		ju_sign_rs256(good_key, "{\"alg\":\"RS256\",\"kid\":\"other\"}", PAYLOAD);
	_cleanup_free_ char *t2 = ju_sign_rs256(good_key, "{\"alg\":\"RS256\"}", PAYLOAD);

	ck_assert_int_eq(check_token(t1), -ENOKEY);
	ck_assert_int_eq(check_token(t2), -ENOKEY);
}
END_TEST

START_TEST(jws_parse_rejects_bad_base64_and_shape)
{
	_cleanup_free_ char *good = ju_sign_rs256(good_key, HDR_GOOD, PAYLOAD);
	const char *bad[] = { "",
			      "a",
			      "a.b",
			      "a.b.c.d",
			      "..",
			      "eyJhbGciOiJSUzI1NiJ9..c",
			      "eyJhbGciOiJSUzI1NiJ9.e30.",
			      "e30.e30.c" };
	_cleanup_free_ char *padded = NULL, *star = NULL, *space = NULL;

	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		ck_assert_int_eq(check_token(bad[i]), -EBADMSG);
	ck_assert_int_ge(asprintf(&padded, "%s==", good), 0);
	ck_assert_int_eq(check_token(padded), -EBADMSG);
	star = strdup(good);
	star[3] = '*';
	ck_assert_int_eq(check_token(star), -EBADMSG);
	space = strdup(good);
	space[strlen(space) - 3] = ' ';
	ck_assert_int_eq(check_token(space), -EBADMSG);
	/* An embedded NUL inside the stated length is not accepted either. */
	{
		_cleanup_(jws_freep) struct jws *j = NULL;
		size_t len = strlen(good);
		good[10] = 0;
		ck_assert_int_eq(jws_parse(good, len, &j), -EBADMSG);
	}
}
END_TEST

START_TEST(jws_parse_rejects_oversized)
{
	size_t n = JWS_MAX_SIZE + 1;
	_cleanup_free_ char *big = malloc(n + 1);
	_cleanup_(jws_freep) struct jws *j = NULL;

	memset(big, 'A', n);
	big[100] = '.';
	big[200] = '.';
	big[n] = 0;
	ck_assert_int_eq(jws_parse(big, n, &j), -EFBIG);
	/* A header beyond its own cap is refused before decoding. */
	big[100] = 'A';
	big[200] = 'A';
	big[JWS_HEADER_MAX * 2] = '.';
	big[JWS_HEADER_MAX * 2 + 10] = '.';
	ck_assert_int_eq(jws_parse(big, JWS_MAX_SIZE, &j), -EFBIG);
}
END_TEST

START_TEST(jws_rejects_duplicate_json_keys)
{
	_cleanup_free_ char *t1 = ju_sign_rs256(
		good_key, "{\"alg\":\"none\",\"alg\":\"RS256\",\"kid\":\"good\"}", PAYLOAD);
	_cleanup_free_ char *t2 = ju_sign_rs256(good_key, HDR_GOOD,
						"{\"iss\":\"a\",\"iss\":\"https://maa.example\"}");
	_cleanup_(jws_freep) struct jws *j = NULL;
	json_t *claims = NULL;

	ck_assert_int_eq(check_token(t1), -EBADMSG);
	ck_assert_int_eq(jws_parse(t2, strlen(t2), &j), 0);
	ck_assert_int_eq(jws_payload_json(j, &claims), -EBADMSG);
	ck_assert_ptr_null(claims);
}
END_TEST

static int time_check(const char *payload, int64_t now)
{
	_cleanup_json_ json_t *c = NULL;

	ck_assert_int_eq(jsonx_load_object(payload, strlen(payload), 4096, &c), 0);
	return jwt_check_time(c, now, 60, true);
}

START_TEST(jwt_check_time_expired_and_not_yet_valid)
{
	const char *p = "{\"exp\":2000,\"nbf\":1000,\"iat\":1000}";

	ck_assert_int_eq(time_check(p, 1500), 0);
	ck_assert_int_eq(time_check(p, 2060), 0); /* within skew */
	ck_assert_int_eq(time_check(p, 2061), -EKEYEXPIRED);
	ck_assert_int_eq(time_check(p, 940), 0); /* within skew */
	ck_assert_int_eq(time_check(p, 939), -EKEYEXPIRED);
	ck_assert_int_eq(time_check("{\"nbf\":1000}", 1500), -EBADMSG); /* exp required */
	ck_assert_int_eq(time_check("{\"exp\":\"2000\"}", 1500), -EBADMSG);
	ck_assert_int_eq(time_check("{\"exp\":2000.5}", 1500), -EBADMSG);
	ck_assert_int_eq(time_check("{\"exp\":9223372036854775807}", 1500), -EKEYEXPIRED);
	ck_assert_int_eq(time_check("{\"exp\":5000,\"iat\":3000}", 1500), -EKEYEXPIRED);
}
END_TEST

static X509_STORE *store_with(X509 *root)
{
	X509_STORE *st = X509_STORE_new();

	ck_assert_int_eq(X509_STORE_add_cert(st, root), 1);
	return st;
}

static char *x5c_token(const char *extra)
{
	_cleanup_free_ char *leaf = ju_cert_b64(leaf_cert), *ca = ju_cert_b64(ca_cert);
	_cleanup_free_ char *hdr = NULL;

	ck_assert_int_ge(
		asprintf(&hdr, "{\"alg\":\"RS256\",\"x5c\":[\"%s\",\"%s\"]%s}", leaf, ca, extra),
		0);
	return ju_sign_rs256(leaf_key, hdr, PAYLOAD);
}

START_TEST(jws_verify_x5c_chain_and_host)
{
	_cleanup_free_ char *tok = x5c_token("");
	_cleanup_(jws_freep) struct jws *j = NULL;
	X509_STORE *st = store_with(ca_cert);
	EVP_PKEY *other_ca_key = ju_rsa_key(2048);
	X509 *other_ca = ju_cert(other_ca_key, "Test HSM CA", NULL, NULL, NULL, true);
	X509_STORE *other = store_with(other_ca);
	X509 *leaf = NULL;

	ck_assert_int_eq(jws_parse(tok, strlen(tok), &j), 0);
	ck_assert_int_eq(jws_verify_x5c(j, st, "hsm.example.net", &leaf), 0);
	ck_assert_ptr_nonnull(leaf);
	X509_free(leaf);
	ck_assert_int_eq(jws_verify_x5c(j, st, "evil.example.net", NULL), -EBADMSG);
	ck_assert_int_eq(jws_verify_x5c(j, st, "", NULL), -EBADMSG);
	ck_assert_int_eq(jws_verify_x5c(j, other, "hsm.example.net", NULL), -EBADMSG);
	X509_STORE_free(st);
	X509_STORE_free(other);
	X509_free(other_ca);
	EVP_PKEY_free(other_ca_key);
}
END_TEST

START_TEST(jws_verify_x5c_rejects_bad_thumbprint_and_signer)
{
	_cleanup_free_ char *tok = x5c_token(",\"x5t#S256\":\"AAAA\"");
	_cleanup_free_ char *leaf = ju_cert_b64(leaf_cert);
	_cleanup_free_ char *hdr = NULL, *tok2 = NULL;
	_cleanup_(jws_freep) struct jws *j = NULL, *j2 = NULL;
	X509_STORE *st = store_with(ca_cert);

	ck_assert_int_eq(jws_parse(tok, strlen(tok), &j), 0);
	ck_assert_int_eq(jws_verify_x5c(j, st, "hsm.example.net", NULL), -EBADMSG);
	/* Valid chain in the header, but the signature is by someone else. */
	ck_assert_int_ge(asprintf(&hdr, "{\"alg\":\"RS256\",\"x5c\":[\"%s\"]}", leaf), 0);
	tok2 = ju_sign_rs256(evil_key, hdr, PAYLOAD);
	ck_assert_int_eq(jws_parse(tok2, strlen(tok2), &j2), 0);
	ck_assert_int_eq(jws_verify_x5c(j2, st, "hsm.example.net", NULL), -EBADMSG);
	X509_STORE_free(st);
}
END_TEST

START_TEST(jwk_set_golden_thumbprint)
{
	const char *dir = unit_shared_testdata();
	_cleanup_free_ char *path = NULL, *kid = NULL;
	_cleanup_free_ unsigned char *data = NULL;
	_cleanup_(jwk_set_freep) struct jwk_set *s = NULL;
	_cleanup_json_ json_t *doc = NULL;
	const char *want;
	EVP_PKEY *k = NULL;
	json_t *keys;
	size_t len;

	ck_assert_ptr_nonnull(dir);
	ck_assert_int_ge(asprintf(&path, "%s/rsa2048-test-key.jwks.json", dir), 0);
	data = unit_read_file(path, &len);
	/* key_ops ["encrypt"]: an encryption key is never accepted as a signing key. */
	ck_assert_int_eq(jwk_set_parse(data, len, &s), -ENOKEY);
	ck_assert_int_eq(jsonx_load_object(data, len, 4096, &doc), 0);
	ck_assert_int_eq(jsonx_get_array(doc, "keys", &keys), 0);
	ck_assert_int_eq(jwk_rsa_from_json(json_array_get(keys, 0), &k), 0);
	ck_assert_int_eq(jwk_rsa_thumbprint(k, &kid), 0);
	ck_assert_int_eq(jsonx_get_string(json_array_get(keys, 0), "kid", &want), 0);
	ck_assert_str_eq(kid, want);
	EVP_PKEY_free(k);
}
END_TEST

static int parse_doc(json_t *doc)
{
	_cleanup_free_ char *txt = NULL;
	struct jwk_set *s = NULL;
	int r;

	ck_assert_int_eq(jsonx_dump_sorted(doc, &txt), 0);
	json_decref(doc);
	r = jwk_set_parse(txt, strlen(txt), &s);
	if (r == 0)
		jwk_set_free(s);
	else
		ck_assert_ptr_null(s);
	return r;
}

START_TEST(jwk_set_rejects_malformed)
{
	_cleanup_free_ char *leaf = ju_cert_b64(leaf_cert);
	EVP_PKEY *small = ju_rsa_key(1024);
	json_t *a, *b;

	ck_assert_int_eq(parse_doc(json_pack("{}")), -EBADMSG);
	ck_assert_int_eq(parse_doc(json_pack("{s:[]}", "keys")), -ENOKEY);
	ck_assert_int_eq(parse_doc(json_pack("{s:[{s:s,s:s}]}", "keys", "kty", "EC", "kid", "e")),
			 -ENOKEY);
	ck_assert_int_eq(jwk_rsa_public_json(small, &a), 0);
	json_object_set_new(a, "kid", json_string("s"));
	ck_assert_int_eq(parse_doc(json_pack("{s:[o]}", "keys", a)), -EBADMSG);
	/* n/e of one key and x5c of another under one kid. */
	ck_assert_int_eq(jwk_rsa_public_json(good_key, &a), 0);
	json_object_set_new(a, "kid", json_string("k"));
	json_object_set_new(a, "x5c", json_pack("[s]", leaf));
	ck_assert_int_eq(parse_doc(json_pack("{s:[o]}", "keys", a)), -EBADMSG);
	/* The same kid twice. */
	ck_assert_int_eq(jwk_rsa_public_json(good_key, &a), 0);
	json_object_set_new(a, "kid", json_string("k"));
	b = json_deep_copy(a);
	ck_assert_int_eq(parse_doc(json_pack("{s:[o,o]}", "keys", a, b)), -EBADMSG);
	/* Not for signatures: use enc, alg RSA-OAEP; skipped, so nothing usable is left. */
	ck_assert_int_eq(jwk_rsa_public_json(good_key, &a), 0);
	json_object_set_new(a, "kid", json_string("k"));
	json_object_set_new(a, "use", json_string("enc"));
	ck_assert_int_eq(jwk_rsa_public_json(good_key, &b), 0);
	json_object_set_new(b, "kid", json_string("j"));
	json_object_set_new(b, "alg", json_string("RSA-OAEP"));
	ck_assert_int_eq(parse_doc(json_pack("{s:[o,o]}", "keys", a, b)), -ENOKEY);
	/* Bad base64 in n, and a wrongly typed member. */
	ck_assert_int_eq(parse_doc(json_pack("{s:[{s:s,s:s,s:s,s:s}]}", "keys", "kty", "RSA", "kid",
					     "k", "n", "AB+/", "e", "AQAB")),
			 -EBADMSG);
	ck_assert_int_eq(parse_doc(json_pack("{s:[{s:s,s:i}]}", "keys", "kty", "RSA", "kid", 1)),
			 -EBADMSG);
	EVP_PKEY_free(small);
}
END_TEST

START_TEST(jwk_thumbprint_rfc7638_example)
{
	/* RFC 7638 section 3.1 example key and its thumbprint. */
	const char *jwk =
		"{\"kty\":\"RSA\",\"e\":\"AQAB\",\"n\":\"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbW"
		"hM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-"
		"5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c"
		"7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPks"
		"INHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw\"}";
	_cleanup_json_ json_t *o = NULL;
	_cleanup_free_ char *tp = NULL;
	EVP_PKEY *k = NULL;

	ck_assert_int_eq(jsonx_load_object(jwk, strlen(jwk), 4096, &o), 0);
	ck_assert_int_eq(jwk_rsa_from_json(o, &k), 0);
	ck_assert_int_eq(jwk_rsa_thumbprint(k, &tp), 0);
	ck_assert_str_eq(tp, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
	EVP_PKEY_free(k);
}
END_TEST

static Suite *jws_suite(void)
{
	Suite *s = suite_create("jws");
	TCase *tc = tcase_create("core");

	tcase_add_unchecked_fixture(tc, keys_setup, NULL);
	tcase_add_test(tc, jws_verify_accepts_good_token);
	tcase_add_test(tc, jws_verify_accepts_x5c_only_jwks);
	tcase_add_test(tc, jws_parse_rejects_alg_none);
	tcase_add_test(tc, jws_parse_rejects_hs256_with_public_key_secret);
	tcase_add_test(tc, jws_parse_rejects_unknown_algs_and_crit);
	tcase_add_test(tc, jws_verify_ignores_jku_and_jwk_headers);
	tcase_add_test(tc, jws_verify_rejects_foreign_signature_and_tampering);
	tcase_add_test(tc, jws_verify_kid_not_found_or_missing);
	tcase_add_test(tc, jws_parse_rejects_bad_base64_and_shape);
	tcase_add_test(tc, jws_parse_rejects_oversized);
	tcase_add_test(tc, jws_rejects_duplicate_json_keys);
	tcase_add_test(tc, jwt_check_time_expired_and_not_yet_valid);
	tcase_add_test(tc, jws_verify_x5c_chain_and_host);
	tcase_add_test(tc, jws_verify_x5c_rejects_bad_thumbprint_and_signer);
	tcase_add_test(tc, jwk_set_rejects_malformed);
	tcase_add_test(tc, jwk_thumbprint_rfc7638_example);
	suite_add_tcase(s, tc);
	tc = unit_tcase_shared("golden");
	tcase_add_test(tc, jwk_set_golden_thumbprint);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(jws_suite)
