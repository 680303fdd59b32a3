/* SPDX-License-Identifier: MIT */
/*
 * test_image_create.c - `image create` round trips (image.h): an image made from a small
 * directory is validated by luks2_hdr_load (require_integrity where it has integrity), unlocked
 * with luks_unlock, read back completely through the `luks` layer with no tag failure, and the
 * decrypted device is a clean ext4 (e2fsck -fn) that holds the directory's files (debugfs cat).
 * Also: the image size is the smallest that fits (docs/dm-integrity.md, Creating images step 9), a
 * flipped ciphertext byte fails exactly its block with -EILSEQ, and failures leave no output
 * behind.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sealmount/bdev.h"
#include "sealmount/dmi.h"
#include "sealmount/image.h"
#include "sealmount/luks.h"
#include "unit.h"

#define HELLO "hello from image create\n"
#define BIG_SIZE (300u * 1024)

static char work[64];
static char src[128], out[128], plain[128];

extern char **environ;

/* Run a shell command line (test-controlled paths only); its exit status. */
static int run_sh(const char *cmd)
{
	char *argv[] = { (char *)"sh", (char *)"-c", (char *)cmd, NULL };
	pid_t pid;
	int st;

	if (posix_spawnp(&pid, "sh", NULL, NULL, argv, environ) != 0)
		return -1;
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static void run_ok(const char *cmd)
{
	ck_assert_msg(run_sh(cmd) == 0, "failed: %s", cmd);
}

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void setup(void)
{
	char path[256];
	uint8_t *big = malloc(BIG_SIZE);

	ck_assert_ptr_nonnull(big);
	for (size_t i = 0; i < BIG_SIZE; i++)
		big[i] = (uint8_t)(i * 2654435761u >> 13);
	snprintf(work, sizeof(work), "/tmp/test_image_create.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(work));
	snprintf(src, sizeof(src), "%s/src", work);
	snprintf(out, sizeof(out), "%s/out.img", work);
	snprintf(plain, sizeof(plain), "%s/plain.ext4", work);
	ck_assert_int_eq(mkdir(src, 0755), 0);
	snprintf(path, sizeof(path), "%s/hello.txt", src);
	write_file(path, HELLO, strlen(HELLO));
	snprintf(path, sizeof(path), "%s/sub", src);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/sub/big.bin", src);
	write_file(path, big, BIG_SIZE);
	free(big);
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", work);
	if (run_sh(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", work);
}

static struct secret *pass(void)
{
	struct secret *s = NULL;

	ck_assert_int_eq(secret_new_copy("0123456789abcdef0123456789abcdef", 32, &s), 0);
	return s;
}

static void opts_init(struct image_create_options *o, enum luks2_integrity i, uint32_t sector)
{
	*o = (struct image_create_options){ .from_dir = src, .output = out };
	luks2_write_params_init(&o->luks);
	o->luks.integrity = i;
	o->luks.sector_size = sector;
	o->luks.pbkdf2_iterations = 1000;
}

/* Open out through the luks layer (read-only). */
static struct bdev *open_plain(enum luks2_integrity i)
{
	_cleanup_(luks2_hdr_freep) struct luks2_hdr *h = NULL;
	_cleanup_(secret_freep) struct secret *p = pass(), *vk = NULL;
	struct bdev *file = NULL, *dev = NULL;
	struct luks2_policy pol;
	struct luks2_verdict v;

	ck_assert_int_eq(bdev_file_open(out, false, &file), 0);
	luks2_policy_init(&pol);
	pol.require_integrity = i != LUKS2_INTEGRITY_NONE;
	ck_assert_msg(luks2_hdr_load(file, &pol, &h, &v) == 0, "%s: %s", v.rule, v.detail);
	ck_assert_int_eq(h->segment.integrity, i);
	ck_assert_int_eq(luks_unlock(file, h, p, &vk), 0);
	ck_assert_int_eq(luks_open(file, h, vk, &(struct luks_options){ .rw = false }, &dev), 0);
	return dev;
}

/* Decrypt the whole device into plain, checking every block authenticates. */
static void decrypt_all(enum luks2_integrity i, uint64_t want_min)
{
	_cleanup_(bdev_freep) struct bdev *dev = open_plain(i);
	_cleanup_free_ uint8_t *buf = malloc(1u << 20);
	int fd = open(plain, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	uint64_t size = bdev_size(dev);
	struct luks_stats st;

	ck_assert_int_ge(fd, 0);
	ck_assert_uint_ge(size, want_min);
	for (uint64_t off = 0; off < size; off += 1u << 20) {
		size_t n = size - off < (1u << 20) ? (size_t)(size - off) : (1u << 20);

		ck_assert_int_eq(bdev_read(dev, buf, n, off), 0);
		ck_assert_int_eq(pwrite(fd, buf, n, (off_t)off), (ssize_t)n);
	}
	close(fd);
	ck_assert_int_eq(luks_get_stats(dev, &st), 0);
	ck_assert_uint_eq(st.integrity_errors, 0);
}

static void check_fs(void)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "e2fsck -fn '%s' >/dev/null 2>&1", plain);
	run_ok(cmd);
	snprintf(cmd, sizeof(cmd),
		 "debugfs -R 'cat /hello.txt' '%s' 2>/dev/null | cmp -s - '%s/hello.txt'", plain,
		 src);
	run_ok(cmd);
	snprintf(cmd, sizeof(cmd),
		 "debugfs -R 'cat /sub/big.bin' '%s' 2>/dev/null | cmp -s - '%s/sub/big.bin'",
		 plain, src);
	run_ok(cmd);
}

static const struct {
	enum luks2_integrity i;
	uint32_t sector;
	uint64_t fs_size;
} cases[] = {
	/* Small sizes: this test also runs under valgrind. One case sizes from DIR. */
	{ LUKS2_INTEGRITY_HMAC_SHA256, 4096, 0 }, { LUKS2_INTEGRITY_HMAC_SHA256, 512, 9u << 20 },
	{ LUKS2_INTEGRITY_AEAD, 4096, 8u << 20 }, { LUKS2_INTEGRITY_NONE, 4096, 8u << 20 },
	{ LUKS2_INTEGRITY_NONE, 512, 10u << 20 },
};

START_TEST(image_create_round_trip)
{
	_cleanup_(secret_freep) struct secret *p = pass();
	struct image_create_options o;
	struct image_create_result res;
	uint64_t want;
	struct stat st;

	opts_init(&o, cases[_i].i, cases[_i].sector);
	o.fs_size = cases[_i].fs_size;
	ck_assert_int_eq(image_create(&o, p, &res), 0);
	ck_assert_int_eq(stat(out, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ck_assert_uint_eq((uint64_t)st.st_size, res.image_size);
	if (o.fs_size)
		ck_assert_uint_eq(res.fs_size, o.fs_size);
	ck_assert_int_eq(image_size_for(&o.luks, res.fs_size, &want), 0);
	ck_assert_uint_eq(want, res.image_size);
	decrypt_all(o.luks.integrity, res.fs_size);
	check_fs();
}
END_TEST

static uint64_t provided(const struct luks2_write_params *p, uint64_t size)
{
	uint8_t sb[DMI_SB_SIZE];
	struct dmi_geometry g;
	uint32_t t = p->integrity == LUKS2_INTEGRITY_AEAD ? 28 : 32;

	if (dmi_format_superblock(size / 512, 32768, t, p->sector_size, false, sb, &g) < 0)
		return 0;
	return g.provided_data_sectors * 512;
}

START_TEST(image_size_is_smallest_fit)
{
	static const uint64_t sizes[] = { 4096, 24629248, 100u << 20, (256u << 20) + 4096 };
	struct luks2_write_params p;
	uint64_t s;

	for (int k = 0; k < 3; k++) {
		luks2_write_params_init(&p);
		p.integrity = k == 2 ? LUKS2_INTEGRITY_AEAD : LUKS2_INTEGRITY_HMAC_SHA256;
		p.sector_size = k == 1 ? 512 : 4096;
		for (size_t j = 0; j < ELEMENTSOF(sizes); j++) {
			ck_assert_int_eq(image_size_for(&p, sizes[j], &s), 0);
			ck_assert_uint_eq(s % 4096, 0);
			ck_assert_uint_ge(provided(&p, s), sizes[j]);
			ck_assert_uint_lt(provided(&p, s - 4096), sizes[j]);
		}
	}
	/* docs/dm-integrity.md, image a of Values seen: a 40 MiB file provides 48104 sectors;
	 * nothing smaller does. */
	luks2_write_params_init(&p);
	ck_assert_int_eq(image_size_for(&p, 48104 * 512, &s), 0);
	ck_assert_uint_le(s, 40u << 20);
	p.integrity = LUKS2_INTEGRITY_NONE;
	ck_assert_int_eq(image_size_for(&p, 1u << 20, &s), 0);
	ck_assert_uint_eq(s, (16u << 20) + (1u << 20));
	ck_assert_int_eq(image_size_for(&p, 0, &s), -EINVAL);
	ck_assert_int_eq(image_size_for(&p, 1000, &s), -EINVAL);
	p.sector_size = 2048;
	ck_assert_int_eq(image_size_for(&p, 4096, &s), -EINVAL);
}
END_TEST

/* A flipped ciphertext byte fails exactly that block. */
START_TEST(image_create_tamper_detected)
{
	_cleanup_(secret_freep) struct secret *p = pass();
	_cleanup_free_ uint8_t *buf = malloc(4096);
	struct image_create_options o;
	uint8_t sb[DMI_SB_SIZE], byte;
	struct dmi_geometry g;
	uint64_t data, tag;
	struct stat st;
	int fd;

	opts_init(&o, LUKS2_INTEGRITY_HMAC_SHA256, 4096);
	o.fs_size = 8u << 20;
	ck_assert_int_eq(image_create(&o, p, NULL), 0);
	fd = open(out, O_RDWR | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(pread(fd, sb, sizeof(sb), 16u << 20), (ssize_t)sizeof(sb));
	ck_assert_int_eq(dmi_sb_parse(sb, 32768, (uint64_t)st.st_size / 512, 32, 4096, &g), 0);
	dmi_map(&g, 8 * 100, &data, &tag); /* block 100 */
	ck_assert_int_eq(pread(fd, &byte, 1, (off_t)data + 17), 1);
	byte ^= 0x40;
	ck_assert_int_eq(pwrite(fd, &byte, 1, (off_t)data + 17), 1);
	close(fd);
	{
		_cleanup_(bdev_freep) struct bdev *dev = open_plain(LUKS2_INTEGRITY_HMAC_SHA256);

		ck_assert_int_eq(bdev_read(dev, buf, 4096, 99 * 4096), 0);
		ck_assert_int_eq(bdev_read(dev, buf, 4096, 100 * 4096), -EILSEQ);
		ck_assert_int_eq(bdev_read(dev, buf, 4096, 101 * 4096), 0);
	}
}
END_TEST

START_TEST(image_create_failures_leave_nothing)
{
	_cleanup_(secret_freep) struct secret *p = pass();
	struct image_create_options o;
	char path[256];
	struct stat st;

	opts_init(&o, LUKS2_INTEGRITY_HMAC_SHA256, 4096);
	write_file(out, "keep", 4);
	ck_assert_int_eq(image_create(&o, p, NULL), -EEXIST);
	ck_assert_int_eq(stat(out, &st), 0);
	ck_assert_int_eq(st.st_size, 4); /* untouched */
	ck_assert_int_eq(unlink(out), 0);
	/* Too small for its content: mke2fs fails, no output. */
	snprintf(path, sizeof(path), "%s/sub/filler", src);
	{
		uint8_t *z = malloc(12u << 20); /* not zeros: mke2fs -d makes holes of those */

		ck_assert_ptr_nonnull(z);
		for (size_t i = 0; i < (12u << 20); i++)
			z[i] = (uint8_t)(i * 2654435761u >> 11);
		write_file(path, z, 12u << 20);
		free(z);
	}
	o.fs_size = IMAGE_FS_SIZE_MIN;
	ck_assert_int_eq(image_create(&o, p, NULL), -ENOSPC);
	ck_assert_int_eq(stat(out, &st), -1);
	/* No directory. */
	o.fs_size = 0;
	snprintf(path, sizeof(path), "%s/hello.txt", src);
	o.from_dir = path;
	ck_assert_int_eq(image_create(&o, p, NULL), -ENOTDIR);
	o.from_dir = "/nonexistent/dir";
	ck_assert_int_eq(image_create(&o, p, NULL), -ENOENT);
	ck_assert_int_eq(stat(out, &st), -1);
	/* No plaintext temporary left in the output's directory. */
	snprintf(path, sizeof(path), "ls -A '%s' | grep -q sealmount-plain && exit 1; exit 0",
		 work);
	run_ok(path);
}
END_TEST

static Suite *image_create_suite(void)
{
	Suite *s = suite_create("image_create");
	TCase *tc = tcase_create("core");

	/* mke2fs, e2fsck and debugfs live in /usr/sbin, which a user's PATH may lack. */
	setenv("PATH", "/usr/sbin:/sbin:/usr/bin:/bin", 1);
	tcase_set_timeout(tc, 300);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, image_create_round_trip, 0, (int)ELEMENTSOF(cases));
	tcase_add_test(tc, image_size_is_smallest_fit);
	tcase_add_test(tc, image_create_tamper_detected);
	tcase_add_test(tc, image_create_failures_leave_nothing);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(image_create_suite)
