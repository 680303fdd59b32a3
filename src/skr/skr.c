/* SPDX-License-Identifier: MIT */
/*
 * skr.c - bearer token -> release -> unwrap -> passphrase (skr.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "sealmount/jsonx.h"
#include "sealmount/log.h"
#include "sealmount/skr.h"

#define EXPLANATION_MAX (64u * 1024)

struct skr_auth {
	struct imds_client *imds;
	struct secret *fixed;
	/* static: hsm_token_resource()'s guess, then what a 401 challenge named
	 * (hsm_resource_allowed()); read and written with __atomic builtins */
	const char *resource;
};

static const char *auth_resource(const struct skr_auth *a)
{
	return __atomic_load_n(&a->resource, __ATOMIC_ACQUIRE);
}

/* A NUL-terminated secret copy of n bytes (the NUL is not counted). */
static int token_copy(const uint8_t *p, size_t n, struct secret **ret)
{
	_cleanup_(secret_freep) struct secret *s = NULL;
	int r;

	r = secret_new(n + 1, &s);
	if (r < 0)
		return r;
	memcpy(s->data, p, n);
	r = secret_truncate(s, n); /* wipes the byte past n: the NUL */
	if (r < 0)
		return r;
	*ret = TAKE_PTR(s);
	return 0;
}

int skr_auth_new(struct http_client *http, const struct skr_auth_options *o, struct skr_auth **ret)
{
	_cleanup_(skr_auth_freep) struct skr_auth *a = NULL;
	int r;

	if (o->bearer && (o->bearer->len == 0 || memchr(o->bearer->data, '\n', o->bearer->len)))
		return -EINVAL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->resource = hsm_token_resource(o->vault ? o->vault : "");
	if (o->bearer) {
		r = token_copy(o->bearer->data, o->bearer->len, &a->fixed);
	} else {
		r = imds_client_new(http, o->imds, &a->imds);
	}
	if (r < 0)
		return r;
	*ret = TAKE_PTR(a);
	return 0;
}

void skr_auth_free(struct skr_auth *a)
{
	if (!a)
		return;
	imds_client_free(a->imds);
	secret_free(a->fixed);
	free(a);
}

int skr_auth_token(struct skr_auth *a, bool refresh, struct secret **ret)
{
	if (a->fixed)
		return token_copy(a->fixed->data, a->fixed->len, ret);
	if (refresh)
		imds_invalidate(a->imds, auth_resource(a));
	return imds_get_token(a->imds, auth_resource(a), ret);
}

const char *skr_auth_resource(const struct skr_auth *a)
{
	return auth_resource(a);
}

int skr_auth_follow_challenge(struct skr_auth *a, const char *challenge, char **ret_why)
{
	struct hsm_challenge ch;
	const char *res;
	int r;

	*ret_why = NULL;
	if (!a->imds)
		return 0; /* a token given as is: there is no other to get */
	if (!challenge) {
		log_debug("401 without a challenge: retrying once with a fresh token for %s",
			  auth_resource(a));
		return 1;
	}
	r = hsm_challenge_parse(challenge, strlen(challenge), &ch);
	if (r < 0)
		return asprintf(ret_why, "its 401 challenge (WWW-Authenticate) %s: not retried",
				r == -EFBIG ? "is over 4096 bytes" : "does not parse") < 0 ?
			       -ENOMEM :
			       0;
	res = hsm_resource_allowed(ch.resource);
	if (!res)
		return asprintf(ret_why,
				"its 401 challenge asks for a token for '%.80s', which is not an "
				"Azure Key Vault or Managed HSM resource: not retried",
				ch.resource) < 0 ?
			       -ENOMEM :
			       0;
	if (res != auth_resource(a))
		log_debug("401 challenge: a token for %s, not %s", res, auth_resource(a));
	else
		log_debug("401 challenge for %s: retrying once with a fresh token", res);
	__atomic_store_n(&a->resource, res, __ATOMIC_RELEASE);
	return 1;
}

char *skr_auth_last_error(struct skr_auth *a)
{
	return a->imds ? imds_client_last_error(a->imds) : NULL;
}

