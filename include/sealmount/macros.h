/* SPDX-License-Identifier: MIT */
/*
 * macros.h - small helpers shared by every module: cleanup attributes,
 * ownership transfer, overflow-checked arithmetic and annotations.
 *
 * Nothing here allocates. The cleanup helpers are NULL-safe.
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _must_check_ __attribute__((warn_unused_result))
#define _nonnull_(...) __attribute__((nonnull(__VA_ARGS__)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _cleanup_(f) __attribute__((cleanup(f)))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

/* Take the value out of a variable and leave it zeroed: hands ownership over. */
#define TAKE_PTR(p)                                                                                \
	({                                                                                         \
		__typeof__(p) _tp_ = (p);                                                          \
		(p) = NULL;                                                                        \
		_tp_;                                                                              \
	})
#define TAKE_FD(fd)                                                                                \
	({                                                                                         \
		int _tfd_ = (fd);                                                                  \
		(fd) = -1;                                                                         \
		_tfd_;                                                                             \
	})

/* true on overflow; *r gets the wrapped result. */
#define ADD_OVERFLOW(a, b, r) __builtin_add_overflow((a), (b), (r))
#define MUL_OVERFLOW(a, b, r) __builtin_mul_overflow((a), (b), (r))

static inline void freep(void *p)
{
	free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		(void)close(*fd);
		errno = saved;
	}
}
#define _cleanup_close_ _cleanup_(closep)

#define DEFINE_CLEANUP_FUNC(type, func)                                                            \
	static inline void func##p(type **p)                                                       \
	{                                                                                          \
		if (*p)                                                                            \
			func(*p);                                                                  \
	}

/* Locks held for a scope. */
#include <pthread.h>
static inline void mutex_unlockp(pthread_mutex_t **m)
{
	if (*m)
		pthread_mutex_unlock(*m);
}
#define CONCAT_(a, b) a##b
#define CONCAT(a, b) CONCAT_(a, b)
#define LOCK_GUARD(m)                                                                              \
	_cleanup_(mutex_unlockp) _unused_ pthread_mutex_t *CONCAT(lock_guard_, __LINE__) = ({      \
		pthread_mutex_lock(m);                                                             \
		(m);                                                                               \
	})

/* Wipe a caller buffer in a way the compiler cannot drop (key material, tokens). */
static inline void wipe(void *p, size_t n)
{
	if (p && n)
		explicit_bzero(p, n);
}

static inline bool streq(const char *a, const char *b)
{
	return a && b && __builtin_strcmp(a, b) == 0;
}
