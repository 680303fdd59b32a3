/* SPDX-License-Identifier: MIT */
/*
 * run.c - the sidecar coordinator: sidecar_run() reads as the pipeline of docs/README.md
 * (every filesystem in parallel, one attestation per MAA endpoint -> ready -> serve -> tear
 * down). One filesystem's steps are in mount.c, the health endpoint in health.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sealmount/fsutil.h"
#include "sealmount/log.h"
#include "sealmount/secret.h"
#include "sealmount/sidecar.h"
#include "sidecar_internal.h"

#define WAIT_TICK_NS (100 * 1000 * 1000)
/* After SIGTERM, how long steps still running may take before we exit without them: ACI gives
 * 30 s in all, and the teardown needs the rest. */
#define STOP_GRACE_S 15

/* ---- setup ---- */

static int open_log_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd < 0)
		return log_error_errno(-errno, "Cannot open LogFile %s: %m", path);
	log_set_fd(fd); /* kept open for the life of the process */
	return 0;
}

/* The attest-once cell for an MAA endpoint: the slots with the same endpoint share one. */
static int once_for(struct sidecar *sc, size_t i, struct pl_attest_once **ret)
{
	for (size_t j = 0; j < i; j++)
		if (streq(sc->slots[j].cfg->maa_endpoint, sc->slots[i].cfg->maa_endpoint)) {
			*ret = sc->slots[j].once;
			return 0;
		}
	sc->once[sc->n_once] = NULL;
	if (pl_attest_once_new(&sc->once[sc->n_once]) < 0)
		return -ENOMEM;
	*ret = sc->once[sc->n_once++];
	return 0;
}

static int slots_init(struct sidecar *sc, enum unwrap_enc enc)
{
	const struct sm_config *c = sc->cfg;
	int r;

	sc->slots = calloc(c->n_fs, sizeof(*sc->slots));
	sc->once = calloc(c->n_fs, sizeof(*sc->once));
	if (!sc->slots || !sc->once)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_fs; i++) {
		struct sc_slot *s = &sc->slots[i];

		*s = (struct sc_slot){ .sc = sc, .index = (unsigned)i, .cfg = &c->fs[i] };
		r = sc_spec_fill(s, enc);
		if (r == 0)
			r = pl_fs_new(&s->spec, sc->http, &s->fs);
		if (r == 0)
			r = once_for(sc, i, &s->once);
		if (r < 0)
			return r;
	}
	return 0;
}

static int sidecar_init(struct sidecar *sc, const struct sm_config *c)
{
	enum unwrap_enc enc;
	int r;

	sc->cfg = c;
	(void)snprintf(sc->state_dir, sizeof(sc->state_dir), "%s/mounts",
		       c->work_dir ? c->work_dir : "/run/sealmount");
	if (c->log_level > log_get_level())
		log_set_level(c->log_level);
	if (c->log_file) {
		r = open_log_file(c->log_file);
		if (r < 0)
			return r;
	}
	if (c->allow_unlocked_memory)
		secret_set_allow_unlocked(true);
	r = unwrap_enc_parse(c->enc ? c->enc : "RSA_AES_KEY_WRAP_256", &enc);
	if (r < 0)
		return log_error_errno(r, "sealmount.enc: unknown algorithm");
	r = http_client_new(&(struct http_options){ .ca_file = c->ca_file, .max_retries = 4 },
			    &sc->http);
	if (r < 0)
		return log_error_errno(r, "Cannot set up HTTP (sealmount.ca_file?): %m");
	r = slots_init(sc, enc);
	if (r < 0)
		return log_error_errno(r, "Out of memory");
	return 0;
}

static void sidecar_done(struct sidecar *sc)
{
	for (size_t i = 0; sc->slots && i < sc->cfg->n_fs; i++) {
		pl_fs_free(sc->slots[i].fs);
		free(sc->slots[i].salt_hex);
	}
	for (size_t i = 0; i < sc->n_once; i++)
		pl_attest_once_free(sc->once[i]);
	free(sc->once);
	free(sc->slots);
	http_client_free(sc->http);
}

/* ---- mount every filesystem, in parallel ---- */

