/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "sealmount/jws.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>
#include <string.h>

#include "sealmount/codec.h"
#include "sealmount/jsonx.h"
#include "sealmount/log.h"

static inline void x509_freep(X509 **p)
{
	X509_free(*p);
}
static inline void x509_stack_freep(STACK_OF(X509) * *p)
{
	sk_X509_pop_free(*p, X509_free);
}

static int ossl_fail(int err, const char *what)
{
	unsigned long e;
	char buf[256];

	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		log_debug("%s: %s", what, buf);
	}
	return err;
}

/* The only algorithms a token may name. PS256/RS384 would be added here and in verify_sig(). */
static int alg_parse(const char *s, enum jws_alg *ret)
{
	if (streq(s, "RS256")) {
		*ret = JWS_ALG_RS256;
		return 0;
	}
	return log_debug_errno(-EOPNOTSUPP, "JWS algorithm '%s' refused", s);
}

static bool is_b64url_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

/* Decode one compact part: non-empty, base64url alphabet only (no padding, no whitespace). */
static int decode_part(const char *p, size_t len, uint8_t **ret, size_t *ret_len)
{
	if (len == 0)
		return log_debug_errno(-EBADMSG, "JWS has an empty part");
	for (size_t i = 0; i < len; i++)
		if (!is_b64url_char(p[i]))
			return log_debug_errno(-EBADMSG, "JWS part has a non-base64url character");
	return b64_decode(B64_URL, p, len, ret, ret_len);
}

static int check_header(struct jws *j)
{
	static const char *const refused[] = { "crit", "b64", NULL };
	const char *alg, *s;
	json_t *x5c;
	int r;

	for (const char *const *k = refused; *k; k++)
		if (json_object_get(j->header, *k))
			return log_debug_errno(-EOPNOTSUPP, "JWS header '%s' refused", *k);
	r = jsonx_get_string(j->header, "alg", &alg);
	if (r < 0)
		return log_debug_errno(-EBADMSG, "JWS header has no string 'alg'");
	r = alg_parse(alg, &j->alg);
	if (r < 0)
		return r;
	if (jsonx_opt_string(j->header, "kid", &j->kid) < 0 ||
	    jsonx_opt_string(j->header, "typ", &s) < 0 ||
	    jsonx_opt_string(j->header, "cty", &s) < 0)
		return log_debug_errno(-EBADMSG, "JWS header kid/typ/cty is not a string");
	x5c = json_object_get(j->header, "x5c");
	if (x5c && (!json_is_array(x5c) || json_array_size(x5c) == 0 ||
		    json_array_size(x5c) > JWS_X5C_MAX))
		return log_debug_errno(-EBADMSG, "JWS header x5c is malformed");
	return 0;
}

static int split(const char *s, size_t len, size_t dots[2])
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		if (s[i] != '.')
			continue;
		if (n == 2)
			return log_debug_errno(-EBADMSG, "JWS has more than three parts");
		dots[n++] = i;
	}
	if (n != 2)
		return log_debug_errno(-EBADMSG, "JWS is not three dot-separated parts");
	return 0;
}

int jws_parse(const char *compact, size_t len, struct jws **ret)
{
	_cleanup_(jws_freep) struct jws *j = NULL;
	_cleanup_free_ uint8_t *hdr = NULL;
	size_t dots[2], hdr_len;
	int r;

	if (!compact || len == 0)
		return -EBADMSG;
	if (len > JWS_MAX_SIZE)
		return log_debug_errno(-EFBIG, "JWS of %zu bytes exceeds %u", len, JWS_MAX_SIZE);
	r = split(compact, len, dots);
	if (r < 0)
		return r;
	if (dots[0] > JWS_HEADER_MAX / 3 * 4 + 4)
		return log_debug_errno(-EFBIG, "JWS header too large");
	r = decode_part(compact, dots[0], &hdr, &hdr_len);
	if (r < 0)
		return r;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	r = jsonx_load_object(hdr, hdr_len, JWS_HEADER_MAX, &j->header);
	if (r < 0)
		return r;
	r = check_header(j);
	if (r < 0)
		return r;
	r = decode_part(compact + dots[0] + 1, dots[1] - dots[0] - 1, &j->payload, &j->payload_len);
	if (r < 0)
		return r;
	r = decode_part(compact + dots[1] + 1, len - dots[1] - 1, &j->sig, &j->sig_len);
	if (r < 0)
		return r;
	/* compact need not be NUL-terminated: copy exactly, no str* calls. */
	j->signing_input = malloc(dots[1] + 1);
	if (!j->signing_input)
		return -ENOMEM;
	memcpy(j->signing_input, compact, dots[1]);
	j->signing_input[dots[1]] = 0;
	j->signing_input_len = dots[1];
	*ret = TAKE_PTR(j);
	return 0;
}

