/* SPDX-License-Identifier: MIT */
/* fileio.c - exclusive file writes for src/attest (reads: fsutil.h's fs_read_file). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attest_internal.h"

int attest_write_file(const char *dir, const char *name, const void *data, size_t len,
		      unsigned mode)
{
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_close_ int fd = -1;
	const uint8_t *p = data;

	if (dfd < 0)
		return -errno;
	fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) < 0)
		return -errno;
	return 0;
}
