/* SPDX-License-Identifier: MIT */
/*
 * luks2_budget.c - the unlock budget (docs/luks2.md, KDF budget): what one unlock of a validated
 * header may cost before any key is tried. A header is untrusted: it may ask for argon2 with
 * 4 GiB and 64 passes, or PBKDF2 with millions of iterations in every keyslot and the digest,
 * which is minutes of CPU or an OOM-killed container. So the policy bounds
 *
 *   memory  the argon2 memory of every keyslot: at most kdf_max_memory_kib (1 GiB by default,
 *           cryptsetup's own default maximum) and never more than this process can get: its
 *           cgroup memory limit (v2 memory.max, v1 memory.limit_in_bytes, the lowest on the way
 *           to the root) or the RAM, less room for the rest of the process;
 *   time    an estimate of the worst-case unlock (a wrong passphrase tries every keyslot, each
 *           followed by the digest) from rates measured on the machines sealmount runs on.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "luks2_internal.h"
#include "sealmount/fsutil.h"
#include "sealmount/log.h"

#define CGROUP_FILE_MAX 65536u
#define LIMIT_FILE_MAX 64u
/* cgroup v1 prints "no limit" as PAGE_COUNTER_MAX pages, 0x7ffffffffffff000 with 4 KiB pages:
 * anything from 2^62 on is no limit. */
#define NO_LIMIT (UINT64_C(1) << 62)
#define ROOM_MIN (UINT64_C(128) << 20)

uint64_t luks2_kdf_estimate_ms(const struct luks2_kdf *k)
{
	uint64_t lanes;

	if (k->type == LUKS2_KDF_PBKDF2)
		return (uint64_t)k->iterations * 1000 / LUKS2_KDF_PBKDF2_ITER_PER_S;
	/* time <= 64, memory <= 4 GiB in KiB: the product times 1000 fits 64 bits. */
	lanes = k->cpus < LUKS2_KDF_CORES ? (k->cpus ? k->cpus : 1) : LUKS2_KDF_CORES;
	return (uint64_t)k->time * k->memory_kib * 1000 / (LUKS2_KDF_ARGON2_KIB_PER_S * lanes);
}

uint64_t luks2_unlock_estimate_ms(const struct luks2_hdr *h)
{
	uint64_t digest = (uint64_t)h->digest.iterations * 1000 / LUKS2_KDF_PBKDF2_ITER_PER_S;
	uint64_t ms = 0;

	for (unsigned i = 0; i < h->n_keyslots; i++)
		ms += luks2_kdf_estimate_ms(&h->keyslots[i].kdf) + digest;
	return ms;
}

uint32_t luks2_policy_memory_budget_kib(const struct luks2_policy *p)
{
	uint64_t max =
		p->kdf_max_memory_kib ? p->kdf_max_memory_kib : LUKS2_KDF_MAX_MEMORY_KIB_DEFAULT;
	uint64_t room, usable;

	if (p->memory_limit == 0)
		return (uint32_t)max;
	room = p->memory_limit / 4 > ROOM_MIN ? p->memory_limit / 4 : ROOM_MIN;
	usable = p->memory_limit > room ? (p->memory_limit - room) / 1024 : 0;
	return (uint32_t)(usable < max ? usable : max);
}

int luks2_budget_check(const struct luks2_hdr *h, const struct luks2_policy *p,
		       struct luks2_verdict *v)
{
	uint32_t mem = luks2_policy_memory_budget_kib(p);
	uint64_t max_ms = p->kdf_max_ms ? p->kdf_max_ms : LUKS2_KDF_MAX_MS_DEFAULT;
	uint64_t ms;

	for (unsigned i = 0; i < h->n_keyslots; i++) {
		const struct luks2_kdf *k = &h->keyslots[i].kdf;

		if (k->type != LUKS2_KDF_PBKDF2 && k->memory_kib > mem)
			return luks2_fail(
				v, -EPERM, "kdf.budget.memory",
				"keyslot %u: %s needs %" PRIu32 " KiB, the budget is %" PRIu32
				" KiB (%s%s); raise it with sealmount.kdf_max_memory_mb or "
				"--kdf-max-memory-mb",
				h->keyslots[i].id, luks2_kdf_name(k->type), k->memory_kib, mem,
				p->kdf_max_memory_kib ? "configured" : "default 1 GiB",
				p->memory_limit ? ", capped by this process's memory limit" : "");
	}
	ms = luks2_unlock_estimate_ms(h);
	if (ms > max_ms)
		return luks2_fail(
			v, -EPERM, "kdf.budget.time",
			"one unlock is estimated at %" PRIu64 ".%" PRIu64
			" s (every keyslot and the digest), the budget is %" PRIu64
			" s; raise it with sealmount.kdf_max_seconds or --kdf-max-seconds",
			ms / 1000, ms % 1000 / 100, max_ms / 1000);
	return 0;
}

/* ---- the memory this process can get ---- */

/* A limit file: a decimal number of bytes, or "max". 0 with *ret = UINT64_MAX for no limit;
 * -ENOENT when the file does not exist; -EBADMSG. */
