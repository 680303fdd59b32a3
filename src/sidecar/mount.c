/* SPDX-License-Identifier: MIT */
/*
 * mount.c - one filesystem's coordinator, in its own thread: the pipeline's steps (pipeline.h)
 * in the order `sealmount mount` calls them too. The pipeline tells us each step as it starts
 * (for the health endpoint); a failure is logged once here, with the step and its likely
 * causes, and what the failed filesystem had set up is torn down at once.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sealmount/blob.h"
#include "sealmount/cache.h"
#include "sealmount/log.h"
#include "sidecar_internal.h"

static void set_state(struct sc_slot *s, enum health_state state, const char *step)
{
	LOCK_GUARD(&s->sc->lock);
	s->state = state;
	s->step = step;
}

/* pl_observer_fn: the step that starts now, on the health endpoint. */
static void observe(void *userdata, enum pl_step step)
{
	set_state(userdata, HEALTH_MOUNTING, pl_step_name(step));
}

/* After a step: its result, what it did (info) and any warning; -EINTR once SIGTERM came. */
static int next(struct sc_slot *s, int r)
{
	const char *w;

	if (r < 0)
		return r;
	if (*pl_fs_done_text(s->fs))
		log_info("Filesystem %u: %s", s->index, pl_fs_done_text(s->fs));
	w = pl_fs_take_warning(s->fs);
	if (w)
		log_warn("Filesystem %u: %s", s->index, w);
	return atomic_load(&s->sc->stopping) ? -EINTR : 0;
}

static int failed(struct sc_slot *s, int r)
{
	const struct pl_failure *f = pl_fs_failure(s->fs);
	char msg[4096];

	if (r != -EINTR) {
		pl_failure_message(f, s->index, s->cfg->mount_point, msg, sizeof(msg));
		log_error("%s", msg);
	}
	(void)pl_teardown(s->fs); /* what this filesystem set up before the failure */
	LOCK_GUARD(&s->sc->lock);
	s->state = HEALTH_FAILED;
	if (f->err)
		s->step = pl_step_name(f->step);
	s->error = r;
	return r;
}

/* The pipeline for one filesystem (pipeline.h); the same steps as src/cli/cmd_mount.c. */
static int mount_one(struct sc_slot *s)
{
	struct pl_fs *fs = s->fs;
	int r;

	pl_fs_observe(fs, observe, s);
	r = next(s, pl_attest(fs, s->once));
	r = r ?: next(s, pl_token(fs));
	r = r ?: next(s, pl_release(fs));
	r = r ?: next(s, pl_open(fs));
	r = r ?: next(s, pl_seal(fs));
	r = r ?: next(s, pl_volume(fs));
	r = r ?: next(s, pl_publish(fs));
	if (r < 0)
		return failed(s, r);
	LOCK_GUARD(&s->sc->lock);
	s->state = HEALTH_MOUNTED;
	s->step = "";
	s->mounted = true;
	return 0;
}

void *sc_mount_thread(void *arg)
{
	struct sc_slot *s = arg;

	(void)mount_one(s);
	LOCK_GUARD(&s->sc->lock);
	s->done = true;
	return NULL;
}

/* ---- health snapshot ---- */

static void snapshot_counters(const struct sc_slot *s, struct health_fs *h)
{
	struct bdev *cache = pl_fs_cache(s->fs), *blob = pl_fs_blob(s->fs);
	struct cache_stats cs;
	struct blob_stats bs;

	if (cache && cache_get_stats(cache, &cs) == 0) {
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
	if (blob && blob_get_stats(blob, &bs) == 0) {
		h->has_blob = true;
		h->blob_requests = bs.requests;
		h->blob_retries = bs.retries;
		h->blob_verify_failures = bs.verify_failures;
		h->blob_bytes_read = bs.bytes_read;
		h->blob_bytes_written = bs.bytes_written;
	}
}

static void snapshot_one(const struct sc_slot *s, struct health_fs *h)
{
	struct volume_status vs;

	h->index = s->index;
	snprintf(h->mount_point, sizeof(h->mount_point), "%s", s->cfg->mount_point);
	h->state = s->state;
	snprintf(h->step, sizeof(h->step), "%s", s->step ? s->step : "");
	h->rw = s->cfg->read_write;
	if (!s->mounted)
		return;
	volume_get_status(pl_fs_volume(s->fs), &vs);
	snprintf(h->engine, sizeof(h->engine), "%s", volume_engine_name(vs.engine));
	snprintf(h->block, sizeof(h->block), "%s", volume_block_name(vs.block));
	h->has_nbd = vs.block == VOLUME_BLOCK_NBD;
	h->nbd_connections = vs.nbd_connections;
	h->nbd_live_connections = vs.nbd_live;
	h->size = vs.size;
	h->integrity_errors = vs.integrity_errors;
	h->rw = vs.rw;
	snapshot_counters(s, h);
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
