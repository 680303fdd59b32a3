/* SPDX-License-Identifier: MIT */
/*
 * secret.h - memory for key material.
 *
 * A secret is page-aligned, mlock()ed and madvise(MADV_DONTDUMP)ed; secret_free() wipes it with
 * explicit_bzero before unmapping. If locking fails, secret_new() fails closed with the error
 * (typically -ENOMEM/-EPERM from RLIMIT_MEMLOCK) unless secret_set_allow_unlocked(true) was
 * called from configuration (tests, never an environment variable).
 *
 * process_harden() makes the process non-dumpable and sets RLIMIT_CORE to 0; call it first
 * thing in main().
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sealmount/macros.h"

struct secret {
	uint8_t *data; /* len usable bytes */
	size_t len;
	size_t maplen;
	bool locked;
};

/* Allocate len (1..SECRET_MAX) zeroed bytes. -EINVAL, -ENOMEM, or the mlock/madvise error. */
#define SECRET_MAX (16u * 1024 * 1024)
_must_check_ int secret_new(size_t len, struct secret **ret) _nonnull_(2);
/* Allocate and copy from p (the caller wipes its own copy). */
_must_check_ int secret_new_copy(const void *p, size_t len, struct secret **ret) _nonnull_(1, 3);
/* Wipe, unlock, unmap. NULL-safe. */
void secret_free(struct secret *s);
DEFINE_CLEANUP_FUNC(struct secret, secret_free)
/* Shrink the usable length (the rest is wiped). -EINVAL if newlen > len. */
_must_check_ int secret_truncate(struct secret *s, size_t newlen) _nonnull_(1);
/* Constant-time equality of two secrets' contents. */
bool secret_equal(const struct secret *a, const struct secret *b) _nonnull_(1, 2);

void secret_set_allow_unlocked(bool allow);
bool secret_get_allow_unlocked(void);

/* PR_SET_DUMPABLE 0 and RLIMIT_CORE 0. Returns 0 or -errno. */
_must_check_ int process_harden(void);

/*
 * Lock all of the process's memory, present and future (mlockall MCL_CURRENT | MCL_FUTURE |
 * MCL_ONFAULT), for code that must keep key material in memory it does not allocate itself
 * (OpenSSL cipher contexts holding key schedules). Done only when the process may lock without
 * limit (CAP_IPC_LOCK or RLIMIT_MEMLOCK infinity): with a finite limit, MCL_FUTURE would make
 * later allocations fail. Returns 1 when locked (also when already locked), 0 when the process
 * is not privileged to (the caller decides; nothing changed), -errno when mlockall failed.
 */
_must_check_ int process_lock_memory(void);

/*
 * OpenSSL's secure heap (CRYPTO_secure_malloc_init): an mmap'd arena, mlock()ed, MADV_DONTDUMP,
 * with guard pages, whose allocations are wiped on free. OpenSSL puts private key numbers there
 * (BN_secure_new: the ephemeral RSA key's d, p, q, ..., and those of a released RSA key parsed
 * from PKCS#8). SECRET_HEAP_SIZE when the process may lock without limit, SECRET_HEAP_SMALL when
 * RLIMIT_MEMLOCK leaves at least SECRET_HEAP_MIN_RLIMIT (the rest stays for secret_new()),
 * else none. Call once, early in main(). Returns 1 (set up and locked), 0 (not set up, or set
 * up but not locked: OpenSSL then uses its normal heap or an unlocked arena), -ENOMEM.
 * Not enough alone: OpenSSL also copies key numbers into ordinary memory (Montgomery contexts,
 * temporaries) - the processes that hold keys also lock everything (process_lock_memory()).
 */
#define SECRET_HEAP_SIZE (256u * 1024)
#define SECRET_HEAP_SMALL (64u * 1024)
#define SECRET_HEAP_MIN_RLIMIT (1024u * 1024)
_must_check_ int secret_heap_init(void);
