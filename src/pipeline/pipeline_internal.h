/* SPDX-License-Identifier: MIT */
/*
 * pipeline_internal.h - struct pl_fs, shared by the files of the pipeline module: pipeline.c
 * (the filesystem object, open/volume/publish/teardown, failure messages), key.c (attest,
 * token, release, the vault session) and stack.c (the stack builder). Not installed.
 */
#pragma once

#include <pthread.h>

#include "sealmount/attest.h"
#include "sealmount/pipeline.h"
#include "sealmount/verity.h"

struct pl_attest_once {
	pthread_mutex_t lock;
	bool done;
	unsigned by; /* the filesystem that ran it */
	struct attest_result res;
	struct pl_failure fail;
};

struct pl_fs {
	const struct pl_spec *spec;
	struct http_client *http;
	struct attest_result own_att; /* attested for this filesystem alone */
	const struct attest_result *att; /* &own_att or a pl_attest_once's result */
	struct pl_vault vault;
	struct secret *pass; /* from release until the volume step */
	bool key_file_newline; /* the key file's last byte is a newline (a likely mistake) */
	bool record_written; /* the crash record is in spec->state_dir */
	struct pl_stack stack;
	bool sealed; /* seal_img and seal_root hold a checked seal */
	struct verity_image seal_img;
	uint8_t seal_root[VERITY_DIGEST_SIZE];
	struct volume *vol;
	struct pl_failure fail;
	pl_observer_fn observer;
	void *observer_data;
	char done_text[512];
	char warning[320];
	bool warning_pending; /* warning not yet taken */
	unsigned warned; /* bit per warning kind already returned */
};

/* The crash record (state.c): written by the publish step, removed by teardown. */
_must_check_ int pl_record_write(struct pl_fs *fs, struct diag *d) _nonnull_(1);
void pl_record_remove(struct pl_fs *fs) _nonnull_(1);

/* Tell the observer that step s starts. */
static inline void pl_begin(struct pl_fs *fs, enum pl_step s)
{
	fs->done_text[0] = '\0';
	if (fs->observer)
		fs->observer(fs->observer_data, s);
}

/* Record a failure of step s (err, with d's text) in fs; returns err. */
int pl_fail(struct pl_fs *fs, enum pl_step s, int err, const struct diag *d) _nonnull_(1);
/* Set fs's done text / pending warning (printf-style). */
void pl_done(struct pl_fs *fs, const char *fmt, ...) _printf_(2, 3) _nonnull_(1);
void pl_warn(struct pl_fs *fs, unsigned kind, const char *fmt, ...) _printf_(3, 4) _nonnull_(1);

enum {
	PL_WARN_SIMULATED = 1u << 0,
	PL_WARN_NO_INTEGRITY = 1u << 1,
	PL_WARN_SEAL_UNCHECKED = 1u << 2,
};
