/* SPDX-License-Identifier: MIT */
/*
 * hsm_import.c - the body of PUT /keys/{name} for an exportable HSM key with a release policy
 * (docs/skr.md, Key import). The key material is written straight into the caller's
 * buffer, which the caller wipes; jansson never holds it (it cannot wipe its strings).
 */
#include <errno.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <string.h>

#include "sealmount/codec.h"
#include "sealmount/hsm.h"
#include "sealmount/jsonx.h"
#include "sealmount/log.h"

static void wipe_freep(char **p)
{
	if (*p)
		wipe(*p, strlen(*p));
	free(*p);
}
#define _cleanup_wipe_ _cleanup_(wipe_freep)

#define BODY_RESERVE (16u * 1024) /* an RSA-4096 JWK with its policy fits easily */

/* buf grows with realloc(), which would leave unwiped copies of the key behind: allocate all the
 * room first, before any key material goes in. */
static int reserve(struct buf *out)
{
	static const uint8_t zeros[BODY_RESERVE];
	int r;

	if (out->len != 0)
		return -EINVAL;
	r = buf_append(out, zeros, sizeof(zeros));
	if (r < 0)
		return r;
	out->len = 0;
	return 0;
}

/* ,"hsm":true,"attributes":{...},"release_policy":{...}} - everything after the key. */
static int append_rest(const json_t *policy, struct buf *out)
{
	_cleanup_free_ char *pol = NULL, *data = NULL, *rest = NULL;
	_cleanup_json_ json_t *o = NULL;
	int r;

	r = jsonx_dump_sorted(policy, &pol);
	if (r < 0)
		return r;
	r = b64_encode(B64_URL, pol, strlen(pol), &data);
	if (r < 0)
		return r;
	o = json_pack("{s:b, s:{s:b, s:b}, s:{s:s, s:s, s:b}}", "hsm", 1, "attributes",
		      "exportable", 1, "enabled", 1, "release_policy", "contentType",
		      "application/json; charset=utf-8", "data", data, "immutable", 0);
	if (!o)
		return -ENOMEM;
	rest = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	if (!rest)
		return -ENOMEM;
	/* rest is "{...}": splice its members after the key. */
	r = buf_append_str(out, ",");
	if (r < 0)
		return r;
	return buf_append_str(out, rest + 1);
}

int hsm_import_body_oct(const struct secret *key, const json_t *policy, struct buf *out)
{
	_cleanup_wipe_ char *k = NULL;
	int r;

	if (key->len != 32)
		return -EINVAL;
	r = reserve(out);
	if (r < 0)
		return r;
	r = b64_encode(B64_URL, key->data, key->len, &k);
	if (r < 0)
		return r;
	r = buf_printf(out,
		       "{\"key\":{\"k\":\"%s\",\"key_ops\":[\"encrypt\",\"decrypt\",\"wrapKey\","
		       "\"unwrapKey\"],\"key_size\":256,\"kty\":\"oct-HSM\"}",
		       k);
	if (r < 0)
		return r;
	return append_rest(policy, out);
}

/* "name":"b64url(big-endian param)", */
static int append_bn(EVP_PKEY *key, const char *param, const char *name, struct buf *out)
{
	_cleanup_wipe_ char *b64 = NULL;
	uint8_t *bin = NULL;
	BIGNUM *bn = NULL;
	int n, r;

	if (EVP_PKEY_get_bn_param(key, param, &bn) != 1) {
		ERR_clear_error();
		return log_debug_errno(-EINVAL, "RSA key lacks %s", param);
	}
	n = BN_num_bytes(bn);
	bin = n > 0 ? OPENSSL_malloc((size_t)n) : NULL;
	r = bin && BN_bn2bin(bn, bin) == n ? b64_encode(B64_URL, bin, (size_t)n, &b64) : -EINVAL;
	BN_clear_free(bn);
	OPENSSL_clear_free(bin, n > 0 ? (size_t)n : 0);
	if (r < 0)
		return r;
	return buf_printf(out, "\"%s\":\"%s\",", name, b64);
}

int hsm_import_body_rsa(EVP_PKEY *key, const json_t *policy, struct buf *out)
{
	static const char *const members[][2] = {
		{ OSSL_PKEY_PARAM_RSA_D, "d" },		 { OSSL_PKEY_PARAM_RSA_EXPONENT1, "dp" },
		{ OSSL_PKEY_PARAM_RSA_EXPONENT2, "dq" }, { OSSL_PKEY_PARAM_RSA_E, "e" },
		{ OSSL_PKEY_PARAM_RSA_N, "n" },		 { OSSL_PKEY_PARAM_RSA_FACTOR1, "p" },
		{ OSSL_PKEY_PARAM_RSA_FACTOR2, "q" },	 { OSSL_PKEY_PARAM_RSA_COEFFICIENT1, "qi" },
	};
	int r;

	if (!EVP_PKEY_is_a(key, "RSA") || EVP_PKEY_get_bits(key) > 4096)
		return -EINVAL;
	r = reserve(out);
	if (r < 0)
		return r;
	r = buf_append_str(out, "{\"key\":{");
	if (r < 0)
		return r;
	for (size_t i = 0; i < ELEMENTSOF(members); i++) {
		r = append_bn(key, members[i][0], members[i][1], out);
		if (r < 0)
			return r;
	}
	r = buf_append_str(out, "\"key_ops\":[\"encrypt\",\"decrypt\",\"wrapKey\",\"unwrapKey\"],"
				"\"kty\":\"RSA-HSM\"}");
	if (r < 0)
		return r;
	return append_rest(policy, out);
}
