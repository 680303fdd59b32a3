/* SPDX-License-Identifier: MIT */
/*
 * key.c - the pipeline's attest, token and release steps, and the vault session that `key
 * release|import` share with them (pipeline.h). Every failure becomes one sentence in the
 * filesystem's pl_failure: what the vault, MAA or the token service said, and after a 403 the
 * key's release policy against this attestation.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "pipeline_internal.h"
#include "sealmount/fsutil.h"
#include "sealmount/hsm.h"
#include "sealmount/imds.h"
#include "sealmount/log.h"

#define BEARER_FILE_MAX (IMDS_TOKEN_MAX + 2)
#define KEY_FILE_MAX (8u << 20) /* cryptsetup's default key file limit */

/* ---- the vault session ---- */

static int bearer_secret(const struct pl_release *r, struct secret **ret, struct diag *d)
{
	int e;

	if (r->bearer) {
		e = secret_new_copy(r->bearer, strlen(r->bearer), ret);
		return e < 0 ? diag_set(d, e, "Cannot allocate secret memory: %m") : 0;
	}
	if (!r->bearer_file)
		return 0;
	e = fs_read_secret(r->bearer_file, BEARER_FILE_MAX, FS_READ_TRIM | FS_READ_ONE_LINE, ret);
	if (e < 0)
		return diag_set(d, e, "Cannot read the bearer token from %s: %m%s", r->bearer_file,
				e == -EBADMSG ? " (the file must hold one token on one line)" : "");
	return 0;
}

int pl_vault_open(struct http_client *http, const struct pl_release *rel, struct pl_vault *ret,
		  struct diag *d)
{
	_cleanup_(secret_freep) struct secret *bearer = NULL;
	struct pl_vault v = { .http = http };
	int r;

	if (!rel->vault)
		return diag_set(d, -EINVAL, "No vault endpoint given");
	r = hsm_client_new(http, rel->vault,
			   &(struct hsm_client_options){ .ca_file = rel->ca_file }, &v.hsm);
	if (r < 0)
		return diag_set(d, r,
				"Invalid vault endpoint '%s' (a host name or https://HOST[:PORT]; "
				"http only to loopback) or CA file: %m",
				rel->vault);
	r = bearer_secret(rel, &bearer, d);
	if (r == 0)
		r = skr_auth_new(
			http,
			&(struct skr_auth_options){
				.vault = rel->vault,
				.bearer = bearer,
				.imds = &(struct imds_options){ .endpoint = rel->imds_endpoint,
								.client_id = rel->client_id,
								.federated_token_file =
									rel->federated_token_file,
								.tenant_id = rel->tenant_id,
								.authority = rel->authority } },
			&v.auth);
	if (r < 0) {
		diag_set(d, r,
			 "Invalid IMDS endpoint, client id or workload identity settings "
			 "(--federated-token-file needs --client-id and --tenant-id; --authority "
			 "must be https): %m");
		pl_vault_close(&v);
		return r;
	}
	*ret = v;
	return 0;
}

void pl_vault_close(struct pl_vault *v)
{
	/* The token source and the vault client use the HTTP client: they go first. */
	skr_auth_free(TAKE_PTR(v->auth));
	hsm_client_free(TAKE_PTR(v->hsm));
	v->http = NULL;
}

/* ---- attest ---- */

static int attest_into(struct pl_fs *fs, struct attest_result *res, struct pl_failure *f)
{
	const struct pl_release *rel = &fs->spec->release;
	struct diag d = { 0 };
	int r;

	if (!rel->maa)
		return pl_fail(fs, PL_STEP_ATTEST, -EINVAL,
			       &(struct diag){ .text = "No MAA endpoint given" });
	r = attest_run(&(struct attest_params){ .http = fs->http,
						.maa = rel->maa,
						.api = MAA_API_2022_08_01,
						.snp = rel->snp ? rel->snp : "device",
						.diag = &d },
		       res);
	if (r < 0) {
		diag_prefix(&d, "with %s", rel->maa);
		if (f)
			*f = (struct pl_failure){ .step = PL_STEP_ATTEST, .err = r, .diag = d };
		return pl_fail(fs, PL_STEP_ATTEST, r, &d);
	}
	return 0;
}

