/* SPDX-License-Identifier: MIT */
/*
 * verity_tree.c - build a dm-verity hash tree over a file, rootless (verity_seal_file,
 * verity_tree_build), and check a whole tree top down (verity_check). The layout is
 * cryptsetup's (lib/verity/verity_hash.c): level 0 hashes the data blocks, each level above
 * hashes the blocks of the one below, 128 sha256(salt || block) digests per 4096-byte block,
 * the unused rest of a block zero; levels are stored highest first right after the superblock
 * block; the root hash is sha256(salt || top block). docs/verity.md "Layout".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "verity_internal.h"

#define IN_BLOCKS 256u /* 1 MiB read at a time */
#define OUT_BLOCKS 64u /* hash blocks written at a time */
#define CHECK_CACHE 64u

/* Hash n blocks at src_off into the level starting at dst_off (whole blocks, zero padded). */
static int build_level(struct bdev *dev, const struct verity_sb *sb, uint64_t src_off, uint64_t n,
		       uint64_t dst_off, EVP_MD_CTX *c, uint8_t *in, uint8_t *out)
{
	uint64_t done = 0, filled = 0; /* digests in out */
	int r = 0;

	while (done < n) {
		uint64_t k = n - done < IN_BLOCKS ? n - done : IN_BLOCKS;

		r = bdev_read(dev, in, k * VERITY_BLOCK_SIZE, src_off + done * VERITY_BLOCK_SIZE);
		for (uint64_t i = 0; r == 0 && i < k; i++, filled++)
			r = vhash(c, sb, in + i * VERITY_BLOCK_SIZE, VERITY_BLOCK_SIZE,
				  out + filled * VERITY_DIGEST_SIZE);
		if (r < 0)
			return r;
		done += k;
		/* Flush whole output blocks; at the end also the zero-padded last one. */
		if (filled == (uint64_t)OUT_BLOCKS * VERITY_HASHES_PER_BLOCK || done == n) {
			uint64_t blocks =
				(filled + VERITY_HASHES_PER_BLOCK - 1) / VERITY_HASHES_PER_BLOCK;

			r = bdev_write(dev, out, blocks * VERITY_BLOCK_SIZE, dst_off);
			if (r < 0)
				return r;
			dst_off += blocks * VERITY_BLOCK_SIZE;
			memset(out, 0, (size_t)OUT_BLOCKS * VERITY_BLOCK_SIZE);
			filled = 0;
		}
	}
	return 0;
}

int verity_tree_build(struct bdev *dev, const struct verity_image *img,
		      uint8_t root[VERITY_DIGEST_SIZE])
{
	const struct verity_geometry *g = &img->g;
	_cleanup_free_ uint8_t *in = malloc((size_t)IN_BLOCKS * VERITY_BLOCK_SIZE);
	_cleanup_free_ uint8_t *out = calloc(OUT_BLOCKS, VERITY_BLOCK_SIZE);
	uint8_t sb[VERITY_BLOCK_SIZE] = { 0 };
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int r = in && out && c ? 0 : -ENOMEM;

	if (r == 0 && bdev_size(dev) < g->end)
		r = -EINVAL;
	if (r == 0) {
		verity_sb_write(&img->sb, sb);
		r = bdev_write(dev, sb, sizeof(sb), g->hash_offset);
	}
	for (unsigned i = 0; r == 0 && i < g->levels; i++)
		r = build_level(dev, &img->sb, i == 0 ? 0 : g->level_offset[i - 1],
				i == 0 ? g->data_blocks : g->level_blocks[i - 1],
				g->level_offset[i], c, in, out);
	if (r == 0)
		r = bdev_read(dev, in, VERITY_BLOCK_SIZE, g->tree_offset);
	if (r == 0)
		r = vhash(c, &img->sb, in, VERITY_BLOCK_SIZE, root);
	EVP_MD_CTX_free(c);
	return r;
}

/* ---- sealing a file ---- */

static int new_image(uint64_t size, const struct verity_seal_options *o, struct verity_image *img)
{
	struct verity_sb *sb = &img->sb;
	int r;

	*img = (struct verity_image){ 0 };
	if (size % VERITY_BLOCK_SIZE || size < 2 * VERITY_BLOCK_SIZE)
		return -EINVAL;
	r = verity_geometry_init(size / VERITY_BLOCK_SIZE, &img->g);
	if (r < 0)
		return -EFBIG;
	sb->data_blocks = img->g.data_blocks;
	sb->salt_size = o && o->salt ? (uint16_t)o->salt_size : VERITY_SALT_SIZE;
	if (o && o->salt)
		memcpy(sb->salt, o->salt, o->salt_size);
	else if (getrandom(sb->salt, sb->salt_size, 0) != (ssize_t)sb->salt_size)
		return -EIO;
	if (o && o->uuid) {
		memcpy(sb->uuid, o->uuid, sizeof(sb->uuid));
	} else {
		if (getrandom(sb->uuid, sizeof(sb->uuid), 0) != (ssize_t)sizeof(sb->uuid))
			return -EIO;
		sb->uuid[6] = (sb->uuid[6] & 0x0f) | 0x40; /* RFC 4122 version 4 */
		sb->uuid[8] = (sb->uuid[8] & 0x3f) | 0x80;
	}
	img->size = img->g.end;
	return 0;
}

