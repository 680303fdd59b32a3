/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "jose_util.h"

#include <check.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#include "sealmount/codec.h"
#include "sealmount/jsonx.h"
#include "sealmount/jwk.h"

EVP_PKEY *ju_rsa_key(unsigned bits)
{
	EVP_PKEY *k = EVP_RSA_gen(bits);

	ck_assert_ptr_nonnull(k);
	return k;
}

static void add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer ? issuer : cert, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	ck_assert_ptr_nonnull(ext);
	ck_assert_int_eq(X509_add_ext(cert, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

X509 *ju_cert(EVP_PKEY *key, const char *cn, const char *dns, X509 *issuer, EVP_PKEY *issuer_key,
	      bool ca)
{
	static long serial = 1;
	X509 *c = X509_new();
	X509_NAME *name = X509_NAME_new();
	char san[256];

	ck_assert_ptr_nonnull(c);
	X509_set_version(c, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(c), serial++);
	X509_gmtime_adj(X509_getm_notBefore(c), -3600);
	X509_gmtime_adj(X509_getm_notAfter(c), 3600);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(c, name);
	X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : name);
	X509_NAME_free(name);
	X509_set_pubkey(c, key);
	add_ext(c, issuer, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
	if (ca)
		add_ext(c, issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
	add_ext(c, issuer, NID_subject_key_identifier, "hash");
	if (dns) {
		snprintf(san, sizeof(san), "DNS:%s", dns);
		add_ext(c, issuer, NID_subject_alt_name, san);
	}
	ck_assert_int_gt(X509_sign(c, issuer_key ? issuer_key : key, EVP_sha256()), 0);
	return c;
}

char *ju_cert_b64(X509 *cert)
{
	unsigned char *der = NULL;
	char *out;
	int len = i2d_X509(cert, &der);

	ck_assert_int_gt(len, 0);
	ck_assert_int_eq(b64_encode(B64_STD, der, (size_t)len, &out), 0);
	OPENSSL_free(der);
	return out;
}

char *ju_compact(const char *header_json, const char *payload_json, const void *sig, size_t sig_len)
{
	char *h, *p, *s, *out;

	ck_assert_int_eq(b64_encode(B64_URL, header_json, strlen(header_json), &h), 0);
	ck_assert_int_eq(b64_encode(B64_URL, payload_json, strlen(payload_json), &p), 0);
	ck_assert_int_eq(b64_encode(B64_URL, sig, sig_len, &s), 0);
	ck_assert_int_ge(asprintf(&out, "%s.%s.%s", h, p, s), 0);
	free(h);
	free(p);
	free(s);
	return out;
}

char *ju_sign_rs256(EVP_PKEY *key, const char *header_json, const char *payload_json)
{
	char *h, *p, *input, *out;
	unsigned char sig[1024];
	size_t sig_len = sizeof(sig);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	ck_assert_int_eq(b64_encode(B64_URL, header_json, strlen(header_json), &h), 0);
	ck_assert_int_eq(b64_encode(B64_URL, payload_json, strlen(payload_json), &p), 0);
	ck_assert_int_ge(asprintf(&input, "%s.%s", h, p), 0);
	ck_assert_int_eq(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key), 1);
	ck_assert_int_eq(EVP_DigestSign(ctx, sig, &sig_len, (unsigned char *)input, strlen(input)),
			 1);
	EVP_MD_CTX_free(ctx);
	out = ju_compact(header_json, payload_json, sig, sig_len);
	free(h);
	free(p);
	free(input);
	return out;
}

char *ju_jwks_ne(EVP_PKEY *key, const char *kid)
{
	json_t *pub, *doc;
	char *out;

	ck_assert_int_eq(jwk_rsa_public_json(key, &pub), 0);
	json_object_set_new(pub, "kid", json_string(kid));
	doc = json_pack("{s:[o]}", "keys", pub);
	ck_assert_int_eq(jsonx_dump_sorted(doc, &out), 0);
	json_decref(doc);
	return out;
}

char *ju_jwks_x5c(X509 *cert, const char *kid)
{
	char *b64 = ju_cert_b64(cert), *out;
	json_t *doc =
		json_pack("{s:[{s:s, s:s, s:[s]}]}", "keys", "kid", kid, "kty", "RSA", "x5c", b64);

	ck_assert_int_eq(jsonx_dump_sorted(doc, &out), 0);
	json_decref(doc);
	free(b64);
	return out;
}

char *ju_pubkey_pem(EVP_PKEY *key, size_t *ret_len)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out;
	long len;

	ck_assert_int_eq(PEM_write_bio_PUBKEY(b, key), 1);
	len = BIO_get_mem_data(b, &data);
	out = malloc((size_t)len + 1); /* the BIO's data is not NUL-terminated */
	ck_assert_ptr_nonnull(out);
	memcpy(out, data, (size_t)len);
	out[len] = 0;
	BIO_free(b);
	*ret_len = (size_t)len;
	return out;
}
