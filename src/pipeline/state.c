/* SPDX-License-Identifier: MIT */
/*
 * state.c - crash records (pipeline.h): once a filesystem is published, a record of what it
 * holds goes to <state_dir>/<sha256 of the mount point>.json (written atomically, mode 0600);
 * teardown removes it. Another process - `sealmount umount`, `sealmount list`, a restarted
 * sidecar - reads them: a live owner is asked to stop, a dead one's leftovers are cleaned up
 * from its record (volume_recover), never by guessing.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipeline_internal.h"
#include "sealmount/codec.h"
#include "sealmount/fsutil.h"
#include "sealmount/jsonx.h"
#include "sealmount/log.h"

#define RECORD_MAX (64u * 1024)
#define RECORD_VERSION 1

/* A process's start time (clock ticks since boot, /proc/PID/stat field 22): with the pid, it
 * names one process even after the pid is reused. 0 when the process is gone. */
uint64_t pl_process_start_time(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long t = 0;
	ssize_t n;
	int fd;

	(void)snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	(void)close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* the command may hold spaces and parentheses */
	for (int field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (!p)
		return 0;
	t = strtoull(p + 1, NULL, 10);
	return t;
}

static int record_path(const char *dir, const char *mount_point, char **ret)
{
	unsigned char md[32];
	unsigned mdlen = 0;
	char hex[65];

	if (!EVP_Digest(mount_point, strlen(mount_point), md, &mdlen, EVP_sha256(), NULL) ||
	    mdlen != 32)
		return -EIO;
	hex_encode(md, 32, hex);
	return asprintf(ret, "%s/%s.json", dir, hex) < 0 ? -ENOMEM : 0;
}

/* dir, and its parent (the work directory, which the NBD block layer does not create), both
 * private. */
static int mkdir_private_parent(const char *dir)
{
	const char *slash = strrchr(dir, '/');
	char parent[PATH_MAX];
	int r = fs_mkdir_private(dir);

	if (r != -ENOENT || !slash || slash == dir || (size_t)(slash - dir) >= sizeof(parent))
		return r;
	memcpy(parent, dir, (size_t)(slash - dir));
	parent[slash - dir] = '\0';
	r = fs_mkdir_private(parent);
	return r < 0 ? r : fs_mkdir_private(dir);
}

int pl_record_write(struct pl_fs *fs, struct diag *d)
{
	const struct pl_spec *s = fs->spec;
	_cleanup_json_ json_t *o = NULL, *vol = NULL;
	_cleanup_free_ char *path = NULL, *text = NULL;
	const char *src = s->src.url ? s->src.url : "";
	int r;

	if (!s->state_dir || !fs->vol)
		return 0;
	r = volume_record(fs->vol, &vol);
	if (r < 0)
		return diag_set(d, r, "Cannot describe the volume: %m");
	o = json_pack("{s:i, s:i, s:I, s:s, s:i, s:s%, s:O}", "version", RECORD_VERSION, "pid",
		      (int)getpid(), "start_time", (json_int_t)pl_process_start_time(getpid()),
		      "mount_point", s->mount_point, "index", (int)s->index, "source", src,
		      strcspn(src, "?"), "volume", vol);
	text = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
	if (!text)
		return diag_set(d, -ENOMEM, "Out of memory");
	r = mkdir_private_parent(s->state_dir);
	r = r ?: record_path(s->state_dir, s->mount_point, &path);
	r = r ?: fs_write_atomic(path, text, strlen(text), 0600);
	if (r < 0)
		return diag_set(d, r, "Cannot write the crash record in %s: %m", s->state_dir);
	fs->record_written = true;
	return 0;
}

void pl_record_remove(struct pl_fs *fs)
{
	_cleanup_free_ char *path = NULL;

	if (!fs->record_written)
		return;
	if (record_path(fs->spec->state_dir, fs->spec->mount_point, &path) == 0)
		(void)unlink(path);
	fs->record_written = false;
}

/* ---- reading ---- */

void pl_record_done(struct pl_record *r)
{
	free(r->path);
	json_decref(r->json);
	*r = (struct pl_record){ 0 };
}

static int record_parse(char *path, struct pl_record *ret)
{
	_cleanup_free_ uint8_t *text = NULL;
	json_t *o = NULL;
	size_t len;
	int r;

	r = fs_read_file(path, RECORD_MAX, 0, &text, &len);
	r = r ?: jsonx_load_object(text, len, RECORD_MAX, &o);
	if (r < 0)
		return r;
	*ret = (struct pl_record){
		.path = path,
		.json = o,
		.pid = (pid_t)json_integer_value(json_object_get(o, "pid")),
		.mount_point = json_string_value(json_object_get(o, "mount_point")),
		.index = (unsigned)json_integer_value(json_object_get(o, "index")),
		.source = json_string_value(json_object_get(o, "source")),
		.volume = json_object_get(o, "volume"),
	};
	if (!ret->mount_point || ret->pid < 2 || !json_is_object(ret->volume)) {
		ret->path = NULL;
		pl_record_done(ret);
		return -EBADMSG;
	}
	ret->alive = pl_process_start_time(ret->pid) ==
		     (uint64_t)json_integer_value(json_object_get(o, "start_time"));
	ret->engine = json_string_value(json_object_get(ret->volume, "engine"));
	ret->block = json_string_value(json_object_get(ret->volume, "block"));
	return 0;
}

int pl_record_find(const char *dir, const char *mount_point, struct pl_record *ret)
{
	char *path = NULL;
	int r;

	r = record_path(dir, mount_point, &path);
	if (r < 0)
		return r;
	r = record_parse(path, ret);
	if (r < 0) {
		free(path);
		return r;
	}
	if (!streq(ret->mount_point, mount_point)) {
		pl_record_done(ret);
		return -ENOENT;
	}
	return 0;
}

static void closedirp(DIR **d)
{
	if (*d)
		(void)closedir(*d);
}

int pl_records_list(const char *dir, struct pl_record **ret, size_t *ret_n)
{
	_cleanup_(closedirp) DIR *d = opendir(dir);
	struct pl_record *list = NULL, *grown;
	size_t n = 0;
	struct dirent *e;

	*ret = NULL;
	*ret_n = 0;
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(d))) {
		char *path;
		size_t l = strlen(e->d_name);

		if (l != 64 + 5 || strcmp(e->d_name + 64, ".json") != 0)
			continue;
		if (asprintf(&path, "%s/%s", dir, e->d_name) < 0)
			break;
		grown = realloc(list, (n + 1) * sizeof(*list));
		if (!grown) {
			free(path);
			break;
		}
		list = grown;
		if (record_parse(path, &list[n]) == 0)
			n++;
		else
			free(path);
	}
	*ret = list;
	*ret_n = n;
	return 0;
}

int pl_records_first_free_index(const char *dir, unsigned *ret)
{
	struct pl_record *list = NULL;
	size_t n = 0;
	unsigned i = 0;
	int r;

	r = pl_records_list(dir, &list, &n);
	if (r < 0)
		return r;
	for (bool used = true; used; i += used) {
		used = false;
		for (size_t k = 0; k < n && !used; k++)
			used = list[k].index == i;
	}
	pl_records_free(list, n);
	*ret = i;
	return 0;
}

void pl_records_free(struct pl_record *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		pl_record_done(&list[i]);
	free(list);
}

int pl_record_recover(struct pl_record *rec, void (*progress)(void *, const char *), void *userdata,
		      struct diag *d)
{
	int r;

	if (rec->alive)
		return diag_set(d, -EBUSY, "process %d still serves %s", (int)rec->pid,
				rec->mount_point);
	r = volume_recover(rec->volume, progress, userdata, d);
	if (r == 0 && rec->path)
		(void)unlink(rec->path);
	return r;
}
