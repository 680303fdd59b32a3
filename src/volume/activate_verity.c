/* SPDX-License-Identifier: MIT */
/*
 * activate_verity.c - dm-verity for the kernel engine (verity_dm.h): libcryptsetup activates
 * from the validated geometry (CRYPT_VERITY_NO_HEADER: the on-disk superblock is not read
 * again), libdevmapper reads the table back, and block 0 is read through the new device.
 * libcryptsetup's and libdevmapper's errors are translated here, once.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libcryptsetup.h>
#include <libdevmapper.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "sealmount/codec.h"
#include "sealmount/log.h"
#include "sealmount/verity_dm.h"

#define DM_REMOVE_TRIES 20
#define TABLE_FIELDS 10

struct verity_dm {
	struct crypt_device *cd;
	char name[128];
	char device[160];
};

static void cs_log(int level, const char *msg, void *usrptr)
{
	size_t n = strlen(msg);

	(void)level, (void)usrptr;
	log_debug("cryptsetup: %.*s", (int)(n && msg[n - 1] == '\n' ? n - 1 : n), msg);
}

bool verity_dm_usable(void)
{
	struct dm_task *t;
	struct dm_versions *v, *last;
	bool found = false;

	if (access("/dev/mapper/control", R_OK | W_OK) < 0)
		return false;
	t = dm_task_create(DM_DEVICE_LIST_VERSIONS);
	if (!t)
		return false;
	if (dm_task_run(t) && (v = dm_task_get_versions(t))) {
		do {
			last = v;
			found |= streq(v->name, "verity");
			v = (struct dm_versions *)((char *)v + v->next);
		} while (last != v);
	}
	dm_task_destroy(t);
	return found;
}

/* ---- the table ---- */

static int expect_field(const char *got, const char *want, const char *what, struct diag *d)
{
	if (streq(got, want))
		return 0;
	return diag_set(d, -EPROTO, "dm-verity table: %s is '%.80s', expected '%.80s'", what, got,
			want);
}

/* Split at single spaces into at most n fields (the copy in buf). */
static size_t split(char *buf, char **f, size_t n)
{
	size_t k = 0;

	for (char *p = buf; *p && k < n;) {
		f[k++] = p;
		p += strcspn(p, " ");
		if (*p)
			*p++ = '\0';
	}
	return k;
}

int verity_dm_check_table(const char *params, const struct verity_image *img,
			  const uint8_t *root_hash, const char *devno, struct diag *d)
{
	const struct verity_geometry *g = &img->g;
	char buf[1024], *f[TABLE_FIELDS + 1] = { 0 };
	char blocks[24], start[24], root[2 * VERITY_DIGEST_SIZE + 1];
	char salt[2 * VERITY_SALT_MAX + 1] = "-";
	size_t n, len = strlen(params);
	int r = 0;

	if (len >= sizeof(buf) || len == 0 || params[0] == ' ' || params[len - 1] == ' ' ||
	    strstr(params, "  "))
		return diag_set(d, -EPROTO, "dm-verity table: malformed (%zu bytes)", len);
	memcpy(buf, params, len + 1);
	n = split(buf, f, TABLE_FIELDS + 1);
	if (n != TABLE_FIELDS)
		return diag_set(d, -EPROTO, "dm-verity table: %zu fields%s%.60s", n,
				n > TABLE_FIELDS ? ", optional arguments refused: " : "",
				n > TABLE_FIELDS ? f[TABLE_FIELDS] : "");
	(void)snprintf(blocks, sizeof(blocks), "%" PRIu64, g->data_blocks);
	(void)snprintf(start, sizeof(start), "%" PRIu64, g->tree_offset / VERITY_BLOCK_SIZE);
	hex_encode(root_hash, VERITY_DIGEST_SIZE, root);
	if (img->sb.salt_size)
		hex_encode(img->sb.salt, img->sb.salt_size, salt);
	r = r ?: expect_field(f[0], "1", "version", d);
	r = r ?: expect_field(f[1], devno, "data device", d);
	r = r ?: expect_field(f[2], devno, "hash device", d);
	r = r ?: expect_field(f[3], "4096", "data block size", d);
	r = r ?: expect_field(f[4], "4096", "hash block size", d);
	r = r ?: expect_field(f[5], blocks, "data blocks", d);
	r = r ?: expect_field(f[6], start, "hash start block", d);
	r = r ?: expect_field(f[7], "sha256", "algorithm", d);
	r = r ?: expect_field(f[8], root, "root hash", d);
	r = r ?: expect_field(f[9], salt, "salt", d);
	return r;
}

