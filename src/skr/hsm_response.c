/* SPDX-License-Identifier: MIT */
/*
 * hsm_response.c - the release response: JWS verified by its x5c chain and the vault host
 * (docs/skr.md, "Release" and "Response verification"), then the payload validated rule by rule.
 */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <string.h>

#include "sealmount/codec.h"
#include "sealmount/hsm.h"
#include "sealmount/jsonx.h"
#include "sealmount/jws.h"
#include "sealmount/log.h"

#define KEY_HSM_MAX (256u * 1024)

int hsm_trust_store_new(const char *ca_file, X509_STORE **ret)
{
	X509_STORE *s = X509_STORE_new();

	if (!s)
		return -ENOMEM;
	if (X509_STORE_set_default_paths(s) != 1)
		log_debug("No system trust roots could be loaded");
	if (ca_file && X509_STORE_load_file(s, ca_file) != 1) {
		ERR_clear_error();
		X509_STORE_free(s);
		return log_debug_errno(-EINVAL, "Cannot load CA certificates from %s", ca_file);
	}
	ERR_clear_error();
	*ret = s;
	return 0;
}

int hsm_response_verify(const void *body, size_t len, X509_STORE *store, const char *host,
			json_t **ret_payload)
{
	_cleanup_json_ json_t *o = NULL;
	_cleanup_(jws_freep) struct jws *j = NULL;
	const char *value;
	int r;

	r = jsonx_load_object(body, len, HSM_RESPONSE_MAX, &o);
	if (r < 0)
		return r;
	r = jsonx_get_string(o, "value", &value);
	if (r < 0)
		return log_debug_errno(-EBADMSG, "Release response has no JWS 'value'");
	r = jws_parse(value, strlen(value), &j);
	if (r < 0)
		return r;
	r = jws_verify_x5c(j, store, host, NULL);
	if (r < 0)
		return r;
	return jws_payload_json(j, ret_payload);
}

void hsm_released_done(struct hsm_released *r)
{
	free(r->kid);
	free(r->kty);
	if (r->ciphertext)
		wipe(r->ciphertext, r->ciphertext_len);
	free(r->ciphertext);
	*r = (struct hsm_released){};
}

/* ---- validators: one rule each ---- */

static int check_enc(const json_t *payload, enum unwrap_enc sent, struct hsm_released *out)
{
	json_t *req;
	const char *enc = NULL;

	if (jsonx_get_object(payload, "request", &req) < 0 ||
	    jsonx_opt_string(req, "enc", &enc) < 0)
		return log_debug_errno(-EBADMSG, "Release payload has no request object");
	if (!enc) {
		out->enc = sent;
		return 0;
	}
	if (unwrap_enc_parse(enc, &out->enc) < 0 || out->enc != sent)
		return log_debug_errno(-EBADMSG, "Release payload enc '%s' is not what we asked",
				       enc);
	return 0;
}

static int get_key(const json_t *payload, json_t **ret)
{
	json_t *resp, *bundle;

	if (jsonx_get_object(payload, "response", &resp) < 0 ||
	    jsonx_get_object(resp, "key", &bundle) < 0 || jsonx_get_object(bundle, "key", ret) < 0)
		return log_debug_errno(-EBADMSG, "Release payload has no response.key.key");
	return 0;
}

static int check_key_ids(const json_t *payload, enum unwrap_enc sent, struct hsm_released *out)
{
	const char *kid, *kty;
	json_t *key;
	int r;

	r = get_key(payload, &key);
	if (r < 0)
		return r;
	if (jsonx_get_string(key, "kid", &kid) < 0 || jsonx_get_string(key, "kty", &kty) < 0 ||
	    !*kid || !*kty)
		return log_debug_errno(-EBADMSG, "Released key has no kid or kty");
	out->kid = strdup(kid);
	out->kty = strdup(kty);
	return out->kid && out->kty ? 0 : -ENOMEM;
}

static int check_ciphertext(const json_t *payload, enum unwrap_enc sent, struct hsm_released *out)
{
	_cleanup_free_ uint8_t *raw = NULL;
	_cleanup_json_ json_t *kh = NULL;
	const char *b64, *ct;
	json_t *key;
	size_t len;
	int r;

	r = get_key(payload, &key);
	if (r < 0)
		return r;
	if (jsonx_get_string(key, "key_hsm", &b64) < 0 || strlen(b64) > 2 * KEY_HSM_MAX)
		return log_debug_errno(-EBADMSG, "Released key has no key_hsm");
	r = b64_decode(B64_URL, b64, strlen(b64), &raw, &len);
	if (r < 0)
		return log_debug_errno(-EBADMSG, "key_hsm is not base64url");
	r = jsonx_load_object(raw, len, KEY_HSM_MAX, &kh);
	if (r < 0)
		return log_debug_errno(-EBADMSG, "key_hsm is not a JSON object");
	if (jsonx_get_string(kh, "ciphertext", &ct) < 0)
		return log_debug_errno(-EBADMSG, "key_hsm has no ciphertext");
	r = b64_decode(B64_URL, ct, strlen(ct), &out->ciphertext, &out->ciphertext_len);
	if (r < 0)
		return log_debug_errno(-EBADMSG, "key_hsm ciphertext is not base64url");
	if (out->ciphertext_len == 0)
		return log_debug_errno(-EBADMSG, "key_hsm ciphertext is empty");
	return 0;
}

int hsm_response_validate(const json_t *payload, enum unwrap_enc sent_enc, struct hsm_released *ret)
{
	static int (*const rules[])(const json_t *, enum unwrap_enc, struct hsm_released *) = {
		check_enc,
		check_key_ids,
		check_ciphertext,
	};
	struct hsm_released out = {};
	int r;

	for (size_t i = 0; i < ELEMENTSOF(rules); i++) {
		r = rules[i](payload, sent_enc, &out);
		if (r < 0) {
			hsm_released_done(&out);
			return r;
		}
	}
	*ret = out;
	return 0;
}
