/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "sealmount/jwk.h"

#include <errno.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <string.h>

#include "sealmount/codec.h"
#include "sealmount/jsonx.h"
#include "sealmount/log.h"

struct jwk_entry {
	char *kid;
	EVP_PKEY *pkey;
};

struct jwk_set {
	struct jwk_entry *keys;
	size_t n;
};

static inline void bn_freep(BIGNUM **p)
{
	BN_free(*p);
}
static inline void pkey_freep(EVP_PKEY **p)
{
	EVP_PKEY_free(*p);
}
static inline void x509_freep(X509 **p)
{
	X509_free(*p);
}

/* Drain OpenSSL's error queue into the debug log; returns err. */
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

/* Accept a JWS/JWK algorithm name for RSA signatures; kept in step with jws.c. */
static bool is_accepted_alg(const char *alg)
{
	return streq(alg, "RS256");
}

static int b64url_bn(const json_t *jwk, const char *key, BIGNUM **ret)
{
	_cleanup_free_ uint8_t *raw = NULL;
	const char *s;
	size_t len;
	BIGNUM *bn;
	int r;

	r = jsonx_get_string(jwk, key, &s);
	if (r < 0)
		return -EBADMSG;
	r = b64_decode(B64_URL, s, strlen(s), &raw, &len);
	if (r < 0)
		return r;
	if (len == 0 || len > JWK_RSA_MAX_BITS / 8)
		return -EBADMSG;
	bn = BN_bin2bn(raw, (int)len, NULL);
	if (!bn)
		return -ENOMEM;
	*ret = bn;
	return 0;
}

