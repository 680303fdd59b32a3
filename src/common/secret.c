/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "sealmount/secret.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

static _Atomic bool allow_unlocked;

void secret_set_allow_unlocked(bool allow)
{
	allow_unlocked = allow;
}

bool secret_get_allow_unlocked(void)
{
	return allow_unlocked;
}

static size_t page_round(size_t len)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	return (len + pg - 1) / pg * pg;
}

/* Lock and exclude from core dumps; fail closed unless relaxed by configuration. */
static int protect(struct secret *s)
{
	if (madvise(s->data, s->maplen, MADV_DONTDUMP) < 0 && !allow_unlocked)
		return -errno;
	/* The raw system call: sanitizer runtimes intercept mlock() and turn it into a no-op. */
	if (syscall(SYS_mlock, s->data, s->maplen) < 0) {
		int r = -errno;
		/* RLIMIT_MEMLOCK, typically. Allowed only by configuration (tests); the secret
		 * stays unlocked (s->locked false, which callers can report). */
		return allow_unlocked ? 0 : r;
	}
	s->locked = true;
	return 0;
}

int secret_new(size_t len, struct secret **ret)
{
	struct secret *s;
	void *p;
	int r;

	if (len == 0 || len > SECRET_MAX)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->maplen = page_round(len);
	p = mmap(NULL, s->maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		free(s);
		return -ENOMEM;
	}
	s->data = p;
	s->len = len;
	r = protect(s);
	if (r < 0) {
		secret_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

int secret_new_copy(const void *p, size_t len, struct secret **ret)
{
	struct secret *s;
	int r = secret_new(len, &s);

	if (r < 0)
		return r;
	memcpy(s->data, p, len);
	*ret = s;
	return 0;
}

void secret_free(struct secret *s)
{
	if (!s)
		return;
	if (s->data) {
		explicit_bzero(s->data, s->maplen);
		if (s->locked)
			(void)syscall(SYS_munlock, s->data, s->maplen);
		(void)munmap(s->data, s->maplen);
	}
	free(s);
}

int secret_truncate(struct secret *s, size_t newlen)
{
	if (newlen > s->len || newlen == 0)
		return -EINVAL;
	explicit_bzero(s->data + newlen, s->len - newlen);
	s->len = newlen;
	return 0;
}

bool secret_equal(const struct secret *a, const struct secret *b)
{
	return a->len == b->len && CRYPTO_memcmp(a->data, b->data, a->len) == 0;
}

int process_harden(void)
{
	struct rlimit rl = { 0, 0 };

	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return -errno;
	if (setrlimit(RLIMIT_CORE, &rl) < 0)
		return -errno;
	return 0;
}

static bool may_lock_unlimited(void)
{
	unsigned long long caps = 0;
	struct rlimit rl;
	char line[256];
	bool found = false;
	FILE *f;

	if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur == RLIM_INFINITY)
		return true;
	/* CAP_IPC_LOCK (bit 14 of the effective set) lifts the limit. */
	f = fopen("/proc/self/status", "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		if (strncmp(line, "CapEff:", 7) == 0) {
			caps = strtoull(line + 7, NULL, 16);
			found = true;
		}
	fclose(f);
	return found && (caps & (1ULL << 14));
}

int secret_heap_init(void)
{
	struct rlimit rl;
	size_t size = 0;
	int r;

	if (CRYPTO_secure_malloc_initialized())
		return 1;
	if (may_lock_unlimited())
		size = SECRET_HEAP_SIZE;
	else if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur >= SECRET_HEAP_MIN_RLIMIT)
		size = SECRET_HEAP_SMALL;
	if (size == 0)
		return 0;
	/* minsize 64: RSA-4096 numbers are 256..512 bytes; the buddy allocator rounds up. */
	r = CRYPTO_secure_malloc_init(size, 64);
	if (r == 0)
		return -ENOMEM;
	return r == 1 ? 1 : 0; /* 2: usable but mlock() failed */
}

int process_lock_memory(void)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static bool locked;
	int r = 1;

	LOCK_GUARD(&lock);
	if (locked)
		return 1;
	if (!may_lock_unlimited())
		return 0;
	/* The raw system call: sanitizer runtimes intercept mlockall() and make it a no-op. */
	if (syscall(SYS_mlockall, MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) < 0)
		r = -errno;
	else
		locked = true;
	return r;
}