void skr_result_done(struct skr_result *r)
{
	secret_free(r->passphrase);
	free(r->kid);
	free(r->kty);
	*r = (struct skr_result){};
}

void skr_failure_done(struct skr_failure *f)
{
	free(f->error);
	free(f->request_id);
	free(f->explanation);
	free(f->challenge);
	*f = (struct skr_failure){};
}

static void note_vault(struct hsm_client *hc, struct skr_failure *f)
{
	const char *e = hsm_client_last_error(hc), *id = hsm_client_last_request_id(hc);

	f->status = hsm_client_last_status(hc);
	f->error = e ? strdup(e) : NULL;
	f->request_id = id ? strdup(id) : NULL;
}

/* After a 403: the key's policy against the claims, if the identity may read the key. */
static void explain_403(struct hsm_client *hc, const struct skr_release *req, const char *bearer,
			struct skr_failure *f)
{
	_cleanup_json_ json_t *bundle = NULL, *policy = NULL;
	struct buf text;
	int r;

	if (!req->claims)
		return;
	buf_init(&text, EXPLANATION_MAX);
	r = hsm_client_get_key(hc, req->name, bearer, &bundle);
	if (r >= 0)
		r = hsm_policy_from_bundle(bundle, &policy);
	if (r >= 0)
		r = hsm_policy_explain(policy, req->claims, &text);
	if (r < 0) {
		log_debug_errno(r, "Cannot explain the 403 from the key's policy: %m");
		buf_done(&text);
		return;
	}
	while (text.len && text.data[text.len - 1] == '\n')
		text.data[--text.len] = '\0';
	f->explanation = (char *)buf_steal(&text, NULL);
}

static int release(struct hsm_client *hc, struct skr_auth *a, const struct skr_release *req,
		   struct hsm_released *rel, struct skr_failure *f)
{
	const struct hsm_release_request hr = { .name = req->name,
						.version = req->version,
						.target = req->target,
						.enc = req->enc,
						.nonce = req->nonce };
	_cleanup_(secret_freep) struct secret *bearer = NULL;
	int r, r2;

	for (int attempt = 0;; attempt++) {
		secret_free(TAKE_PTR(bearer));
		f->step = "token";
		r = skr_auth_token(a, attempt > 0, &bearer);
		if (r < 0)
			return r;
		f->step = "release";
		r = hsm_client_release(hc, &hr, (const char *)bearer->data, rel);
		if (r != -EACCES || attempt > 0)
			break;
		/* Which token the vault wants: its challenge (docs/skr.md, The 401 challenge). */
		free(f->challenge);
		r2 = skr_auth_follow_challenge(a, hsm_client_last_challenge(hc), &f->challenge);
		if (r2 <= 0) {
			r = r2 < 0 ? r2 : r;
			break;
		}
	}
	if (r >= 0)
		return 0;
	note_vault(hc, f);
	if (r == -EPERM)
		explain_403(hc, req, (const char *)bearer->data, f);
	return r;
}

int skr_release_passphrase(struct hsm_client *hc, struct skr_auth *a, const struct skr_release *req,
			   struct skr_result *ret, struct skr_failure *fail)
{
	_cleanup_(hsm_released_done) struct hsm_released rel = {};
	_cleanup_(secret_freep) struct secret *material = NULL, *pass = NULL;
	enum keyderive_kty kty;
	int r;

	*fail = (struct skr_failure){};
	r = release(hc, a, req, &rel, fail);
	if (r < 0)
		return r;
	fail->step = "unwrap";
	r = unwrap_release_ciphertext(req->runtime_key, rel.enc, rel.ciphertext, rel.ciphertext_len,
				      &material);
	if (r < 0)
		return r;
	fail->step = "derive";
	r = keyderive_kty_parse(rel.kty, &kty);
	if (r < 0)
		return r;
	r = keyderive_passphrase(kty, material, &req->kd, &pass);
	if (r < 0)
		return r;
	fail->step = NULL;
	ret->passphrase = TAKE_PTR(pass);
	ret->kid = TAKE_PTR(rel.kid);
	ret->kty = TAKE_PTR(rel.kty);
	ret->enc = rel.enc;
	return 0;
}