/* Start a thread per filesystem and join them all; the first error. */
static int mount_all(struct sidecar *sc)
{
	int ret = 0;

	for (size_t i = 0; i < sc->cfg->n_fs; i++) {
		struct sc_slot *s = &sc->slots[i];
		int r = -pthread_create(&s->thread, NULL, sc_mount_thread, s);

		if (r < 0) {
			LOCK_GUARD(&sc->lock);
			s->state = HEALTH_FAILED;
			s->error = r;
			continue;
		}
		s->started = true;
	}
	for (size_t i = 0; i < sc->cfg->n_fs; i++) {
		struct sc_slot *s = &sc->slots[i];

		if (s->started)
			pthread_join(s->thread, NULL);
		if (ret == 0 && s->error < 0)
			ret = s->error;
	}
	return ret;
}

/* A sidecar that crashed (or was killed) left its mounts behind: clean up what its records name
 * before mounting again. A live owner (another sidecar) of a mount point is an error. */
static void show_recovery(void *userdata, const char *what)
{
	log_info("%s: %s", (const char *)userdata, what);
}

static int recover_leftovers(struct sidecar *sc)
{
	for (size_t i = 0; i < sc->cfg->n_fs; i++) {
		const char *mp = sc->cfg->fs[i].mount_point;
		struct pl_record rec = { 0 };
		struct diag d = { 0 };
		int r = pl_record_find(sc->state_dir, mp, &rec);

		if (r == -ENOENT)
			continue;
		if (r == 0 && rec.alive)
			r = log_error_errno(-EBUSY,
					    "Filesystem %zu: %s is served by another process "
					    "(%d) already",
					    i, mp, (int)rec.pid);
		else if (r == 0) {
			log_warn("Filesystem %zu: process %d that served %s is gone (a crash?): "
				 "cleaning up what it left",
				 i, (int)rec.pid, mp);
			r = pl_record_recover(&rec, show_recovery, (void *)mp, &d);
			if (r < 0)
				log_error("Filesystem %zu: cleaning up after process %d was "
					  "incomplete: %s",
					  i, (int)rec.pid, diag_or_strerror(&d, r));
		}
		pl_record_done(&rec);
		if (r < 0 && r != -EBADMSG)
			return r;
	}
	return 0;
}

/* The pipeline runs in its own thread, so that the main thread stays free for signals. */
static void *pipeline_thread(void *arg)
{
	struct sidecar *sc = arg;
	int r;

	r = mount_all(sc);
	LOCK_GUARD(&sc->lock);
	sc->pipeline_r = r;
	sc->pipeline_done = true;
	return NULL;
}

static bool pipeline_done(struct sidecar *sc)
{
	LOCK_GUARD(&sc->lock);
	return sc->pipeline_done;
}

static int64_t now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* Wait for the pipeline. A signal meanwhile asks it to stop at the next step boundary: then
 * -EINTR once it has, or -ETIMEDOUT when a step (e.g. a hung network call) still runs
 * STOP_GRACE_S later. Otherwise the pipeline's result. */
static int wait_pipeline(struct sidecar *sc, const sigset_t *sigs)
{
	const struct timespec tick = { 0, WAIT_TICK_NS };
	int64_t deadline = 0;

	while (!pipeline_done(sc)) {
		int sig = sigtimedwait(sigs, NULL, &tick);

		if (sig > 0 && !deadline) {
			log_warn("Signal %d while mounting: stopping after the current step", sig);
			atomic_store(&sc->stopping, true);
			deadline = now_s() + STOP_GRACE_S;
		}
		if (deadline && now_s() >= deadline)
			return -ETIMEDOUT;
	}
	pthread_join(sc->pipeline, NULL);
	return deadline ? -EINTR : sc->pipeline_r;
}

/* ---- readiness, teardown ---- */

static int write_readiness(const char *path, const char *content)
{
	int r = fs_write_atomic(path, content, strlen(content), 0644);

	return r < 0 ? log_error_errno(r, "Cannot write the readiness file %s: %m", path) : 0;
}

/* Tear down every published filesystem, in reverse order. Slots whose thread is still in a
 * step (a hung call after SIGTERM) are left alone: their thread owns them. */
