/* SPDX-License-Identifier: MIT */
/*
 * sidecar_internal.h - state shared by run.c (the coordinator: attest-once cells, threads,
 * readiness, signals, teardown), mount.c (one filesystem's coordinator thread and the health
 * snapshot) and spec.c (configuration -> struct pl_spec). The lock guards every slot's state,
 * step, error and `mounted`; the health snapshot reads a slot's volume, cache and blob only
 * while `mounted` is set under it, and the teardown clears it under the lock before tearing
 * down, so a snapshot never sees a volume being closed.
 */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "sealmount/config.h"
#include "sealmount/health.h"
#include "sealmount/http.h"
#include "sealmount/pipeline.h"

struct sidecar;

struct sc_slot {
	struct sidecar *sc;
	unsigned index;
	const struct sm_filesystem *cfg;
	struct pl_spec spec; /* filled from cfg (spec.c); points into cfg and salt_hex */
	char *salt_hex;
	struct pl_fs *fs;
	struct pl_attest_once *once; /* borrowed: shared by the slots with the same MAA */
	pthread_t thread;
	bool started;
	/* under sc->lock: */
	enum health_state state;
	const char *step; /* static string */
	int error;
	bool mounted; /* published: fs's volume, cache and blob may be read */
	bool done; /* the thread has finished its steps */
};

/* Where the attestation step fetches the VCEK chain when the security context's is missing or
 * for another TCB (azure_info.certcache, spec.c). */
struct sc_certs {
	enum snp_fetch_source order[2];
	struct snp_evidence_config cfg; /* points into the fields below */
	char *thim; /* the THIM URL on IMDS (or certcache's LocalTHIM endpoint) */
	char *other; /* certcache's AMD or AzCache endpoint; NULL = the default */
};

struct sidecar {
	const struct sm_config *cfg;
	struct sc_certs certs;
	char state_dir[4096]; /* crash records: <work_dir>/mounts (pipeline.h) */
	struct http_client *http;
	struct pl_attest_once **once; /* one per distinct MAA endpoint */
	size_t n_once;
	struct sc_slot *slots;
	pthread_mutex_t lock;
	pthread_t pipeline; /* starts the mount threads and joins them */
	bool pipeline_done; /* under lock */
	int pipeline_r; /* under lock */
	atomic_bool stopping; /* SIGTERM during mounting: stop at the next step */
};

/* sc->certs from the configuration: THIM first (certcache's LocalTHIM endpoint, else IMDS's),
 * then certcache's AMD or AzCache endpoint if that is its type. -ENOMEM; -EINVAL for an
 * endpoint_type without a source. */
_must_check_ int sc_certs_init(struct sc_certs *ret, const struct sm_config *c) _nonnull_(1, 2);
void sc_certs_done(struct sc_certs *c) _nonnull_(1);
/* Fill s->spec from s->cfg and the global configuration (enc: sealmount.enc, parsed once).
 * -ENOMEM. */
_must_check_ int sc_spec_fill(struct sc_slot *s, enum unwrap_enc enc) _nonnull_(1);
/* The thread body: one filesystem's pipeline; on failure log once and tear its own steps down. */
void *sc_mount_thread(void *slot);
/* Health snapshot callback (health_snapshot_fn). */
size_t sc_snapshot(void *sidecar, struct health_fs *out, size_t max);