int pl_attest_once_new(struct pl_attest_once **ret)
{
	struct pl_attest_once *o = calloc(1, sizeof(*o));

	if (!o)
		return -ENOMEM;
	pthread_mutex_init(&o->lock, NULL);
	*ret = o;
	return 0;
}

void pl_attest_once_free(struct pl_attest_once *o)
{
	if (!o)
		return;
	attest_result_done(&o->res);
	pthread_mutex_destroy(&o->lock);
	free(o);
}

static void note_attested(struct pl_fs *fs)
{
	pl_done(fs, "attested with %s%s", fs->spec->release.maa,
		fs->att->simulated ? " (SIMULATED SNP)" : "");
	if (fs->att->simulated)
		pl_warn(fs, PL_WARN_SIMULATED,
			"the SNP report is SIMULATED (sealmount.snp / --snp sim:): signed by a test "
			"key, not by AMD hardware - for local tests only");
}

int pl_attest(struct pl_fs *fs, struct pl_attest_once *once)
{
	int r = 0;

	if (fs->spec->key_file)
		return 0;
	pl_begin(fs, PL_STEP_ATTEST);
	if (!once) {
		r = attest_into(fs, &fs->own_att, NULL);
		if (r < 0)
			return r;
		fs->att = &fs->own_att;
		note_attested(fs);
		return 0;
	}
	LOCK_GUARD(&once->lock);
	if (!once->done) {
		r = attest_into(fs, &once->res, &once->fail);
		once->done = true;
		once->by = fs->spec->index;
		if (r < 0)
			return r;
		fs->att = &once->res;
		note_attested(fs);
		return 0;
	}
	if (once->fail.err < 0)
		return pl_fail(fs, PL_STEP_ATTEST, once->fail.err, &once->fail.diag);
	fs->att = &once->res;
	pl_done(fs, "shares the attestation of filesystem %u with %s", once->by,
		fs->spec->release.maa);
	return 0;
}

/* ---- token ---- */

int pl_token(struct pl_fs *fs)
{
	struct diag d = { 0 };
	int r;

	if (fs->spec->key_file || fs->vault.hsm)
		return 0;
	pl_begin(fs, PL_STEP_TOKEN);
	r = pl_vault_open(fs->http, &fs->spec->release, &fs->vault, &d);
	if (r < 0)
		return pl_fail(fs, PL_STEP_TOKEN, r, &d);
	pl_done(fs, "vault %s, token for %s", hsm_client_base(fs->vault.hsm),
		skr_auth_resource(fs->vault.auth));
	return 0;
}

/* ---- release ---- */

/* Without a readable policy: the token's claims that release policies usually test. */
static void append_claims(const json_t *claims, struct diag *d)
{
	static const char *const usual[] = { "x-ms-attestation-type", "x-ms-compliance-status",
					     "x-ms-sevsnpvm-hostdata",
					     "x-ms-sevsnpvm-is-debuggable", "x-ms-sevsnpvm-vmpl" };

	diag_append(d, "the release policy is not readable with this identity (keys/get); the "
		       "token's claims that release policies usually test:");
	for (size_t i = 0; i < ELEMENTSOF(usual); i++) {
		json_t *c = json_object_get(claims, usual[i]);
		_cleanup_free_ char *v = c ? json_dumps(c, JSON_ENCODE_ANY) : NULL;

		diag_append(d, "%s = %s", usual[i], v ? v : "(absent)");
	}
}

static void vault_said(const struct skr_failure *f, char *buf, size_t len)
{
	snprintf(buf, len, "HTTP %ld%s%s%s%s%s", f->status, f->error ? ": " : "",
		 f->error ? f->error : "", f->request_id ? " (x-ms-request-id " : "",
		 f->request_id ? f->request_id : "", f->request_id ? ")" : "");
}

