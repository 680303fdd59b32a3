/* SPDX-License-Identifier: MIT */
/*
 * maa_token.c - validate an MAA token completely, up front, one small rule per claim.
 *
 * Claim names and types: docs/maa.md, Claims.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <openssl/crypto.h>
#include <string.h>

#include "sealmount/codec.h"
#include "sealmount/jsonx.h"
#include "sealmount/jws.h"
#include "sealmount/log.h"
#include "sealmount/maa.h"

static inline void pkey_freep(EVP_PKEY **p)
{
	EVP_PKEY_free(*p);
}

static int rule_issuer(const json_t *claims, const struct maa_expect *x)
{
	return jwt_check_issuer(claims, x->issuer);
}

static int rule_time(const json_t *claims, const struct maa_expect *x)
{
	return jwt_check_time(claims, x->now, x->skew, true);
}

static int rule_type(const json_t *claims, const struct maa_expect *x)
{
	const char *t;

	if (jsonx_get_string(claims, "x-ms-attestation-type", &t) < 0 || !streq(t, "sevsnpvm"))
		return log_debug_errno(-EBADMSG, "MAA token is not for a SEV-SNP VM");
	return 0;
}

static int rule_report_data(const json_t *claims, const struct maa_expect *x)
{
	uint8_t got[MAA_REPORT_DATA_SIZE];
	const char *hex;

	if (jsonx_get_string(claims, "x-ms-sevsnpvm-reportdata", &hex) < 0)
		return log_debug_errno(-EBADMSG, "MAA token has no x-ms-sevsnpvm-reportdata");
	if (hex_decode_fixed(hex, strlen(hex), got, sizeof(got)) < 0)
		return log_debug_errno(-EBADMSG, "x-ms-sevsnpvm-reportdata is not 64 bytes of hex");
	if (CRYPTO_memcmp(got, x->report_data, sizeof(got)) != 0)
		return log_debug_errno(-EBADMSG, "x-ms-sevsnpvm-reportdata is not our report data");
	return 0;
}

/* The key the Managed HSM will wrap to: the first RSA key usable for encryption (key_ops
 * contains "encrypt", or use "enc"), as in docs/skr.md, Release. */
static bool is_encryption_key(const json_t *jwk)
{
	json_t *ops = json_object_get(jwk, "key_ops"), *op;
	const char *use = NULL;
	size_t i;

	if (jsonx_opt_string(jwk, "use", &use) == 0 && streq(use, "enc"))
		return true;
	json_array_foreach (ops, i, op)
		if (streq(json_string_value(op), "encrypt"))
			return true;
	return false;
}

static int rule_runtime_key(const json_t *claims, const struct maa_expect *x)
{
	_cleanup_(pkey_freep) EVP_PKEY *theirs = NULL;
	json_t *runtime, *keys, *jwk = NULL;
	size_t i;
	int r;

	if (!x->runtime_key)
		return 0;
	if (jsonx_get_object(claims, "x-ms-runtime", &runtime) < 0 ||
	    jsonx_get_array(runtime, "keys", &keys) < 0)
		return log_debug_errno(-EBADMSG, "MAA token has no x-ms-runtime.keys");
	json_array_foreach (keys, i, jwk) {
		if (json_is_object(jwk) && is_encryption_key(jwk))
			break;
	}
	if (i == json_array_size(keys))
		return log_debug_errno(-EBADMSG, "x-ms-runtime holds no encryption key");
	r = jwk_rsa_from_json(jwk, &theirs);
	if (r < 0)
		return r;
	if (EVP_PKEY_eq(theirs, x->runtime_key) != 1)
		return log_debug_errno(-EBADMSG, "x-ms-runtime's key is not our runtime key");
	return 0;
}

static int rule_nonce(const json_t *claims, const struct maa_expect *x)
{
	const char *n = NULL;

	/* The ephemeral key in report_data already makes the token fresh; a nonce claim, when MAA
	 * echoes one, must still be ours. */
	if (!x->nonce)
		return 0;
	if (jsonx_opt_string(claims, "nonce", &n) < 0)
		return log_debug_errno(-EBADMSG, "MAA token nonce is not a string");
	if (n && !streq(n, x->nonce))
		return log_debug_errno(-EBADMSG, "MAA token nonce is not ours");
	return 0;
}

static const struct {
	const char *name;
	int (*check)(const json_t *claims, const struct maa_expect *x);
} rules[] = {
	{ "issuer", rule_issuer },	     { "validity period", rule_time },
	{ "attestation type", rule_type },   { "report data", rule_report_data },
	{ "runtime key", rule_runtime_key }, { "nonce", rule_nonce },
};

static int check_signature(const char *token, size_t len, const struct jwk_set *signers,
			   json_t **ret_claims)
{
	_cleanup_(jws_freep) struct jws *j = NULL;
	int r;

	r = jws_parse(token, len, &j);
	if (r < 0)
		return r;
	/* Only the configured endpoint's /certs decide: jku, jwk and x5c headers are ignored. */
	r = jws_verify_jwks(j, signers);
	if (r < 0)
		return r;
	return jws_payload_json(j, ret_claims);
}

int maa_token_validate(const char *token, size_t len, const struct jwk_set *signers,
		       const struct maa_expect *x, json_t **ret_claims, const char **ret_failed)
{
	_cleanup_json_ json_t *claims = NULL;
	int r;

	if (!x->issuer || !x->report_data)
		return -EINVAL;
	r = check_signature(token, len, signers, &claims);
	if (r < 0) {
		if (ret_failed)
			*ret_failed = "signature";
		return r;
	}
	for (size_t i = 0; i < ELEMENTSOF(rules); i++) {
		r = rules[i].check(claims, x);
		if (r < 0) {
			log_debug("MAA token check '%s' failed", rules[i].name);
			if (ret_failed)
				*ret_failed = rules[i].name;
			return r;
		}
	}
	if (ret_claims)
		*ret_claims = TAKE_PTR(claims);
	return 0;
}
