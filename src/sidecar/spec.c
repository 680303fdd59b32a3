/* SPDX-License-Identifier: MIT */
/*
 * spec.c - one configured filesystem (config.h) as the pipeline's spec (pipeline.h): the same
 * struct `sealmount mount` fills from its command line.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sealmount/codec.h"
#include "sealmount/imds.h"
#include "sidecar_internal.h"

static const enum volume_engine engines[] = { [SM_ENGINE_AUTO] = VOLUME_ENGINE_AUTO,
					      [SM_ENGINE_KERNEL] = VOLUME_ENGINE_KERNEL,
					      [SM_ENGINE_USER] = VOLUME_ENGINE_USER };

static void fill_release(const struct sm_config *c, const struct sm_filesystem *fs,
			 const char *salt_hex, struct pl_release *r)
{
	r->vault = fs->akv_endpoint;
	r->kid = fs->kid;
	r->maa = fs->maa_endpoint;
	r->snp = c->snp ? c->snp : "device";
	r->salt_hex = salt_hex;
	r->label = fs->label;
	r->bearer = fs->bearer_token;
	r->imds_endpoint = c->imds_endpoint;
	r->client_id = c->wid_token_file ? c->wid_client_id : c->client_id;
	r->federated_token_file = c->wid_token_file;
	r->tenant_id = c->wid_tenant_id;
	r->authority = c->wid_authority;
	r->ca_file = c->ca_file;
}

int sc_certs_init(struct sc_certs *ret, const struct sm_config *c)
{
	const struct sm_certcache *cc = &c->certcache;
	struct sc_certs t = { 0 };
	size_t n;
	int r;

	/* THIM, as Microsoft's sidecar fetches it when the security context has no
	 * certificates: certcache's endpoint when it is LocalTHIM, else IMDS's own. */
	if (streq(cc->endpoint_type, "LocalTHIM") && cc->endpoint && *cc->endpoint)
		r = (t.thim = strdup(cc->endpoint)) ? 0 : -ENOMEM;
	else
		r = asprintf(&t.thim, "%s/metadata/THIM/amd/certification",
			     c->imds_endpoint ? c->imds_endpoint : IMDS_DEFAULT_ENDPOINT) < 0 ?
			    -ENOMEM :
			    0;
	if (r < 0)
		return -ENOMEM;
	t.order[0] = SNP_FETCH_THIM;
	t.cfg.endpoint[SNP_FETCH_THIM] = t.thim;
	t.cfg.n_fetch = 1;
	if (streq(cc->endpoint_type, "AMD") || streq(cc->endpoint_type, "AzCache")) {
		enum snp_fetch_source src =
			streq(cc->endpoint_type, "AMD") ? SNP_FETCH_AMD_KDS : SNP_FETCH_AZCACHE;
		/* Microsoft's AMD endpoint names the API path ("kdsintf.amd.com/vcek/v1"); the
		 * URL builder adds it (snp_fetch.h). */
		n = cc->endpoint ? strlen(cc->endpoint) : 0;
		if (src == SNP_FETCH_AMD_KDS && n >= 8 && !strcmp(cc->endpoint + n - 8, "/vcek/v1"))
			n -= 8;
		if (n && !(t.other = strndup(cc->endpoint, n))) {
			free(t.thim);
			return -ENOMEM;
		}
		t.order[1] = src;
		t.cfg.endpoint[src] = t.other;
		t.cfg.n_fetch = 2;
		if (src == SNP_FETCH_AMD_KDS && cc->tee_type && *cc->tee_type)
			t.cfg.product = cc->tee_type; /* "Milan", "Genoa", "Turin" */
	}
	*ret = t;
	ret->cfg.fetch = ret->order;
	return 0;
}

void sc_certs_done(struct sc_certs *c)
{
	free(c->thim);
	free(c->other);
	*c = (struct sc_certs){ 0 };
}

static void fill_source(const struct sm_config *c, const struct sm_filesystem *fs,
			struct pl_source *src)
{
	src->url = fs->azure_url;
	src->auth = fs->azure_url_private ? PL_AUTH_IMDS : PL_AUTH_URL;
	src->imds_endpoint = c->imds_endpoint;
	src->client_id = c->wid_token_file ? c->wid_client_id : c->client_id;
	src->federated_token_file = c->wid_token_file;
	src->tenant_id = c->wid_tenant_id;
	src->authority = c->wid_authority;
	src->ca_file = c->ca_file;
	src->cache_mb = fs->cache_mb;
}

int sc_spec_fill(struct sc_slot *s, enum unwrap_enc enc)
{
	const struct sm_config *c = s->sc->cfg;
	const struct sm_filesystem *fs = s->cfg;
	struct pl_spec *p = &s->spec;

	s->salt_hex = malloc(2 * fs->salt_len + 1);
	if (!s->salt_hex)
		return -ENOMEM;
	hex_encode(fs->salt ? fs->salt : (const uint8_t *)"", fs->salt_len, s->salt_hex);
	pl_spec_init(p);
	p->index = s->index;
	p->mount_point = fs->mount_point;
	fill_source(c, fs, &p->src);
	fill_release(c, fs, s->salt_hex, &p->release);
	p->release.certs = &s->sc->certs.cfg;
	p->release.enc = enc;
	p->rw = fs->read_write;
	p->engine = engines[fs->engine];
	p->block = fs->block == SM_BLOCK_NBD  ? VOLUME_BLOCK_NBD :
		   fs->block == SM_BLOCK_FUSE ? VOLUME_BLOCK_FUSE :
						VOLUME_BLOCK_AUTO;
	p->fs_type = fs->fs_type;
	p->policy.require_integrity = fs->require_integrity;
	if (fs->has_header_sha256) {
		p->policy.pin_sha256_set = true;
		memcpy(p->policy.pin_sha256, fs->header_sha256, sizeof(p->policy.pin_sha256));
	}
	if (fs->header_uuid) {
		p->policy.pin_uuid_set = true;
		snprintf(p->policy.pin_uuid, sizeof(p->policy.pin_uuid), "%s", fs->header_uuid);
	}
	p->policy.kdf_max_memory_kib = fs->kdf_max_memory_mb * 1024; /* <= 4096 MiB */
	p->policy.kdf_max_ms = fs->kdf_max_seconds * 1000; /* <= 3600 s */
	p->no_fsck = !fs->fsck;
	p->work_dir = c->work_dir;
	p->state_dir = s->sc->state_dir;
	p->root_hash = fs->root_hash;
	p->publisher_key = fs->publisher_key;
	p->min_version = fs->min_version;
	p->key_file = fs->key_file;
	return 0;
}
