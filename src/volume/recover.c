/* SPDX-License-Identifier: MIT */
/*
 * recover.c - clean up after a process that died with a volume open (volume.h, volume_recover):
 * exactly what its record names, each thing checked to still be the recorded one first. Order
 * as volume_close(): the filesystem mount, the link, fuse2fs, the dm devices (crypt and
 * integrity, then verity), the loop or NBD device, the FUSE mount, the directories.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/loop.h>

#include "sealmount/jsonx.h"
#include "sealmount/log.h"
#include "sealmount/nbd.h"
#include "volume_internal.h"

struct rec {
	const json_t *o;
	void (*progress)(void *, const char *);
	void *userdata;
	struct diag *d;
	int first;
};

static const char *str(const struct rec *c, const char *key)
{
	return json_string_value(json_object_get(c->o, key));
}

static json_int_t num(const struct rec *c, const char *key)
{
	return json_integer_value(json_object_get(c->o, key));
}

static void step(struct rec *c, const char *fmt, ...) _printf_(2, 3);
static void step(struct rec *c, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	log_vformat(msg, sizeof(msg), 0, fmt, ap);
	va_end(ap);
	log_debug("recover: %s", msg);
	if (c->progress)
		c->progress(c->userdata, msg);
}

static void failed(struct rec *c, int r, const char *what)
{
	if (c->first == 0) {
		c->first = r;
		diag_set(c->d, r, "%s: %m", what);
	} else {
		diag_append(c->d, "%s: %s", what, strerror(-r));
	}
}

/* The mount with this id, wherever it is now, detached lazily (its process is gone: there is
 * nothing left to flush). */
static void unmount_id(struct rec *c, uint64_t id, const char *what)
{
	_cleanup_close_ int fd = -1;
	char path[64];
	int r;

	if (!id)
		return;
	r = vol_mount_find(id, &fd);
	if (r == -ENOENT)
		return;
	step(c, "unmounting %s (mount %" PRIu64 ")", what, id);
	if (r == 0) {
		(void)snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		r = umount2(path, MNT_DETACH) < 0 ? -errno : 0;
	}
	if (r < 0)
		failed(c, r, what);
}

static void unlink_ours(struct rec *c)
{
	const char *mp = str(c, "mount_point"), *target = str(c, "link_target");
	char buf[64];
	ssize_t n;

	if (!mp || !target)
		return;
	n = readlink(mp, buf, sizeof(buf) - 1);
	if (n < 0 || (size_t)n != strlen(target) || memcmp(buf, target, (size_t)n) != 0)
		return; /* gone, or someone else's now */
	step(c, "removing the link %s", mp);
	if (unlink(mp) < 0 && errno != ENOENT)
		failed(c, -errno, "the link");
}

/* fuse2fs (rootless user engine): only if that pid is still a fuse2fs. */
static void stop_fuse2fs(struct rec *c)
{
	pid_t pid = (pid_t)num(c, "fuse2fs");
	char path[64], comm[32] = "";
	FILE *f;

	if (pid <= 1)
		return;
	(void)snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return;
	if (!fgets(comm, sizeof(comm), f))
		comm[0] = '\0';
	(void)fclose(f);
	if (strncmp(comm, "fuse2fs", 7) != 0)
		return;
	step(c, "stopping fuse2fs (pid %d)", (int)pid);
	(void)kill(pid, SIGKILL);
}

static void remove_dm(struct rec *c, const char *key)
{
	const char *name = str(c, key);
	int r;

	if (!name)
		return;
	step(c, "removing the device-mapper device %s", name);
	r = vol_dm_remove_name(name);
	if (r < 0)
		failed(c, r, name);
}

/* The loop device, if it still reads the recorded backing file. */
static void detach_loop(struct rec *c)
{
	const char *loop = str(c, "loop"), *backing = str(c, "data_path");
	struct loop_info64 info;
	_cleanup_close_ int fd = -1;

	if (!loop || !backing)
		return;
	fd = open(loop, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, LOOP_GET_STATUS64, &info) < 0 ||
	    strncmp((const char *)info.lo_file_name, backing, sizeof(info.lo_file_name) - 1))
		return; /* free, or serving someone else */
	step(c, "detaching %s", loop);
	if (ioctl(fd, LOOP_CLR_FD, 0) < 0 && errno != ENXIO)
		failed(c, -errno, loop);
}

/* /dev/nbdN, if its backend identifier is still our name. */
static void detach_nbd(struct rec *c)
{
	json_int_t index = num(c, "nbd");
	const char *name = str(c, "name");
	char path[96], backend[160] = "";
	FILE *f;
	int r;

	if (!json_is_integer(json_object_get(c->o, "nbd")) || index < 0 || !name)
		return;
	(void)snprintf(path, sizeof(path), "/sys/block/nbd%d/backend", (int)index);
	f = fopen(path, "re");
	if (!f)
		return;
	if (!fgets(backend, sizeof(backend), f))
		backend[0] = '\0';
	(void)fclose(f);
	backend[strcspn(backend, "\n")] = '\0';
	if (!streq(backend, name))
		return;
	step(c, "disconnecting /dev/nbd%d", (int)index);
	r = nbd_kernel_disconnect((unsigned)index);
	if (r < 0)
		failed(c, r, "the NBD device");
}

static void remove_dir(struct rec *c, const char *key)
{
	const char *dir = str(c, key);

	if (dir && rmdir(dir) == 0)
		step(c, "removed %s", dir);
}

int volume_recover(const json_t *record, void (*progress)(void *, const char *), void *userdata,
		   struct diag *d)
{
	struct rec c = { .o = record, .progress = progress, .userdata = userdata, .d = d };

	if (!json_is_object(record))
		return diag_set(d, -EINVAL, "not a volume record");
	unmount_id(&c, (uint64_t)num(&c, "mnt_id"), "the filesystem");
	unlink_ours(&c);
	stop_fuse2fs(&c);
	remove_dm(&c, "dm");
	remove_dm(&c, "verity_dm");
	detach_loop(&c);
	detach_nbd(&c);
	unmount_id(&c, (uint64_t)num(&c, "fuse_mnt_id"), "the image file (FUSE)");
	remove_dir(&c, "fuse_dir");
	remove_dir(&c, "fs_dir");
	return c.first;
}
