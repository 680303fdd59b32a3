/* SPDX-License-Identifier: MIT */
/*
 * verity_sb.c - the dm-verity superblock, the tree geometry and the recognition of a sealed image
 * by its size (verity.h, docs/verity.md "Layout"). Sources: cryptsetup's lib/verity/verity.c
 * (struct verity_sb, VERITY_hash_offset_block) and verity_hash.c (hash_levels), the kernel's
 * Documentation/admin-guide/device-mapper/verity.rst.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <string.h>

#include <openssl/err.h>

#include "sealmount/buf.h"
#include "sealmount/codec.h"
#include "sealmount/verity_sig.h"
#include "verity_internal.h"

#define SB_SIGNATURE "verity\0\0"
#define SB_ALGORITHM "sha256"

/* struct verity_sb in cryptsetup (packed, little-endian), byte offsets. */
enum {
	SB_OFF_SIGNATURE = 0,
	SB_OFF_VERSION = 8,
	SB_OFF_HASH_TYPE = 12,
	SB_OFF_UUID = 16,
	SB_OFF_ALGORITHM = 32,
	SB_OFF_DATA_BLOCK_SIZE = 64,
	SB_OFF_HASH_BLOCK_SIZE = 68,
	SB_OFF_DATA_BLOCKS = 72,
	SB_OFF_SALT_SIZE = 80,
	SB_OFF_PAD1 = 82,
	SB_OFF_SALT = 88,
	SB_OFF_PAD2 = 344,
};

static bool is_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static int parse_fixed(struct reader *rd, struct diag *d)
{
	uint8_t alg[32];
	uint32_t version, type, dbs, hbs;
	const uint8_t *sig;

	if (reader_bytes(rd, 8, &sig) < 0 || memcmp(sig, SB_SIGNATURE, 8) != 0)
		return diag_set(d, -EBADMSG, "verity superblock: no \"verity\" signature");
	if (reader_u32le(rd, &version) < 0 || reader_u32le(rd, &type) < 0)
		return -EBADMSG;
	if (version != 1 || type != 1)
		return diag_set(d, -EBADMSG,
				"verity superblock: version %" PRIu32 ", hash type %" PRIu32
				" (only 1 and 1 are supported)",
				version, type);
	if (reader_skip(rd, 16) < 0 || reader_copy(rd, alg, sizeof(alg)) < 0)
		return -EBADMSG;
	if (memcmp(alg, SB_ALGORITHM, sizeof(SB_ALGORITHM)) != 0 ||
	    !is_zero(alg + sizeof(SB_ALGORITHM), sizeof(alg) - sizeof(SB_ALGORITHM)))
		return diag_set(d, -EBADMSG, "verity superblock: hash algorithm is not sha256");
	if (reader_u32le(rd, &dbs) < 0 || reader_u32le(rd, &hbs) < 0)
		return -EBADMSG;
	if (dbs != VERITY_BLOCK_SIZE || hbs != VERITY_BLOCK_SIZE)
		return diag_set(d, -EBADMSG,
				"verity superblock: block sizes %" PRIu32 "/%" PRIu32
				" (only 4096/4096 are supported)",
				dbs, hbs);
	return 0;
}

int verity_sb_parse(const uint8_t *buf, size_t len, struct verity_sb *ret, struct diag *d)
{
	struct reader rd = reader_init(buf, len);
	struct verity_sb sb = { 0 };
	const uint8_t *salt;
	int r;

	if (len < VERITY_SB_SIZE)
		return diag_set(d, -EBADMSG, "verity superblock: %zu bytes", len);
	r = parse_fixed(&rd, d);
	if (r < 0)
		return r;
	memcpy(sb.uuid, buf + SB_OFF_UUID, sizeof(sb.uuid));
	if (reader_seek(&rd, SB_OFF_DATA_BLOCKS) < 0 || reader_u64le(&rd, &sb.data_blocks) < 0 ||
	    reader_u16le(&rd, &sb.salt_size) < 0)
		return -EBADMSG;
	if (sb.data_blocks < 2 || sb.data_blocks > VERITY_DATA_MAX / VERITY_BLOCK_SIZE)
		return diag_set(d, -EBADMSG, "verity superblock: %" PRIu64 " data blocks",
				sb.data_blocks);
	if (sb.salt_size > VERITY_SALT_MAX)
		return diag_set(d, -EBADMSG, "verity superblock: salt of %u bytes", sb.salt_size);
	if (!is_zero(buf + SB_OFF_PAD1, SB_OFF_SALT - SB_OFF_PAD1) ||
	    !is_zero(buf + SB_OFF_PAD2, VERITY_SB_SIZE - SB_OFF_PAD2))
		return diag_set(d, -EBADMSG, "verity superblock: padding is not zero");
	if (reader_seek(&rd, SB_OFF_SALT) < 0 || reader_bytes(&rd, VERITY_SALT_MAX, &salt) < 0)
		return -EBADMSG;
	if (!is_zero(salt + sb.salt_size, VERITY_SALT_MAX - sb.salt_size))
		return diag_set(d, -EBADMSG,
				"verity superblock: bytes after the salt are not zero");
	memcpy(sb.salt, salt, sb.salt_size);
	*ret = sb;
	return 0;
}

