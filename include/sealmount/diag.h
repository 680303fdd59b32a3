/* SPDX-License-Identifier: MIT */
/*
 * diag.h - the detail of a failure, handed up instead of logged ("log once", docs/conventions.md).
 *
 * Modules below the coordinators (volume, attest, pipeline, ...) do not log at error or warning
 * level: a fallible function takes an optional `struct diag *` and, when it fails, writes one
 * sentence saying what failed and why into it, then returns -errno as usual. The coordinator
 * (a CLI command, the sidecar) logs that sentence once, with its own context and the likely
 * causes (pipeline.h's explainer). Every diag_set() is also written to the log at debug level,
 * so `--log-level debug` shows the whole chain.
 *
 * A diag is caller-owned and fixed-size: no allocation, usable from any thread on its own
 * struct. The first diag_set() wins; later ones (the same failure seen again one level up)
 * only add context in front with diag_prefix(). Secrets never go into a diag.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "sealmount/macros.h"

#define DIAG_MAX 2048
#define DIAG_CODE_MAX 64

struct diag {
	char text[DIAG_MAX]; /* "" until set */
	int err; /* the -errno given to the first diag_set(), 0 until set */
	/* A service's own name for the failure (Blob's x-ms-error-code, e.g. "ContainerNotFound"),
	 * or "": what the explainer (pipeline.h) keys its finer causes on. */
	char code[DIAG_CODE_MAX];
};

/* Empty d (NULL-safe). */
void diag_clear(struct diag *d);

/*
 * Record what failed, unless d already holds a message (then only the debug line is written).
 * fmt is printf's, and "%m" is strerror(-err). Returns err (so `return diag_set(d, r, ...)`
 * reads like log_error_errno). d may be NULL: the message then goes to the debug log only.
 */
int diag_set(struct diag *d, int err, const char *fmt, ...) _printf_(3, 4);

/* Record the service's error code with the failure (d may be NULL; the first code wins): its
 * leading run of letters and digits, at most DIAG_CODE_MAX - 1 of them - the code comes from
 * the network and is printed. */
void diag_set_code(struct diag *d, const char *code);

/* Put "PREFIX: " in front of what d holds (or make PREFIX the message when d is empty). */
void diag_prefix(struct diag *d, const char *fmt, ...) _printf_(2, 3);

/* Append "; TEXT" (or make TEXT the message when d is empty): a second, independent problem,
 * e.g. a teardown step that failed after the first. */
void diag_append(struct diag *d, const char *fmt, ...) _printf_(2, 3);

static inline bool diag_is_set(const struct diag *d)
{
	return d && d->text[0];
}

/* d's text, or strerror(-err) when d is NULL or empty: what a coordinator prints after "...: ". */
const char *diag_or_strerror(const struct diag *d, int err);

/* d's text, or fallback when d is NULL or empty. */
static inline const char *diag_text(const struct diag *d, const char *fallback)
{
	return diag_is_set(d) ? d->text : fallback;
}
