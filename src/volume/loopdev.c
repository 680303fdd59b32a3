/* SPDX-License-Identifier: MIT */
/*
 * loopdev.c - put the FUSE file on a loop device: LOOP_CTL_GET_FREE, then LOOP_CONFIGURE (one
 * ioctl, Linux 5.8+) or LOOP_SET_FD + LOOP_SET_STATUS64 on older kernels. Autoclear, so the
 * device goes away on its last close even if we die; read-only unless rw.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "sealmount/log.h"
#include "volume_internal.h"

#define LOOP_ATTACH_TRIES 16

#ifndef LOOP_CONFIGURE
#define LOOP_CONFIGURE 0x4C0A
struct loop_config {
	__u32 fd;
	__u32 block_size;
	struct loop_info64 info;
	__u64 __reserved[8];
};
#endif

static int configure(int lfd, int bfd, bool rw, const char *backing)
{
	struct loop_config c = { .fd = (__u32)bfd };
	struct loop_info64 *info = &c.info;

	info->lo_flags = LO_FLAGS_AUTOCLEAR | (rw ? 0 : LO_FLAGS_READ_ONLY);
	(void)snprintf((char *)info->lo_file_name, sizeof(info->lo_file_name), "%s", backing);
	if (ioctl(lfd, LOOP_CONFIGURE, &c) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOTTY)
		return -errno;
	/* Before 5.8: two steps (a window in which the device has no autoclear). */
	if (ioctl(lfd, LOOP_SET_FD, bfd) < 0)
		return -errno;
	if (ioctl(lfd, LOOP_SET_STATUS64, info) < 0) {
		int r = -errno;

		(void)ioctl(lfd, LOOP_CLR_FD, 0);
		return r;
	}
	return 0;
}

static int attach_one(int ctl, int bfd, bool rw, const char *backing, struct vol_loop *l)
{
	struct stat st;
	int n, r;

	n = ioctl(ctl, LOOP_CTL_GET_FREE);
	if (n < 0)
		return -errno;
	(void)snprintf(l->path, sizeof(l->path), "/dev/loop%d", n);
	l->fd = open(l->path, (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (l->fd < 0)
		return -errno;
	r = configure(l->fd, bfd, rw, backing);
	if (r == 0 && fstat(l->fd, &st) < 0)
		r = -errno;
	if (r < 0) {
		(void)close(l->fd);
		l->fd = -1;
		return r;
	}
	(void)snprintf(l->devno, sizeof(l->devno), "%u:%u", major(st.st_rdev), minor(st.st_rdev));
	return 0;
}

int vol_loop_attach(const char *backing_file, bool rw, struct vol_loop *ret)
{
	_cleanup_close_ int ctl = -1, bfd = -1;
	int r = -EBUSY;

	*ret = (struct vol_loop){ .fd = -1 };
	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return errno == ENOENT ? -ENODEV : -errno;
	bfd = open(backing_file, (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (bfd < 0)
		return -errno;
	/* Another process may take the free device between GET_FREE and CONFIGURE: retry. */
	for (int i = 0; i < LOOP_ATTACH_TRIES && r == -EBUSY; i++)
		r = attach_one(ctl, bfd, rw, backing_file, ret);
	if (r < 0)
		return log_debug_errno(r, "loop: cannot attach %s: %m", backing_file);
	log_debug("loop: %s (%s) on %s, %s", ret->path, ret->devno, backing_file,
		  rw ? "read-write" : "read-only");
	return 0;
}

int vol_loop_detach(struct vol_loop *l)
{
	int r = 0;

	if (l->fd < 0)
		return 0;
	/* With autoclear, a device still held (by dm) is freed on its last close: ENXIO means it
	 * is already unbound. */
	if (ioctl(l->fd, LOOP_CLR_FD, 0) < 0 && errno != ENXIO)
		r = -errno;
	(void)close(l->fd);
	l->fd = -1;
	if (r < 0)
		log_debug_errno(r, "loop: cannot detach %s: %m", l->path);
	return r;
}
