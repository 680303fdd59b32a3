/* SPDX-License-Identifier: MIT */
/*
 * maa.c - MAA runtime key, attest request and client. Token validation is in maa_token.c.
 */
#define _GNU_SOURCE
#include "sealmount/maa.h"

#include <errno.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "sealmount/codec.h"
#include "sealmount/jsonx.h"
#include "sealmount/log.h"

struct maa_runtime_key {
	EVP_PKEY *pkey;
	char *jwks;
	size_t jwks_len;
};

struct maa_client {
	struct http_client *http;
	char *base;
	enum maa_api_version version;
	char *last_request_id;
	char *last_error;
};

int maa_api_version_parse(const char *s, enum maa_api_version *ret)
{
	if (streq(s, "2022-08-01"))
		*ret = MAA_API_2022_08_01;
	else if (streq(s, "2020-10-01"))
		*ret = MAA_API_2020_10_01;
	else
		return -EINVAL;
	return 0;
}

static const char *api_version_str(enum maa_api_version v)
{
	return v == MAA_API_2020_10_01 ? "2020-10-01" : "2022-08-01";
}

/* {"keys":[{"e","key_ops":["encrypt"],"kid":<RFC 7638>,"kty":"RSA","n"}]}, compact and sorted:
 * exactly the bytes of Microsoft's sidecar (pkg/common/crypto.go; golden test in test_maa.c). */
static int build_jwks(EVP_PKEY *pkey, char **ret)
{
	_cleanup_json_ json_t *jwk = NULL;
	_cleanup_json_ json_t *doc = NULL;
	_cleanup_free_ char *kid = NULL;
	int r;

	r = jwk_rsa_public_json(pkey, &jwk);
	if (r < 0)
		return r;
	r = jwk_rsa_thumbprint(pkey, &kid);
	if (r < 0)
		return r;
	if (json_object_set_new(jwk, "kid", json_string(kid)) < 0 ||
	    json_object_set_new(jwk, "key_ops", json_pack("[s]", "encrypt")) < 0)
		return -ENOMEM;
	doc = json_pack("{s:[O]}", "keys", jwk);
	if (!doc)
		return -ENOMEM;
	return jsonx_dump_sorted(doc, ret);
}

int maa_runtime_key_from_pkey(EVP_PKEY *pkey, struct maa_runtime_key **ret)
{
	_cleanup_(maa_runtime_key_freep) struct maa_runtime_key *k = NULL;
	int r;

	if (!EVP_PKEY_is_a(pkey, "RSA") || EVP_PKEY_get_bits(pkey) < MAA_RUNTIME_KEY_BITS)
		return -EINVAL;
	if (EVP_PKEY_up_ref(pkey) != 1)
		return -ENOMEM;
	k = calloc(1, sizeof(*k));
	if (!k) {
		EVP_PKEY_free(pkey);
		return -ENOMEM;
	}
	k->pkey = pkey;
	r = build_jwks(pkey, &k->jwks);
	if (r < 0)
		return r;
	k->jwks_len = strlen(k->jwks);
	*ret = TAKE_PTR(k);
	return 0;
}

int maa_runtime_key_generate(unsigned bits, struct maa_runtime_key **ret)
{
	EVP_PKEY *pkey;
	int r;

	if (bits == 0)
		bits = MAA_RUNTIME_KEY_BITS;
	if (bits < 2048 || bits > 4096)
		return -EINVAL;
	pkey = EVP_RSA_gen(bits);
	if (!pkey)
		return -ENOMEM;
	r = maa_runtime_key_from_pkey(pkey, ret);
	EVP_PKEY_free(pkey); /* the runtime key holds its own reference */
	return r;
}

void maa_runtime_key_free(struct maa_runtime_key *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pkey);
	free(k->jwks);
	free(k);
}

const char *maa_runtime_key_jwks(const struct maa_runtime_key *k, size_t *ret_len)
{
	*ret_len = k->jwks_len;
	return k->jwks;
}

EVP_PKEY *maa_runtime_key_pkey(const struct maa_runtime_key *k)
{
	return k->pkey;
}

void maa_report_data(const void *data, size_t len, uint8_t ret[MAA_REPORT_DATA_SIZE])
{
	/* docs/maa.md, Runtime data binding: SHA-256 of the exact runtimeData bytes, then 32 zero
	 * bytes. */
	memset(ret, 0, MAA_REPORT_DATA_SIZE);
	SHA256(data ? data : (const void *)"", len, ret);
}

static bool is_host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-' || c == ':' || c == '[' || c == ']';
}

