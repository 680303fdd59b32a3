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

struct sidecar {
	const struct sm_config *cfg;
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

/* Fill s->spec from s->cfg and the global configuration (enc: sealmount.enc, parsed once).
 * -ENOMEM. */
_must_check_ int sc_spec_fill(struct sc_slot *s, enum unwrap_enc enc) _nonnull_(1);
/* The thread body: one filesystem's pipeline; on failure log once and tear its own steps down. */
void *sc_mount_thread(void *slot);
/* Health snapshot callback (health_snapshot_fn). */
size_t sc_snapshot(void *sidecar, struct health_fs *out, size_t max);
