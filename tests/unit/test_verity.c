/* SPDX-License-Identifier: MIT */
/*
 * test_verity.c - the verity module (verity.h): superblock parse/write with negative cases,
 * geometry (level sizes and placement as cryptsetup's hash_levels() gives them), recognition by
 * size, sealing a file (a known answer from `veritysetup format`, and `veritysetup verify` run
 * live when installed), the whole-tree check naming the first bad block for a changed data
 * block, hash block and top block, and the `verity` layer: byte-exact reads (aligned,
 * unaligned, concurrent, with a tiny cache), EIO with a zeroed buffer for a changed block,
 * and refused opens for a wrong root hash or a changed block 0.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sealmount/codec.h"
#include "sealmount/verity.h"
#include "sealmount/verity_sig.h"
#include "unit.h"

extern char **environ;

#define BS VERITY_BLOCK_SIZE

static char dir[64], img_path[128];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_verity.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(img_path, sizeof(img_path), "%s/img", dir);
}

static void teardown(void)
{
	unlink(img_path);
	rmdir(dir);
}

static const uint8_t test_salt[32] = { 0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10,
				       11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
				       22, 23, 24, 25, 26, 27, 28, 29, 30, 31 };
static const uint8_t test_uuid[16] = { 0x12, 0x34, 0x56, 0x78, 0x12, 0x34, 0x42, 0x34,
				       0x82, 0x34, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc };

/* Block i is filled with (i + seed) & 0xff. */
static void fill_block(uint8_t *b, uint64_t i, unsigned seed)
{
	memset(b, (int)((i + seed) & 0xff), BS);
}

static void write_data(const char *p, uint64_t blocks, unsigned seed)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	uint8_t b[BS];

	ck_assert_int_ge(fd, 0);
	for (uint64_t i = 0; i < blocks; i++) {
		fill_block(b, i, seed);
		ck_assert_int_eq(pwrite(fd, b, BS, (off_t)(i * BS)), BS);
	}
	close(fd);
}

static void flip_byte(const char *p, uint64_t off)
{
	int fd = open(p, O_RDWR);
	uint8_t c;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &c, 1, (off_t)off), 1);
	c ^= 0x01;
	ck_assert_int_eq(pwrite(fd, &c, 1, (off_t)off), 1);
	close(fd);
}

static struct verity_image seal(uint64_t blocks, unsigned seed, uint8_t root[32])
{
	struct verity_seal_options o = { .salt = test_salt, .salt_size = 32, .uuid = test_uuid };
	struct verity_image img;
	struct diag d = { 0 };

	write_data(img_path, blocks, seed);
	ck_assert_msg(verity_seal_file(img_path, &o, root, &img, &d) == 0, "%s", d.text);
	return img;
}

static struct bdev *open_file(bool rw)
{
	struct bdev *b = NULL;

	ck_assert_int_eq(bdev_file_open(img_path, rw, &b), 0);
	return b;
}

/* ---- superblock ---- */

static void sample_sb(uint8_t out[VERITY_SB_SIZE])
{
	struct verity_sb sb = { .data_blocks = 4096, .salt_size = 32 };

	memcpy(sb.uuid, test_uuid, 16);
	memcpy(sb.salt, test_salt, 32);
	verity_sb_write(&sb, out);
}

START_TEST(verity_sb_roundtrip)
{
	uint8_t b[VERITY_SB_SIZE];
	struct verity_sb sb;

	sample_sb(b);
	ck_assert_int_eq(memcmp(b, "verity\0\0", 8), 0);
	ck_assert_int_eq(verity_sb_parse(b, sizeof(b), &sb, NULL), 0);
	ck_assert_uint_eq(sb.data_blocks, 4096);
	ck_assert_uint_eq(sb.salt_size, 32);
	ck_assert_int_eq(memcmp(sb.salt, test_salt, 32), 0);
	ck_assert_int_eq(memcmp(sb.uuid, test_uuid, 16), 0);
}
END_TEST