void verity_sb_write(const struct verity_sb *sb, uint8_t out[VERITY_SB_SIZE])
{
	size_t salt = sb->salt_size <= VERITY_SALT_MAX ? sb->salt_size : VERITY_SALT_MAX;

	memset(out, 0, VERITY_SB_SIZE);
	memcpy(out + SB_OFF_SIGNATURE, SB_SIGNATURE, 8);
	put_u32le(out + SB_OFF_VERSION, 1);
	put_u32le(out + SB_OFF_HASH_TYPE, 1);
	memcpy(out + SB_OFF_UUID, sb->uuid, sizeof(sb->uuid));
	memcpy(out + SB_OFF_ALGORITHM, SB_ALGORITHM, strlen(SB_ALGORITHM));
	put_u32le(out + SB_OFF_DATA_BLOCK_SIZE, VERITY_BLOCK_SIZE);
	put_u32le(out + SB_OFF_HASH_BLOCK_SIZE, VERITY_BLOCK_SIZE);
	put_u64le(out + SB_OFF_DATA_BLOCKS, sb->data_blocks);
	out[SB_OFF_SALT_SIZE] = (uint8_t)salt;
	out[SB_OFF_SALT_SIZE + 1] = (uint8_t)(salt >> 8);
	memcpy(out + SB_OFF_SALT, sb->salt, salt);
}

/* ---- geometry ---- */

int verity_geometry_init(uint64_t data_blocks, struct verity_geometry *ret)
{
	struct verity_geometry g = { .data_blocks = data_blocks };
	uint64_t n = data_blocks, pos;

	if (data_blocks < 2 || data_blocks > VERITY_DATA_MAX / VERITY_BLOCK_SIZE)
		return -EINVAL;
	/* Level i holds ceil(n / 128^(i+1)) blocks; the last level is a single block. Nested
	 * ceilings equal cryptsetup's hash_levels() formula. */
	do {
		if (g.levels == VERITY_MAX_LEVELS)
			return -EINVAL;
		n = (n + VERITY_HASHES_PER_BLOCK - 1) / VERITY_HASHES_PER_BLOCK;
		g.level_blocks[g.levels++] = n;
		g.hash_blocks += n;
	} while (n > 1);
	/* All far below 2^64: data <= 2^50 bytes and the tree is smaller than the data. */
	g.data_size = data_blocks * VERITY_BLOCK_SIZE;
	g.hash_offset = g.data_size;
	g.tree_offset = g.hash_offset + VERITY_BLOCK_SIZE;
	pos = g.tree_offset;
	for (unsigned i = g.levels; i-- > 0;) {
		g.level_offset[i] = pos;
		pos += g.level_blocks[i] * VERITY_BLOCK_SIZE;
	}
	g.end = pos;
	*ret = g;
	return 0;
}

