/* SPDX-License-Identifier: MIT */
/*
 * publish.c - the .filesystem-<i> directory, the mount made on it and the relative symlink at the
 * mount point, as Microsoft's sidecar publishes (docs/sidecar-config.md, "Publication"): the link
 * is relative so that it resolves in every container whatever path each one mounts the shared
 * emptyDir at, and it appears atomically (symlink to a temporary name, then rename) only once
 * the filesystem is mounted - its presence is the readiness signal.
 *
 * Every app container that shares the emptyDir can create, rename and swap names in it at any
 * moment (docs/threat-model.md). So nothing here trusts a path below the parent directory: the
 * parent is opened once (a symlink as its last component is refused), .filesystem-<i> is made
 * and opened relative to it without following symlinks, the filesystem is attached to that
 * open directory (the new mount API's move_mount(), or mount(2) on /proc/self/fd/N), and only
 * then is the name checked to show our mount (by mount id). Unmounting goes through the parent's
 * descriptor and the recorded mount id, never through a path an app controls.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sealmount/log.h"
#include "volume_internal.h"

#define FS_DIR_PREFIX ".filesystem-"
#define UMOUNT_TRIES 20
#define PROC_FD_MAX 64 /* "/proc/self/fd/N/.filesystem-N" */

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

/* ---- paths and descriptors ---- */

void vol_paths_done(struct vol_paths *p)
{
	if (p->dir_fd >= 0)
		(void)close(p->dir_fd);
	if (p->parent_fd >= 0)
		(void)close(p->parent_fd);
	free(p->parent);
	free(p->fs_dir);
	free(p->link_target);
	free(p->mount_point);
	*p = (struct vol_paths){ .parent_fd = -1, .dir_fd = -1 };
}

int vol_paths_init(const char *mount_point, unsigned index, struct vol_paths *ret)
{
	size_t n = strlen(mount_point);
	const char *base;
	int r = 0;

	*ret = (struct vol_paths){ .parent_fd = -1, .dir_fd = -1 };
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
		     ret->link_target) < 0)
		r = -ENOMEM;
	if (r < 0) {
		/* asprintf leaves its pointer undefined on failure */
		ret->link_target = ret->fs_dir = NULL;
		vol_paths_done(ret);
		return r;
	}
	ret->base = strrchr(ret->mount_point, '/') + 1;
	return 0;
}

/* The mount id of what fd (or dirfd/name) is on. 0 when unknown. */
static uint64_t mnt_id_at(int dirfd, const char *name, int flags)
{
	struct statx sx;

	if (statx(dirfd, name, flags | AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &sx) < 0 ||
	    !(sx.stx_mask & STATX_MNT_ID))
		return 0;
	return sx.stx_mnt_id;
}

bool vol_is_mount_point(const char *path)
{
	struct statx a, b;
	const unsigned mask = STATX_TYPE | STATX_MNT_ID;
	_cleanup_close_ int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0 || statx(fd, "", AT_EMPTY_PATH, mask, &a) < 0 || !S_ISDIR(a.stx_mode) ||
	    statx(fd, "..", 0, mask, &b) < 0)
		return false;
	/* A bind mount of the same filesystem keeps st_dev: compare mount ids where known. */
	if (a.stx_dev_major != b.stx_dev_major || a.stx_dev_minor != b.stx_dev_minor)
		return true;
	return (a.stx_mask & b.stx_mask & STATX_MNT_ID) && a.stx_mnt_id != b.stx_mnt_id;
}