/* NAME's single target: its length (sectors), parameters (malloc'd) and read-only flag. */
static int dm_table(const char *name, uint64_t *ret_len, char **ret_params, struct diag *d)
{
	struct dm_task *t = dm_task_create(DM_DEVICE_TABLE);
	uint64_t start = 0, len = 0;
	char *type = NULL, *params = NULL;
	struct dm_info info;
	void *next;
	int r;

	if (!t)
		return -ENOMEM;
	if (!dm_task_set_name(t, name) || !dm_task_run(t) || !dm_task_get_info(t, &info) ||
	    !info.exists) {
		dm_task_destroy(t);
		return diag_set(d, -ENODEV, "dm-verity: %s vanished after activation", name);
	}
	next = dm_get_next_target(t, NULL, &start, &len, &type, &params);
	if (next || start != 0 || !streq(type, "verity") || !params || !info.read_only)
		r = diag_set(d, -EPROTO, "dm-verity: %s is not one read-only verity target", name);
	else if (!(*ret_params = strdup(params)))
		r = -ENOMEM;
	else
		r = 0;
	*ret_len = len;
	dm_task_destroy(t);
	return r;
}

static int device_devno(const char *path, char *buf, size_t len, struct diag *d)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return diag_set(d, -errno, "dm-verity: %s: %m", path);
	if (!S_ISBLK(st.st_mode))
		return diag_set(d, -ENOTBLK, "dm-verity: %s is not a block device", path);
	(void)snprintf(buf, len, "%u:%u", major(st.st_rdev), minor(st.st_rdev));
	return 0;
}

static int check_active(struct verity_dm *v, const struct verity_dm_args *a, const char *devno,
			struct diag *d)
{
	_cleanup_free_ char *params = NULL;
	uint64_t len = 0;
	int r;

	r = dm_table(v->name, &len, &params, d);
	if (r < 0)
		return r;
	if (len != a->img->g.data_size / 512)
		return diag_set(d, -EPROTO, "dm-verity: %" PRIu64 " sectors, expected %" PRIu64,
				len, a->img->g.data_size / 512);
	return verity_dm_check_table(params, a->img, a->root_hash, devno, d);
}

/* Block 0 through the verified device: fails with EIO unless the root hash and header match. */
static int read_block0(const char *device, struct diag *d)
{
	_cleanup_close_ int fd = open(device, O_RDONLY | O_CLOEXEC | O_DIRECT);
	void *buf = NULL;
	ssize_t n;

	if (fd < 0)
		return diag_set(d, -errno, "dm-verity: cannot open %s: %m", device);
	if (posix_memalign(&buf, VERITY_BLOCK_SIZE, VERITY_BLOCK_SIZE) != 0)
		return -ENOMEM;
	do
		n = pread(fd, buf, VERITY_BLOCK_SIZE, 0);
	while (n < 0 && errno == EINTR);
	free(buf);
	if (n < 0 && errno == EIO)
		return diag_set(d, -EBADMSG,
				"dm-verity: block 0 (the LUKS2 header) fails verification: a wrong "
				"root hash (another or an older image) or a changed header");
	if (n != VERITY_BLOCK_SIZE)
		return diag_set(d, n < 0 ? -errno : -EIO, "dm-verity: reading block 0: %m");
	return 0;
}

