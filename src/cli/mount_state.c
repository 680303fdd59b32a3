/* SPDX-License-Identifier: MIT */
/*
 * mount_state.c - how `sealmount umount MOUNTPOINT` finds the process serving a mount: a state
 * file <base>/mounts/<sha256 of the absolute mount point>.pid holding "PID\nPATH\n", written by
 * `sealmount mount` once the mount is published and removed when it exits. <base> is
 * /run/sealmount for root and a private per-user directory otherwise (mount_state_base()). And
 * the `umount` command itself: SIGTERM to that process, then wait until it is gone and the mount
 * point no longer resolves.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sealmount/fsutil.h"
#include "cli.h"
#include "mount_state.h"
#include "sealmount/codec.h"
#include "sealmount/log.h"

#define ROOT_BASE "/run/sealmount"
#define STATE_SUBDIR "mounts"
#define UMOUNT_WAIT_S 120

int mount_state_base(char *buf, size_t len)
{
	const char *xdg;
	int n;

	if (geteuid() == 0)
		n = snprintf(buf, len, "%s", ROOT_BASE);
	else {
		/* secure_getenv: a per-user runtime directory is the user's own choice; in a
		 * setuid context fall back to /tmp. Only an absolute path is taken. */
		xdg = secure_getenv("XDG_RUNTIME_DIR");
		n = xdg && xdg[0] == '/' ?
			    snprintf(buf, len, "%s/sealmount", xdg) :
			    snprintf(buf, len, "/tmp/sealmount-%u", (unsigned)geteuid());
	}
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int mount_state_abspath(const char *mount_point, char **ret)
{
	const char *slash = strrchr(mount_point, '/');
	const char *base = slash ? slash + 1 : mount_point;
	_cleanup_free_ char *dir = NULL;
	char parent[PATH_MAX];

	if (!*base || streq(base, ".") || streq(base, ".."))
		return -EINVAL;
	dir = !slash ? strdup(".") :
		       strndup(mount_point,
			       slash == mount_point ? 1 : (size_t)(slash - mount_point));
	if (!dir)
		return -ENOMEM;
	if (!realpath(dir, parent))
		return -errno;
	if (asprintf(ret, "%s/%s", streq(parent, "/") ? "" : parent, base) < 0)
		return -ENOMEM;
	return 0;
}

static int state_path(const char *abs, char *buf, size_t len)
{
	unsigned char md[32];
	char hex[65], base[PATH_MAX];
	unsigned mdlen = 0;
	int n, r;

	r = mount_state_base(base, sizeof(base));
	if (r < 0)
		return r;
	if (!EVP_Digest(abs, strlen(abs), md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
		return -EIO;
	hex_encode(md, 32, hex);
	n = snprintf(buf, len, "%s/" STATE_SUBDIR "/%s.pid", base, hex);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int mount_state_write(const char *abs)
{
	_cleanup_close_ int fd = -1;
	char path[PATH_MAX], base[PATH_MAX], dir[PATH_MAX + 16], line[PATH_MAX + 32];
	int n, r;

	r = state_path(abs, path, sizeof(path));
	if (r < 0)
		return r;
	r = mount_state_base(base, sizeof(base));
	if (r < 0)
		return r;
	(void)snprintf(dir, sizeof(dir), "%s/" STATE_SUBDIR, base);
	r = fs_mkdir_private(base);
	if (r == 0)
		r = fs_mkdir_private(dir);
	if (r < 0)
		return r;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	n = snprintf(line, sizeof(line), "%d\n%s\n", (int)getpid(), abs);
	if (n < 0 || (size_t)n >= sizeof(line) || write(fd, line, (size_t)n) != n)
		return -EIO;
	return 0;
}

void mount_state_remove(const char *abs)
{
	char path[PATH_MAX];

	if (state_path(abs, path, sizeof(path)) == 0)
		(void)unlink(path);
}

/* The pid serving abs, if its state file names abs and the process is alive; else -ENOENT. */
int mount_state_find(const char *abs, pid_t *ret)
{
	char path[PATH_MAX], buf[PATH_MAX + 32], *nl;
	_cleanup_close_ int fd = -1;
	uint64_t pid;
	ssize_t n;
	int r;

	r = state_path(abs, path, sizeof(path));
	if (r < 0)
		return r;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -ENOENT;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return -ENOENT;
	buf[n] = '\0';
	nl = strchr(buf, '\n');
	if (!nl)
		return -ENOENT;
	*nl = '\0';
	if (cli_parse_uint(buf, INT32_MAX, &pid) < 0 || pid < 2 ||
	    strncmp(nl + 1, abs, strlen(abs)) != 0 || nl[1 + strlen(abs)] != '\n')
		return -ENOENT;
	if (kill((pid_t)pid, 0) < 0 && errno == ESRCH) {
		(void)unlink(path); /* stale: the process died without cleaning up */
		return -ENOENT;
	}
	*ret = (pid_t)pid;
	return 0;
}

static int umount_one(const char *mount_point)
{
	_cleanup_free_ char *abs = NULL;
	const struct timespec pause = { .tv_nsec = 100 * 1000 * 1000 };
	struct stat st;
	pid_t pid;
	int r;

	r = mount_state_abspath(mount_point, &abs);
	if (r < 0) {
		log_error_errno(r, "Invalid mount point %s: %m", mount_point);
		return CLI_EXIT_FAILURE;
	}
	if (mount_state_find(abs, &pid) < 0) {
		log_error("Nothing is mounted by sealmount at %s", abs);
		return CLI_EXIT_FAILURE;
	}
	if (kill(pid, SIGTERM) < 0) {
		log_error_errno(-errno, "Cannot signal process %d serving %s: %m", (int)pid, abs);
		return CLI_EXIT_FAILURE;
	}
	for (int i = 0; i < UMOUNT_WAIT_S * 10; i++) {
		if (kill(pid, 0) < 0 && errno == ESRCH && lstat(abs, &st) < 0) {
			log_info("Unmounted %s", abs);
			return CLI_EXIT_OK;
		}
		(void)nanosleep(&pause, NULL);
	}
	log_error("Process %d serving %s did not finish within %d s", (int)pid, abs, UMOUNT_WAIT_S);
	return CLI_EXIT_FAILURE;
}

static int run_umount(int argc, char **argv)
{
	static const struct option opts[] = { { "help", no_argument, NULL, 'h' }, {} };
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (c == 'h')
			return cli_help(&cmd_umount);
		return cli_bad_option("umount", c, argv);
	}
	if (optind + 1 != argc)
		return cli_usage_error("umount", "expected exactly one MOUNTPOINT");
	return umount_one(argv[optind]);
}

const struct cli_command cmd_umount = {
	.name = "umount",
	.summary = "Unmount what `sealmount mount` serves at MOUNTPOINT",
	.usage =
		"Usage: sealmount umount MOUNTPOINT\n"
		"\n"
		"Ask the `sealmount mount` process serving MOUNTPOINT to stop (SIGTERM) and wait\n"
		"until it has unmounted, removed the link, deactivated the devices and written the\n"
		"image back. Exit 1 when nothing is mounted there. Run it as the user that\n"
		"mounted: the state files are in /run/sealmount/mounts for root, else in\n"
		"$XDG_RUNTIME_DIR/sealmount/mounts (or /tmp/sealmount-UID/mounts).\n",
	.run = run_umount,
};