static int rsa_from_bn(const BIGNUM *n, const BIGNUM *e, EVP_PKEY **ret)
{
	_cleanup_(pkey_freep) EVP_PKEY *pkey = NULL;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	int r = -ENOMEM;

	if (!bld || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
		goto out;
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (!params || !ctx)
		goto out;
	if (EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
		r = ossl_fail(-EBADMSG, "RSA JWK import");
		goto out;
	}
	*ret = TAKE_PTR(pkey);
	r = 0;
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	return r;
}

static int check_rsa_size(EVP_PKEY *pkey)
{
	int bits;

	if (!EVP_PKEY_is_a(pkey, "RSA"))
		return log_debug_errno(-EBADMSG, "JWK key is not RSA");
	bits = EVP_PKEY_get_bits(pkey);
	if (bits < JWK_RSA_MIN_BITS || bits > JWK_RSA_MAX_BITS)
		return log_debug_errno(-EBADMSG, "RSA JWK of %d bits refused", bits);
	return 0;
}

int jwk_rsa_from_json(const json_t *jwk, EVP_PKEY **ret)
{
	_cleanup_(bn_freep) BIGNUM *n = NULL;
	_cleanup_(bn_freep) BIGNUM *e = NULL;
	_cleanup_(pkey_freep) EVP_PKEY *pkey = NULL;
	const char *kty;
	int r;

	if (jsonx_get_string(jwk, "kty", &kty) < 0 || !streq(kty, "RSA"))
		return log_debug_errno(-EBADMSG, "JWK kty is not RSA");
	r = b64url_bn(jwk, "n", &n);
	if (r < 0)
		return r;
	r = b64url_bn(jwk, "e", &e);
	if (r < 0)
		return r;
	if (!BN_is_odd(e) || BN_is_one(e) || BN_num_bits(e) > 64)
		return log_debug_errno(-EBADMSG, "RSA JWK has an invalid exponent");
	r = rsa_from_bn(n, e, &pkey);
	if (r < 0)
		return r;
	r = check_rsa_size(pkey);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(pkey);
	return 0;
}

/* Public key of a std-base64 DER certificate (x5c entry). */
static int pkey_from_x5c(const char *b64, EVP_PKEY **ret)
{
	_cleanup_free_ uint8_t *der = NULL;
	_cleanup_(x509_freep) X509 *cert = NULL;
	const unsigned char *p;
	EVP_PKEY *pkey;
	size_t len;
	int r;

	r = b64_decode(B64_STD, b64, strlen(b64), &der, &len);
	if (r < 0)
		return r;
	p = der;
	cert = d2i_X509(NULL, &p, (long)len);
	if (!cert || p != der + len)
		return ossl_fail(-EBADMSG, "x5c certificate");
	pkey = X509_get_pubkey(cert);
	if (!pkey)
		return ossl_fail(-EBADMSG, "x5c public key");
	*ret = pkey;
	return 0;
}

/* Key material of one JWK: n/e, else x5c[0]; both present must agree. */
static int entry_key(const json_t *jwk, EVP_PKEY **ret)
{
	_cleanup_(pkey_freep) EVP_PKEY *from_ne = NULL;
	_cleanup_(pkey_freep) EVP_PKEY *from_x5c = NULL;
	json_t *x5c = json_object_get(jwk, "x5c");
	int r;

	if (json_object_get(jwk, "n") || json_object_get(jwk, "e")) {
		r = jwk_rsa_from_json(jwk, &from_ne);
		if (r < 0)
			return r;
	}
	if (x5c) {
		if (!json_is_array(x5c) || json_array_size(x5c) == 0 ||
		    !json_is_string(json_array_get(x5c, 0)))
			return log_debug_errno(-EBADMSG, "JWK x5c is not an array of strings");
		r = pkey_from_x5c(json_string_value(json_array_get(x5c, 0)), &from_x5c);
		if (r < 0)
			return r;
		r = check_rsa_size(from_x5c);
		if (r < 0)
			return r;
	}
	if (from_ne && from_x5c && EVP_PKEY_eq(from_ne, from_x5c) != 1)
		return log_debug_errno(-EBADMSG, "JWK n/e and x5c[0] disagree");
	if (!from_ne && !from_x5c)
		return log_debug_errno(-EBADMSG, "JWK has neither n/e nor x5c");
	*ret = from_ne ? TAKE_PTR(from_ne) : TAKE_PTR(from_x5c);
	return 0;
}

/* RFC 7517 4.3: when key_ops is given, it must allow "verify". */
static int allows_verify(const json_t *jwk, bool *ret)
{
	json_t *ops = json_object_get(jwk, "key_ops"), *op;
	size_t i;

	*ret = true;
	if (!ops)
		return 0;
	if (!json_is_array(ops))
		return -EBADMSG;
	*ret = false;
	json_array_foreach (ops, i, op) {
		if (!json_is_string(op))
			return -EBADMSG;
		if (streq(json_string_value(op), "verify"))
			*ret = true;
	}
	return 0;
}

/* Whether this entry is meant for RSA signature checks we do: 1 yes, 0 skip it. */
static int entry_is_for_us(const json_t *jwk, const char **ret_kid)
{
	const char *kty = NULL, *use = NULL, *alg = NULL, *kid = NULL;
	bool verify;

	if (!json_is_object(jwk))
		return -EBADMSG;
	if (jsonx_opt_string(jwk, "kty", &kty) < 0 || jsonx_opt_string(jwk, "use", &use) < 0 ||
	    jsonx_opt_string(jwk, "alg", &alg) < 0 || jsonx_opt_string(jwk, "kid", &kid) < 0 ||
	    allows_verify(jwk, &verify) < 0)
		return log_debug_errno(-EBADMSG, "JWK member of the wrong type");
	if (!streq(kty, "RSA") || (use && !streq(use, "sig")) || (alg && !is_accepted_alg(alg)) ||
	    !verify || !kid || !*kid) {
		log_debug("Skipping JWK kid=%s kty=%s use=%s alg=%s", kid ? kid : "-",
			  kty ? kty : "-", use ? use : "-", alg ? alg : "-");
		return 0;
	}
	*ret_kid = kid;
	return 1;
}

static int set_add(struct jwk_set *s, const json_t *jwk)
{
	_cleanup_(pkey_freep) EVP_PKEY *pkey = NULL;
	const char *kid = NULL;
	char *kid_copy;
	int r;

	r = entry_is_for_us(jwk, &kid);
	if (r <= 0)
		return r;
	if (jwk_set_find(s, kid))
		return log_debug_errno(-EBADMSG, "JWK set has kid '%s' twice", kid);
	r = entry_key(jwk, &pkey);
	if (r < 0)
		return r;
	kid_copy = strdup(kid);
	if (!kid_copy)
		return -ENOMEM;
	s->keys[s->n++] = (struct jwk_entry){ .kid = kid_copy, .pkey = TAKE_PTR(pkey) };
	return 0;
}

int jwk_set_parse(const void *data, size_t len, struct jwk_set **ret)
{
	_cleanup_json_ json_t *doc = NULL;
	_cleanup_(jwk_set_freep) struct jwk_set *s = NULL;
	json_t *keys, *jwk;
	size_t i;
	int r;

	r = jsonx_load_object(data, len, JWK_SET_MAX_SIZE, &doc);
	if (r < 0)
		return r;
	r = jsonx_get_array(doc, "keys", &keys);
	if (r < 0)
		return log_debug_errno(-EBADMSG, "JWK set has no 'keys' array");
	if (json_array_size(keys) > JWK_SET_MAX_KEYS)
		return log_debug_errno(-EBADMSG, "JWK set has %zu keys (max %d)",
				       json_array_size(keys), JWK_SET_MAX_KEYS);
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->keys = calloc(JWK_SET_MAX_KEYS, sizeof(*s->keys));
	if (!s->keys)
		return -ENOMEM;
	json_array_foreach (keys, i, jwk) {
		r = set_add(s, jwk);
		if (r < 0)
			return r;
	}
	if (s->n == 0)
		return log_debug_errno(-ENOKEY, "JWK set has no usable RSA signing key");
	*ret = TAKE_PTR(s);
	return 0;
}

void jwk_set_free(struct jwk_set *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++) {
		free(s->keys[i].kid);
		EVP_PKEY_free(s->keys[i].pkey);
	}
	free(s->keys);
	free(s);
}

