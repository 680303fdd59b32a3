/* SPDX-License-Identifier: MIT */
/*
 * fsck.c - `e2fsck -n` over the plaintext device of an image without integrity, before it is
 * mounted (docs/threat-model.md, Images without integrity).
 *
 * An image without dm-integrity (Microsoft-style, accepted only with require_integrity off)
 * gives no authenticity: whoever controls the storage can flip ciphertext bytes, and the kernel
 * then parses garbage (or chosen-by-trial) filesystem metadata. e2fsck in read-only mode (-n:
 * opens the device read-only, answers "no" to every question, changes nothing; -f: check even a
 * filesystem marked clean) refuses what fails ext4's own consistency checks and checksums first.
 * It parses the same hostile bytes, so it runs as a helper with as little as possible: its
 * environment is PATH only (procenv.h), it cannot gain privileges (PR_SET_NO_NEW_PRIVS), and it
 * holds no capabilities (bounding, permitted, effective and inheritable sets cleared) - it can
 * still open the device, which belongs to its user. Its output is kept (printable ASCII only:
 * file names in it come from the image) for the one error message.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sealmount/log.h"
#include "sealmount/procenv.h"
#include "volume_internal.h"

#define FSCK_OUTPUT_MAX 1024u /* what is kept of e2fsck's output */

/* In the child, between fork and exec: async-signal-safe calls only. */
static _Noreturn void exec_e2fsck(const char *device, int out, char *const *envp)
{
	char *const argv[] = { (char *)"e2fsck", (char *)"-n", (char *)"-f", (char *)device, NULL };
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct none[_LINUX_CAPABILITY_U32S_3] = { { 0 } };
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (devnull < 0 || dup2(devnull, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0 ||
	    dup2(out, STDERR_FILENO) < 0 || setpgid(0, 0) < 0)
		_exit(126);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		_exit(126);
	/* The bounding set first (needs CAP_SETPCAP, which we still have as root; EPERM without
	 * it: then there is nothing to drop), then every set. */
	for (unsigned long cap = 0; cap <= CAP_LAST_CAP + 24; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL && errno != EPERM)
			_exit(126);
	if (syscall(SYS_capset, &h, none) < 0)
		_exit(126);
	execvpe("e2fsck", argv, envp);
	_exit(127);
}

/* Read what e2fsck says (kept up to FSCK_OUTPUT_MAX - 1 bytes, the rest drained) until it closes
 * its output or timeout_s passes. 0 or -ETIMEDOUT. */
static int collect(int fd, char *out, size_t *len, unsigned timeout_s)
{
	struct timespec start, now;
	char buf[4096];

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec >= (time_t)timeout_s)
			return -ETIMEDOUT;
		if (poll(&p, 1, 1000) <= 0)
			continue;
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		for (ssize_t i = 0; i < n && *len + 1 < FSCK_OUTPUT_MAX; i++)
			out[(*len)++] = buf[i] == '\n'			? ' ' :
					buf[i] >= 0x20 && buf[i] < 0x7f ? buf[i] :
									  '?';
	}
}

int vol_fsck_run(const char *device, unsigned timeout_s, char *out, size_t out_len, int *status)
{
	char *const *envp = proc_child_env(); /* before fork: the child only execs */
	char text[FSCK_OUTPUT_MAX];
	size_t len = 0;
	int p[2], r, st;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		r = -errno;
		close(p[0]);
		close(p[1]);
		return r;
	}
	if (pid == 0)
		exec_e2fsck(device, p[1], envp);
	close(p[1]);
	r = collect(p[0], text, &len, timeout_s);
	close(p[0]);
	if (r == -ETIMEDOUT)
		(void)kill(-pid, SIGKILL); /* its process group: anything it started too */
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	text[len] = 0;
	(void)snprintf(out, out_len, "%s", text);
	if (r < 0)
		return r;
	*status = st;
	return 0;
}

int vol_fsck(const char *device, const char *fs_type, struct diag *d)
{
	char out[FSCK_OUTPUT_MAX];
	int r, st = 0;

	if (!streq(fs_type, "ext4") && !streq(fs_type, "ext3") && !streq(fs_type, "ext2")) {
		log_debug("fsck: no read-only checker for %s: not checked", fs_type);
		return 0;
	}
	r = vol_fsck_run(device, VOL_FSCK_TIMEOUT_S, out, sizeof(out), &st);
	if (r == -ETIMEDOUT)
		return diag_set(d, r, "e2fsck -n %s did not finish in %u s (killed): %.300s",
				device, VOL_FSCK_TIMEOUT_S, out);
	if (r < 0)
		return diag_set(d, r, "Cannot run e2fsck -n %s: %m", device);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		log_debug("fsck: e2fsck -n %s: clean", device);
		return 0;
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
		return diag_set(d, -ENOENT,
				"Cannot run e2fsck (e2fsprogs) to check %s, an image without "
				"integrity, before mounting it",
				device);
	if (WIFEXITED(st) && (WEXITSTATUS(st) & 4))
		return diag_set(d, -EUCLEAN,
				"e2fsck -n found errors in the filesystem of this image without "
				"integrity (exit %d): not mounted. It says: %.300s",
				WEXITSTATUS(st), out);
	return diag_set(d, -EUCLEAN,
			"e2fsck -n %s failed (status %#x): not mounted. It says: %.300s", device,
			(unsigned)st, out);
}
