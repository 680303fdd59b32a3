/* SPDX-License-Identifier: MIT */
/*
 * hsm.c - Managed HSM / Key Vault client: endpoints, requests, status mapping (docs/skr.md,
 * "Endpoints and tokens" and "Release"). Response verification is in hsm_response.c, policies in
 * hsm_policy.c, import in hsm_import.c.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "sealmount/hsm.h"
#include "sealmount/jsonx.h"
#include "sealmount/log.h"

struct hsm_client {
	struct http_client *http; /* borrowed */
	char *base;
	char *host;
	char *api_version;
	X509_STORE *store;
	long last_status;
	char *last_error;
	char *last_request_id;
};

static void curlu_cleanupp(CURLU **u)
{
	curl_url_cleanup(*u);
}

static void curl_freep(char **p)
{
	curl_free(*p);
}

static bool has_part(CURLU *u, CURLUPart part)
{
	char *v = NULL;
	CURLUcode rc = curl_url_get(u, part, &v, 0);

	curl_free(v);
	return rc == CURLUE_OK;
}

/* Host name or scheme://host[:port] with nothing else. */
int hsm_vault_parse(const char *endpoint, char **ret_base, char **ret_host)
{
	_cleanup_(curlu_cleanupp) CURLU *u = curl_url();
	_cleanup_(curl_freep) char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
	_cleanup_free_ char *url = NULL, *base = NULL, *h = NULL;
	size_t hl;

	if (!u)
		return -ENOMEM;
	if (!*endpoint || strpbrk(endpoint, " \t\r\n"))
		return -EINVAL;
	if (!strstr(endpoint, "://") && asprintf(&url, "https://%s", endpoint) < 0)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, url ? url : endpoint, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		return log_debug_errno(-EINVAL, "Vault endpoint '%s' is not a URL", endpoint);
	if (curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK && !streq(path, "/"))
		return log_debug_errno(-EINVAL, "Vault endpoint '%s' has a path", endpoint);
	if (has_part(u, CURLUPART_QUERY) || has_part(u, CURLUPART_FRAGMENT) ||
	    has_part(u, CURLUPART_USER))
		return log_debug_errno(-EINVAL, "Vault endpoint '%s' has extra parts", endpoint);
	if (!streq(scheme, "https") && !streq(scheme, "http"))
		return -EINVAL;
	if (curl_url_get(u, CURLUPART_PORT, &port, 0) != CURLUE_OK)
		port = NULL;
	if (asprintf(&base, "%s://%s%s%s", scheme, host, port ? ":" : "", port ? port : "") < 0)
		return -ENOMEM;
	hl = strlen(host);
	h = host[0] == '[' && hl > 2 ? strndup(host + 1, hl - 2) : strdup(host);
	if (!h)
		return -ENOMEM;
	*ret_base = TAKE_PTR(base);
	*ret_host = TAKE_PTR(h);
	return 0;
}

const char *hsm_token_resource(const char *endpoint)
{
	return strstr(endpoint, "managedhsm") ? HSM_RESOURCE_MHSM : HSM_RESOURCE_VAULT;
}

bool hsm_is_valid_name(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > HSM_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '-')
			return false;
	return true;
}

bool hsm_is_valid_version(const char *version)
{
	size_t n = strlen(version);

	if (n != 32)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)version[i]))
			return false;
	return true;
}

static int key_url(const char *base, const char *name, const char *version, const char *suffix,
		   const char *api, char **ret)
{
	if (!hsm_is_valid_name(name) || (version && !hsm_is_valid_version(version)))
		return log_debug_errno(-EINVAL, "Invalid key name or version");
	if (asprintf(ret, "%s/keys/%s%s%s%s?api-version=%s", base, name, version ? "/" : "",
		     version ? version : "", suffix, api) < 0)
		return -ENOMEM;
	return 0;
}

int hsm_release_url(const char *base, const char *name, const char *version, char **ret)
{
	return key_url(base, name, version, "/release", HSM_API_VERSION, ret);
}

int hsm_release_body(const struct hsm_release_request *req, char **ret)
{
	_cleanup_json_ json_t *o = NULL;
	const char *enc = unwrap_enc_name(req->enc);

	if (!req->target || !*req->target || !enc)
		return -EINVAL;
	o = json_pack("{s:s, s:s}", "target", req->target, "enc", enc);
	if (!o)
		return -ENOMEM;
	if (req->nonce && json_object_set_new(o, "nonce", json_string(req->nonce)) < 0)
		return -ENOMEM;
	*ret = json_dumps(o, JSON_COMPACT);
	return *ret ? 0 : -ENOMEM;
}

int hsm_error_parse(const void *body, size_t len, char **ret)
{
	_cleanup_json_ json_t *o = NULL;
	json_t *err;
	const char *code = NULL, *msg = NULL;

	if (jsonx_load_object(body, len, HSM_RESPONSE_MAX, &o) < 0 ||
	    jsonx_get_object(o, "error", &err) < 0 || jsonx_opt_string(err, "code", &code) < 0 ||
	    jsonx_opt_string(err, "message", &msg) < 0 || (!code && !msg))
		return -EBADMSG;
	if (asprintf(ret, "%s%s%s", code ? code : "", code && msg ? ": " : "", msg ? msg : "") < 0)
		return -ENOMEM;
	return 0;
}

int hsm_client_new(struct http_client *http, const char *endpoint,
		   const struct hsm_client_options *opts, struct hsm_client **ret)
{
	_cleanup_(hsm_client_freep) struct hsm_client *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	c->http = http;
	r = hsm_vault_parse(endpoint, &c->base, &c->host);
	if (r < 0)
		return r;
	r = http_url_check(c->base);
	if (r < 0)
		return r;
	c->api_version = strdup(opts && opts->api_version ? opts->api_version : HSM_API_VERSION);
	if (!c->api_version)
		return -ENOMEM;
	r = hsm_trust_store_new(opts ? opts->ca_file : NULL, &c->store);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(c);
	return 0;
}

