/* SPDX-License-Identifier: MIT */
/*
 * test_volume_publish.c - the parts of volume.c that need no root: mount options, the paths
 * and the atomic relative symlink of the publication (in a temporary directory), the teardown
 * runner (every step runs, in order, even when some fail; the first error is returned), and
 * volume_open()'s refusals before anything is set up.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sealmount/volume.h"
#include "src/volume/volume_internal.h"
#include "unit.h"

static char dir[64];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_volume.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void teardown(void)
{
	ck_assert_int_eq(nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

START_TEST(mount_opts)
{
	struct vol_mount_opts o;

	vol_mount_opts_choose("ext4", false, &o);
	ck_assert_uint_eq(o.flags, MS_RDONLY | MS_NODEV | MS_NOSUID);
	ck_assert_str_eq(o.data, "noload");
	vol_mount_opts_choose("ext4", true, &o);
	ck_assert_uint_eq(o.flags, MS_NODEV | MS_NOSUID);
	ck_assert_ptr_null(o.data);
	/* noload is an ext3/ext4 option only. */
	vol_mount_opts_choose("xfs", false, &o);
	ck_assert_uint_eq(o.flags, MS_RDONLY | MS_NODEV | MS_NOSUID);
	ck_assert_ptr_null(o.data);
}
END_TEST

START_TEST(paths)
{
	struct vol_paths p;

	ck_assert_int_eq(vol_paths_init("/mnt/remote/share", 3, &p), 0);
	ck_assert_str_eq(p.parent, "/mnt/remote");
	ck_assert_str_eq(p.fs_dir, "/mnt/remote/.filesystem-3");
	ck_assert_str_eq(p.link_target, ".filesystem-3");
	ck_assert_str_eq(p.mount_point, "/mnt/remote/share");
	vol_paths_done(&p);
	ck_assert_int_eq(vol_paths_init("/share", 0, &p), 0);
	ck_assert_str_eq(p.parent, "/");
	ck_assert_str_eq(p.fs_dir, "/.filesystem-0");
	vol_paths_done(&p);
	ck_assert_int_eq(vol_paths_init("relative/x", 0, &p), -EINVAL);
	ck_assert_int_eq(vol_paths_init("/", 0, &p), -EINVAL);
	ck_assert_int_eq(vol_paths_init("/mnt/x/", 0, &p), -EINVAL);
	ck_assert_int_eq(vol_paths_init("/mnt/..", 0, &p), -EINVAL);
	ck_assert_int_eq(vol_paths_init("/mnt/.", 0, &p), -EINVAL);
	ck_assert_int_eq(vol_paths_init("", 0, &p), -EINVAL);
}
END_TEST

static void paths_in_dir(const char *name, unsigned index, struct vol_paths *p)
{
	char mp[128];

	snprintf(mp, sizeof(mp), "%s/%s", dir, name);
	ck_assert_int_eq(vol_paths_init(mp, index, p), 0);
}

static void put_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static int count_entries(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)))
		n += !streq(e->d_name, ".") && !streq(e->d_name, "..");
	closedir(d);
	return n;
}

