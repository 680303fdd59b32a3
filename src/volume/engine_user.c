/* SPDX-License-Identifier: MIT */
/*
 * engine_user.c - the userspace engine's pieces for volume.c: unlock and stack the `luks` layer
 * (luks.h) over the image, and the rootless fallback that serves the filesystem with fuse2fs
 * (e2fsprogs' FUSE driver) from the FUSE plaintext file when no loop device or mount privilege
 * exists.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sealmount/log.h"
#include "sealmount/luks.h"
#include "volume_internal.h"

#define FUSE2FS_WAIT_TRIES 200 /* 20 s */

extern char **environ;

int vol_user_open(struct bdev *stack, const struct luks2_hdr *h, const struct secret *pass, bool rw,
		  struct bdev **ret)
{
	_cleanup_(secret_freep) struct secret *vk = NULL;
	struct luks_options lo = { .rw = rw };
	int r;

	r = luks_unlock(stack, h, pass, &vk);
	if (r < 0) {
		bdev_free(stack);
		return r == -EPERM ? -EKEYREJECTED : r;
	}
	return luks_open(stack, h, vk, &lo, ret);
}

static const struct timespec pause_100ms = { .tv_nsec = 100 * 1000 * 1000 };

int vol_fuse2fs_start(const char *file, const char *dir, bool rw, pid_t *ret)
{
	const char *opts = rw ? "rw,nodev,nosuid" : "ro,nodev,nosuid";
	char *const argv[] = { (char *)"fuse2fs", (char *)"-f", (char *)file, (char *)dir,
			       (char *)"-o",	  (char *)opts, NULL };
	pid_t pid;
	int r, st;

	r = -posix_spawnp(&pid, "fuse2fs", NULL, NULL, argv, environ);
	if (r < 0)
		return r == -ENOENT ? -ENODEV : r;
	for (int i = 0; i < FUSE2FS_WAIT_TRIES; i++) {
		if (vol_is_mount_point(dir)) {
			*ret = pid;
			return 0;
		}
		if (waitpid(pid, &st, WNOHANG) == pid)
			return log_debug_errno(-EIO, "fuse2fs exited (status %d) before mounting",
					       st);
		(void)nanosleep(&pause_100ms, NULL);
	}
	(void)kill(pid, SIGTERM);
	(void)waitpid(pid, &st, 0);
	return -ETIMEDOUT;
}

int vol_fuse2fs_stop(const char *dir, pid_t pid)
{
	char *const argv[] = { (char *)"fusermount3", (char *)"-u", (char *)dir, NULL };
	pid_t um;
	int r = 0, st;

	/* Root unmounts directly; others through the setuid fusermount3. */
	if (vol_is_mount_point(dir) && umount2(dir, 0) < 0) {
		r = -errno;
		if (posix_spawnp(&um, "fusermount3", NULL, NULL, argv, environ) == 0 &&
		    waitpid(um, &st, 0) == um && WIFEXITED(st) && WEXITSTATUS(st) == 0)
			r = 0;
	}
	if (r < 0)
		return r;
	/* fuse2fs exits once its mount is gone; give it time to flush, then insist. */
	for (int i = 0; i < FUSE2FS_WAIT_TRIES; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EIO;
		(void)nanosleep(&pause_100ms, NULL);
	}
	(void)kill(pid, SIGTERM);
	(void)waitpid(pid, &st, 0);
	return -ETIMEDOUT;
}
