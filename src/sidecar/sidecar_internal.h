/* SPDX-License-Identifier: MIT */
/*
 * sidecar_internal.h - state shared by run.c (the coordinator) and mount.c (one filesystem's
 * pipeline). The lock guards every slot's state, step, vol/cache/blob pointers and the
 * stopping flag; the health snapshot reads them under it, and teardown takes vol out under it
 * before closing it, so a snapshot never sees a volume being closed.
 */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "sealmount/attest.h"
#include "sealmount/blob.h"
#include "sealmount/config.h"
#include "sealmount/health.h"
#include "sealmount/http.h"
#include "sealmount/imds.h"
#include "sealmount/unwrap.h"
#include "sealmount/volume.h"

struct sidecar;

/* One attestation per distinct MAA endpoint, shared read-only by the filesystems using it. */
struct sc_attestation {
	const char *maa; /* borrowed from the config */
	struct attest_result res;
};

struct sc_slot {
	struct sidecar *sc;
	unsigned index;
	const struct sm_filesystem *cfg;
	const struct sc_attestation *att;
	pthread_t thread;
	bool started;
	/* under sc->lock: */
	enum health_state state;
	const char *step; /* static string */
	int error;
	struct volume *vol;
	struct bdev *cache; /* borrowed: inside vol's stack */
	struct bdev *blob; /* borrowed: inside vol's stack */
	void *token_ctx; /* the blob's token provider state, freed after vol */
};

struct sidecar {
	const struct sm_config *cfg;
	struct http_client *http;
	struct imds_client *imds; /* storage tokens for azure_url_private */
	enum unwrap_enc enc;
	struct sc_attestation *att;
	size_t n_att;
	struct sc_slot *slots;
	pthread_mutex_t lock;
	pthread_t pipeline; /* attest, then the mount threads */
	bool pipeline_done; /* under lock */
	int pipeline_r; /* under lock */
	atomic_bool stopping; /* SIGTERM during mounting: stop at the next step */
};

/* The thread body: run one filesystem's pipeline; on failure log once (step, causes). */
void *sc_mount_thread(void *slot);
/* Health snapshot callback (health_snapshot_fn). */
size_t sc_snapshot(void *sidecar, struct health_fs *out, size_t max);
/* Set the slot's state/step under the lock. */
void sc_set_state(struct sc_slot *s, enum health_state state, const char *step);