/* Each mutation of a good superblock must be refused. */
static const struct {
	size_t off;
	uint8_t val;
	const char *what;
} sb_evil[] = {
	{ 0, 'V', "signature" },
	{ 8, 2, "version 2" },
	{ 12, 0, "hash type 0 (Chrome OS)" },
	{ 32 + 4, '1', "algorithm sha2516" },
	{ 32 + 6, 'x', "algorithm sha256x" },
	{ 64 + 1, 0x02, "data block size 512" },
	{ 68 + 1, 0x20, "hash block size 8192" },
	{ 72 + 1, 0, "data blocks 0" },
	{ 72 + 7, 0x80, "data blocks huge" },
	{ 80 + 1, 0x01, "salt size 288" },
	{ 83, 1, "pad1" },
	{ 88 + 40, 1, "byte after the salt" },
	{ 511, 1, "pad2" },
};

START_TEST(verity_sb_parse_rejects)
{
	uint8_t b[VERITY_SB_SIZE];
	struct verity_sb sb;
	struct diag d = { 0 };

	sample_sb(b);
	b[sb_evil[_i].off] = sb_evil[_i].val;
	ck_assert_msg(verity_sb_parse(b, sizeof(b), &sb, &d) == -EBADMSG, "accepted: %s",
		      sb_evil[_i].what);
	ck_assert(diag_is_set(&d) || sb_evil[_i].off == 0);
}
END_TEST

START_TEST(verity_sb_parse_rejects_short_and_one_block)
{
	uint8_t b[VERITY_SB_SIZE];
	struct verity_sb sb;

	sample_sb(b);
	ck_assert_int_eq(verity_sb_parse(b, VERITY_SB_SIZE - 1, &sb, NULL), -EBADMSG);
	ck_assert_int_eq(verity_sb_parse(b, 0, &sb, NULL), -EBADMSG);
	b[72] = 1, b[73] = 0; /* one data block: no tree level */
	ck_assert_int_eq(verity_sb_parse(b, sizeof(b), &sb, NULL), -EBADMSG);
	b[72] = 2; /* two is the least */
	ck_assert_int_eq(verity_sb_parse(b, sizeof(b), &sb, NULL), 0);
	b[80] = 0; /* no salt is allowed (veritysetup --salt=-), with zeros where it was */
	ck_assert_int_eq(verity_sb_parse(b, sizeof(b), &sb, NULL), -EBADMSG);
	memset(b + 88, 0, 32);
	ck_assert_int_eq(verity_sb_parse(b, sizeof(b), &sb, NULL), 0);
	ck_assert_uint_eq(sb.salt_size, 0);
}
END_TEST

/* ---- geometry ---- */