static int teardown(struct sidecar *sc)
{
	char msg[4096];
	int ret = 0;

	for (size_t i = sc->cfg->n_fs; i-- > 0;) {
		struct sc_slot *s = &sc->slots[i];
		int r;

		{
			LOCK_GUARD(&sc->lock);
			if (!s->mounted)
				continue;
			s->mounted = false;
			s->state = HEALTH_STOPPING;
		}
		r = pl_teardown(s->fs);
		if (r < 0) {
			pl_failure_message(pl_fs_failure(s->fs), s->index, s->cfg->mount_point, msg,
					   sizeof(msg));
			log_error("%s", msg);
			if (ret == 0)
				ret = r;
		} else {
			log_info("Filesystem %u: %s unmounted", s->index, s->cfg->mount_point);
		}
	}
	return ret;
}

static int wait_signal(const sigset_t *sigs)
{
	int sig;

	do
		sig = sigwaitinfo(sigs, NULL);
	while (sig < 0 && errno == EINTR);
	log_info("Signal %d: flushing and unmounting", sig);
	return sig;
}

/* SIGTERM while a step hangs: tear down what is published and exit at once, without waiting
 * for (or freeing what is used by) the threads still running - the process is going away and
 * the container runtime would kill it at the end of the grace period anyway. */
static _Noreturn void abandon(struct sidecar *sc)
{
	log_error("Steps still running %d s after the signal (a hung network call?): exiting "
		  "without them",
		  STOP_GRACE_S);
	(void)teardown(sc);
	if (sc->cfg->readiness_file)
		(void)unlink(sc->cfg->readiness_file);
	_exit(0);
}

static int start_health(struct sidecar *sc, struct health_server **ret)
{
	const char *addr = sc->cfg->health_address;
	int r;

	if (!addr)
		return 0;
	r = health_server_start(&(struct health_options){ .address = addr,
							  .snapshot = sc_snapshot,
							  .userdata = sc },
				ret);
	if (r < 0)
		return log_error_errno(r, "sealmount.health_address: cannot listen on %s: %m",
				       addr);
	log_info("Health endpoint on http://%.*s:%u/status",
		 (int)(strrchr(addr, ':') ? strrchr(addr, ':') - addr : (long)strlen(addr)), addr,
		 health_server_port(*ret));
	return 0;
}

/* The pipeline. Every failure path tears down what is up before returning. */
static int run_pipeline(struct sidecar *sc, const sigset_t *sigs)
{
	const struct sm_config *c = sc->cfg;
	int r;

	r = -pthread_create(&sc->pipeline, NULL, pipeline_thread, sc);
	if (r < 0)
		return log_error_errno(r, "Cannot start the pipeline thread: %m");
	r = wait_pipeline(sc, sigs);
	if (r == -ETIMEDOUT)
		abandon(sc); /* does not return */
	if (r == -EINTR) {
		(void)teardown(sc);
		return r;
	}
	if (r < 0) {
		(void)teardown(sc);
		if (c->on_error == SM_ON_ERROR_EXIT)
			return r;
		log_error("on_error is 'stay': staying up until SIGTERM (health reports the "
			  "failure)");
		if (c->readiness_file)
			(void)write_readiness(c->readiness_file, "0\n");
		(void)wait_signal(sigs);
		return 0; /* a clean shutdown; the failure was logged and reported */
	}
	if (c->readiness_file) {
		r = write_readiness(c->readiness_file, "1\n");
		if (r < 0) {
			(void)teardown(sc);
			return r;
		}
	}
	log_info("Ready: %zu filesystem(s) published", c->n_fs);
	(void)wait_signal(sigs);
	return teardown(sc);
}

int sidecar_run(const struct sm_config *c)
{
	_cleanup_(health_server_stopp) struct health_server *health = NULL;
	struct sidecar sc = { .lock = PTHREAD_MUTEX_INITIALIZER };
	sigset_t sigs, old;
	int r;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, &old);
	r = sidecar_init(&sc, c);
	if (r == 0)
		r = recover_leftovers(&sc);
	if (r == 0)
		r = start_health(&sc, &health);
	if (r == 0)
		r = run_pipeline(&sc, &sigs);
	health_server_stop(TAKE_PTR(health));
	if (c->readiness_file)
		(void)unlink(c->readiness_file);
	sidecar_done(&sc);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r;
}