EVP_PKEY *jwk_set_find(const struct jwk_set *s, const char *kid)
{
	for (size_t i = 0; i < s->n; i++)
		if (streq(s->keys[i].kid, kid))
			return s->keys[i].pkey;
	return NULL;
}

static int bn_param_b64url(EVP_PKEY *pkey, const char *name, char **ret)
{
	_cleanup_(bn_freep) BIGNUM *bn = NULL;
	_cleanup_free_ uint8_t *raw = NULL;
	int n;

	if (EVP_PKEY_get_bn_param(pkey, name, &bn) != 1)
		return ossl_fail(-EINVAL, "RSA key parameter");
	n = BN_num_bytes(bn);
	raw = malloc(n > 0 ? (size_t)n : 1);
	if (!raw)
		return -ENOMEM;
	/* BN_bn2bin writes the minimal big-endian form: no leading zero bytes (RFC 7518 6.3.1). */
	n = BN_bn2bin(bn, raw);
	return b64_encode(B64_URL, raw, (size_t)n, ret);
}

int jwk_rsa_public_json(EVP_PKEY *pkey, json_t **ret)
{
	_cleanup_free_ char *n = NULL;
	_cleanup_free_ char *e = NULL;
	json_t *o;
	int r;

	if (!EVP_PKEY_is_a(pkey, "RSA"))
		return -EINVAL;
	r = bn_param_b64url(pkey, OSSL_PKEY_PARAM_RSA_N, &n);
	if (r < 0)
		return r;
	r = bn_param_b64url(pkey, OSSL_PKEY_PARAM_RSA_E, &e);
	if (r < 0)
		return r;
	o = json_pack("{s:s, s:s, s:s}", "e", e, "kty", "RSA", "n", n);
	if (!o)
		return -ENOMEM;
	*ret = o;
	return 0;
}

int jwk_rsa_thumbprint(EVP_PKEY *pkey, char **ret)
{
	_cleanup_json_ json_t *pub = NULL;
	_cleanup_free_ char *canon = NULL;
	uint8_t digest[SHA256_DIGEST_LENGTH];
	int r;

	r = jwk_rsa_public_json(pkey, &pub);
	if (r < 0)
		return r;
	/* RFC 7638 section 3: the required members only, sorted, no whitespace. For RSA those are
	 * e, kty, n, and their values never need escaping, so a sorted compact dump is canonical. */
	r = jsonx_dump_sorted(pub, &canon);
	if (r < 0)
		return r;
	SHA256((const unsigned char *)canon, strlen(canon), digest);
	return b64_encode(B64_URL, digest, sizeof(digest), ret);
}