START_TEST(verity_geometry_levels)
{
	struct verity_geometry g;

	ck_assert_int_eq(verity_geometry_init(2, &g), 0);
	ck_assert_uint_eq(g.levels, 1);
	ck_assert_uint_eq(g.hash_blocks, 1);
	ck_assert_uint_eq(g.end, 4 * BS); /* 2 data, superblock, 1 hash */
	ck_assert_int_eq(verity_geometry_init(128, &g), 0);
	ck_assert_uint_eq(g.levels, 1);
	ck_assert_int_eq(verity_geometry_init(129, &g), 0);
	ck_assert_uint_eq(g.levels, 2);
	ck_assert_uint_eq(g.level_blocks[0], 2);
	ck_assert_uint_eq(g.level_blocks[1], 1);
	/* 16 MiB: what `veritysetup format` reported (33 hash blocks, file D + 34 blocks) */
	ck_assert_int_eq(verity_geometry_init(4096, &g), 0);
	ck_assert_uint_eq(g.hash_blocks, 33);
	ck_assert_uint_eq(g.end, 4096 * BS + 34 * BS);
	ck_assert_uint_eq(g.hash_offset, 4096 * BS);
	ck_assert_uint_eq(g.tree_offset, 4097 * BS);
	ck_assert_uint_eq(g.level_offset[1], g.tree_offset); /* highest level first */
	ck_assert_uint_eq(g.level_offset[0], g.tree_offset + BS);
	ck_assert_int_eq(verity_geometry_init(128 * 128 + 1, &g), 0);
	ck_assert_uint_eq(g.levels, 3);
	ck_assert_uint_eq(g.level_blocks[0], 129);
	ck_assert_uint_eq(g.level_blocks[1], 2);
	ck_assert_uint_eq(g.level_blocks[2], 1);
	/* 1 PiB: 6 levels, within bounds */
	ck_assert_int_eq(verity_geometry_init(VERITY_DATA_MAX / BS, &g), 0);
	ck_assert_uint_eq(g.levels, 6);
	ck_assert_int_eq(verity_geometry_init(VERITY_DATA_MAX / BS + 1, &g), -EINVAL);
	ck_assert_int_eq(verity_geometry_init(1, &g), -EINVAL);
	ck_assert_int_eq(verity_geometry_init(0, &g), -EINVAL);
	ck_assert_int_eq(verity_geometry_init(UINT64_MAX, &g), -EINVAL);
}
END_TEST

/* ---- sealing and recognition ---- */

static bool have(const char *prog)
{
	char p[256];

	for (const char *d = "/usr/sbin:/sbin:/usr/bin:/bin"; *d;) {
		size_t n = strcspn(d, ":");

		snprintf(p, sizeof(p), "%.*s/%s", (int)n, d, prog);
		if (access(p, X_OK) == 0)
			return true;
		d += n + (d[n] == ':');
	}
	return false;
}