static int release_failed(struct pl_fs *fs, int r, const struct skr_failure *f)
{
	const struct pl_release *rel = &fs->spec->release;
	const char *vault = hsm_client_base(fs->vault.hsm);
	struct diag d = { 0 };
	char what[1024];

	if (streq(f->step, "token")) {
		_cleanup_free_ char *why = skr_auth_last_error(fs->vault.auth);

		diag_set(&d, r, "Cannot get a managed-identity token for %s: %m%s%s",
			 skr_auth_resource(fs->vault.auth),
			 why ? " - the token service says: " : "", why ? why : "");
		return pl_fail(fs, PL_STEP_TOKEN, r, &d);
	}
	vault_said(f, what, sizeof(what));
	if (!streq(f->step, "release"))
		diag_set(&d, r, "Cannot %s the released key: %m", f->step);
	else if (r == -EACCES)
		diag_set(&d, r, "%s refused the bearer token (%s): the token must be for %s", vault,
			 what, skr_auth_resource(fs->vault.auth));
	else if (r == -EPERM)
		diag_set(&d, r, "Key release refused by %s (%s)", vault, what);
	else if (r == -ENOENT)
		diag_set(&d, r, "No key '%s'%s%s in %s (%s)", rel->kid,
			 rel->version ? " version " : "", rel->version ? rel->version : "", vault,
			 what);
	else if (r == -EBADMSG || r == -EOPNOTSUPP)
		diag_set(
			&d, r,
			"The release response from %s does not verify: its JWS must be RS256-signed "
			"by a certificate chaining to the trusted roots and naming the vault host",
			vault);
	else if (f->status)
		diag_set(&d, r, "Key release from %s failed (%s)", vault, what);
	else
		diag_set(
			&d, r,
			"Key release from %s failed: %m (no answer: check the endpoint, and the TLS "
			"trust roots - sealmount.ca_file or --ca-file adds some)",
			vault);
	if (r == -EPERM && f->explanation)
		diag_append(&d, "the key's release policy against this attestation:\n%s",
			    f->explanation);
	else if (r == -EPERM)
		append_claims(fs->att->claims, &d);
	return pl_fail(fs, PL_STEP_RELEASE, r, &d);
}

static int read_key_file(struct pl_fs *fs)
{
	struct diag d = { 0 };
	int r;

	r = fs_read_secret(fs->spec->key_file, KEY_FILE_MAX, 0, &fs->pass);
	if (r < 0) {
		diag_set(&d, r, "Cannot use the key file %s: %m%s", fs->spec->key_file,
			 r == -ENODATA ? " (it is empty)" :
			 r == -EFBIG   ? " (over 8 MiB, cryptsetup's limit)" :
					 "");
		return pl_fail(fs, PL_STEP_RELEASE, r, &d);
	}
	fs->key_file_newline = fs->pass->data[fs->pass->len - 1] == '\n';
	pl_done(fs, "passphrase from %s (%zu bytes)", fs->spec->key_file, fs->pass->len);
	return 0;
}

int pl_release(struct pl_fs *fs)
{
	const struct pl_release *rel = &fs->spec->release;
	_cleanup_(skr_result_done) struct skr_result res = { 0 };
	_cleanup_(skr_failure_done) struct skr_failure f = { 0 };
	int r;

	pl_begin(fs, PL_STEP_RELEASE);
	if (fs->spec->key_file)
		return read_key_file(fs);
	if (!fs->att || !fs->vault.hsm)
		return pl_fail(fs, PL_STEP_RELEASE, -EINVAL,
			       &(struct diag){ .text = "release before attest and token" });
	r = skr_release_passphrase(
		fs->vault.hsm, fs->vault.auth,
		&(struct skr_release){ .name = rel->kid,
				       .version = rel->version,
				       .target = fs->att->token,
				       .claims = fs->att->claims,
				       .runtime_key = maa_runtime_key_pkey(fs->att->key),
				       .enc = rel->enc,
				       .nonce = rel->nonce,
				       .kd = { .salt_hex = rel->salt_hex, .label = rel->label } },
		&res, &f);
	if (r < 0)
		return release_failed(fs, r, &f);
	pl_done(fs, "released key %s (%s, %s)", res.kid, res.kty, unwrap_enc_name(res.enc));
	fs->pass = TAKE_PTR(res.passphrase);
	return 0;
}