void hsm_client_free(struct hsm_client *c)
{
	if (!c)
		return;
	free(c->base);
	free(c->host);
	free(c->api_version);
	X509_STORE_free(c->store);
	free(c->last_error);
	free(c->last_request_id);
	free(c);
}

const char *hsm_client_base(const struct hsm_client *c)
{
	return c->base;
}

long hsm_client_last_status(const struct hsm_client *c)
{
	return c->last_status;
}

const char *hsm_client_last_error(const struct hsm_client *c)
{
	return c->last_error;
}

const char *hsm_client_last_request_id(const struct hsm_client *c)
{
	return c->last_request_id;
}

static int status_errno(long status)
{
	switch (status) {
	case 200:
		return 0;
	case 400:
		return -EINVAL;
	case 401:
		return -EACCES;
	case 403:
		return -EPERM;
	case 404:
		return -ENOENT;
	}
	if (status == 408 || status == 429 || status >= 500)
		return -EIO;
	return -EPROTO;
}

/* One request with the bearer token; keeps status, error text and request id. On 0 the caller
 * owns *resp (status 200). */
static int call(struct hsm_client *c, const char *method, const char *url, const struct buf *body,
		const char *bearer, struct http_response *resp)
{
	_cleanup_free_ char *auth = NULL;
	const char *id;
	int r;

	free(c->last_error);
	free(c->last_request_id);
	c->last_error = c->last_request_id = NULL;
	c->last_status = 0;
	if (!*bearer || strpbrk(bearer, "\r\n"))
		return -EINVAL;
	if (asprintf(&auth, "Authorization: Bearer %s", bearer) < 0)
		return -ENOMEM;
	const char *headers[] = { auth, "Content-Type: application/json",
				  "Accept: application/json", NULL };
	r = http_request(c->http,
			 &(struct http_request){ .method = method,
						 .url = url,
						 .headers = headers,
						 .body = body ? body->data : NULL,
						 .body_len = body ? body->len : 0,
						 .max_response = HSM_RESPONSE_MAX },
			 resp);
	/* libcurl keeps its own copies of the header; ours is wiped here. */
	wipe(auth, strlen(auth));
	if (r < 0)
		return r;
	c->last_status = resp->status;
	id = http_response_header(resp, "x-ms-request-id");
	c->last_request_id = id ? strdup(id) : NULL;
	r = status_errno(resp->status);
	if (r < 0) {
		if (hsm_error_parse(resp->body.data, resp->body.len, &c->last_error) < 0)
			c->last_error = NULL;
		log_debug("%s %s -> %ld", method, c->base, resp->status);
		http_response_done(resp);
	}
	return r;
}

/* Defence in depth: the signed answer must be about the key we asked for (".../keys/NAME/VER",
 * names compared case-insensitively as the service does). */
static bool kid_names_key(const char *kid, const char *name, const char *version)
{
	const char *p = strstr(kid, "/keys/"), *slash;
	size_t n = strlen(name);

	if (!p)
		return false;
	p += strlen("/keys/");
	slash = strchr(p, '/');
	if (!slash || (size_t)(slash - p) != n || strncasecmp(p, name, n) != 0)
		return false;
	return !version || strcasecmp(slash + 1, version) == 0;
}

int hsm_client_release(struct hsm_client *c, const struct hsm_release_request *req,
		       const char *bearer, struct hsm_released *ret)
{
	_cleanup_(http_response_done) struct http_response resp = {};
	_cleanup_free_ char *url = NULL, *body = NULL;
	_cleanup_json_ json_t *payload = NULL;
	struct buf b;
	int r;

	r = key_url(c->base, req->name, req->version, "/release", c->api_version, &url);
	if (r < 0)
		return r;
	r = hsm_release_body(req, &body);
	if (r < 0)
		return r;
	b = (struct buf){ .data = (uint8_t *)body, .len = strlen(body) };
	r = call(c, "POST", url, &b, bearer, &resp);
	if (r < 0)
		return r;
	r = hsm_response_verify(resp.body.data, resp.body.len, c->store, c->host, &payload);
	if (r < 0)
		return r;
	r = hsm_response_validate(payload, req->enc, ret);
	if (r < 0)
		return r;
	if (!kid_names_key(ret->kid, req->name, req->version)) {
		log_debug("Released kid %s is not the key %s asked for", ret->kid, req->name);
		hsm_released_done(ret);
		return -EBADMSG;
	}
	return 0;
}

static int call_json(struct hsm_client *c, const char *method, const char *name,
		     const struct buf *body, const char *bearer, json_t **ret)
{
	_cleanup_(http_response_done) struct http_response resp = {};
	_cleanup_free_ char *url = NULL;
	int r;

	r = key_url(c->base, name, NULL, "", c->api_version, &url);
	if (r < 0)
		return r;
	r = call(c, method, url, body, bearer, &resp);
	if (r < 0)
		return r;
	return jsonx_load_object(resp.body.data, resp.body.len, HSM_RESPONSE_MAX, ret);
}

int hsm_client_get_key(struct hsm_client *c, const char *name, const char *bearer, json_t **ret)
{
	return call_json(c, "GET", name, NULL, bearer, ret);
}

int hsm_client_import(struct hsm_client *c, const char *name, const struct buf *body,
		      const char *bearer, json_t **ret)
{
	return call_json(c, "PUT", name, body, bearer, ret);
}