START_TEST(publish_link_is_relative_and_resolves)
{
	struct vol_paths p;
	char buf[64], path[192];
	struct stat st;
	ssize_t n;

	paths_in_dir("share", 2, &p);
	ck_assert_int_eq(vol_fs_dir_prepare(&p), 0);
	ck_assert_int_eq(stat(p.fs_dir, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 07777, 0755);
	snprintf(path, sizeof(path), "%s/hello", p.fs_dir);
	put_file(path, "hi");
	ck_assert_int_eq(vol_publish_link(&p), 0);
	n = readlink(p.mount_point, buf, sizeof(buf) - 1);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_str_eq(buf, ".filesystem-2");
	snprintf(path, sizeof(path), "%s/hello", p.mount_point);
	ck_assert_int_eq(access(path, R_OK), 0);
	/* No temporary name is left behind. */
	ck_assert_int_eq(count_entries(), 2); /* .filesystem-2 and share */
	/* Publishing again replaces our own link atomically. */
	ck_assert_int_eq(vol_publish_link(&p), 0);
	ck_assert_int_eq(vol_unpublish_link(&p), 0);
	ck_assert_int_eq(lstat(p.mount_point, &st), -1);
	ck_assert_int_eq(errno, ENOENT);
	/* Unpublishing twice is fine. */
	ck_assert_int_eq(vol_unpublish_link(&p), 0);
	vol_paths_done(&p);
}
END_TEST

START_TEST(publish_replaces_only_stale_links)
{
	struct vol_paths p;
	char path[192];
	struct stat st;

	paths_in_dir("share", 0, &p);
	ck_assert_int_eq(vol_publish_link(&p), -EBADF); /* the parent is not open yet */
	ck_assert_int_eq(vol_fs_dir_prepare(&p), 0);
	/* A stale link of an earlier run (another index) is replaced. */
	ck_assert_int_eq(symlink(".filesystem-7", p.mount_point), 0);
	ck_assert_int_eq(vol_publish_link(&p), 0);
	ck_assert_int_eq(lstat(p.mount_point, &st), 0);
	ck_assert(S_ISLNK(st.st_mode));
	/* An empty directory, a link elsewhere, a file, a non-empty directory are not: the mount
	 * point must not exist (an empty directory would be gone after unmount). */
	ck_assert_int_eq(unlink(p.mount_point), 0);
	ck_assert_int_eq(mkdir(p.mount_point, 0755), 0);
	ck_assert_int_eq(vol_publish_link(&p), -EEXIST);
	ck_assert_int_eq(rmdir(p.mount_point), 0);
	ck_assert_int_eq(symlink("/etc", p.mount_point), 0);
	ck_assert_int_eq(vol_publish_link(&p), -EEXIST);
	ck_assert_int_eq(unlink(p.mount_point), 0);
	ck_assert_int_eq(symlink("../.filesystem-0", p.mount_point), 0);
	ck_assert_int_eq(vol_publish_link(&p), -EEXIST);
	ck_assert_int_eq(unlink(p.mount_point), 0);
	put_file(p.mount_point, "data");
	ck_assert_int_eq(vol_publish_link(&p), -EEXIST);
	ck_assert_int_eq(unlink(p.mount_point), 0);
	ck_assert_int_eq(mkdir(p.mount_point, 0755), 0);
	snprintf(path, sizeof(path), "%s/keep", p.mount_point);
	put_file(path, "x");
	ck_assert_int_eq(vol_publish_link(&p), -EEXIST);
	ck_assert_int_eq(access(path, R_OK), 0);
	/* Unpublish leaves what is not our link alone. */
	ck_assert_int_eq(vol_unpublish_link(&p), 0);
	ck_assert_int_eq(access(path, R_OK), 0);
	vol_paths_done(&p);
}
END_TEST

START_TEST(fs_dir_refuses_a_mount_point_and_files)
{
	struct vol_paths p;
	char path[160], link[160];

	ck_assert(vol_is_mount_point("/proc"));
	ck_assert(!vol_is_mount_point(dir));
	ck_assert_int_eq(vol_paths_init("/proc/share", 0, &p), 0);
	/* /proc/.filesystem-0 cannot be made */
	ck_assert_int_lt(vol_fs_dir_prepare(&p), 0);
	vol_paths_done(&p);
	paths_in_dir("share", 1, &p);
	put_file(p.fs_dir, "not a dir");
	ck_assert_int_eq(vol_fs_dir_prepare(&p), -ENOTDIR);
	vol_paths_done(&p);
	/* A symlink in place of .filesystem-<i> is refused, never followed: not even to a real,
	 * empty directory. */
	paths_in_dir("share", 4, &p);
	ck_assert_int_eq(mkdir(p.mount_point, 0755), 0);
	ck_assert_int_eq(symlink("share", p.fs_dir), 0);
	ck_assert_int_eq(vol_fs_dir_prepare(&p), -ENOTDIR);
	ck_assert(!p.made_dir);
	/* Nothing of ours to remove or unmount. */
	ck_assert_int_eq(vol_fs_dir_remove(&p), 0);
	ck_assert_int_eq(vol_umount(&p), 0);
	ck_assert_int_eq(unlink(p.fs_dir), 0);
	ck_assert_int_eq(rmdir(p.mount_point), 0);
	vol_paths_done(&p);
	/* The parent must not be a symlink either. */
	snprintf(path, sizeof(path), "%s/realparent", dir);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(link, sizeof(link), "%s/linkparent", dir);
	ck_assert_int_eq(symlink("realparent", link), 0);
	paths_in_dir("linkparent/share", 5, &p);
	ck_assert_int_eq(vol_fs_dir_prepare(&p), -ENOTDIR);
	vol_paths_done(&p);
	/* The directory we made is removed; one we did not make is left. */
	paths_in_dir("share", 6, &p);
	ck_assert_int_eq(vol_fs_dir_prepare(&p), 0);
	ck_assert(p.made_dir);
	ck_assert_int_eq(vol_fs_dir_remove(&p), 0);
	ck_assert_int_eq(access(p.fs_dir, F_OK), -1);
	ck_assert_int_eq(mkdir(p.fs_dir, 0755), 0);
	ck_assert_int_eq(vol_fs_dir_prepare(&p), 0);
	ck_assert(!p.made_dir);
	ck_assert_int_eq(vol_fs_dir_remove(&p), 0);
	ck_assert_int_eq(access(p.fs_dir, F_OK), 0);
	vol_paths_done(&p);
	/* umount of something not mounted is not an error. */
	ck_assert_int_eq(vol_umount_retry(dir), 0);
}
END_TEST

/* ---- teardown runner ---- */

struct trace {
	char order[128];
	int fail_mask;
	int step;
};

static int traced(void *ctx)
{
	struct trace *t = ctx;
	size_t n = strlen(t->order);
	int i = t->step++;

	snprintf(t->order + n, sizeof(t->order) - n, "%d", i);
	return t->fail_mask & (1 << i) ? -(EIO + i) : 0;
}

START_TEST(teardown_runs_every_step_in_order)
{
	const struct vol_step steps[] = { { "a", traced }, { "b", traced }, { "c", traced },
					  { "d", traced }, { "e", traced }, { "f", traced } };
	struct trace t = { .fail_mask = 0 };

	ck_assert_int_eq(vol_run_steps(steps, 6, &t, NULL), 0);
	ck_assert_str_eq(t.order, "012345");
	/* Steps 1 and 3 fail: all still run, the first error comes back. */
	t = (struct trace){ .fail_mask = (1 << 1) | (1 << 3) };
	ck_assert_int_eq(vol_run_steps(steps, 6, &t, NULL), -(EIO + 1));
	ck_assert_str_eq(t.order, "012345");
	t = (struct trace){ .fail_mask = 0x3f };
	ck_assert_int_eq(vol_run_steps(steps, 6, &t, NULL), -EIO);
	ck_assert_str_eq(t.order, "012345");
}
END_TEST

START_TEST(teardown_order_is_the_documented_one)
{
	static const char *const want[] = { "unmount",	     "unpublish",    "deactivate-dm",
					    "detach-device", "unmount-fuse", "release-stack" };

	/* volume.h's order, against the table volume_close() runs */
	ck_assert_uint_eq(vol_teardown_len, ELEMENTSOF(want));
	for (size_t i = 0; i < ELEMENTSOF(want); i++) {
		ck_assert_str_eq(vol_teardown[i].name, want[i]);
		ck_assert_ptr_nonnull(vol_teardown[i].fn);
	}
	ck_assert_int_eq(volume_close(NULL, NULL), 0);
}
END_TEST

/* ---- volume_open refusals (no root needed: nothing is set up yet) ---- */

static struct bdev *file_dev(const char *fixture, uint64_t size)
{
	char src[512], path[128];
	size_t len;
	_cleanup_free_ uint8_t *data = NULL;
	struct bdev *b = NULL;
	int fd;

	snprintf(src, sizeof(src), "%s/%s", unit_testdata(), fixture);
	data = unit_read_file(src, &len);
	snprintf(path, sizeof(path), "%s/image", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, data, len, 0), (ssize_t)len);
	ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
	close(fd);
	ck_assert_int_eq(bdev_file_open(path, false, &b), 0);
	return b;
}