static int activate(struct verity_dm *v, const struct verity_dm_args *a, struct diag *d)
{
	const struct verity_image *img = a->img;
	struct crypt_params_verity p = {
		.hash_name = "sha256",
		.data_device = a->device, /* = the hash device: one image */
		.salt = (const char *)img->sb.salt,
		.salt_size = img->sb.salt_size,
		.data_block_size = VERITY_BLOCK_SIZE,
		.hash_block_size = VERITY_BLOCK_SIZE,
		.data_size = img->g.data_blocks,
		.hash_area_offset = img->g.tree_offset, /* no header: the tree itself */
		.hash_type = 1,
		.flags = CRYPT_VERITY_NO_HEADER,
	};
	int r;

	r = crypt_init(&v->cd, a->device);
	if (r < 0)
		return diag_set(d, r, "dm-verity: libcryptsetup cannot use %s: %m", a->device);
	crypt_set_log_callback(v->cd, cs_log, NULL);
	r = crypt_format(v->cd, CRYPT_VERITY, NULL, NULL, NULL, NULL, 0, &p);
	if (r < 0)
		return diag_set(d, r, "dm-verity: libcryptsetup refused the geometry: %m");
	if (crypt_status(NULL, a->name) != CRYPT_INACTIVE)
		return diag_set(d, -EEXIST, "dm-verity: the name %s is in use", a->name);
	r = crypt_activate_by_volume_key(v->cd, a->name, (const char *)a->root_hash,
					 VERITY_DIGEST_SIZE, CRYPT_ACTIVATE_READONLY);
	if (r < 0)
		return diag_set(d, r == -ENOTSUP ? -ENODEV : r,
				"dm-verity: activation of %s failed: %m", a->name);
	return 0;
}

static void vdm_free(struct verity_dm *v)
{
	if (!v)
		return;
	crypt_free(v->cd);
	free(v);
}

int verity_dm_activate(const struct verity_dm_args *a, struct verity_dm **ret, struct diag *d)
{
	struct verity_dm *v;
	char devno[24];
	int r;

	r = device_devno(a->device, devno, sizeof(devno), d);
	if (r < 0)
		return r;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	(void)snprintf(v->name, sizeof(v->name), "%s", a->name);
	(void)snprintf(v->device, sizeof(v->device), "/dev/mapper/%s", a->name);
	r = activate(v, a, d);
	if (r < 0) {
		vdm_free(v); /* a failed activation leaves nothing behind */
		return r;
	}
	r = check_active(v, a, devno, d);
	r = r ?: read_block0(v->device, d);
	if (r < 0) {
		(void)verity_dm_deactivate(v);
		return r;
	}
	log_debug("dm-verity: %s active, %" PRIu64 " bytes, table matches", v->device,
		  a->img->g.data_size);
	*ret = v;
	return 0;
}

const char *verity_dm_device(const struct verity_dm *v)
{
	return v->device;
}

bool verity_dm_corrupted(struct verity_dm *v)
{
	struct dm_task *t = dm_task_create(DM_DEVICE_STATUS);
	uint64_t start, len;
	char *type = NULL, *params = NULL;
	bool bad = true; /* fail closed when the status cannot be read */

	if (!t)
		return true;
	if (dm_task_set_name(t, v->name) && dm_task_run(t)) {
		(void)dm_get_next_target(t, NULL, &start, &len, &type, &params);
		bad = !params || params[0] != 'V';
	}
	dm_task_destroy(t);
	return bad;
}

int verity_dm_deactivate(struct verity_dm *v)
{
	const struct timespec pause = { .tv_nsec = 100 * 1000 * 1000 };
	int r = 0;

	if (!v)
		return 0;
	for (int i = 0; i < DM_REMOVE_TRIES; i++) {
		crypt_status_info st = crypt_status(v->cd, v->name);

		if (st == CRYPT_INACTIVE || st == CRYPT_INVALID) {
			r = 0;
			break;
		}
		r = crypt_deactivate(v->cd, v->name);
		if (r != -EBUSY)
			break;
		(void)nanosleep(&pause, NULL);
	}
	if (r < 0)
		log_debug_errno(r, "dm-verity: cannot remove %s: %m", v->name);
	vdm_free(v);
	return r;
}
