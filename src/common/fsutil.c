/* SPDX-License-Identifier: MIT */
#include "sealmount/fsutil.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

int fs_mkdir_private(const char *path)
{
	struct stat st;

	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (lstat(path, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid())
		return -ENOTDIR;
	if ((st.st_mode & 0077) && chmod(path, 0700) < 0)
		return -errno;
	return 0;
}
