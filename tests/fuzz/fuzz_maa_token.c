/* SPDX-License-Identifier: MIT */
/* Target: the MAA token path on arbitrary bytes: jws_parse(), jws_payload_json(),
 * jwk_set_parse(), maa_response_parse() and every claim rule of maa_token_validate()
 * (src/common/jws.c, src/common/jwk.c, src/attest/maa*.c).
 *
 * The input is used three ways: as a compact token (parse only), as a JWK set and an attest
 * response, and as the payload of a token the harness signs itself with its own key, so the
 * claim rules are reached without forging RS256 signatures. Seeds: MAA tokens from the local
 * stand-in (`sealmount attest --maa ... --snp sim:DIR`), their decoded payloads, and /certs
 * bodies. Build: clang -fsanitize=fuzzer,address,undefined with src/common and src/attest.
 */
#define _GNU_SOURCE
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sealmount/codec.h"
#include "sealmount/jws.h"
#include "sealmount/log.h"
#include "sealmount/maa.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static EVP_PKEY *key;
static struct jwk_set *signers;

static void init(void)
{
	json_t *pub, *doc;
	char *txt;

	log_set_level(LOG_LVL_ERROR);
	key = EVP_RSA_gen(2048);
	if (!key || jwk_rsa_public_json(key, &pub) < 0)
		abort();
	json_object_set_new(pub, "kid", json_string("fuzz"));
	doc = json_pack("{s:[o]}", "keys", pub);
	txt = json_dumps(doc, JSON_COMPACT);
	if (!txt || jwk_set_parse(txt, strlen(txt), &signers) < 0)
		abort();
	free(txt);
	json_decref(doc);
}

/* "eyJ...(header).b64url(payload).b64url(signature)" signed by the harness key. */
static char *sign_payload(const uint8_t *payload, size_t size)
{
	static const char hdr[] = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImZ1enoifQ"; /* RS256, kid fuzz */
	unsigned char sig[512];
	size_t sig_len = sizeof(sig);
	char *p = NULL, *s = NULL, *out = NULL;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (!ctx || b64_encode(B64_URL, payload, size, &p) < 0)
		goto out;
	if (asprintf(&out, "%s.%s", hdr, p) < 0) {
		out = NULL;
		goto out;
	}
	if (EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(ctx, sig, &sig_len, (unsigned char *)out, strlen(out)) != 1 ||
	    b64_encode(B64_URL, sig, sig_len, &s) < 0) {
		free(out);
		out = NULL;
		goto out;
	}
	free(p);
	p = out;
	if (asprintf(&out, "%s.%s", p, s) < 0)
		out = NULL;
out:
	free(p);
	free(s);
	EVP_MD_CTX_free(ctx);
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t report_data[MAA_REPORT_DATA_SIZE];
	struct maa_expect x = { .issuer = "https://maa.example",
				.report_data = report_data,
				.runtime_key = NULL,
				.nonce = "n",
				.now = 1800000000,
				.skew = 60 };
	struct jws *j = NULL;
	struct jwk_set *set = NULL;
	json_t *claims = NULL;
	char *tok = NULL;
	const char *failed;

	if (!key)
		init();
	x.runtime_key = key;
	if (jws_parse((const char *)data, size, &j) == 0) {
		if (jws_payload_json(j, &claims) == 0)
			json_decref(claims);
		(void)jws_verify_jwks(j, signers);
		jws_free(j);
	}
	if (jwk_set_parse(data, size, &set) == 0)
		jwk_set_free(set);
	if (maa_response_parse(data, size, &tok) == 0)
		free(tok);
	tok = sign_payload(data, size);
	if (tok && maa_token_validate(tok, strlen(tok), signers, &x, &claims, &failed) == 0)
		json_decref(claims);
	free(tok);
	return 0;
}