void jws_free(struct jws *j)
{
	if (!j)
		return;
	json_decref(j->header);
	free(j->payload);
	free(j->sig);
	free(j->signing_input);
	free(j);
}

int jws_payload_json(const struct jws *j, json_t **ret)
{
	return jsonx_load_object(j->payload, j->payload_len, JWS_MAX_SIZE, ret);
}

int jws_verify_pkey(const struct jws *j, EVP_PKEY *pkey)
{
	EVP_MD_CTX *ctx;
	int ok;

	/* RS256 = RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 3.3); the key type is pinned too. */
	if (j->alg != JWS_ALG_RS256 || !EVP_PKEY_is_a(pkey, "RSA"))
		return log_debug_errno(-EBADMSG, "JWS key type does not match its algorithm");
	if (EVP_PKEY_get_bits(pkey) < JWK_RSA_MIN_BITS)
		return log_debug_errno(-EBADMSG, "JWS signing key too small");
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return -ENOMEM;
	ok = EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pkey) == 1 &&
	     EVP_DigestVerify(ctx, j->sig, j->sig_len, (const unsigned char *)j->signing_input,
			      j->signing_input_len) == 1;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return ossl_fail(log_debug_errno(-EBADMSG, "JWS signature does not verify"),
				 "JWS verify");
	return 0;
}

int jws_verify_jwks(const struct jws *j, const struct jwk_set *keys)
{
	EVP_PKEY *pkey;

	if (!j->kid)
		return log_debug_errno(-ENOKEY, "JWS header has no kid");
	pkey = jwk_set_find(keys, j->kid);
	if (!pkey)
		return log_debug_errno(-ENOKEY, "No trusted signing key with kid '%s'", j->kid);
	return jws_verify_pkey(j, pkey);
}

static int x5c_cert(json_t *x5c, size_t i, X509 **ret)
{
	_cleanup_free_ uint8_t *der = NULL;
	const unsigned char *p;
	const char *b64;
	size_t len;
	X509 *cert;
	int r;

	b64 = json_string_value(json_array_get(x5c, i));
	if (!b64)
		return log_debug_errno(-EBADMSG, "JWS x5c[%zu] is not a string", i);
	/* RFC 7515 4.1.6: standard base64 (not url-safe) of the DER. */
	r = b64_decode(B64_STD, b64, strlen(b64), &der, &len);
	if (r < 0)
		return r;
	p = der;
	cert = d2i_X509(NULL, &p, (long)len);
	if (!cert || p != der + len) {
		X509_free(cert);
		return ossl_fail(-EBADMSG, "JWS x5c certificate");
	}
	*ret = cert;
	return 0;
}

static int check_x5t(const struct jws *j, X509 *leaf)
{
	_cleanup_free_ unsigned char *der = NULL;
	_cleanup_free_ char *want = NULL;
	uint8_t digest[SHA256_DIGEST_LENGTH];
	const char *x5t = NULL;
	int len, r;

	if (jsonx_opt_string(j->header, "x5t#S256", &x5t) < 0)
		return -EBADMSG;
	if (!x5t)
		return 0;
	len = i2d_X509(leaf, &der);
	if (len <= 0)
		return ossl_fail(-ENOMEM, "i2d_X509");
	SHA256(der, (size_t)len, digest);
	r = b64_encode(B64_URL, digest, sizeof(digest), &want);
	if (r < 0)
		return r;
	if (!streq(x5t, want))
		return log_debug_errno(-EBADMSG, "JWS x5t#S256 does not match x5c[0]");
	return 0;
}