/* The n with geometry(n).end == size, by bisection (end grows strictly with n). */
static int blocks_for_end(uint64_t size, struct verity_geometry *ret)
{
	uint64_t lo = 2, hi = size / VERITY_BLOCK_SIZE;
	struct verity_geometry g;

	if (hi > VERITY_DATA_MAX / VERITY_BLOCK_SIZE)
		hi = VERITY_DATA_MAX / VERITY_BLOCK_SIZE;
	while (lo <= hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		if (verity_geometry_init(mid, &g) < 0)
			return -ENODATA;
		if (g.end == size) {
			*ret = g;
			return 0;
		}
		if (g.end < size)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -ENODATA;
}

/* A superblock at g->hash_offset that says g->data_blocks. */
static int read_sb(struct bdev *dev, const struct verity_geometry *g, struct verity_sb *ret,
		   struct diag *d)
{
	uint8_t buf[VERITY_SB_SIZE];
	int r;

	r = bdev_read(dev, buf, sizeof(buf), g->hash_offset);
	if (r < 0)
		return diag_set(d, r,
				"Cannot read the end of the image, where a seal's superblock "
				"would be (byte %" PRIu64 "): %s",
				g->hash_offset, strerror(-r));
	if (memcmp(buf, SB_SIGNATURE, 8) != 0)
		return -ENODATA;
	r = verity_sb_parse(buf, sizeof(buf), ret, d);
	if (r < 0)
		return r;
	if (ret->data_blocks != g->data_blocks)
		return diag_set(d, -EBADMSG,
				"verity superblock at byte %" PRIu64 " says %" PRIu64
				" data blocks, the image size says %" PRIu64,
				g->hash_offset, ret->data_blocks, g->data_blocks);
	return 0;
}

/* The image as signed (the last block is a signature block) or not; -ENODATA if not sealed. */
static int locate_as(struct bdev *dev, bool is_signed, struct verity_image *img, struct diag *d)
{
	uint64_t size = bdev_size(dev);
	uint8_t magic[VERITY_SIG_MAGIC_LEN];
	int r;

	if (is_signed) {
		r = bdev_read(dev, magic, sizeof(magic), size - VERITY_SIG_BLOCK_SIZE);
		if (r < 0)
			return diag_set(d, r,
					"Cannot read the end of the image, where a seal's "
					"signature would be: %s",
					strerror(-r));
		if (memcmp(magic, VERITY_SIG_MAGIC, sizeof(magic)) != 0)
			return -ENODATA;
		size -= VERITY_SIG_BLOCK_SIZE;
	}
	r = blocks_for_end(size, &img->g);
	if (r < 0)
		return r;
	r = read_sb(dev, &img->g, &img->sb, d);
	if (r < 0)
		return r;
	img->has_signature = is_signed;
	img->size = bdev_size(dev);
	return 0;
}

int verity_locate(struct bdev *dev, struct verity_image *ret, struct diag *d)
{
	struct verity_image img = { 0 };
	uint64_t size = bdev_size(dev);
	int r;

	if (size % VERITY_BLOCK_SIZE || size < 4 * VERITY_BLOCK_SIZE)
		return -ENODATA;
	r = locate_as(dev, true, &img, d);
	if (r == -ENODATA)
		r = locate_as(dev, false, &img, d);
	if (r < 0)
		return r;
	*ret = img;
	return 0;
}

/* ---- hashing ---- */

/* SHA-256 fetched once: OpenSSL 3 otherwise looks the algorithm up on every init (EVP_sha256()
 * is an implicit fetch), which costs about a tenth of hashing a 4 KiB block. Kept for the
 * process's life. */
static EVP_MD *sha256;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
	sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

int vhash(EVP_MD_CTX *c, const struct verity_sb *sb, const void *block, size_t len,
	  uint8_t out[VERITY_DIGEST_SIZE])
{
	unsigned n = 0;

	(void)pthread_once(&sha256_once, sha256_fetch);
	if (!sha256 || EVP_DigestInit_ex2(c, sha256, NULL) != 1 ||
	    EVP_DigestUpdate(c, sb->salt, sb->salt_size) != 1 ||
	    EVP_DigestUpdate(c, block, len) != 1 || EVP_DigestFinal_ex(c, out, &n) != 1 ||
	    n != VERITY_DIGEST_SIZE) {
		ERR_clear_error();
		return -EIO;
	}
	return 0;
}

int verity_hash(const struct verity_sb *sb, const void *block, size_t len,
		uint8_t out[VERITY_DIGEST_SIZE])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int r;

	if (!c)
		return -ENOMEM;
	r = vhash(c, sb, block, len, out);
	EVP_MD_CTX_free(c);
	return r;
}

int verity_root_parse(const char *hex, uint8_t ret[VERITY_DIGEST_SIZE])
{
	if (strlen(hex) != VERITY_ROOT_HEX_LEN ||
	    hex_decode_fixed(hex, VERITY_ROOT_HEX_LEN, ret, VERITY_DIGEST_SIZE) < 0)
		return -EINVAL;
	return 0;
}
