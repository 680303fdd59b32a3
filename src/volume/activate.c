/* SPDX-License-Identifier: MIT */
/*
 * activate.c - the kernel engine's activation: libcryptsetup opens the validated in-memory
 * header (h->raw, both copies and the keyslots area) as a detached header from a sealed memfd,
 * so the header on the blob is never read again (no time-of-check/time-of-use gap), and then
 * libdevmapper reads the tables back for dmtable.c to check. libcryptsetup's and
 * libdevmapper's errors are translated here, once.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libcryptsetup.h>
#include <libdevmapper.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "sealmount/log.h"
#include "volume_internal.h"

#define DM_REMOVE_TRIES 20

struct vol_dm {
	struct crypt_device *cd;
	int hdr_fd; /* the sealed memfd libcryptsetup reads the header from */
	char name[128];
	char device[160]; /* /dev/mapper/NAME */
	uint64_t size; /* bytes */
};

static void cs_log(int level, const char *msg, void *usrptr)
{
	size_t n = strlen(msg);

	/* libcryptsetup's messages end in a newline; they never contain key material. */
	log_debug("cryptsetup: %.*s", (int)(n && msg[n - 1] == '\n' ? n - 1 : n), msg);
}

static void vd_dm_log(int level, const char *file, int line, int dm_errno, const char *f, ...)
	_printf_(5, 6);
static void vd_dm_log(int level, const char *file, int line, int dm_errno, const char *f, ...)
{
	char buf[256];
	va_list ap;

	if (log_get_level() < LOG_LVL_DEBUG)
		return;
	va_start(ap, f);
	(void)vsnprintf(buf, sizeof(buf), f, ap);
	va_end(ap);
	log_debug("devmapper: %s", buf);
}

bool vol_dm_usable(bool need_integrity)
{
	struct dm_task *t;
	struct dm_versions *v, *last;
	bool crypt = false, integrity = false;

	if (access("/dev/mapper/control", R_OK | W_OK) < 0)
		return false;
	dm_log_with_errno_init(vd_dm_log);
	t = dm_task_create(DM_DEVICE_LIST_VERSIONS);
	if (!t)
		return false;
	if (dm_task_run(t) && (v = dm_task_get_versions(t))) {
		do {
			last = v;
			crypt |= streq(v->name, "crypt");
			integrity |= streq(v->name, "integrity");
			v = (struct dm_versions *)((char *)v + v->next);
		} while (last != v);
	}
	dm_task_destroy(t);
	return crypt && (integrity || !need_integrity);
}

