/* SPDX-License-Identifier: MIT */
/*
 * mount_state.c - where `sealmount mount` leaves its crash records (pipeline.h) and the two
 * commands that read them: `sealmount umount MOUNTPOINT` (a live owner is asked to stop and
 * waited for; a dead one's leftovers are cleaned up from its record) and `sealmount list`.
 * The records are in <base>/mounts: /run/sealmount for root, a private per-user directory
 * otherwise (mount_state_base()).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "mount_state.h"
#include "sealmount/jsonx.h"
#include "sealmount/log.h"
#include "sealmount/pipeline.h"

#define ROOT_BASE "/run/sealmount"
#define STATE_SUBDIR "mounts"
#define UMOUNT_WAIT_DEFAULT_S 120

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

int mount_state_dir(char *buf, size_t len)
{
	char base[PATH_MAX];
	int r = mount_state_base(base, sizeof(base));
	int n;

	if (r < 0)
		return r;
	n = snprintf(buf, len, "%s/" STATE_SUBDIR, base);
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

static void show_progress(void *userdata, const char *what)
{
	log_info("%s: %s", (const char *)userdata, what);
}

int mount_state_recover(struct pl_record *rec)
{
	struct diag d = { 0 };
	int r;

	log_warn("The process %d that served %s is gone (it crashed or was killed): cleaning up "
		 "what its record names",
		 (int)rec->pid, rec->mount_point);
	r = pl_record_recover(rec, show_progress, (void *)rec->mount_point, &d);
	if (r < 0)
		return log_error_errno(r, "Cleaning up after process %d was incomplete: %s",
				       (int)rec->pid, diag_or_strerror(&d, r));
	log_info("Cleaned up what process %d left at %s", (int)rec->pid, rec->mount_point);
	return 0;
}

/* ---- umount ---- */

/* SIGTERM, then wait for the process and its record to go; a note every 5 s. */
static int stop_owner(struct pl_record *rec, unsigned timeout_s)
{
	const struct timespec pause = { .tv_nsec = 100 * 1000 * 1000 };
	uint64_t start = pl_process_start_time(rec->pid);

	if (kill(rec->pid, SIGTERM) < 0)
		return log_error_errno(-errno, "Cannot signal process %d serving %s: %m",
				       (int)rec->pid, rec->mount_point);
	log_info("Asked process %d to unmount %s", (int)rec->pid, rec->mount_point);
	for (unsigned i = 1; i <= timeout_s * 10; i++) {
		if (pl_process_start_time(rec->pid) != start)
			return 0;
		if (i % 50 == 0)
			log_info("Still waiting for process %d to unmount %s (%u s)", (int)rec->pid,
				 rec->mount_point, i / 10);
		(void)nanosleep(&pause, NULL);
	}
	return log_error_errno(-ETIMEDOUT,
			       "Process %d serving %s did not finish within %u s (a storage "
			       "write-back that cannot complete?); try again, or stop it with "
			       "SIGKILL and run `sealmount umount %s` to clean up",
			       (int)rec->pid, rec->mount_point, timeout_s, rec->mount_point);
}

static int umount_one(const char *mount_point, unsigned timeout_s)
{
	_cleanup_free_ char *abs = NULL;
	struct pl_record rec = { 0 };
	char dir[PATH_MAX];
	int r;

	r = mount_state_abspath(mount_point, &abs);
	r = r ?: mount_state_dir(dir, sizeof(dir));
	if (r < 0)
		return log_error_errno(r, "Invalid mount point %s: %m", mount_point);
	r = pl_record_find(dir, abs, &rec);
	if (r < 0)
		return log_error_errno(
			r, "Nothing is mounted by sealmount at %s (no record in %s%s)", abs, dir,
			geteuid() ? "; records are per user: run it as the user "
				    "that mounted" :
				    "");
	if (rec.alive) {
		r = stop_owner(&rec, timeout_s);
		pl_record_done(&rec);
		/* A teardown that failed leaves the record: clean up what it still names. */
		if (r == 0 && pl_record_find(dir, abs, &rec) == 0 && !rec.alive)
			r = mount_state_recover(&rec);
	} else {
		r = mount_state_recover(&rec);
	}
	pl_record_done(&rec);
	if (r == 0)
		log_info("Unmounted %s", abs);
	return r;
}

