/* SPDX-License-Identifier: MIT */
/*
 * cache_pool.c - a small fixed worker pool with a FIFO queue, and batches to wait on a group of
 * jobs. Used by the cache for read-ahead, parallel fetches and parallel write-back.
 */
#include <errno.h>
#include <stdlib.h>

#include "cache_internal.h"
#include "sealmount/log.h"

static struct pool_job *pool_pop(struct pool *p)
{
	struct pool_job *job;

	LOCK_GUARD(&p->lock);
	while (!p->head && !p->stop)
		pthread_cond_wait(&p->cond, &p->lock);
	job = p->head;
	if (!job)
		return NULL; /* stopping and drained */
	p->head = job->next;
	if (!p->head)
		p->tail = NULL;
	return job;
}

static void batch_complete(struct batch *b, int r)
{
	LOCK_GUARD(&b->lock);
	if (r < 0 && b->error == 0)
		b->error = r;
	if (--b->pending == 0)
		pthread_cond_broadcast(&b->cond);
}

static void *pool_main(void *arg)
{
	struct pool *p = arg;
	struct pool_job *job;

	while ((job = pool_pop(p))) {
		struct batch *b = job->batch;
		int r = job->fn(job); /* may free job when b == NULL */

		if (b)
			batch_complete(b, r);
	}
	return NULL;
}

int pool_init(struct pool *p, unsigned nthreads)
{
	int r;

	*p = (struct pool){ 0 };
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	p->threads = calloc(nthreads, sizeof(*p->threads));
	if (!p->threads)
		return -ENOMEM;
	for (unsigned i = 0; i < nthreads; i++) {
		r = pthread_create(&p->threads[i], NULL, pool_main, p);
		if (r != 0) {
			pool_done(p);
			return -r;
		}
		p->nthreads++;
	}
	return 0;
}

void pool_done(struct pool *p)
{
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	free(p->threads);
	p->threads = NULL;
	p->nthreads = 0;
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
}

void pool_submit(struct pool *p, struct pool_job *job)
{
	if (job->batch) {
		LOCK_GUARD(&job->batch->lock);
		job->batch->pending++;
	}
	job->next = NULL;
	LOCK_GUARD(&p->lock);
	if (p->tail)
		p->tail->next = job;
	else
		p->head = job;
	p->tail = job;
	pthread_cond_signal(&p->cond);
}

void batch_init(struct batch *b)
{
	*b = (struct batch){ 0 };
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->cond, NULL);
}

void batch_done(struct batch *b)
{
	pthread_cond_destroy(&b->cond);
	pthread_mutex_destroy(&b->lock);
}

int batch_wait(struct batch *b)
{
	LOCK_GUARD(&b->lock);
	while (b->pending > 0)
		pthread_cond_wait(&b->cond, &b->lock);
	return b->error;
}