static int run(const char *const argv[])
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int st;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	ck_assert_int_eq(posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* `veritysetup format --hash-offset=1228800 --salt=0001..1f --uuid=12345678-1234-4234-8234-
 * 123456789abc` over 300 blocks where block i is filled with i & 0xff (cryptsetup 2.6.1). */
START_TEST(verity_seal_known_answer)
{
	static const char want[] =
		"c382722c1ecf53fb069ad2c8daf053944e8583184cd65423f47418e4d5ab59ee";
	uint8_t root[32];
	char hex[65], off[32];
	struct verity_image img = seal(300, 0, root);
	struct stat st;

	hex_encode(root, 32, hex);
	ck_assert_str_eq(hex, want);
	ck_assert_int_eq(stat(img_path, &st), 0);
	ck_assert_int_eq(st.st_size, 305 * BS);
	ck_assert_uint_eq(img.g.end, 305 * BS);
	if (!have("veritysetup"))
		return;
	snprintf(off, sizeof(off), "--hash-offset=%u", 300 * BS);
	ck_assert_int_eq(run((const char *const[]){ "veritysetup", "verify", off, img_path,
						    img_path, hex, NULL }),
			 0);
}
END_TEST

START_TEST(verity_locate_finds_and_refuses)
{
	uint8_t root[32], b[BS];
	struct verity_image img, found;
	struct bdev *dev;
	struct diag d = { 0 };
	int fd;

	img = seal(300, 0, root);
	dev = open_file(false);
	ck_assert_int_eq(verity_locate(dev, &found, NULL), 0);
	ck_assert(!found.has_signature);
	ck_assert_uint_eq(found.g.data_size, 300 * BS);
	ck_assert_int_eq(memcmp(&found.sb, &img.sb, sizeof(img.sb)), 0);
	bdev_free(dev);
	/* one block more: no D fits */
	fd = open(img_path, O_RDWR);
	ck_assert_int_eq(ftruncate(fd, 306 * BS), 0);
	dev = open_file(false);
	ck_assert_int_eq(verity_locate(dev, &found, NULL), -ENODATA);
	bdev_free(dev);
	/* ... unless it is a signature block: then it is the signed form */
	memset(b, 0, sizeof(b));
	memcpy(b, VERITY_SIG_MAGIC, VERITY_SIG_MAGIC_LEN);
	ck_assert_int_eq(pwrite(fd, b, BS, 305 * BS), BS);
	dev = open_file(false);
	ck_assert_int_eq(verity_locate(dev, &found, NULL), 0);
	ck_assert(found.has_signature);
	ck_assert_uint_eq(found.size, 306 * BS);
	ck_assert_uint_eq(found.g.end, 305 * BS);
	bdev_free(dev);
	/* a superblock that disagrees with the size */
	ck_assert_int_eq(ftruncate(fd, 305 * BS), 0);
	flip_byte(img_path, 300 * BS + 72);
	dev = open_file(false);
	ck_assert_int_eq(verity_locate(dev, &found, &d), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(d.text, "data blocks"));
	bdev_free(dev);
	/* no superblock where the size puts it */
	flip_byte(img_path, 300 * BS);
	dev = open_file(false);
	ck_assert_int_eq(verity_locate(dev, &found, NULL), -ENODATA);
	bdev_free(dev);
	close(fd);
}
END_TEST

START_TEST(verity_locate_unsealed)
{
	struct verity_image found;
	struct bdev *dev;

	write_data(img_path, 4096, 7); /* a plain 16 MiB file */
	dev = open_file(false);
	ck_assert_int_eq(verity_locate(dev, &found, NULL), -ENODATA);
	bdev_free(dev);
	write_data(img_path, 3, 7);
	dev = open_file(false);
	ck_assert_int_eq(verity_locate(dev, &found, NULL), -ENODATA);
	bdev_free(dev);
}
END_TEST

START_TEST(verity_seal_refuses)
{
	uint8_t root[32];
	struct diag d = { 0 };
	int fd;

	write_data(img_path, 1, 0);
	ck_assert_int_eq(verity_seal_file(img_path, NULL, root, NULL, NULL), -EINVAL);
	fd = open(img_path, O_RDWR);
	ck_assert_int_eq(ftruncate(fd, 3 * BS + 512), 0);
	close(fd);
	ck_assert_int_eq(verity_seal_file(img_path, NULL, root, NULL, &d), -EINVAL);
	ck_assert_ptr_nonnull(strstr(d.text, "multiple of 4096"));
	(void)seal(300, 0, root);
	diag_clear(&d);
	ck_assert_int_eq(verity_seal_file(img_path, NULL, root, NULL, &d), -EEXIST);
	ck_assert_ptr_nonnull(strstr(d.text, "already sealed"));
	ck_assert_int_eq(verity_seal_file(dir, NULL, root, NULL, NULL) < 0, 1);
}
END_TEST

START_TEST(verity_seal_random_salt)
{
	struct verity_image img1, img2;
	uint8_t r1[32], r2[32];

	write_data(img_path, 200, 1);
	ck_assert_int_eq(verity_seal_file(img_path, NULL, r1, &img1, NULL), 0);
	write_data(img_path, 200, 1);
	ck_assert_int_eq(verity_seal_file(img_path, NULL, r2, &img2, NULL), 0);
	ck_assert_uint_eq(img1.sb.salt_size, 32);
	ck_assert_int_ne(memcmp(img1.sb.salt, img2.sb.salt, 32), 0);
	ck_assert_int_ne(memcmp(r1, r2, 32), 0);
	ck_assert_int_eq(img1.sb.uuid[6] >> 4, 4);
}
END_TEST

/* ---- the whole-tree check ---- */

static int check(const uint8_t root[32], struct verity_bad *bad, struct diag *d)
{
	struct verity_image img;
	struct bdev *dev = open_file(false);
	int r = verity_locate(dev, &img, NULL);

	ck_assert_int_eq(r, 0);
	r = verity_check(dev, &img, root, bad, d);
	bdev_free(dev);
	return r;
}

START_TEST(verity_check_names_first_bad_block)
{
	struct verity_bad bad;
	struct diag d = { 0 };
	uint8_t root[32], wrong[32];
	struct verity_image img = seal(300, 0, root);

	ck_assert_int_eq(check(root, &bad, NULL), 0);
	/* data block 200 */
	flip_byte(img_path, 200 * BS + 17);
	ck_assert_int_eq(check(root, &bad, &d), -EBADMSG);
	ck_assert_int_eq(bad.kind, VERITY_BAD_DATA);
	ck_assert_uint_eq(bad.index, 200);
	ck_assert_ptr_nonnull(strstr(d.text, "data block 200"));
	flip_byte(img_path, 200 * BS + 17);
	/* level-0 hash block 1 (covers data 128..255): named as itself, not as its data */
	flip_byte(img_path, img.g.level_offset[0] + BS + 5);
	ck_assert_int_eq(check(root, &bad, NULL), -EBADMSG);
	ck_assert_int_eq(bad.kind, VERITY_BAD_HASH);
	ck_assert_uint_eq(bad.level, 0);
	ck_assert_uint_eq(bad.index, 1);
	ck_assert_uint_eq(bad.offset, img.g.level_offset[0] + BS);
	flip_byte(img_path, img.g.level_offset[0] + BS + 5);
	/* the unused tail of the last level-0 block is hashed too */
	flip_byte(img_path, img.g.level_offset[0] + 3 * BS - 1);
	ck_assert_int_eq(check(root, &bad, NULL), -EBADMSG);
	ck_assert_int_eq(bad.kind, VERITY_BAD_HASH);
	ck_assert_uint_eq(bad.index, 2);
	flip_byte(img_path, img.g.level_offset[0] + 3 * BS - 1);
	/* the top block */
	flip_byte(img_path, img.g.tree_offset + 100);
	ck_assert_int_eq(check(root, &bad, NULL), -EBADMSG);
	ck_assert_int_eq(bad.kind, VERITY_BAD_ROOT);
	flip_byte(img_path, img.g.tree_offset + 100);
	/* a wrong root hash */
	memcpy(wrong, root, 32);
	wrong[31] ^= 1;
	diag_clear(&d);
	ck_assert_int_eq(check(wrong, &bad, &d), -EBADMSG);
	ck_assert_int_eq(bad.kind, VERITY_BAD_ROOT);
	ck_assert_ptr_nonnull(strstr(d.text, "root hash"));
	/* a changed salt in the superblock changes every hash */
	flip_byte(img_path, img.g.hash_offset + 88);
	ck_assert_int_eq(check(root, &bad, NULL), -EBADMSG);
	flip_byte(img_path, img.g.hash_offset + 88);
	ck_assert_int_eq(check(root, NULL, NULL), 0);
}
END_TEST

START_TEST(verity_check_three_levels)
{
	struct verity_bad bad;
	uint8_t root[32];
	struct verity_image img = seal(128 * 128 + 3, 5, root);

	ck_assert_uint_eq(img.g.levels, 3);
	ck_assert_int_eq(check(root, NULL, NULL), 0);
	flip_byte(img_path, img.g.level_offset[1] + BS + 40); /* level 1, block 1 */
	ck_assert_int_eq(check(root, &bad, NULL), -EBADMSG);
	ck_assert_int_eq(bad.kind, VERITY_BAD_HASH);
	ck_assert_uint_eq(bad.level, 1);
	ck_assert_uint_eq(bad.index, 1);
	flip_byte(img_path, img.g.level_offset[1] + BS + 40);
	flip_byte(img_path, (128 * 128 + 2) * (uint64_t)BS); /* the last data block */
	ck_assert_int_eq(check(root, &bad, NULL), -EBADMSG);
	ck_assert_int_eq(bad.kind, VERITY_BAD_DATA);
	ck_assert_uint_eq(bad.index, 128 * 128 + 2);
}
END_TEST

/* ---- the layer ---- */

static struct bdev *layer(const uint8_t root[32], unsigned cache, int *ret, struct diag *d)
{
	struct verity_options o = { .cache_blocks = cache };
	struct verity_image img;
	struct bdev *lower = open_file(false), *v = NULL;

	ck_assert_int_eq(verity_locate(lower, &img, NULL), 0);
	*ret = verity_open(lower, &img, root, &o, &v, d);
	return v;
}

static void expect_block(const uint8_t *got, uint64_t i, unsigned seed)
{
	uint8_t want[BS];

	fill_block(want, i, seed);
	ck_assert_msg(memcmp(got, want, BS) == 0, "data block %llu differs", (unsigned long long)i);
}

START_TEST(verity_layer_reads_exact)
{
	uint8_t root[32], buf[3 * BS], want[3 * BS];
	int r;
	struct verity_image img = seal(300, 9, root);
	struct bdev *v = layer(root, 0, &r, NULL);
	struct verity_stats st;

	ck_assert_int_eq(r, 0);
	ck_assert_uint_eq(bdev_size(v), img.g.data_size);
	ck_assert(!bdev_is_writable(v));
	for (uint64_t i = 0; i < 300; i++) {
		ck_assert_int_eq(bdev_read(v, buf, BS, i * BS), 0);
		expect_block(buf, i, 9);
	}
	/* unaligned, across blocks */
	for (int i = 0; i < 3; i++)
		fill_block(want + i * BS, 150 + i, 9);
	ck_assert_int_eq(bdev_read(v, buf, 2 * BS + 1000, 150 * BS + 100), 0);
	ck_assert_int_eq(memcmp(buf, want + 100, 2 * BS + 1000), 0);
	ck_assert_int_eq(bdev_read(v, buf, 1, 300 * BS - 1), 0);
	ck_assert_int_eq(buf[0], (299 + 9) & 0xff);
	ck_assert_int_eq(bdev_read(v, buf, 2, 300 * BS - 1), -EINVAL);
	ck_assert_int_eq(bdev_write(v, buf, BS, 0), -EROFS);
	ck_assert_int_eq(verity_get_stats(v, &st), 0);
	ck_assert_uint_eq(st.failures, 0);
	ck_assert_uint_ge(st.data_blocks_verified, 300);
	ck_assert_uint_eq(st.hash_blocks_verified, 4); /* each hash block verified once */
	bdev_free(v);
}
END_TEST

START_TEST(verity_layer_bad_block_is_eio)
{
	uint8_t root[32], buf[4 * BS];
	int r;
	struct verity_stats st;
	struct bdev *v;

	(void)seal(300, 0, root);
	flip_byte(img_path, 77 * BS + 4095);
	v = layer(root, 0, &r, NULL);
	ck_assert_int_eq(r, 0);
	memset(buf, 0xAA, sizeof(buf));
	ck_assert_int_eq(bdev_read(v, buf, sizeof(buf), 75 * BS), -EIO);
	for (size_t i = 0; i < sizeof(buf); i++)
		ck_assert_msg(buf[i] == 0, "unverified byte handed out at %zu", i);
	ck_assert_int_eq(bdev_read(v, buf, 10, 77 * BS + 5), -EIO); /* unaligned too */
	ck_assert_int_eq(bdev_read(v, buf, BS, 76 * BS), 0); /* its neighbours read */
	expect_block(buf, 76, 0);
	ck_assert_int_eq(bdev_read(v, buf, BS, 78 * BS), 0);
	ck_assert_int_eq(verity_get_stats(v, &st), 0);
	ck_assert_uint_eq(st.failures, 2);
	ck_assert_int_eq(st.first_bad.kind, VERITY_BAD_DATA);
	ck_assert_uint_eq(st.first_bad.index, 77);
	bdev_free(v);
}
END_TEST

START_TEST(verity_layer_bad_hash_block_is_eio)
{
	uint8_t root[32], buf[BS];
	int r;
	struct verity_image img = seal(300, 0, root);
	struct bdev *v;

	flip_byte(img_path, img.g.level_offset[0] + 2 * BS); /* covers data 256..299 */
	v = layer(root, 0, &r, NULL);
	ck_assert_int_eq(r, 0);
	ck_assert_int_eq(bdev_read(v, buf, BS, 255 * BS), 0);
	ck_assert_int_eq(bdev_read(v, buf, BS, 256 * BS), -EIO);
	ck_assert_int_eq(bdev_read(v, buf, BS, 299 * BS), -EIO);
	bdev_free(v);
}
END_TEST

START_TEST(verity_layer_open_refuses)
{
	uint8_t root[32], wrong[32];
	struct diag d = { 0 };
	int r;
	struct bdev *v;
	struct verity_image img = seal(300, 0, root);

	memcpy(wrong, root, 32);
	wrong[0] ^= 0x80;
	v = layer(wrong, 0, &r, &d);
	ck_assert_int_eq(r, -EBADMSG);
	ck_assert_ptr_null(v);
	ck_assert_ptr_nonnull(strstr(d.text, "root hash"));
	/* block 0 (the LUKS2 header) */
	flip_byte(img_path, 10);
	diag_clear(&d);
	v = layer(root, 0, &r, &d);
	ck_assert_int_eq(r, -EBADMSG);
	ck_assert_ptr_nonnull(strstr(d.text, "data block 0"));
	flip_byte(img_path, 10);
	/* the level-0 block over block 0 */
	flip_byte(img_path, img.g.level_offset[0] + 1);
	v = layer(root, 0, &r, NULL);
	ck_assert_int_eq(r, -EBADMSG);
	flip_byte(img_path, img.g.level_offset[0] + 1);
	/* an older image: same size, other data, sealed again */
	(void)seal(300, 1, wrong);
	v = layer(root, 0, &r, NULL);
	ck_assert_int_eq(r, -EBADMSG);
	v = layer(wrong, 0, &r, NULL);
	ck_assert_int_eq(r, 0);
	bdev_free(v);
}
END_TEST

START_TEST(verity_layer_lower_too_small)
{
	uint8_t root[32];
	struct verity_image img = seal(300, 0, root);
	struct bdev *v = NULL, *lower;
	int fd = open(img_path, O_RDWR);

	ck_assert_int_eq(ftruncate(fd, (off_t)img.g.end - BS), 0);
	close(fd);
	lower = open_file(false);
	ck_assert_int_eq(verity_open(lower, &img, root, NULL, &v, NULL), -EINVAL);
	lower = open_file(false);
	ck_assert_int_eq(verity_open(lower, &img, root,
				     &(struct verity_options){ .cache_blocks = 3 }, &v, NULL),
			 -EINVAL);
}
END_TEST

struct reader_arg {
	struct bdev *v;
	uint64_t blocks;
	unsigned seed, id;
	int bad;
};

static void *reader_thread(void *p)
{
	struct reader_arg *a = p;
	uint64_t x = 0x9E3779B97F4A7C15ull * (a->id + 1);
	uint8_t buf[2 * BS], want[BS];

	for (int i = 0; i < 600; i++) {
		uint64_t blk;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		blk = x % (a->blocks - 1);
		if (bdev_read(a->v, buf, 2 * BS, blk * BS) != 0) {
			a->bad++;
			continue;
		}
		fill_block(want, blk, a->seed);
		a->bad += memcmp(buf, want, BS) != 0;
		fill_block(want, blk + 1, a->seed);
		a->bad += memcmp(buf + BS, want, BS) != 0;
	}
	return NULL;
}

/* Random reads from four threads over three levels with the smallest cache: every block right. */
START_TEST(verity_layer_concurrent_small_cache)
{
	uint8_t root[32];
	int r;
	struct bdev *v;
	struct reader_arg a[4];
	pthread_t t[4];
	struct verity_stats st;

	(void)seal(128 * 128 + 300, 3, root);
	v = layer(root, 16, &r, NULL);
	ck_assert_int_eq(r, 0);
	for (unsigned i = 0; i < 4; i++) {
		a[i] = (struct reader_arg){ .v = v, .blocks = 128 * 128 + 300, .seed = 3, .id = i };
		ck_assert_int_eq(pthread_create(&t[i], NULL, reader_thread, &a[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(a[i].bad, 0);
	}
	ck_assert_int_eq(verity_get_stats(v, &st), 0);
	ck_assert_uint_eq(st.failures, 0);
	ck_assert_uint_gt(st.cache_misses, 16); /* the cache was too small to hold everything */
	bdev_free(v);
}
END_TEST

START_TEST(verity_unverified_view)
{
	uint8_t root[32], buf[BS];
	struct verity_image img = seal(300, 0, root);
	struct bdev *lower = open_file(false), *v = NULL;

	flip_byte(img_path, 5 * BS);
	ck_assert_int_eq(verity_open_unverified(lower, &img, &v), 0);
	ck_assert_uint_eq(bdev_size(v), 300 * BS);
	ck_assert_int_eq(bdev_read(v, buf, BS, 5 * BS), 0); /* no check: that is its point */
	ck_assert_int_eq(buf[0], 5 ^ 1);
	bdev_free(v);
}
END_TEST

START_TEST(verity_root_parse_cases)
{
	uint8_t r[32];

	ck_assert_int_eq(
		verity_root_parse(
			"C382722C1ECF53FB069AD2C8DAF053944E8583184CD65423F47418E4D5AB59EE", r),
		0);
	ck_assert_int_eq(r[0], 0xc3);
	ck_assert_int_eq(verity_root_parse("c3", r), -EINVAL);
	ck_assert_int_eq(
		verity_root_parse("c382722c1ecf53fb069ad2c8daf053944e8583184cd65423f47418e4d5ab59e",
				  r),
		-EINVAL);
	ck_assert_int_eq(
		verity_root_parse(
			"g382722c1ecf53fb069ad2c8daf053944e8583184cd65423f47418e4d5ab59ee", r),
		-EINVAL);
	ck_assert_int_eq(verity_root_parse("", r), -EINVAL);
}
END_TEST

static Suite *verity_suite(void)
{
	Suite *s = suite_create("verity");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, verity_sb_roundtrip);
	tcase_add_loop_test(tc, verity_sb_parse_rejects, 0, (int)ELEMENTSOF(sb_evil));
	tcase_add_test(tc, verity_sb_parse_rejects_short_and_one_block);
	tcase_add_test(tc, verity_geometry_levels);
	tcase_add_test(tc, verity_seal_known_answer);
	tcase_add_test(tc, verity_locate_finds_and_refuses);
	tcase_add_test(tc, verity_locate_unsealed);
	tcase_add_test(tc, verity_seal_refuses);
	tcase_add_test(tc, verity_seal_random_salt);
	tcase_add_test(tc, verity_check_names_first_bad_block);
	tcase_add_test(tc, verity_check_three_levels);
	tcase_add_test(tc, verity_layer_reads_exact);
	tcase_add_test(tc, verity_layer_bad_block_is_eio);
	tcase_add_test(tc, verity_layer_bad_hash_block_is_eio);
	tcase_add_test(tc, verity_layer_open_refuses);
	tcase_add_test(tc, verity_layer_lower_too_small);
	tcase_add_test(tc, verity_layer_concurrent_small_cache);
	tcase_add_test(tc, verity_unverified_view);
	tcase_add_test(tc, verity_root_parse_cases);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(verity_suite)