static int try_open(const char *fixture, struct volume_options *o)
{
	_cleanup_(secret_freep) struct secret *pass = NULL;
	struct volume *v = NULL;
	char mp[128], work[128];
	struct volume_options oo = *o; /* mp and work must not outlive this frame in *o */
	struct diag d = { 0 };
	int r;

	snprintf(mp, sizeof(mp), "%s/share", dir);
	snprintf(work, sizeof(work), "%s/work", dir);
	oo.mount_point = o->mount_point ? o->mount_point : mp;
	oo.work_dir = work;
	ck_assert_int_eq(secret_new_copy("wrong", 5, &pass), 0);
	r = volume_open(file_dev(fixture, 40ull << 20), pass, &oo, &v, &d);
	ck_assert_ptr_null(v);
	/* Every refusal says what failed (for the coordinator to log once). */
	ck_assert_msg(diag_is_set(&d), "no description for %d", r);
	ck_assert_int_eq(d.err, r);
	/* Nothing was published or left behind. */
	ck_assert_int_eq(access(mp, F_OK), -1);
	return r;
}

START_TEST(open_refuses_before_setup)
{
	struct volume_options o = { 0 };

	luks2_policy_init(&o.policy);
	/* A hostile header: refused by validation (the stack is freed: ASan checks leaks). */
	ck_assert_int_eq(try_open("evil-luks2-segment-cipher-null.hdr", &o), -EBADMSG);
	ck_assert_int_eq(try_open("evil-luks2-keyslot-cipher-null.hdr", &o), -EBADMSG);
	ck_assert_int_eq(try_open("evil-luks2-copies-disagree.hdr", &o), -EBADMSG);
	/* Policy: require_integrity refuses a Microsoft-style image. */
	ck_assert_int_eq(try_open("luks2-plain-4k.hdr", &o), -EPERM);
	/* A relative mount point, a bad fs type, rw on a read-only image. */
	o = (struct volume_options){ .mount_point = "relative" };
	luks2_policy_init(&o.policy);
	ck_assert_int_eq(try_open("luks2-hmac-sha256-4k.hdr", &o), -EINVAL);
	o = (struct volume_options){ .fs_type = "ext4,dax" };
	luks2_policy_init(&o.policy);
	ck_assert_int_eq(try_open("luks2-hmac-sha256-4k.hdr", &o), -EINVAL);
	o = (struct volume_options){ .rw = true };
	luks2_policy_init(&o.policy);
	ck_assert_int_eq(try_open("luks2-hmac-sha256-4k.hdr", &o), -EROFS);
	/* No device-mapper here: the kernel engine is not available (skipped where it is). */
	if (!vol_dm_usable(true)) {
		o = (struct volume_options){ .engine = VOLUME_ENGINE_KERNEL };
		luks2_policy_init(&o.policy);
		ck_assert_int_eq(try_open("luks2-hmac-sha256-4k.hdr", &o), -ENODEV);
	}
}
END_TEST

static Suite *volume_publish_suite(void)
{
	Suite *s = suite_create("volume_publish");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, mount_opts);
	tcase_add_test(tc, paths);
	tcase_add_test(tc, publish_link_is_relative_and_resolves);
	tcase_add_test(tc, publish_replaces_only_stale_links);
	tcase_add_test(tc, fs_dir_refuses_a_mount_point_and_files);
	tcase_add_test(tc, teardown_runs_every_step_in_order);
	tcase_add_test(tc, teardown_order_is_the_documented_one);
	tcase_add_test(tc, open_refuses_before_setup);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(volume_publish_suite)
