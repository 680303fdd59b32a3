/* SPDX-License-Identifier: MIT */
/*
 * run.c - the sidecar coordinator: sidecar_run() reads as the pipeline of docs/README.md
 * (attest once -> every filesystem in parallel -> ready -> serve -> tear down). The
 * per-filesystem steps are in mount.c, the health endpoint in health.c.
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

static int sidecar_init(struct sidecar *sc, const struct sm_config *c)
{
	int r;

	sc->cfg = c;
	if (c->log_level > log_get_level())
		log_set_level(c->log_level);
	if (c->log_file) {
		r = open_log_file(c->log_file);
		if (r < 0)
			return r;
	}
	if (c->allow_unlocked_memory)
		secret_set_allow_unlocked(true);
	r = unwrap_enc_parse(c->enc ? c->enc : "RSA_AES_KEY_WRAP_256", &sc->enc);
	if (r < 0)
		return log_error_errno(r, "sealmount.enc: unknown algorithm");
	sc->slots = calloc(c->n_fs, sizeof(*sc->slots));
	sc->att = calloc(c->n_fs, sizeof(*sc->att));
	if (!sc->slots || !sc->att)
		return log_error_errno(-ENOMEM, "Out of memory");
	for (size_t i = 0; i < c->n_fs; i++)
		sc->slots[i] = (struct sc_slot){ .sc = sc, .index = (unsigned)i, .cfg = &c->fs[i] };
	r = http_client_new(&(struct http_options){ .ca_file = c->ca_file, .max_retries = 4 },
			    &sc->http);
	if (r < 0)
		return log_error_errno(r, "Cannot set up HTTP (sealmount.ca_file?): %m");
	r = imds_client_new(
		sc->http,
		&(struct imds_options){ .endpoint = c->imds_endpoint, .client_id = c->client_id },
		&sc->imds);
	if (r < 0)
		return log_error_errno(r, "azure_info.identity.client_id or imds_endpoint is "
					  "invalid: %m");
	return 0;
}

static void sidecar_done(struct sidecar *sc)
{
	if (sc->att)
		for (size_t i = 0; i < sc->n_att; i++)
			attest_result_done(&sc->att[i].res);
	free(sc->att);
	free(sc->slots);
	imds_client_free(sc->imds);
	http_client_free(sc->http);
}

/* ---- attest ---- */

static int attest_all(struct sidecar *sc)
{
	const struct sm_config *c = sc->cfg;
	const char *snp = c->snp ? c->snp : "device";
	int r;

	/* A simulated SNP is only used when the config says so; attest_run() announces it
	 * loudly, and the result is marked simulated in the log below. */
	for (size_t i = 0; i < c->n_fs; i++) {
		struct sc_slot *s = &sc->slots[i];
		size_t j = 0;

		while (j < sc->n_att && strcmp(sc->att[j].maa, s->cfg->maa_endpoint) != 0)
			j++;
		if (j == sc->n_att) {
			sc_set_state(s, HEALTH_MOUNTING, "attest");
			sc->att[j].maa = s->cfg->maa_endpoint;
			r = attest_run(&(struct attest_params){ .http = sc->http,
								.maa = sc->att[j].maa,
								.api = MAA_API_2022_08_01,
								.snp = snp },
				       &sc->att[j].res);
			if (r < 0) {
				return log_error_errno(
					r,
					"Filesystem %u (%s): step 'attest' failed with "
					"%s: %m. Likely causes: %s",
					s->index, s->cfg->mount_point, sc->att[j].maa,
					sidecar_explain("attest", r));
			}
			sc->n_att++;
			log_info("Attested with %s%s", sc->att[j].maa,
				 sc->att[j].res.simulated ? " (SIMULATED SNP)" : "");
		}
		s->att = &sc->att[j];
	}
	return 0;
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

/* The pipeline runs in its own thread, so that the main thread stays free for signals. */
static void *pipeline_thread(void *arg)
{
	struct sidecar *sc = arg;
	int r;

	r = attest_all(sc);
	if (r == 0 && !atomic_load(&sc->stopping))
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
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int fd = -1;
	size_t n = strlen(content);

	if (asprintf(&tmp, "%s.tmp", path) < 0)
		return -ENOMEM;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, content, n) != (ssize_t)n || rename(tmp, path) < 0) {
		int r = -errno;

		(void)unlink(tmp);
		return log_error_errno(r, "Cannot write the readiness file %s: %m", path);
	}
	return 0;
}

static int teardown(struct sidecar *sc)
{
	int ret = 0;

	for (size_t i = sc->cfg->n_fs; i-- > 0;) {
		struct sc_slot *s = &sc->slots[i];
		struct volume *vol;
		void *tc;
		int r;

		{
			LOCK_GUARD(&sc->lock);
			vol = TAKE_PTR(s->vol);
			tc = TAKE_PTR(s->token_ctx);
			s->cache = s->blob = NULL;
			if (s->state == HEALTH_MOUNTED)
				s->state = HEALTH_STOPPING;
		}
		if (!vol)
			continue;
		r = volume_close(vol);
		free(tc);
		if (r < 0) {
			log_error_errno(r,
					"Filesystem %u (%s): teardown failed: %m (data written "
					"since the last flush may be lost)",
					s->index, s->cfg->mount_point);
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
	log_info("Health endpoint on http://%s (port %u)", addr, health_server_port(*ret));
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
