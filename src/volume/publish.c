/* SPDX-License-Identifier: MIT */
/*
 * publish.c - mount options, the .filesystem-<i> directory and the relative symlink at the
 * mount point, as Microsoft's sidecar publishes (docs/sidecar-config.md, "Publication" and
 * "Shutdown"): the link is relative so that it resolves in every container whatever path each one
 * mounts the shared emptyDir at, and it appears atomically (symlink to a temporary name, then
 * rename) only once the filesystem is mounted - its presence is the readiness signal.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sealmount/log.h"
#include "volume_internal.h"

#define FS_DIR_PREFIX ".filesystem-"
#define UMOUNT_TRIES 20

void vol_mount_opts_choose(const char *fs_type, bool rw, struct vol_mount_opts *ret)
{
	bool ext = streq(fs_type, "ext4") || streq(fs_type, "ext3");

	*ret = (struct vol_mount_opts){ .flags = MS_NODEV | MS_NOSUID };
	if (rw)
		return;
	ret->flags |= MS_RDONLY;
	/* A read-only image must not be written: no journal replay (ext3/4 "noload"). */
	ret->data = ext ? "noload" : NULL;
}

void vol_paths_done(struct vol_paths *p)
{
	free(p->parent);
	free(p->fs_dir);
	free(p->link_target);
	free(p->link_tmp);
	free(p->mount_point);
	*p = (struct vol_paths){ 0 };
}

int vol_paths_init(const char *mount_point, unsigned index, struct vol_paths *ret)
{
	size_t n = strlen(mount_point);
	const char *base;
	int r = 0;

	*ret = (struct vol_paths){ 0 };
	if (n < 2 || mount_point[0] != '/' || mount_point[n - 1] == '/')
		return -EINVAL;
	base = strrchr(mount_point, '/') + 1;
	if (streq(base, ".") || streq(base, ".."))
		return -EINVAL;
	ret->mount_point = strdup(mount_point);
	ret->parent = base - 1 == mount_point ?
			      strdup("/") :
			      strndup(mount_point, (size_t)(base - 1 - mount_point));
	if (!ret->mount_point || !ret->parent ||
	    asprintf(&ret->link_target, FS_DIR_PREFIX "%u", index) < 0 ||
	    asprintf(&ret->fs_dir, "%s/%s", streq(ret->parent, "/") ? "" : ret->parent,
		     ret->link_target) < 0 ||
	    asprintf(&ret->link_tmp, "%s.link.tmp", ret->fs_dir) < 0)
		r = -ENOMEM;
	if (r < 0) {
		/* asprintf leaves its pointer undefined on failure */
		vol_paths_done(ret);
	}
	return r;
}

bool vol_is_mount_point(const char *path)
{
	_cleanup_free_ char *copy = strdup(path);
	struct statx a, b;
	const unsigned mask = STATX_TYPE | STATX_MNT_ID;

	if (!copy || statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, mask, &a) < 0 ||
	    !S_ISDIR(a.stx_mode) || statx(AT_FDCWD, dirname(copy), 0, mask, &b) < 0)
		return false;
	/* A bind mount of the same filesystem keeps st_dev: compare mount ids where known. */
	if (a.stx_dev_major != b.stx_dev_major || a.stx_dev_minor != b.stx_dev_minor)
		return true;
	return (a.stx_mask & b.stx_mask & STATX_MNT_ID) && a.stx_mnt_id != b.stx_mnt_id;
}

int vol_fs_dir_prepare(const struct vol_paths *p)
{
	struct stat st;

	if (mkdir(p->fs_dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	if (lstat(p->fs_dir, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (vol_is_mount_point(p->fs_dir))
		return -EBUSY;
	return 0;
}

/* Is path a symlink whose target is a .filesystem-* name? *ours: exactly p->link_target. */
static bool is_our_kind_of_link(const char *path, const char *target, bool *ours)
{
	char buf[64];
	ssize_t n = readlink(path, buf, sizeof(buf) - 1);

	if (n < 0 || n == (ssize_t)sizeof(buf) - 1)
		return false;
	buf[n] = '\0';
	*ours = streq(buf, target);
	return strncmp(buf, FS_DIR_PREFIX, strlen(FS_DIR_PREFIX)) == 0 && !strchr(buf, '/');
}

int vol_publish_link(const struct vol_paths *p)
{
	struct stat st;
	bool ours;

	if (lstat(p->mount_point, &st) == 0) {
		if (S_ISDIR(st.st_mode)) {
			/* An empty directory made for us (not a mount point): replace it. */
			if (vol_is_mount_point(p->mount_point) || rmdir(p->mount_point) < 0)
				return -EEXIST;
		} else if (!S_ISLNK(st.st_mode) ||
			   !is_our_kind_of_link(p->mount_point, p->link_target, &ours)) {
			return -EEXIST;
		}
	} else if (errno != ENOENT) {
		return -errno;
	}
	if (unlink(p->link_tmp) < 0 && errno != ENOENT)
		return -errno;
	if (symlink(p->link_target, p->link_tmp) < 0)
		return -errno;
	if (rename(p->link_tmp, p->mount_point) < 0) {
		int r = -errno;

		(void)unlink(p->link_tmp);
		return r;
	}
	log_debug("publish: %s -> %s", p->mount_point, p->link_target);
	return 0;
}

int vol_unpublish_link(const struct vol_paths *p)
{
	bool ours = false;

	(void)unlink(p->link_tmp);
	if (!is_our_kind_of_link(p->mount_point, p->link_target, &ours) || !ours)
		return 0;
	if (unlink(p->mount_point) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int vol_umount_retry(const char *path)
{
	const struct timespec pause = { .tv_nsec = 100 * 1000 * 1000 };
	int r = 0;

	for (int i = 0; i < UMOUNT_TRIES; i++) {
		if (umount2(path, UMOUNT_NOFOLLOW) == 0)
			return 0;
		r = -errno;
		if (r == -EINVAL || r == -ENOENT)
			return vol_is_mount_point(path) ? r : 0; /* not mounted */
		if (r != -EBUSY)
			return r;
		(void)nanosleep(&pause, NULL);
	}
	return r;
}