static int read_limit(const char *path, uint64_t *ret)
{
	_cleanup_free_ uint8_t *data = NULL;
	char *end;
	size_t len;
	uint64_t v;
	int r;

	r = fs_read_file(path, LIMIT_FILE_MAX, FS_READ_TRIM | FS_READ_ONE_LINE | FS_READ_NONEMPTY,
			 &data, &len);
	if (r < 0)
		return r;
	if (streq((char *)data, "max")) {
		*ret = UINT64_MAX;
		return 0;
	}
	if (data[0] < '0' || data[0] > '9')
		return -EBADMSG;
	errno = 0;
	v = strtoull((char *)data, &end, 10);
	if (errno || *end)
		return -EBADMSG;
	*ret = v >= NO_LIMIT ? UINT64_MAX : v;
	return 0;
}

/* The lowest FILE limit from base + cg up to base itself ("/a/b", "/a", ""). A path the file
 * is missing from is skipped (a container's own cgroup is often the mount's root). */
static void walk_limits(const char *base, const char *cg, const char *file, uint64_t *limit)
{
	char path[PATH_MAX];
	size_t n = strlen(cg);

	for (;;) {
		uint64_t v;
		int len = snprintf(path, sizeof(path), "%s%.*s/%s", base, (int)n, cg, file);

		if (len > 0 && (size_t)len < sizeof(path) && read_limit(path, &v) == 0 &&
		    v < *limit)
			*limit = v;
		if (n == 0)
			return;
		while (n > 0 && cg[n - 1] != '/')
			n--;
		if (n > 0)
			n--; /* drop the '/' too: "/a/b" -> "/a" -> "" */
	}
}

/* A cgroup path as /proc/self/cgroup gives it: absolute, no empty, "." or ".." components. */
static bool is_cgroup_path(const char *s, size_t n)
{
	if (n == 0 || s[0] != '/' || n >= PATH_MAX / 2 || memchr(s, '\0', n))
		return false;
	for (size_t i = 0; i < n; i++) {
		size_t e = i + 1;

		if (s[i] != '/')
			continue;
		while (e < n && s[e] != '/')
			e++;
		if ((e == i + 1 && e < n) || (e - i == 2 && s[i + 1] == '.') ||
		    (e - i == 3 && s[i + 1] == '.' && s[i + 2] == '.'))
			return false;
	}
	return true;
}

/* "memory" among the comma-separated controllers of a v1 line. */
static bool has_memory(const char *c, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t e = i;

		while (e < n && c[e] != ',')
			e++;
		if (e - i == 6 && memcmp(c + i, "memory", 6) == 0)
			return true;
		i = e + 1;
	}
	return false;
}

/* One line of /proc/self/cgroup, "ID:CONTROLLERS:PATH". */
static void cgroup_line(const char *root, const char *line, size_t n, uint64_t *limit)
{
	const char *c1 = memchr(line, ':', n), *c2;
	char base[PATH_MAX], cg[PATH_MAX / 2];
	bool v2;

	if (!c1 || !(c2 = memchr(c1 + 1, ':', (size_t)(line + n - c1 - 1))))
		return;
	v2 = c1 == line + 1 && line[0] == '0' && c2 == c1 + 1;
	if (!v2 && !has_memory(c1 + 1, (size_t)(c2 - c1 - 1)))
		return;
	n = (size_t)(line + n - c2 - 1);
	if (!is_cgroup_path(c2 + 1, n))
		return;
	memcpy(cg, c2 + 1, n);
	cg[n] = 0;
	if (n == 1)
		cg[0] = 0; /* "/" */
	(void)snprintf(base, sizeof(base), "%s/sys/fs/cgroup%s", root, v2 ? "" : "/memory");
	walk_limits(base, cg, v2 ? "memory.max" : "memory.limit_in_bytes", limit);
}

int luks2_memory_limit(const char *root, uint64_t *ret)
{
	_cleanup_free_ uint8_t *data = NULL;
	char path[PATH_MAX];
	uint64_t limit = UINT64_MAX;
	size_t len;
	int r;

	if (snprintf(path, sizeof(path), "%s/proc/self/cgroup", root) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	r = fs_read_file(path, CGROUP_FILE_MAX, 0, &data, &len);
	if (r < 0)
		return log_debug_errno(r, "Cannot read %s: %m", path);
	for (size_t i = 0; i < len;) {
		const char *line = (const char *)data + i;
		const char *nl = memchr(line, '\n', len - i);
		size_t n = nl ? (size_t)(nl - line) : len - i;

		cgroup_line(root, line, n, &limit);
		i += n + 1;
	}
	*ret = limit;
	return 0;
}

uint64_t luks2_process_memory_limit(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
	uint64_t limit = UINT64_MAX, phys;

	if (luks2_memory_limit("", &limit) < 0)
		limit = UINT64_MAX;
	if (pages > 0 && psize > 0 && !MUL_OVERFLOW((uint64_t)pages, (uint64_t)psize, &phys) &&
	    phys < limit)
		limit = phys;
	log_debug("LUKS2 KDF budget: this process can get %" PRIu64 " MiB", limit >> 20);
	return limit == UINT64_MAX ? 0 : limit;
}
