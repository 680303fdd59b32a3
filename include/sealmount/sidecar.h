/* SPDX-License-Identifier: MIT */
/*
 * sidecar.h - `sealmount run`: the sidecar coordinator (docs/README.md, Pipeline).
 *
 *   config -> for each filesystem, in parallel, the pipeline's steps (pipeline.h): attest (once
 *             per MAA endpoint, shared) -> token -> release -> open -> volume -> publish
 *          -> readiness file -> health endpoint -> wait for SIGTERM/SIGINT
 *          -> flush and close every volume (reverse order), remove the readiness file.
 *
 * On a fatal error one message names the failing filesystem and step, with its likely causes
 * (pl_failure_message()), everything already mounted is torn down and sidecar_run() returns the
 * error - or, with "on_error": "stay", the process stays up (health reports the failure) until
 * SIGTERM, as Microsoft's sidecar does.
 *
 * Signals: sidecar_run() blocks SIGTERM and SIGINT in the calling thread (threads it starts
 * inherit the mask) and waits for them itself while the pipeline runs in its own thread; a
 * signal during mounting stops the pipeline at the next step boundary and tears down what
 * exists. If a step still runs 15 s after the signal (a hung network call), what is published
 * is torn down and the process exits at once with status 0 (_exit), inside ACI's 30 s grace.
 *
 * Errors: -errno of the failing step (already logged), -EINTR when stopped by a signal before
 * every filesystem was up (not an error for the exit code: 0).
 */
#pragma once

#include <stdio.h>

#include "sealmount/config.h"
#include "sealmount/macros.h"

/* Load the configuration: from the JSON file `path`, or (path NULL) from the environment
 * variable EncfsSideCarArgs; then LogFile/LogLevel from the environment. Logs the error, naming
 * the field, and returns -EINVAL/-EBADMSG/-ENOENT (no configuration given)/-errno. */
_must_check_ int sidecar_config_load(const char *path, struct sm_config **ret) _nonnull_(2);

/* Print what the configuration means, one "key = value" per line, secrets redacted (bearer
 * tokens, SAS signatures). For --check-config --dump and tests. */
void sidecar_config_dump(const struct sm_config *c, FILE *f) _nonnull_(1, 2);

/* Run the sidecar until SIGTERM/SIGINT. 0 after a clean shutdown, else -errno (see above). */
_must_check_ int sidecar_run(const struct sm_config *c) _nonnull_(1);
