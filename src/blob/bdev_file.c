/* SPDX-License-Identifier: MIT */
/*
 * bdev_file.c - the `file` layer: pread/pwrite on a local file or block device.
 * pread/pwrite are thread-safe on one fd, so this layer needs no lock.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sealmount/bdev.h"
#include "sealmount/log.h"

struct file_state {
	int fd;
};

static int file_read(void *state, void *buf, size_t len, uint64_t off)
{
	struct file_state *s = state;
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = pread(s->fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO; /* file shrank under us */
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* Entry by entry: one pread each, straight into the caller's memory. */
static int file_readv(void *state, const struct iovec *iov, unsigned cnt, uint64_t off)
{
	for (unsigned i = 0; i < cnt; i++) {
		int r = file_read(state, iov[i].iov_base, iov[i].iov_len, off);

		if (r < 0)
			return r;
		off += iov[i].iov_len;
	}
	return 0;
}

static int file_write(void *state, const void *buf, size_t len, uint64_t off)
{
	struct file_state *s = state;
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = pwrite(s->fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int file_flush(void *state)
{
	struct file_state *s = state;

	if (fdatasync(s->fd) < 0)
		return -errno;
	return 0;
}

static void file_close(void *state)
{
	struct file_state *s = state;

	if (!s)
		return;
	if (s->fd >= 0 && close(s->fd) < 0)
		log_debug_errno(-errno, "file: close failed: %m");
	free(s);
}

static const struct bdev_ops file_ops = {
	.name = "file",
	.read = file_read,
	.readv = file_readv,
	.write = file_write,
	.flush = file_flush,
	.close = file_close,
};

static int fd_size(int fd, uint64_t *ret)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISREG(st.st_mode)) {
		*ret = (uint64_t)st.st_size;
		return 0;
	}
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, ret) < 0)
			return -errno;
		return 0;
	}
	return -EINVAL;
}

int bdev_file_open(const char *path, bool rw, struct bdev **ret)
{
	_cleanup_close_ int fd = -1;
	struct file_state *s;
	uint64_t size;
	int r;

	fd = open(path, (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return log_debug_errno(-errno, "file: cannot open %s: %m", path);
	r = fd_size(fd, &size);
	if (r < 0)
		return log_debug_errno(r, "file: %s is not a regular file or block device", path);
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->fd = TAKE_FD(fd);
	return bdev_new(&file_ops, s, size, 1, rw, ret);
}
