/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "sealmount/secret.h"
#include "unit.h"

/* Is the page holding p locked? Read VmLck from /proc/self/status as a whole-process check. */
static long vmlck_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "VmLck:", 6) == 0)
			kb = strtol(line + 6, NULL, 10);
	fclose(f);
	return kb;
}

START_TEST(secret_new_is_zeroed_aligned_locked)
{
	_cleanup_(secret_freep) struct secret *s = NULL;
	long before = vmlck_kb();

	secret_set_allow_unlocked(false);
	ck_assert_int_eq(secret_new(100, &s), 0);
	ck_assert_uint_eq(s->len, 100);
	ck_assert_uint_eq((uintptr_t)s->data % (uintptr_t)sysconf(_SC_PAGESIZE), 0);
	for (size_t i = 0; i < s->len; i++)
		ck_assert_uint_eq(s->data[i], 0);
	ck_assert(s->locked);
	ck_assert_int_gt(vmlck_kb(), before);
	secret_set_allow_unlocked(true);
}
END_TEST

START_TEST(secret_new_rejects_bad_sizes)
{
	struct secret *s = NULL;

	ck_assert_int_eq(secret_new(0, &s), -EINVAL);
	ck_assert_int_eq(secret_new(SECRET_MAX + 1, &s), -EINVAL);
	ck_assert_ptr_null(s);
}
END_TEST

/* With RLIMIT_MEMLOCK at 0 an unprivileged process cannot lock: we must fail closed. Root has
 * CAP_IPC_LOCK and ignores the limit, so drop it when we have it is not possible here; check
 * only the outcome that applies. */
START_TEST(secret_fails_closed_without_mlock)
{
	struct rlimit old, zero = { 0, 0 };
	struct secret *s = NULL;
	int r;

	ck_assert_int_eq(getrlimit(RLIMIT_MEMLOCK, &old), 0);
	ck_assert_int_eq(setrlimit(RLIMIT_MEMLOCK, &zero), 0);
	secret_set_allow_unlocked(false);
	r = secret_new(32, &s);
	if (r == 0) {
		/* Privileged (CAP_IPC_LOCK): locking succeeded despite the limit. */
		ck_assert(s->locked);
		secret_free(s);
	} else {
		ck_assert(r == -EPERM || r == -ENOMEM || r == -EAGAIN);
		ck_assert_ptr_null(s);
		secret_set_allow_unlocked(true);
		ck_assert_int_eq(secret_new(32, &s), 0);
		ck_assert(!s->locked);
		secret_free(s);
	}
	secret_set_allow_unlocked(true);
}
END_TEST

START_TEST(secret_copy_truncate_equal)
{
	_cleanup_(secret_freep) struct secret *a = NULL;
	_cleanup_(secret_freep) struct secret *b = NULL;

	ck_assert_int_eq(secret_new_copy("0123456789", 10, &a), 0);
	ck_assert_int_eq(secret_new_copy("0123456789", 10, &b), 0);
	ck_assert(secret_equal(a, b));
	b->data[9] = 'x';
	ck_assert(!secret_equal(a, b));
	ck_assert_int_eq(secret_truncate(a, 4), 0);
	ck_assert_uint_eq(a->len, 4);
	ck_assert_uint_eq(a->data[4], 0);
	ck_assert_int_eq(secret_truncate(a, 5), -EINVAL);
	ck_assert_int_eq(secret_truncate(a, 0), -EINVAL);
	ck_assert(!secret_equal(a, b));
	secret_free(NULL);
}
END_TEST

START_TEST(process_harden_disables_dumps)
{
	struct rlimit rl;

	ck_assert_int_eq(process_harden(), 0);
	ck_assert_int_eq(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
	ck_assert_int_eq(getrlimit(RLIMIT_CORE, &rl), 0);
	ck_assert_uint_eq(rl.rlim_cur, 0);
}
END_TEST

START_TEST(process_lock_memory_locks_or_declines)
{
	long before = vmlck_kb();
	int r = process_lock_memory();

	ck_assert_int_ge(r, 0);
	if (r == 1) {
		/* MCL_FUTURE | MCL_ONFAULT: a new mapping is locked as it is touched. */
		char *p = malloc(1u << 20);

		ck_assert_ptr_nonnull(p);
		memset(p, 1, 1u << 20);
		ck_assert_int_ge(vmlck_kb(), before + 1024);
		free(p);
		ck_assert_int_eq(process_lock_memory(), 1);
	} else {
		ck_assert_int_eq(vmlck_kb(), before); /* unprivileged: nothing changed */
	}
}
END_TEST

/* OpenSSL's secure heap: as root (or with an ample RLIMIT_MEMLOCK) the private numbers of a new
 * RSA key live in it - locked, and wiped when freed. */
START_TEST(secret_heap_holds_private_key_numbers)
{
	long before = vmlck_kb();
	int r = secret_heap_init();
	EVP_PKEY *k;
	BIGNUM *d = NULL;
	void *p;

	ck_assert_int_ge(r, 0);
	ck_assert_int_eq(secret_heap_init(), r ? 1 : 0); /* idempotent */
	if (r == 0) {
		struct rlimit rl;

		/* Declined only without the room to lock it. */
		ck_assert_int_eq(getrlimit(RLIMIT_MEMLOCK, &rl), 0);
		ck_assert(rl.rlim_cur < SECRET_HEAP_MIN_RLIMIT ||
			  CRYPTO_secure_malloc_initialized());
		return;
	}
	ck_assert(CRYPTO_secure_malloc_initialized());
	ck_assert_int_ge(vmlck_kb(), before + (long)SECRET_HEAP_SMALL / 1024);
	p = OPENSSL_secure_malloc(100);
	ck_assert(CRYPTO_secure_allocated(p));
	OPENSSL_secure_free(p);
	k = EVP_RSA_gen(2048);
	ck_assert_ptr_nonnull(k);
	ck_assert_uint_gt(CRYPTO_secure_used(), 0);
	/* The key's own numbers are in the secure heap (what EVP_PKEY_get_bn_param() hands out
	 * is a copy, in ordinary memory). */
	ck_assert_int_eq(EVP_PKEY_get_bn_param(k, "rsa-factor1", &d), 1);
	BN_clear_free(d);
	EVP_PKEY_free(k);
}
END_TEST

START_TEST(wipe_clears)
{
	char b[16] = "secretsecret";

	wipe(b, sizeof(b));
	for (size_t i = 0; i < sizeof(b); i++)
		ck_assert_int_eq(b[i], 0);
	wipe(NULL, 10);
}
END_TEST

static Suite *secret_suite(void)
{
	Suite *s = suite_create("secret");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, secret_new_is_zeroed_aligned_locked);
	tcase_add_test(tc, secret_new_rejects_bad_sizes);
	tcase_add_test(tc, secret_fails_closed_without_mlock);
	tcase_add_test(tc, secret_copy_truncate_equal);
	tcase_add_test(tc, process_harden_disables_dumps);
	tcase_add_test(tc, process_lock_memory_locks_or_declines);
	tcase_add_test(tc, wipe_clears);
	tcase_add_test(tc, secret_heap_holds_private_key_numbers);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(secret_suite)