/* Refuse a file that already carries a seal. */
static int check_unsealed(const char *path, struct diag *d)
{
	_cleanup_(bdev_freep) struct bdev *dev = NULL;
	struct verity_image img;
	int r;

	r = bdev_file_open(path, false, &dev);
	if (r < 0)
		return diag_set(d, r, "cannot open %s: %m", path);
	r = verity_locate(dev, &img, NULL);
	if (r == -ENODATA)
		return 0;
	if (r < 0 && r != -EBADMSG)
		return diag_set(d, r, "reading %s: %m", path);
	return diag_set(d, -EEXIST, "%s is already sealed (%" PRIu64 " data bytes)", path,
			r == 0 ? img.g.data_size : 0);
}

static int seal_open(const char *path, const struct verity_seal_options *o,
		     struct verity_image *img, uint64_t *ret_size, struct diag *d)
{
	_cleanup_close_ int fd = -1;
	struct stat st;
	int r;

	r = check_unsealed(path, d);
	if (r < 0)
		return r;
	fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &st) < 0)
		return diag_set(d, -errno, "cannot open %s: %m", path);
	if (!S_ISREG(st.st_mode))
		return diag_set(d, -EINVAL, "%s is not a regular file", path);
	r = new_image((uint64_t)st.st_size, o, img);
	if (r == -EINVAL)
		return diag_set(d, r,
				"%s has %" PRIu64 " bytes: a sealed image needs a multiple "
				"of 4096 and at least two blocks",
				path, (uint64_t)st.st_size);
	if (r < 0)
		return diag_set(d, r, "cannot seal %s: %m", path);
	if (ftruncate(fd, (off_t)img->g.end) < 0)
		return diag_set(d, -errno, "cannot grow %s to %" PRIu64 " bytes: %m", path,
				img->g.end);
	*ret_size = (uint64_t)st.st_size;
	return 0;
}

int verity_seal_file(const char *path, const struct verity_seal_options *o,
		     uint8_t root[VERITY_DIGEST_SIZE], struct verity_image *ret, struct diag *d)
{
	_cleanup_(bdev_freep) struct bdev *dev = NULL;
	struct verity_image img;
	uint64_t size = 0;
	int r;

	if (o && o->salt && o->salt_size > VERITY_SALT_MAX)
		return diag_set(d, -EINVAL, "a salt of %zu bytes (256 at most)", o->salt_size);
	r = seal_open(path, o, &img, &size, d);
	if (r < 0)
		return r;
	r = bdev_file_open(path, true, &dev);
	r = r ?: verity_tree_build(dev, &img, root);
	r = r ?: bdev_flush(dev);
	if (r < 0) {
		diag_set(d, r, "building the hash tree of %s failed: %m", path);
		if (truncate(path, (off_t)size) < 0)
			diag_append(d, "could not cut %s back to %" PRIu64 " bytes", path, size);
		return r;
	}
	if (ret)
		*ret = img;
	return 0;
}

/* ---- checking ---- */

/* Read the whole data area through v, in order. */
static int read_all(struct vdev *v, uint64_t size)
{
	const uint64_t chunk = (uint64_t)IN_BLOCKS * VERITY_BLOCK_SIZE;
	uint8_t *buf = malloc(chunk);
	int r = buf ? 0 : -ENOMEM;

	for (uint64_t off = 0; r == 0 && off < size; off += chunk)
		r = vdev_read(v, buf, size - off < chunk ? size - off : chunk, off);
	free(buf);
	return r;
}

int verity_check(struct bdev *dev, const struct verity_image *img,
		 const uint8_t root[VERITY_DIGEST_SIZE], struct verity_bad *ret_bad, struct diag *d)
{
	struct verity_stats st;
	struct vdev *v = NULL;
	char why[256];
	int r;

	r = vdev_new(dev, false, img, root, CHECK_CACHE, &v);
	if (r < 0)
		return diag_set(d, r, "verity: cannot check the tree: %m");
	r = vdev_check_open(v);
	if (r == 0)
		r = read_all(v, img->g.data_size);
	vdev_get_stats(v, &st);
	vdev_free(v);
	if (st.failures == 0)
		return r < 0 ? diag_set(d, r, "reading the image failed: %m") : 0;
	if (ret_bad)
		*ret_bad = st.first_bad;
	verity_bad_describe(&st.first_bad, why, sizeof(why));
	return diag_set(d, -EBADMSG, "the seal does not verify: %s", why);
}