/* A sealed memfd holding the header bytes: nobody, us included, can change them afterwards. */
static int header_memfd(const struct luks2_hdr *h)
{
	_cleanup_close_ int fd =
		memfd_create("sealmount-luks2-hdr", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	size_t off = 0;

	if (fd < 0)
		return -errno;
	while (off < h->raw_len) {
		ssize_t n = write(fd, h->raw + off, h->raw_len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		off += (size_t)n;
	}
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
		return -errno;
	return TAKE_FD(fd);
}

/* One target's table; *ret_params malloc'd (wipe + free: the crypt table holds the key). */
static int dm_get_table(const char *name, const char *type, bool readonly, uint64_t *ret_len,
			char **ret_params, char *devno, size_t devno_len)
{
	struct dm_task *t = dm_task_create(DM_DEVICE_TABLE);
	uint64_t start = 0, len = 0;
	char *ttype = NULL, *params = NULL;
	struct dm_info info;
	void *next;
	int r = -EPROTO;

	if (!t)
		return -ENOMEM;
	if (!dm_task_set_name(t, name) || !dm_task_secure_data(t) || !dm_task_run(t) ||
	    !dm_task_get_info(t, &info) || !info.exists) {
		dm_task_destroy(t);
		return -ENODEV;
	}
	next = dm_get_next_target(t, NULL, &start, &len, &ttype, &params);
	/* Exactly one target, covering the device from sector 0; read-only when asked. */
	if (!next && start == 0 && len && streq(ttype, type) && params &&
	    (!readonly || info.read_only)) {
		*ret_params = strdup(params);
		*ret_len = len;
		(void)snprintf(devno, devno_len, "%u:%u", (unsigned)info.major,
			       (unsigned)info.minor);
		r = *ret_params ? 0 : -ENOMEM;
	}
	if (params)
		wipe(params, strlen(params));
	dm_task_destroy(t);
	return r;
}

static void free_params(char **p)
{
	if (*p) {
		wipe(*p, strlen(*p));
		free(*p);
	}
}

/* Read the tables of NAME (and NAME_dif) back and compare them with what h says. */
static int check_tables(struct vol_dm *d, const struct luks2_hdr *h,
			const struct vol_activate_args *a, const char *lower, char *why,
			size_t why_len)
{
	_cleanup_(free_params) char *cp = NULL;
	_cleanup_(free_params) char *ip = NULL;
	char dif[160], dif_devno[24], devno[24];
	uint64_t clen, ilen = 0;
	struct vol_dm_expect e;
	int r;

	r = vol_dm_expect_init(h, a->journal, a->readonly, &e);
	if (r < 0)
		return r;
	if (e.tag_size) {
		(void)snprintf(dif, sizeof(dif), "%s_dif", d->name);
		r = dm_get_table(dif, "integrity", e.readonly, &ilen, &ip, dif_devno,
				 sizeof(dif_devno));
		if (r == -EPROTO)
			(void)snprintf(why, why_len, "%s: not one %sintegrity target", dif,
				       e.readonly ? "read-only " : "");
		if (r < 0)
			return r;
		r = vol_dm_check_integrity(ip, &e, lower, why, why_len);
		if (r < 0)
			return r;
	}
	r = dm_get_table(d->name, "crypt", e.readonly, &clen, &cp, devno, sizeof(devno));
	if (r == -EPROTO)
		(void)snprintf(why, why_len, "%s: not one %scrypt target", d->name,
			       e.readonly ? "read-only " : "");
	if (r < 0)
		return r;
	r = vol_dm_check_crypt(cp, &e, e.tag_size ? dif_devno : lower, why, why_len);
	if (r < 0)
		return r;
	if (e.tag_size ? clen != ilen : clen != e.crypt_sectors) {
		(void)snprintf(why, why_len, "crypt: %" PRIu64 " sectors, expected %" PRIu64, clen,
			       e.tag_size ? ilen : e.crypt_sectors);
		return -EPROTO;
	}
	d->size = clen * 512;
	return 0;
}

static int translate(int r)
{
	/* libcryptsetup: -EPERM = no keyslot matched the passphrase. */
	if (r == -EPERM)
		return -EKEYREJECTED;
	return r;
}

static int activate(struct vol_dm *d, const struct secret *pass, uint32_t flags)
{
	const uint32_t wq = CRYPT_ACTIVATE_NO_READ_WORKQUEUE | CRYPT_ACTIVATE_NO_WRITE_WORKQUEUE;
	int r;

	r = crypt_activate_by_passphrase(d->cd, d->name, CRYPT_ANY_SLOT, (const char *)pass->data,
					 pass->len, flags | wq);
	if (r == -ENOTSUP || r == -EINVAL) {
		/* An older dm-crypt without the no-workqueue options. */
		log_debug("cryptsetup: activation without no_*_workqueue (%d)", r);
		r = crypt_activate_by_passphrase(d->cd, d->name, CRYPT_ANY_SLOT,
						 (const char *)pass->data, pass->len, flags);
	}
	return r < 0 ? translate(r) : 0;
}

static int lower_devno(const char *path, char *buf, size_t len)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -errno;
	if (!S_ISBLK(st.st_mode))
		return -ENOTBLK;
	(void)snprintf(buf, len, "%u:%u", major(st.st_rdev), minor(st.st_rdev));
	return 0;
}

static void vd_free(struct vol_dm *d)
{
	if (!d)
		return;
	crypt_free(d->cd);
	if (d->hdr_fd >= 0)
		(void)close(d->hdr_fd);
	free(d);
}

static int open_header(struct vol_dm *d, const struct luks2_hdr *h, const char *data_device)
{
	char path[64];
	int r;

	d->hdr_fd = header_memfd(h);
	if (d->hdr_fd < 0)
		return d->hdr_fd;
	(void)snprintf(path, sizeof(path), "/proc/self/fd/%d", d->hdr_fd);
	r = crypt_init_data_device(&d->cd, path, data_device);
	if (r < 0)
		return r;
	crypt_set_log_callback(d->cd, cs_log, NULL);
	r = crypt_load(d->cd, CRYPT_LUKS2, NULL);
	if (r < 0)
		return r;
	/* What libcryptsetup parsed must be what we validated. */
	if (!streq(crypt_get_uuid(d->cd), h->uuid) ||
	    crypt_get_volume_key_size(d->cd) != (int)h->segment.key_size ||
	    crypt_get_sector_size(d->cd) != (int)h->segment.sector_size ||
	    crypt_get_data_offset(d->cd) != h->segment.offset / 512)
		return -EPROTO;
	return 0;
}

int vol_dm_activate(const struct luks2_hdr *h, const struct secret *passphrase,
		    const struct vol_activate_args *a, struct vol_dm **ret, char *why,
		    size_t why_len)
{
	uint32_t flags = (a->readonly ? CRYPT_ACTIVATE_READONLY : 0) |
			 (a->journal ? 0 : CRYPT_ACTIVATE_NO_JOURNAL);
	struct vol_dm *d;
	char lower[24];
	int r;

	if (h->raw_len <= 2 * h->hdr_size)
		return -EINVAL; /* luks2_hdr_load_keyslots() first */
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->hdr_fd = -1;
	(void)snprintf(d->name, sizeof(d->name), "%s", a->name);
	(void)snprintf(d->device, sizeof(d->device), "/dev/mapper/%s", a->name);
	(void)snprintf(why, why_len, "cryptsetup");
	r = lower_devno(a->data_device, lower, sizeof(lower));
	if (r == 0)
		r = open_header(d, h, a->data_device);
	if (r == 0 && crypt_status(NULL, a->name) != CRYPT_INACTIVE)
		r = -EEXIST;
	if (r == 0)
		r = activate(d, passphrase, flags);
	if (r < 0) {
		vd_free(d);
		return r;
	}
	r = check_tables(d, h, a, lower, why, why_len);
	if (r < 0) {
		log_debug("dm: tables of %s refused: %s", d->name, why);
		(void)vol_dm_deactivate(d);
		return r;
	}
	log_debug("dm: %s active, %" PRIu64 " bytes, tables match the header", d->device, d->size);
	*ret = d;
	return 0;
}

const char *vol_dm_device(const struct vol_dm *d)
{
	return d->device;
}

uint64_t vol_dm_size(const struct vol_dm *d)
{
	return d->size;
}

uint64_t vol_dm_integrity_failures(struct vol_dm *d)
{
	char dif[160];

	(void)snprintf(dif, sizeof(dif), "%s_dif", d->name);
	/* libcryptsetup looks at NAME's integrity layer; ask both to be safe. */
	return crypt_get_active_integrity_failures(d->cd, d->name) ?:
		       crypt_get_active_integrity_failures(d->cd, dif);
}

int vol_dm_deactivate(struct vol_dm *d)
{
	const struct timespec pause = { .tv_nsec = 100 * 1000 * 1000 };
	int r = 0;

	if (!d)
		return 0;
	for (int i = 0; i < DM_REMOVE_TRIES; i++) {
		crypt_status_info st = crypt_status(d->cd, d->name);

		if (st == CRYPT_INACTIVE || st == CRYPT_INVALID) {
			r = 0;
			break;
		}
		/* Removes NAME and its NAME_dif integrity layer. */
		r = crypt_deactivate(d->cd, d->name);
		if (r != -EBUSY)
			break;
		(void)nanosleep(&pause, NULL);
	}
	if (r < 0)
		log_debug_errno(r, "dm: cannot remove %s: %m", d->name);
	vd_free(d);
	return r;
}

int vol_dm_remove_name(const char *name)
{
	const struct timespec pause = { .tv_nsec = 100 * 1000 * 1000 };
	struct crypt_device *cd = NULL;
	int r;

	r = crypt_init_by_name(&cd, name);
	if (r == -ENODEV || r == -ENOENT)
		return 0; /* not there */
	if (r < 0)
		return log_debug_errno(r, "dm: cannot look up %s: %m", name);
	for (int i = 0; i < DM_REMOVE_TRIES; i++) {
		crypt_status_info st = crypt_status(cd, name);

		if (st == CRYPT_INACTIVE || st == CRYPT_INVALID) {
			r = 0;
			break;
		}
		/* NAME and, for LUKS2 with integrity, NAME_dif. */
		r = crypt_deactivate(cd, name);
		if (r != -EBUSY)
			break;
		(void)nanosleep(&pause, NULL);
	}
	crypt_free(cd);
	return r;
}