static int verify_chain(X509_STORE *store, X509 *leaf, STACK_OF(X509) * untrusted, const char *host)
{
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	X509_VERIFY_PARAM *param;
	int ok, err;

	if (!ctx)
		return -ENOMEM;
	ok = X509_STORE_CTX_init(ctx, store, leaf, untrusted) == 1;
	if (ok) {
		param = X509_STORE_CTX_get0_param(ctx);
		X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		ok = X509_VERIFY_PARAM_set1_host(param, host, 0) == 1 && X509_verify_cert(ctx) == 1;
	}
	err = X509_STORE_CTX_get_error(ctx);
	X509_STORE_CTX_free(ctx);
	if (!ok)
		return ossl_fail(log_debug_errno(-EBADMSG, "JWS x5c chain refused for host %s: %s",
						 host, X509_verify_cert_error_string(err)),
				 "x5c chain");
	return 0;
}

int jws_verify_x5c(const struct jws *j, X509_STORE *store, const char *host, X509 **ret_leaf)
{
	_cleanup_(x509_freep) X509 *leaf = NULL;
	_cleanup_(x509_stack_freep) STACK_OF(X509) *untrusted = NULL;
	json_t *x5c = json_object_get(j->header, "x5c");
	int r;

	if (!x5c || !*host)
		return log_debug_errno(-EBADMSG, "JWS has no x5c header (or no host to check)");
	r = x5c_cert(x5c, 0, &leaf);
	if (r < 0)
		return r;
	untrusted = sk_X509_new_null();
	if (!untrusted)
		return -ENOMEM;
	for (size_t i = 1; i < json_array_size(x5c); i++) {
		X509 *c;
		r = x5c_cert(x5c, i, &c);
		if (r < 0)
			return r;
		if (!sk_X509_push(untrusted, c)) {
			X509_free(c);
			return -ENOMEM;
		}
	}
	r = check_x5t(j, leaf);
	if (r < 0)
		return r;
	r = verify_chain(store, leaf, untrusted, host);
	if (r < 0)
		return r;
	r = jws_verify_pkey(j, X509_get0_pubkey(leaf));
	if (r < 0)
		return r;
	if (ret_leaf)
		*ret_leaf = TAKE_PTR(leaf);
	return 0;
}

/* An optional integer time claim; *ret untouched when absent. */
static int time_claim(const json_t *claims, const char *name, bool *present, int64_t *ret)
{
	json_t *v = json_object_get(claims, name);

	*present = v != NULL;
	if (!v)
		return 0;
	if (!json_is_integer(v))
		return log_debug_errno(-EBADMSG, "JWT claim '%s' is not an integer", name);
	*ret = json_integer_value(v);
	return 0;
}

int jwt_check_time(const json_t *claims, int64_t now, unsigned skew, bool require_exp)
{
	int64_t exp = 0, nbf = 0, iat = 0, limit;
	bool has_exp, has_nbf, has_iat;

	if (time_claim(claims, "exp", &has_exp, &exp) < 0 ||
	    time_claim(claims, "nbf", &has_nbf, &nbf) < 0 ||
	    time_claim(claims, "iat", &has_iat, &iat) < 0)
		return -EBADMSG;
	if (require_exp && !has_exp)
		return log_debug_errno(-EBADMSG, "JWT has no exp claim");
	if (has_exp && (ADD_OVERFLOW(exp, (int64_t)skew, &limit) || now > limit))
		return log_debug_errno(-EKEYEXPIRED, "JWT expired at %lld (now %lld)",
				       (long long)exp, (long long)now);
	if (has_nbf && (ADD_OVERFLOW(now, (int64_t)skew, &limit) || limit < nbf))
		return log_debug_errno(-EKEYEXPIRED, "JWT not valid before %lld (now %lld)",
				       (long long)nbf, (long long)now);
	if (has_iat && (ADD_OVERFLOW(now, (int64_t)skew, &limit) || limit < iat))
		return log_debug_errno(-EKEYEXPIRED, "JWT issued in the future at %lld (now %lld)",
				       (long long)iat, (long long)now);
	return 0;
}

int jwt_check_issuer(const json_t *claims, const char *iss)
{
	const char *got;

	if (jsonx_get_string(claims, "iss", &got) < 0)
		return log_debug_errno(-EBADMSG, "JWT has no string iss claim");
	if (!streq(got, iss))
		return log_debug_errno(-EBADMSG, "JWT issuer '%s' is not '%s'", got, iss);
	return 0;
}