int maa_endpoint_base(const char *endpoint, char **ret)
{
	const char *host = endpoint, *scheme = "https";
	size_t len;
	char *out;

	if (strncasecmp(endpoint, "https://", 8) == 0) {
		host = endpoint + 8;
	} else if (strncasecmp(endpoint, "http://", 7) == 0) {
		host = endpoint + 7;
		scheme = "http";
	}
	len = strlen(host);
	if (len > 0 && host[len - 1] == '/')
		len--; /* "https://x.attest.azure.net/" is the same instance */
	if (len == 0 || len > 253 + 6)
		return log_debug_errno(-EINVAL, "MAA endpoint '%s' has no host", endpoint);
	for (size_t i = 0; i < len; i++)
		if (!is_host_char(host[i]))
			return log_debug_errno(-EINVAL,
					       "MAA endpoint '%s' must be a host or scheme://host "
					       "without path, query or user info",
					       endpoint);
	if (asprintf(&out, "%s://%.*s", scheme, (int)len, host) < 0)
		return -ENOMEM;
	/* Host names are case-insensitive; MAA's iss spells them in lower case. */
	for (char *p = out + strlen(scheme) + 3; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	*ret = out;
	return 0;
}

int maa_attest_url(const char *base, enum maa_api_version v, char **ret)
{
	if (asprintf(ret, "%s/attest/SevSnpVm?api-version=%s", base, api_version_str(v)) < 0)
		return -ENOMEM;
	return 0;
}

static int b64url_of(const void *p, size_t len, json_t **ret)
{
	_cleanup_free_ char *s = NULL;
	int r = b64_encode(B64_URL, p, len, &s);

	if (r < 0)
		return r;
	*ret = json_string(s);
	return *ret ? 0 : -ENOMEM;
}

/* b64url(JSON {"Uvm":[b64url(COSE_Sign1)]}) */
static int endorsements(const struct maa_evidence *e, json_t **ret)
{
	_cleanup_json_ json_t *doc = NULL;
	_cleanup_free_ char *txt = NULL;
	json_t *cose = NULL;
	int r;

	r = b64url_of(e->uvm_endorsement, e->uvm_endorsement_len, &cose);
	if (r < 0)
		return r;
	doc = json_pack("{s:[o]}", "Uvm", cose);
	if (!doc)
		return -ENOMEM;
	r = jsonx_dump_sorted(doc, &txt);
	if (r < 0)
		return r;
	return b64url_of(txt, strlen(txt), ret);
}

/* The `report` member: b64url of JSON {"SnpReport","VcekCertChain"[,"Endorsements"]} (docs/maa.md,
 * Request). */
static int report_blob(const struct maa_evidence *e, json_t **ret)
{
	_cleanup_json_ json_t *blob = json_object();
	_cleanup_free_ char *txt = NULL;
	json_t *v = NULL;
	int r;

	if (!blob)
		return -ENOMEM;
	r = b64url_of(e->report, e->report_len, &v);
	if (r < 0 || json_object_set_new(blob, "SnpReport", v) < 0)
		return r < 0 ? r : -ENOMEM;
	r = b64url_of(e->vcek_chain_pem, e->vcek_chain_len, &v);
	if (r < 0 || json_object_set_new(blob, "VcekCertChain", v) < 0)
		return r < 0 ? r : -ENOMEM;
	if (e->uvm_endorsement) {
		r = endorsements(e, &v);
		if (r < 0 || json_object_set_new(blob, "Endorsements", v) < 0)
			return r < 0 ? r : -ENOMEM;
	}
	r = jsonx_dump_sorted(blob, &txt);
	if (r < 0)
		return r;
	return b64url_of(txt, strlen(txt), ret);
}

static int check_evidence(const struct maa_evidence *e)
{
	_cleanup_json_ json_t *rt = NULL;

	if (!e->report || e->report_len == 0 || !e->vcek_chain_pem || e->vcek_chain_len == 0 ||
	    !e->runtime_data || e->runtime_data_len == 0)
		return log_debug_errno(-EINVAL, "MAA evidence is incomplete");
	if (e->runtime_data_len > MAA_RUNTIME_DATA_MAX)
		return log_debug_errno(-EINVAL, "MAA runtime data of %zu bytes is too large",
				       e->runtime_data_len);
	/* dataType JSON makes MAA parse the data and re-emit it as x-ms-runtime. */
	if (!e->runtime_data_binary &&
	    jsonx_load_object(e->runtime_data, e->runtime_data_len, MAA_RUNTIME_DATA_MAX, &rt) < 0)
		return log_debug_errno(-EINVAL, "MAA runtime data is not a JSON object");
	return 0;
}

int maa_request_body(const struct maa_evidence *e, char **ret, size_t *ret_len)
{
	_cleanup_json_ json_t *body = NULL;
	json_t *report = NULL, *data = NULL;
	char *txt;
	int r;

	r = check_evidence(e);
	if (r < 0)
		return r;
	r = report_blob(e, &report);
	if (r < 0)
		return r;
	r = b64url_of(e->runtime_data, e->runtime_data_len, &data);
	if (r < 0) {
		json_decref(report);
		return r;
	}
	body = json_pack("{s:o, s:{s:o, s:s}}", "report", report, "runtimeData", "data", data,
			 "dataType", e->runtime_data_binary ? "Binary" : "JSON");
	if (!body)
		return -ENOMEM;
	/* initTimeData is not sent: HOST_DATA already binds the policy (docs/maa.md, Request). */
	if (e->nonce && json_object_set_new(body, "nonce", json_string(e->nonce)) < 0)
		return -ENOMEM;
	r = jsonx_dump_sorted(body, &txt);
	if (r < 0)
		return r;
	*ret = txt;
	*ret_len = strlen(txt);
	return 0;
}

int maa_response_parse(const void *body, size_t len, char **ret_token)
{
	_cleanup_json_ json_t *doc = NULL;
	const char *tok;
	char *copy;
	int r;

	r = jsonx_load_object(body, len, MAA_RESPONSE_MAX, &doc);
	if (r < 0)
		return r;
	r = jsonx_get_string(doc, "token", &tok);
	if (r < 0 || !*tok)
		return log_debug_errno(-EBADMSG, "MAA response has no token");
	copy = strdup(tok);
	if (!copy)
		return -ENOMEM;
	*ret_token = copy;
	return 0;
}

int maa_client_new(struct http_client *http, const char *endpoint, enum maa_api_version v,
		   struct maa_client **ret)
{
	_cleanup_(maa_client_freep) struct maa_client *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	c->http = http;
	c->version = v;
	r = maa_endpoint_base(endpoint, &c->base);
	if (r < 0)
		return r;
	r = http_url_check(c->base);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(c);
	return 0;
}

void maa_client_free(struct maa_client *c)
{
	if (!c)
		return;
	free(c->base);
	free(c->last_request_id);
	free(c->last_error);
	free(c);
}

const char *maa_client_base(const struct maa_client *c)
{
	return c->base;
}

const char *maa_client_last_request_id(const struct maa_client *c)
{
	return c->last_request_id;
}

const char *maa_client_last_error(const struct maa_client *c)
{
	return c->last_error;
}

static void set_str(char **dst, char *s)
{
	free(*dst);
	*dst = s;
}

/* Remember x-ms-request-id and, for errors, MAA's {"error":{"code","message"}}. */
static void note_response(struct maa_client *c, const struct http_response *resp)
{
	const char *id = http_response_header(resp, "x-ms-request-id");
	_cleanup_json_ json_t *doc = NULL;
	const char *code = "?", *msg = "?";
	json_t *err;
	char *s = NULL;

	set_str(&c->last_request_id, id ? strndup(id, 128) : NULL);
	set_str(&c->last_error, NULL);
	if (resp->status == 200)
		return;
	if (jsonx_load_object(resp->body.data, resp->body.len, MAA_RESPONSE_MAX, &doc) == 0 &&
	    jsonx_get_object(doc, "error", &err) == 0) {
		if (jsonx_get_string(err, "code", &code) < 0)
			code = "?";
		if (jsonx_get_string(err, "message", &msg) < 0)
			msg = "?";
	}
	if (asprintf(&s, "%.100s: %.400s", code, msg) >= 0)
		set_str(&c->last_error, s);
	log_debug("MAA answered HTTP %ld (x-ms-request-id %s): %s", resp->status, id ? id : "none",
		  c->last_error ? c->last_error : "?");
}

static int status_to_errno(long status)
{
	if (status == 400)
		return -EPERM;
	if (status == 401 || status == 403)
		return -EACCES;
	if (status == 408 || status == 429 || status >= 500)
		return -EIO;
	return -EPROTO;
}

int maa_client_get_signers(struct maa_client *c, struct jwk_set **ret)
{
	static const char *const headers[] = { "Accept: application/json", NULL };
	_cleanup_free_ char *url = NULL;
	struct http_response resp = {};
	int r;

	if (asprintf(&url, "%s/certs", c->base) < 0)
		return -ENOMEM;
	r = http_request(c->http,
			 &(struct http_request){ .method = "GET",
						 .url = url,
						 .headers = headers,
						 .max_response = MAA_RESPONSE_MAX },
			 &resp);
	if (r < 0)
		return r;
	note_response(c, &resp);
	if (resp.status != 200)
		r = resp.status >= 500 || resp.status == 429 ? -EIO : -EPROTO;
	else
		r = jwk_set_parse(resp.body.data, resp.body.len, ret);
	http_response_done(&resp);
	return r;
}

int maa_client_attest(struct maa_client *c, const struct maa_evidence *e, char **ret_token)
{
	static const char *const headers[] = { "Content-Type: application/json",
					       "Accept: application/json", NULL };
	_cleanup_free_ char *url = NULL, *body = NULL;
	struct http_response resp = {};
	size_t body_len;
	int r;

	r = maa_request_body(e, &body, &body_len);
	if (r < 0)
		return r;
	r = maa_attest_url(c->base, c->version, &url);
	if (r < 0)
		return r;
	r = http_request(c->http,
			 &(struct http_request){ .method = "POST",
						 .url = url,
						 .headers = headers,
						 .body = body,
						 .body_len = body_len,
						 .max_response = MAA_RESPONSE_MAX },
			 &resp);
	if (r < 0)
		return r;
	note_response(c, &resp);
	if (resp.status != 200)
		r = status_to_errno(resp.status);
	else
		r = maa_response_parse(resp.body.data, resp.body.len, ret_token);
	http_response_done(&resp);
	return r;
}
