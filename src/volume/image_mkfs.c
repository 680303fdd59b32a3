/* SPDX-License-Identifier: MIT */
/*
 * image_mkfs.c - the plaintext half of `image create`: size a filesystem for a directory and
 * build it with `mke2fs -t ext4 -d DIR` into an unnamed temporary file (image_internal.h).
 *
 * The temporary file is made with O_TMPFILE in the output's directory (same filesystem, so no
 * plaintext goes to a different disk such as a tmpfs in RAM or a shared /tmp); where O_TMPFILE
 * is unsupported, a mkostemp() name is unlinked immediately. mke2fs opens it as
 * /proc/self/fd/3, so the plaintext never has a name in the directory tree (or only for the
 * instant between mkostemp and unlink).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "image_internal.h"
#include "sealmount/log.h"
#include "sealmount/procenv.h"

#define MIB (1024u * 1024)
#define FS_BLOCK 4096u

static uint64_t round_up(uint64_t v, uint64_t to)
{
	return (v + to - 1) / to * to;
}

/* nftw has no user pointer: the walk is single-threaded and short, so a file-scope
 * accumulator (reset before each walk) is enough. Not reentrant; image_create is not called
 * concurrently. */
static struct {
	uint64_t blocks_bytes;
	uint64_t inodes;
} walk;

static int walk_one(const char *path, const struct stat *st, int type, struct FTW *f)
{
	walk.inodes++;
	if (S_ISREG(st->st_mode) || S_ISDIR(st->st_mode) || S_ISLNK(st->st_mode))
		walk.blocks_bytes += round_up((uint64_t)st->st_size, FS_BLOCK);
	if (S_ISDIR(st->st_mode))
		walk.blocks_bytes += FS_BLOCK; /* htree / extent blocks of big directories */
	return 0;
}

int image_auto_fs_size(const char *dir, uint64_t *ret)
{
	uint64_t data, size;

	walk.blocks_bytes = 0;
	walk.inodes = 0;
	if (nftw(dir, walk_one, 32, FTW_PHYS) < 0)
		return -errno;
	/* ext4 below 512 MiB ("small"): one 256-byte inode per 4 KiB, i.e. 1/16 of the size;
	 * a 4..16 MiB journal; group descriptors and bitmaps. Headroom of a quarter on top, and
	 * an inode's worth of block per file for extent trees and xattrs. */
	data = walk.blocks_bytes + walk.inodes * FS_BLOCK;
	size = (data + 16 * MIB) * 5 / 4 + data / 16;
	size = round_up(size, MIB);
	*ret = size < IMAGE_FS_SIZE_MIN ? IMAGE_FS_SIZE_MIN : size;
	return 0;
}

static int tmpfile_in(const char *output, int *ret)
{
	_cleanup_free_ char *copy = strdup(output), *tmpl = NULL;
	const char *dir;
	int fd;

	if (!copy)
		return -ENOMEM;
	dir = dirname(copy);
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0) {
		*ret = fd;
		return 0;
	}
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return -errno;
	if (asprintf(&tmpl, "%s/.sealmount-plain-XXXXXX", dir) < 0)
		return -ENOMEM;
	fd = mkostemp(tmpl, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	(void)unlink(tmpl);
	*ret = fd;
	return 0;
}

static _Noreturn void exec_mke2fs(const char *mke2fs, const char *dir, int fd, bool quiet,
				  char *const *envp)
{
	/* 4 KiB blocks whatever the size (the sector size of the image may be 4096); no reserved
	 * blocks (the image is made to hold DIR); no discards on a file; the root directory owned
	 * by whoever creates the image (an unprivileged user can then write to it, rootless). */
	char *const argv[] = { (char *)mke2fs,
			       (char *)"-q",
			       (char *)"-F",
			       (char *)"-t",
			       (char *)"ext4",
			       (char *)"-b",
			       (char *)"4096",
			       (char *)"-m",
			       (char *)"0",
			       (char *)"-E",
			       (char *)"nodiscard,root_owner",
			       (char *)"-d",
			       (char *)dir,
			       (char *)"/proc/self/fd/3",
			       NULL };
	int devnull;

	if (dup2(fd, 3) < 0 || fcntl(3, F_SETFD, 0) < 0)
		_exit(127);
	devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (devnull >= 0) {
		(void)dup2(devnull, STDOUT_FILENO);
		if (quiet)
			(void)dup2(devnull, STDERR_FILENO);
	}
	/* Only PATH: nothing of our environment reaches the helper (procenv.h). */
	execvpe(mke2fs, argv, envp);
	_exit(127);
}

static int run_mke2fs(const char *mke2fs, const char *dir, int fd, bool quiet)
{
	char *const *envp = proc_child_env(); /* before fork: the child only execs */
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0)
		exec_mke2fs(mke2fs, dir, fd, quiet, envp);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (WIFSIGNALED(status))
		return log_debug_errno(-ECANCELED, "image: %s killed by signal %d", mke2fs,
				       WTERMSIG(status));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		return log_debug_errno(-ENOENT, "image: cannot run %s", mke2fs);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return log_debug_errno(-ENOSPC, "image: %s failed (status %d)", mke2fs, status);
	return 0;
}

int image_mkfs(const char *mke2fs, const char *dir, const char *output, uint64_t size, bool quiet,
	       int *ret_fd)
{
	_cleanup_close_ int fd = -1;
	int r;

	r = tmpfile_in(output, &fd);
	if (r < 0)
		return log_debug_errno(r, "image: cannot make a temporary file next to %s: %m",
				       output);
	if (ftruncate(fd, (off_t)size) < 0)
		return -errno;
	r = run_mke2fs(mke2fs ? mke2fs : "mke2fs", dir, fd, quiet);
	if (r < 0)
		return r;
	*ret_fd = TAKE_FD(fd);
	return 0;
}
