/* SPDX-License-Identifier: MIT */
/*
 * engine_user.c - the userspace engine's pieces for volume.c: unlock and stack the `luks` layer
 * (luks.h) over the image, and the rootless fallback that serves the filesystem with fuse2fs
 * (e2fsprogs' FUSE driver) from the FUSE plaintext file when no loop device or mount privilege
 * exists, behind a guard layer that stops fuse2fs before any read/write error reaches it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* ---- the guard layer ---- */

struct guard {
	struct bdev *lower; /* borrowed */
	_Atomic pid_t server; /* the armed fuse2fs; 0 = none */
};

/*
 * fuse2fs before e2fsprogs commit 71f046a7 (2025; Debian 12 ships 1.47.0) returns a system
 * errno from the device (EIO, EILSEQ) as a positive value, and libfuse takes a positive read
 * result as a byte count: the reader got that many bytes of a stale buffer and a short file (seen
 * with a flipped ciphertext byte: 84 = EILSEQ bytes), not the error. So on the
 * first error the server is killed before the error is returned to it: with SIGKILL pending its
 * thread cannot get back to user space, and every access to the mount fails (ECONNABORTED, then
 * ENOTCONN) instead of returning other data.
 */
static int guard_check(struct guard *g, int r, const char *op, uint64_t off)
{
	pid_t pid;

	if (r >= 0)
		return r;
	pid = atomic_exchange(&g->server, 0);
	if (pid > 0) {
		(void)kill(pid, SIGKILL);
		/* log-ok: an event in a FUSE worker: the mount is being failed closed */
		log_error("%s at byte %llu failed (%s): fuse2fs stopped, the mount fails closed",
			  op, (unsigned long long)off, strerror(-r));
	}
	return r;
}

static int guard_read(void *state, void *buf, size_t len, uint64_t off)
{
	struct guard *g = state;

	return guard_check(g, bdev_read(g->lower, buf, len, off), "Read", off);
}

static int guard_write(void *state, const void *buf, size_t len, uint64_t off)
{
	struct guard *g = state;

	return guard_check(g, bdev_write(g->lower, buf, len, off), "Write", off);
}

static int guard_flush(void *state)
{
	struct guard *g = state;

	return guard_check(g, bdev_flush(g->lower), "Flush", 0);
}

static void guard_close(void *state)
{
	free(state);
}

static const struct bdev_ops guard_ops = {
	.name = "fuse2fs-guard",
	.read = guard_read,
	.write = guard_write,
	.flush = guard_flush,
	.close = guard_close,
};

int vol_guard_new(struct bdev *lower, struct bdev **ret)
{
	struct guard *g = calloc(1, sizeof(*g));

	if (!g)
		return -ENOMEM;
	g->lower = lower;
	atomic_init(&g->server, 0);
	return bdev_new(&guard_ops, g, bdev_size(lower), bdev_write_align(lower),
			bdev_is_writable(lower), ret);
}

void vol_guard_arm(struct bdev *guard, pid_t pid)
{
	struct guard *g = guard ? bdev_state(guard, &guard_ops) : NULL;

	if (g)
		atomic_store(&g->server, pid);
}

/* ---- fuse2fs ---- */

static const struct timespec pause_100ms = { .tv_nsec = 100 * 1000 * 1000 };

/* The fd number fuse2fs gets the mount directory on: its mount point is /proc/self/fd/3. */
#define FUSE2FS_DIR_FD 3

int vol_fuse2fs_start(const char *file, struct vol_paths *p, bool rw, struct bdev *guard,
		      pid_t *ret)
{
	const char *opts = rw ? "rw,nodev,nosuid" : "ro,nodev,nosuid";
	char dir[32];
	char *const argv[] = { (char *)"fuse2fs", (char *)"-f", (char *)file, dir,
			       (char *)"-o",	  (char *)opts, NULL };
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int r, st;

	(void)snprintf(dir, sizeof(dir), "/proc/self/fd/%d", FUSE2FS_DIR_FD);
	r = -posix_spawn_file_actions_init(&fa);
	if (r < 0)
		return r;
	/* dup2 clears close-on-exec: fuse2fs (and the fusermount3 it runs) get the directory
	 * we hold, not a name an app container could swap. */
	r = -posix_spawn_file_actions_adddup2(&fa, p->dir_fd, FUSE2FS_DIR_FD);
	if (r == 0)
		r = -posix_spawnp(&pid, "fuse2fs", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r < 0)
		return r == -ENOENT ? -ENODEV : r;
	vol_guard_arm(guard, pid);
	for (int i = 0; i < FUSE2FS_WAIT_TRIES; i++) {
		if (vol_mount_adopt(p) == 0) {
			r = vol_mount_check(p);
			if (r < 0) {
				(void)vol_fuse2fs_stop(p, pid, guard);
				return r;
			}
			*ret = pid;
			return 0;
		}
		if (waitpid(pid, &st, WNOHANG) == pid) {
			vol_guard_arm(guard, 0);
			return log_debug_errno(-EIO, "fuse2fs exited (status %d) before mounting",
					       st);
		}
		(void)nanosleep(&pause_100ms, NULL);
	}
	vol_guard_arm(guard, 0);
	(void)kill(pid, SIGTERM);
	(void)waitpid(pid, &st, 0);
	return -ETIMEDOUT;
}

int vol_fuse_unmount(const char *dir)
{
	char *const argv[] = { (char *)"fusermount3", (char *)"-u", (char *)"-q", (char *)dir,
			       NULL };
	pid_t um;
	int r, st;

	/* Root unmounts directly; others through the setuid fusermount3 (their own FUSE mounts). */
	r = vol_umount_retry(dir);
	if (r != -EPERM && r != -EACCES)
		return r;
	if (posix_spawnp(&um, "fusermount3", NULL, NULL, argv, environ) != 0)
		return r;
	if (waitpid(um, &st, 0) == um && WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	return vol_is_mount_point(dir) ? r : 0;
}

int vol_fuse2fs_stop(struct vol_paths *p, pid_t pid, struct bdev *guard)
{
	int r, st;

	/* Root unmounts by the mount's id; others through the setuid fusermount3, which takes a
	 * path (their own FUSE mount in their own directory). */
	r = vol_umount(p);
	if (r == -EPERM || r == -EACCES)
		r = vol_fuse_unmount(p->fs_dir);
	if (r < 0)
		return r;
	p->mnt_id = 0;
	/* fuse2fs exits once its mount is gone; give it time to flush, then insist. */
	r = -ETIMEDOUT;
	for (int i = 0; i < FUSE2FS_WAIT_TRIES && r == -ETIMEDOUT; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			/* SIGKILL: the guard stopped it on an error, logged there. */
			r = (WIFEXITED(st) && WEXITSTATUS(st) == 0) ||
					    (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) ?
				    0 :
				    -EIO;
		else
			(void)nanosleep(&pause_100ms, NULL);
	}
	if (r == -ETIMEDOUT) {
		(void)kill(pid, SIGTERM);
		(void)waitpid(pid, &st, 0);
	}
	vol_guard_arm(guard, 0); /* reaped: its pid may be reused */
	return r;
}
