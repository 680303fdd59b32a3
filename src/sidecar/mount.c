/* SPDX-License-Identifier: MIT */
/*
 * mount.c - one filesystem's way through the pipeline, in its own thread:
 *   vault token -> release (passphrase) -> blob -> cache -> volume_open (mount + publish).
 * Each step sets the slot's state for the health endpoint; a failure is logged once here with
 * the filesystem, the step and its likely causes (explain.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sealmount/cache.h"
#include "sealmount/codec.h"
#include "sealmount/hsm.h"
#include "sealmount/log.h"
#include "sealmount/sidecar.h"
#include "sealmount/skr.h"
#include "sidecar_internal.h"

void sc_set_state(struct sc_slot *s, enum health_state state, const char *step)
{
	LOCK_GUARD(&s->sc->lock);
	s->state = state;
	s->step = step;
}

static int fail(struct sc_slot *s, const char *step, int r, const char *detail)
{
	const struct sm_filesystem *fs = s->cfg;

	log_error_errno(r, "Filesystem %u (%s): step '%s' failed: %m%s%s. Likely causes: %s",
			s->index, fs->mount_point, step, detail ? " - " : "", detail ? detail : "",
			sidecar_explain(step, r));
	LOCK_GUARD(&s->sc->lock);
	s->state = HEALTH_FAILED;
	s->step = step;
	s->error = r;
	return r;
}

/* ---- release ---- */

static int release_detail(const struct skr_failure *f, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s%s%s%s", f->error ? f->error : "",
		 f->request_id ? " (x-ms-request-id " : "", f->request_id ? f->request_id : "",
		 f->request_id ? ")" : "",
		 f->explanation ? "; release policy vs attestation:\n" : "",
		 f->explanation ? f->explanation : "");
	return 0;
}

static int release_key(struct sc_slot *s, struct secret **ret)
{
	const struct sm_filesystem *fs = s->cfg;
	_cleanup_(skr_auth_freep) struct skr_auth *auth = NULL;
	_cleanup_(hsm_client_freep) struct hsm_client *hc = NULL;
	_cleanup_(secret_freep) struct secret *bearer = NULL;
	_cleanup_(skr_result_done) struct skr_result res = {};
	_cleanup_(skr_failure_done) struct skr_failure f = {};
	_cleanup_free_ char *salt = NULL;
	char detail[2048];
	int r;

	sc_set_state(s, HEALTH_MOUNTING, "token");
	if (fs->bearer_token) {
		r = secret_new_copy(fs->bearer_token, strlen(fs->bearer_token), &bearer);
		if (r < 0)
			return fail(s, "token", r, NULL);
	}
	r = skr_auth_new(
		s->sc->http,
		&(struct skr_auth_options){
			.vault = fs->akv_endpoint,
			.bearer = bearer,
			.imds = &(struct imds_options){ .endpoint = s->sc->cfg->imds_endpoint,
							.client_id = s->sc->cfg->client_id } },
		&auth);
	if (r == 0)
		r = hsm_client_new(s->sc->http, fs->akv_endpoint,
				   &(struct hsm_client_options){ .ca_file = s->sc->cfg->ca_file },
				   &hc);
	if (r < 0)
		return fail(s, "token", r, "invalid vault endpoint or identity settings");
	salt = malloc(2 * fs->salt_len + 1);
	if (!salt)
		return fail(s, "release", -ENOMEM, NULL);
	hex_encode(fs->salt ? fs->salt : (const uint8_t *)"", fs->salt_len, salt);
	sc_set_state(s, HEALTH_MOUNTING, "release");
	r = skr_release_passphrase(
		hc, auth,
		&(struct skr_release){ .name = fs->kid,
				       .target = s->att->res.token,
				       .claims = s->att->res.claims,
				       .runtime_key = maa_runtime_key_pkey(s->att->res.key),
				       .enc = s->sc->enc,
				       .kd = { .salt_hex = salt, .label = fs->label } },
		&res, &f);
	if (r < 0) {
		_cleanup_free_ char *why =
			streq(f.step, "token") ? skr_auth_last_error(auth) : NULL;

		if (why)
			snprintf(detail, sizeof(detail), "the token service says: %s", why);
		else
			release_detail(&f, detail, sizeof(detail));
		return fail(s, streq(f.step, "token") ? "token" : "release", r,
			    *detail ? detail : NULL);
	}
	log_info("Filesystem %u: released key %s (%s, %s)", s->index, res.kid, res.kty,
		 unwrap_enc_name(res.enc));
	*ret = TAKE_PTR(res.passphrase);
	return 0;
}