static int run_umount(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "timeout", required_argument, NULL, 't' },
		{},
	};
	uint64_t timeout = UMOUNT_WAIT_DEFAULT_S;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (c == 'h')
			return cli_help(&cmd_umount);
		if (c == 't' && cli_parse_uint(optarg, 86400, &timeout) == 0 && timeout > 0)
			continue;
		if (c == 't')
			return cli_usage_error("umount", "--timeout takes 1..86400 seconds");
		return cli_bad_option("umount", c, argv);
	}
	if (optind + 1 != argc)
		return cli_usage_error("umount", "expected exactly one MOUNTPOINT");
	return umount_one(argv[optind], (unsigned)timeout) < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

const struct cli_command cmd_umount = {
	.name = "umount",
	.summary = "Unmount what `sealmount mount` serves at MOUNTPOINT (or left behind)",
	.usage =
		"Usage: sealmount umount [--timeout SECONDS] MOUNTPOINT\n"
		"\n"
		"Ask the `sealmount mount` process serving MOUNTPOINT to stop (SIGTERM) and wait\n"
		"(default 120 s, a note every 5 s) until it has unmounted, removed the link,\n"
		"deactivated the devices and written the image back. If that process is gone\n"
		"(crashed, killed with SIGKILL), clean up exactly what its record names instead:\n"
		"the filesystem mount, the link, the dm, loop and NBD devices, the FUSE mount -\n"
		"each only if it is still the recorded one. Exit 1 when nothing is mounted there.\n"
		"Run it as the user that mounted: the records are in /run/sealmount/mounts for\n"
		"root, else in $XDG_RUNTIME_DIR/sealmount/mounts (or /tmp/sealmount-UID/mounts).\n",
	.run = run_umount,
};

/* ---- list ---- */

static int list_json(const struct pl_record *list, size_t n)
{
	_cleanup_json_ json_t *arr = json_array();

	for (size_t i = 0; arr && i < n; i++) {
		const struct pl_record *r = &list[i];

		if (json_array_append_new(arr, json_pack("{s:s, s:i, s:i, s:b, s:s?, s:s?, s:s?}",
							 "mount_point", r->mount_point, "index",
							 (int)r->index, "pid", (int)r->pid, "alive",
							 r->alive, "engine", r->engine, "block",
							 r->block, "source", r->source)) < 0)
			return -ENOMEM;
	}
	if (!arr || json_dumpf(arr, stdout, JSON_INDENT(2)) < 0 || puts("") < 0)
		return -ENOMEM;
	return 0;
}

static int run_list(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, 'j' },
		{},
	};
	struct pl_record *list = NULL;
	char dir[PATH_MAX];
	bool json = false;
	size_t n = 0;
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (c == 'h')
			return cli_help(&cmd_list);
		if (c != 'j')
			return cli_bad_option("list", c, argv);
		json = true;
	}
	if (optind != argc)
		return cli_usage_error("list", "unexpected argument '%s'", argv[optind]);
	r = mount_state_dir(dir, sizeof(dir));
	r = r ?: pl_records_list(dir, &list, &n);
	if (r < 0) {
		log_error_errno(r, "Cannot read the records in %s: %m", dir);
		return CLI_EXIT_FAILURE;
	}
	if (json) {
		r = list_json(list, n);
	} else {
		printf("%-5s %-8s %-6s %-6s %-5s %-40s %s\n", "INDEX", "PID", "OWNER", "ENGINE",
		       "BLOCK", "MOUNTPOINT", "SOURCE");
		for (size_t i = 0; i < n; i++)
			printf("%-5u %-8d %-6s %-6s %-5s %-40s %s\n", list[i].index,
			       (int)list[i].pid, list[i].alive ? "alive" : "DEAD",
			       list[i].engine ? list[i].engine : "?",
			       list[i].block ? list[i].block : "?", list[i].mount_point,
			       list[i].source ? list[i].source : "");
	}
	pl_records_free(list, n);
	return r < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

const struct cli_command cmd_list = {
	.name = "list",
	.summary = "List the mounts of `sealmount mount`, with owners alive or dead",
	.usage = "Usage: sealmount list [--json]\n"
		 "\n"
		 "One line per mount recorded by `sealmount mount` for this user: its index, the\n"
		 "process serving it and whether that process is still alive (DEAD: it crashed;\n"
		 "`sealmount umount MOUNTPOINT` cleans up what it left), the engine and block\n"
		 "layer, the mount point and the source (without a SAS).\n",
	.run = run_list,
};