int vol_fs_dir_prepare(struct vol_paths *p)
{
	struct stat st;

	if (p->parent_fd < 0) {
		p->parent_fd = open(p->parent, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (p->parent_fd < 0)
			return errno == ELOOP ? -ENOTDIR : -errno;
	}
	if (mkdirat(p->parent_fd, p->link_target, 0755) == 0)
		p->made_dir = true;
	else if (errno != EEXIST)
		return -errno;
	if (p->dir_fd >= 0)
		(void)close(p->dir_fd);
	/* A symlink swapped in for the name is refused here (ELOOP), never followed. */
	p->dir_fd =
		openat(p->parent_fd, p->link_target, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (p->dir_fd < 0)
		return errno == ELOOP ? -ENOTDIR : -errno;
	if (fstat(p->dir_fd, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (mnt_id_at(p->dir_fd, "", AT_EMPTY_PATH) != mnt_id_at(p->parent_fd, "", AT_EMPTY_PATH))
		return -EBUSY; /* something is mounted there already */
	return 0;
}

/* "/proc/self/fd/N[/NAME]": a path that resolves through our descriptor, not through names. */
static void fd_path(int fd, const char *name, char buf[PROC_FD_MAX])
{
	(void)snprintf(buf, PROC_FD_MAX, "/proc/self/fd/%d%s%s", fd, name ? "/" : "",
		       name ? name : "");
}

int vol_mount_check(struct vol_paths *p)
{
	uint64_t id = mnt_id_at(p->parent_fd, p->link_target, 0);

	if (!p->mnt_id || id != p->mnt_id)
		return log_debug_errno(-EBUSY,
				       "publish: %s does not show our mount (id %" PRIu64
				       ", found %" PRIu64 "): the name was replaced",
				       p->fs_dir, p->mnt_id, id);
	return 0;
}

/* ---- mounting on the open directory ---- */

/* The new mount API: a detached mount, attached to the directory we hold. */
static int mount_new_api(struct vol_paths *p, const char *dev, const char *fs_type,
			 const struct vol_mount_opts *mo)
{
	_cleanup_close_ int fs = fsopen(fs_type, FSOPEN_CLOEXEC), mnt = -1;
	unsigned attrs = MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID;

	if (fs < 0)
		return -errno;
	if (fsconfig(fs, FSCONFIG_SET_STRING, "source", dev, 0) < 0 ||
	    (mo->data && fsconfig(fs, FSCONFIG_SET_FLAG, mo->data, NULL, 0) < 0) ||
	    ((mo->flags & MS_RDONLY) && fsconfig(fs, FSCONFIG_SET_FLAG, "ro", NULL, 0) < 0) ||
	    fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return -errno;
	if (mo->flags & MS_RDONLY)
		attrs |= MOUNT_ATTR_RDONLY;
	mnt = fsmount(fs, FSMOUNT_CLOEXEC, attrs);
	if (mnt < 0)
		return -errno;
	if (move_mount(mnt, "", p->dir_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) <
	    0)
		return -errno;
	p->mnt_id = mnt_id_at(mnt, "", AT_EMPTY_PATH);
	return 0;
}

int vol_mount_at(struct vol_paths *p, const char *dev, const char *fs_type, bool rw)
{
	struct vol_mount_opts mo;
	char target[PROC_FD_MAX];
	int r;

	vol_mount_opts_choose(fs_type, rw, &mo);
	r = mount_new_api(p, dev, fs_type, &mo);
	if (r == -ENOSYS) {
		/* Older kernels: mount(2) follows /proc/self/fd/N to the very directory we hold. */
		fd_path(p->dir_fd, NULL, target);
		if (mount(dev, target, fs_type, mo.flags, mo.data) < 0)
			return -errno;
		p->mnt_id = mnt_id_at(p->parent_fd, p->link_target, 0);
		r = 0;
	}
	if (r < 0)
		return r;
	r = vol_mount_check(p);
	if (r < 0)
		(void)vol_umount(p); /* whatever name it has now, by its id */
	return r;
}

int vol_mount_adopt(struct vol_paths *p)
{
	uint64_t id = mnt_id_at(p->parent_fd, p->link_target, 0);

	if (!id || id == mnt_id_at(p->parent_fd, "", AT_EMPTY_PATH))
		return -ENOENT; /* not mounted (yet) */
	p->mnt_id = id;
	return 0;
}

/* ---- unmounting by mount id ---- */

/* The mount id and the mount point (field 5) of a mountinfo line, in place: "ID PARENT
 * MAJ:MIN ROOT MOUNTPOINT ...". false for a line that does not parse. */
static bool mountinfo_fields(char *line, uint64_t *ret_id, char **ret_path)
{
	char *save = NULL, *f[5];
	char *end;

	for (int i = 0; i < 5; i++) {
		f[i] = strtok_r(i ? NULL : line, " ", &save);
		if (!f[i])
			return false;
	}
	errno = 0;
	*ret_id = strtoull(f[0], &end, 10);
	*ret_path = f[4];
	return errno == 0 && *end == '\0' && f[4][0] == '/';
}

/* Where the kernel says our mount is now (it may have been renamed under us), as an O_PATH fd
 * on its root that is checked to be that mount. -ENOENT when it is gone. Octal escapes in a
 * mount point are not decoded: such a path fails the check and is skipped. */
int vol_mount_find(uint64_t id, int *ret)
{
	_cleanup_free_ char *line = NULL;
	FILE *f = fopen("/proc/self/mountinfo", "re");
	size_t cap = 0;
	uint64_t mid;
	char *path;
	int r = -ENOENT;

	if (!f)
		return -errno;
	while (r == -ENOENT && getline(&line, &cap, f) > 0) {
		int fd;

		if (!mountinfo_fields(line, &mid, &path) || mid != id)
			continue;
		fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0 && mnt_id_at(fd, "", AT_EMPTY_PATH) == id) {
			*ret = fd;
			r = 0;
		} else if (fd >= 0) {
			(void)close(fd);
		}
	}
	(void)fclose(f);
	return r;
}

static int umount_path_retry(const char *path, int flags)
{
	const struct timespec pause = { .tv_nsec = 100 * 1000 * 1000 };
	int r = 0;

	for (int i = 0; i < UMOUNT_TRIES; i++) {
		if (umount2(path, flags) == 0)
			return 0;
		r = -errno;
		if (r != -EBUSY)
			return r;
		(void)nanosleep(&pause, NULL);
	}
	return r;
}

int vol_umount(struct vol_paths *p)
{
	char path[PROC_FD_MAX];
	_cleanup_close_ int fd = -1;
	int r;

	if (!p->mnt_id)
		return 0;
	if (mnt_id_at(p->parent_fd, p->link_target, 0) == p->mnt_id) {
		/* Still under our name: through the parent's descriptor, no symlink followed. */
		fd_path(p->parent_fd, p->link_target, path);
		r = umount_path_retry(path, UMOUNT_NOFOLLOW);
	} else {
		/* Renamed or hidden by someone else: find it by id, detach it wherever it is. */
		r = vol_mount_find(p->mnt_id, &fd);
		if (r == -ENOENT) {
			p->mnt_id = 0;
			return 0;
		}
		if (r == 0) {
			fd_path(fd, NULL, path);
			r = umount_path_retry(path, MNT_DETACH);
		}
	}
	if (r == -EINVAL && !vol_mount_find(p->mnt_id, &fd))
		r = 0; /* not a mount any more */
	if (r == 0)
		p->mnt_id = 0;
	return r;
}

int vol_fs_dir_remove(struct vol_paths *p)
{
	struct stat a, b;

	/* Only the directory we made and still hold, under its name. */
	if (!p->made_dir || p->dir_fd < 0 || fstat(p->dir_fd, &a) < 0 ||
	    fstatat(p->parent_fd, p->link_target, &b, AT_SYMLINK_NOFOLLOW) < 0 ||
	    a.st_dev != b.st_dev || a.st_ino != b.st_ino)
		return 0;
	if (unlinkat(p->parent_fd, p->link_target, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return -errno;
	p->made_dir = false;
	return 0;
}

/* ---- the link ---- */

/* Is name (in the parent) a symlink whose target is a .filesystem-* name? *ours: ours exactly. */
static bool is_our_kind_of_link(const struct vol_paths *p, const char *name, bool *ours)
{
	char buf[64];
	ssize_t n = readlinkat(p->parent_fd, name, buf, sizeof(buf) - 1);

	if (n < 0 || n == (ssize_t)sizeof(buf) - 1)
		return false;
	buf[n] = '\0';
	*ours = streq(buf, p->link_target);
	return strncmp(buf, FS_DIR_PREFIX, strlen(FS_DIR_PREFIX)) == 0 && !strchr(buf, '/');
}

int vol_publish_link(struct vol_paths *p)
{
	char tmp[96];
	uint64_t rnd;
	struct stat st;
	bool ours;

	if (p->parent_fd < 0)
		return -EBADF;
	/* The mount point must not exist, or be a link of an earlier run of ours. */
	if (fstatat(p->parent_fd, p->base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (!S_ISLNK(st.st_mode) || !is_our_kind_of_link(p, p->base, &ours))
			return -EEXIST;
	} else if (errno != ENOENT) {
		return -errno;
	}
	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		return -EIO;
	(void)snprintf(tmp, sizeof(tmp), ".%s.link.%016" PRIx64, p->link_target, rnd);
	if (symlinkat(p->link_target, p->parent_fd, tmp) < 0)
		return -errno;
	if (renameat(p->parent_fd, tmp, p->parent_fd, p->base) < 0) {
		int r = -errno;

		(void)unlinkat(p->parent_fd, tmp, 0);
		return r;
	}
	log_debug("publish: %s -> %s", p->mount_point, p->link_target);
	return 0;
}

int vol_unpublish_link(struct vol_paths *p)
{
	bool ours = false;

	if (p->parent_fd < 0 || !is_our_kind_of_link(p, p->base, &ours) || !ours)
		return 0;
	if (unlinkat(p->parent_fd, p->base, 0) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int vol_umount_retry(const char *path)
{
	int r = umount_path_retry(path, UMOUNT_NOFOLLOW);

	if (r == -EINVAL || r == -ENOENT)
		return vol_is_mount_point(path) ? r : 0; /* not mounted */
	return r;
}