/* ---- blob stack ---- */

/* The storage token provider (imds.h's imds_blob_token) with its resource, in one allocation
 * so the slot frees it with free(). */
struct blob_token_ctx {
	struct imds_blob_source src;
	char resource[];
};

static int token_ctx_new(struct imds_client *imds, const char *url, struct blob_token_ctx **ret)
{
	_cleanup_free_ char *res = NULL;
	struct blob_token_ctx *t;
	size_t n;
	int r;

	r = imds_blob_resource(url, &res);
	if (r < 0)
		return r;
	n = strlen(res) + 1;
	t = malloc(sizeof(*t) + n);
	if (!t)
		return -ENOMEM;
	memcpy(t->resource, res, n);
	t->src = (struct imds_blob_source){ .imds = imds, .resource = t->resource };
	*ret = t;
	return 0;
}

static int open_stack(struct sc_slot *s, struct blob_token_ctx **tc, struct bdev **ret_top,
		      struct bdev **ret_blob)
{
	const struct sm_filesystem *fs = s->cfg;
	struct blob_options bo = { .url = fs->azure_url,
				   .auth = BLOB_AUTH_ANONYMOUS,
				   .http = s->sc->http,
				   .rw = fs->read_write };
	struct bdev *blob = NULL, *top = NULL;
	int r;

	sc_set_state(s, HEALTH_MOUNTING, "blob");
	if (fs->azure_url_private) {
		r = token_ctx_new(s->sc->imds, fs->azure_url, tc);
		if (r < 0)
			return fail(s, "blob", r, "no storage token resource for azure_url");
		bo.auth = BLOB_AUTH_BEARER;
		bo.token_fn = imds_blob_token;
		bo.token_userdata = &(*tc)->src;
	}
	r = blob_open(&bo, &blob);
	if (r < 0)
		return fail(s, "blob", r, NULL);
	sc_set_state(s, HEALTH_MOUNTING, "cache");
	r = cache_new(blob, &(struct cache_options){ .mem_max = fs->cache_mb * 1024 * 1024 }, &top);
	if (r < 0)
		return fail(s, "cache", r, NULL);
	*ret_top = top;
	*ret_blob = blob;
	return 0;
}

/* ---- volume ---- */

static void volume_options_from(const struct sc_slot *s, struct volume_options *o)
{
	const struct sm_filesystem *fs = s->cfg;
	static const enum volume_engine engines[] = { [SM_ENGINE_AUTO] = VOLUME_ENGINE_AUTO,
						      [SM_ENGINE_KERNEL] = VOLUME_ENGINE_KERNEL,
						      [SM_ENGINE_USER] = VOLUME_ENGINE_USER };

	*o = (struct volume_options){ .mount_point = fs->mount_point,
				      .index = s->index,
				      .engine = engines[fs->engine],
				      .rw = fs->read_write,
				      .fs_type = fs->fs_type,
				      .work_dir = s->sc->cfg->work_dir };
	luks2_policy_init(&o->policy);
	o->policy.require_integrity = fs->require_integrity;
	if (fs->has_header_sha256) {
		o->policy.pin_sha256_set = true;
		memcpy(o->policy.pin_sha256, fs->header_sha256, sizeof(o->policy.pin_sha256));
	}
	if (fs->header_uuid) {
		o->policy.pin_uuid_set = true;
		snprintf(o->policy.pin_uuid, sizeof(o->policy.pin_uuid), "%s", fs->header_uuid);
	}
}

