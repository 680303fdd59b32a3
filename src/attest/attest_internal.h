/* SPDX-License-Identifier: MIT */
/* attest_internal.h - small helpers shared inside src/attest; not a public API. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "sealmount/macros.h"

/* Write a file atomically enough for our use (O_CREAT|O_EXCL|O_NOFOLLOW, given mode). */
_must_check_ int attest_write_file(const char *dir, const char *name, const void *data, size_t len,
				   unsigned mode) _nonnull_(1, 2, 3);