static int mount_one(struct sc_slot *s)
{
	_cleanup_(secret_freep) struct secret *pass = NULL;
	struct volume_options vo;
	struct blob_token_ctx *tc = NULL;
	struct bdev *top = NULL, *blob = NULL;
	struct volume *vol = NULL;
	int r;

	r = release_key(s, &pass);
	if (r < 0)
		return r;
	if (atomic_load(&s->sc->stopping))
		return -EINTR;
	/* The blob layer calls the token provider until the volume is closed: the slot owns it
	 * and run.c frees it after volume_close(). */
	r = open_stack(s, &tc, &top, &blob);
	if (r < 0) {
		free(tc);
		return r;
	}
	if (atomic_load(&s->sc->stopping)) {
		bdev_free(top);
		free(tc);
		return -EINTR;
	}
	sc_set_state(s, HEALTH_MOUNTING, "volume");
	volume_options_from(s, &vo);
	r = volume_open(top, pass, &vo, &vol); /* takes top, also on failure */
	if (r < 0) {
		free(tc);
		return fail(s, "volume", r, NULL);
	}
	LOCK_GUARD(&s->sc->lock);
	s->vol = vol;
	s->cache = top;
	s->blob = blob;
	s->token_ctx = tc;
	s->state = HEALTH_MOUNTED;
	s->step = "";
	return 0;
}

void *sc_mount_thread(void *arg)
{
	struct sc_slot *s = arg;
	int r;

	r = mount_one(s);
	if (r == 0)
		log_info("Filesystem %u: %s is published", s->index, s->cfg->mount_point);
	LOCK_GUARD(&s->sc->lock);
	if (r < 0 && s->state != HEALTH_FAILED)
		s->state = HEALTH_FAILED;
	if (r < 0)
		s->error = r;
	return NULL;
}

/* ---- health snapshot ---- */

static void snapshot_one(const struct sc_slot *s, struct health_fs *h)
{
	struct volume_status vs;
	struct cache_stats cs;
	struct blob_stats bs;

	h->index = s->index;
	snprintf(h->mount_point, sizeof(h->mount_point), "%s", s->cfg->mount_point);
	h->state = s->state;
	snprintf(h->step, sizeof(h->step), "%s", s->step ? s->step : "");
	h->rw = s->cfg->read_write;
	if (s->vol) {
		volume_get_status(s->vol, &vs);
		snprintf(h->engine, sizeof(h->engine), "%s", volume_engine_name(vs.engine));
		h->size = vs.size;
		h->integrity_errors = vs.integrity_errors;
		h->rw = vs.rw;
	}
	if (s->cache && cache_get_stats(s->cache, &cs) == 0) {
		h->has_cache = true;
		h->cache_hits = cs.hits;
		h->cache_misses = cs.misses;
		h->cache_bytes_fetched = cs.bytes_fetched;
		h->cache_retries = cs.retries;
		h->cache_in_flight = cs.in_flight;
		h->cache_dirty_bytes = cs.dirty_bytes;
		h->cache_evictions = cs.evictions;
		h->cache_stale = cs.stale;
		/* A chunk that came back older or changed fails like a sector with a bad tag. */
		h->integrity_errors += cs.stale;
	}
	if (s->blob && blob_get_stats(s->blob, &bs) == 0) {
		h->has_blob = true;
		h->blob_requests = bs.requests;
		h->blob_retries = bs.retries;
		h->blob_verify_failures = bs.verify_failures;
		h->blob_bytes_read = bs.bytes_read;
		h->blob_bytes_written = bs.bytes_written;
	}
}

size_t sc_snapshot(void *userdata, struct health_fs *out, size_t max)
{
	struct sidecar *sc = userdata;
	size_t n = sc->cfg->n_fs < max ? sc->cfg->n_fs : max;

	LOCK_GUARD(&sc->lock);
	for (size_t i = 0; i < n; i++)
		snapshot_one(&sc->slots[i], &out[i]);
	return n;
}
