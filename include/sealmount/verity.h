/* SPDX-License-Identifier: MIT */
/*
 * verity.h - sealed images (docs/verity.md): a LUKS2 image of D bytes followed, in the same file
 * or blob, by a dm-verity hash area exactly as `veritysetup format --hash-offset=D` writes it:
 * the superblock (version 1, hash type 1, sha256, 4096-byte data and hash blocks) at D, zeros to
 * D + 4096, then the hash tree, top level first. The verity data device is the whole LUKS2 image,
 * header included, so the root hash authenticates every byte the engines read. An optional
 * publisher signature block may follow the tree (verity_sig.h).
 *
 * This module:
 *   - parses and writes the superblock (verity_sb_parse/_write; strict: only the shape above);
 *   - computes the tree geometry from the number of data blocks (verity_geometry_init);
 *   - recognises a sealed image from its size alone, no configuration (verity_locate);
 *   - seals a file in place, rootless (verity_seal_file), and checks a whole tree naming the
 *     first bad block (verity_check);
 *   - provides the `verity` block layer (verity_open): the D bytes of the data area, every 4 KiB
 *     block checked against the tree before anything above sees it.
 *
 * Trust: the superblock is NOT covered by the root hash (dm-verity never reads it; the kernel
 * is given the parameters). It is parsed strictly and only used to find the tree; a forged salt
 * or size changes every hash, so with a trusted root hash the worst it can do is fail the open.
 *
 * Errors: -EBADMSG (malformed superblock, or verification failed at open), -EIO (a block of the
 * layer failed verification), -ENODATA (not a sealed image), -EFBIG (sizes beyond VERITY_DATA_MAX
 * or overflowing), -EINVAL (arguments), -ENOMEM, or the lower device's error.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sealmount/bdev.h"
#include "sealmount/diag.h"
#include "sealmount/macros.h"

#define VERITY_BLOCK_SIZE 4096u /* data and hash blocks */
#define VERITY_DIGEST_SIZE 32u /* sha256 */
#define VERITY_HASHES_PER_BLOCK 128u /* VERITY_BLOCK_SIZE / VERITY_DIGEST_SIZE */
#define VERITY_SB_SIZE 512u /* struct verity_sb of cryptsetup's lib/verity/verity.c */
#define VERITY_SALT_MAX 256u
#define VERITY_SALT_SIZE 32u /* what we write (veritysetup's default too) */
#define VERITY_MAX_LEVELS 8u /* 7 bits per level: 2^56 blocks, far beyond VERITY_DATA_MAX */
#define VERITY_DATA_MAX (1ull << 50) /* 1 PiB of data: keeps every offset far from overflow */
#define VERITY_ROOT_HEX_LEN 64u

/* The on-disk superblock, as far as it varies. Fixed fields (signature "verity\0\0", version 1,
 * hash type 1, "sha256", block sizes 4096) are checked by the parser and written by the writer. */
struct verity_sb {
	uint8_t uuid[16];
	uint64_t data_blocks;
	uint16_t salt_size; /* 0..VERITY_SALT_MAX */
	uint8_t salt[VERITY_SALT_MAX];
};

/* Parse VERITY_SB_SIZE bytes strictly: the fixed fields above, data_blocks 2..VERITY_DATA_MAX /
 * 4096, salt_size <= 256 with zeros after the salt, and zero padding. -EBADMSG with the reason in
 * d (may be NULL). len < VERITY_SB_SIZE is -EBADMSG. */
_must_check_ int verity_sb_parse(const uint8_t *buf, size_t len, struct verity_sb *ret,
				 struct diag *d) _nonnull_(1, 3);
/* Serialise sb into out[VERITY_SB_SIZE] (the bytes veritysetup writes for the same values). */
void verity_sb_write(const struct verity_sb *sb, uint8_t out[VERITY_SB_SIZE]) _nonnull_(1, 2);

/* Where everything lives in a sealed image. Offsets are bytes from the start of the image. */
struct verity_geometry {
	uint64_t data_blocks;
	uint64_t data_size; /* D = data_blocks * 4096: the LUKS2 image, the verity data area */
	uint64_t hash_offset; /* D: the superblock (veritysetup's --hash-offset) */
	uint64_t
		tree_offset; /* D + 4096: the top hash block (the kernel's hash_start_block * 4096) */
	uint64_t hash_blocks; /* blocks of the tree, all levels */
	uint64_t end; /* tree_offset + hash_blocks * 4096: the end of the sealed image */
	unsigned levels; /* 1..VERITY_MAX_LEVELS; level 0 hashes the data, levels-1 is one block */
	uint64_t level_offset[VERITY_MAX_LEVELS]; /* first block of each level */
	uint64_t level_blocks[VERITY_MAX_LEVELS];
};

/* The geometry for data_blocks (2..VERITY_DATA_MAX / 4096) data blocks with the superblock right
 * after the data (cryptsetup's hash_levels(): level i holds ceil(n / 128^(i+1)) blocks, the
 * highest level first). -EINVAL out of range. */
_must_check_ int verity_geometry_init(uint64_t data_blocks, struct verity_geometry *ret)
	_nonnull_(2);

/* A sealed image as found on a device. */
struct verity_image {
	struct verity_sb sb;
	struct verity_geometry g;
	bool has_signature; /* a publisher signature block sits at g.end (verity_sig.h) */
	uint64_t size; /* the device: g.end, plus VERITY_SIG_BLOCK_SIZE when signed */
};

/*
 * Recognise a sealed image without configuration: for the device size S, the unique D (a
 * multiple of 4096) with D + 4096 + hash tree(D) == S (or == S - 4096 when the last block is a
 * signature block, see verity_sig.h) and a superblock at D that parses and says D / 4096 data
 * blocks. Nothing of the tree is checked here. -ENODATA (not sealed: no such D, or no verity
 * signature at D), -EBADMSG (a verity superblock at D that is malformed or disagrees with the
 * size; reason in d), or the device's error.
 */
_must_check_ int verity_locate(struct bdev *dev, struct verity_image *ret, struct diag *d)
	_nonnull_(1, 2);

/* The hash over one block with the image's salt (format 1: sha256(salt || block)). */
_must_check_ int verity_hash(const struct verity_sb *sb, const void *block, size_t len,
			     uint8_t out[VERITY_DIGEST_SIZE]) _nonnull_(1, 2, 4);

/* ---- sealing and checking ---- */

struct verity_seal_options {
	const uint8_t *salt; /* salt_size bytes; NULL = VERITY_SALT_SIZE random bytes */
	size_t salt_size;
	const uint8_t *uuid; /* 16 bytes; NULL = a random version 4 UUID */
};

/*
 * Seal the regular file at path in place: its size D (a multiple of 4096, at least two blocks)
 * is the data area; the superblock and tree are appended (the file grows to g.end) and fsync'd.
 * On failure the file is cut back to D. o may be NULL. On 0, root (the root hash) and, when not
 * NULL, *ret describe the result. -EEXIST (already sealed), -EINVAL (size not a multiple of
 * 4096, too small, not a regular file), -EFBIG, -errno of file I/O. Details in d.
 */
_must_check_ int verity_seal_file(const char *path, const struct verity_seal_options *o,
				  uint8_t root[VERITY_DIGEST_SIZE], struct verity_image *ret,
				  struct diag *d) _nonnull_(1, 3);

/* Build the tree of img's geometry and superblock over dev (which must be writable and at least
 * img->g.end bytes): the superblock block, then every level, bottom up. Streams the data once
 * with a few hundred KiB of buffers. root gets the root hash. */
_must_check_ int verity_tree_build(struct bdev *dev, const struct verity_image *img,
				   uint8_t root[VERITY_DIGEST_SIZE]) _nonnull_(1, 2, 3);

enum verity_bad_kind {
	VERITY_BAD_NONE = 0,
	VERITY_BAD_ROOT, /* the top hash block does not hash to the root hash */
	VERITY_BAD_HASH, /* a hash block does not match its entry in the level above */
	VERITY_BAD_DATA, /* a data block does not match its entry in level 0 */
};

/* The first block that failed verification. */
struct verity_bad {
	enum verity_bad_kind kind;
	unsigned level; /* VERITY_BAD_HASH / _ROOT: the tree level (0 = hashes of data) */
	uint64_t index; /* the data block, or the block within its level */
	uint64_t offset; /* byte offset of that block in the sealed image */
};

/* One sentence naming the block ("data block 5 (image bytes 20480..24575)", ...). */
void verity_bad_describe(const struct verity_bad *b, char *buf, size_t len) _nonnull_(1, 2);

/*
 * Check the whole tree of img on dev against root, top down as the kernel trusts it (each block
 * against its already verified parent entry, so the first failure found is the block that was
 * changed, not one below it), reading every data and hash block once. 0 when every block
 * verifies; -EBADMSG with *ret_bad (may be NULL) and d naming the first bad block; or the
 * device's error.
 */
_must_check_ int verity_check(struct bdev *dev, const struct verity_image *img,
			      const uint8_t root[VERITY_DIGEST_SIZE], struct verity_bad *ret_bad,
			      struct diag *d) _nonnull_(1, 2, 3);

/* ---- the `verity` block layer ---- */

#define VERITY_CACHE_DEFAULT 1024u /* verified hash blocks kept (4 MiB: ~512 MiB of data) */

struct verity_options {
	unsigned
		cache_blocks; /* verified hash blocks remembered; 0 = VERITY_CACHE_DEFAULT; >= 16 */
};

/*
 * The data area of the sealed image on lower (owned from now on, also on failure): a read-only
 * device of img->g.data_size bytes whose every read is checked 4 KiB block by block against the
 * tree under root before it is returned. Hash blocks are read through lower too and checked up
 * to the root; verified ones are kept in a bounded LRU cache (the top block is always there).
 * A block that fails makes the whole read fail with -EIO and the buffer is zeroed: never other
 * data. At open the top hash block is checked against root and data block 0 (the LUKS2 header)
 * is read through the layer, so a wrong root hash (another or an older image) or a changed header
 * fails here with -EBADMSG (reason in d). o may be NULL. Thread-safe as bdev.h requires.
 */
_must_check_ int verity_open(struct bdev *lower, const struct verity_image *img,
			     const uint8_t root[VERITY_DIGEST_SIZE], const struct verity_options *o,
			     struct bdev **ret, struct diag *d) _nonnull_(1, 2, 3, 5);

struct verity_stats {
	uint64_t data_blocks_verified;
	uint64_t hash_blocks_verified;
	uint64_t cache_hits, cache_misses; /* hash block lookups */
	uint64_t failures; /* blocks that failed verification */
	struct verity_bad first_bad; /* valid when failures > 0 */
};
/* Counters of a verity device; -EINVAL if b is not one. */
_must_check_ int verity_get_stats(struct bdev *b, struct verity_stats *ret) _nonnull_(1, 2);

/*
 * The first D bytes of a sealed image WITHOUT any check: for showing what a sealed image holds
 * (`image inspect` without a root hash). Never use it to serve data. lower is owned from now on
 * (also on failure). Read-only. -ENOMEM.
 */
_must_check_ int verity_open_unverified(struct bdev *lower, const struct verity_image *img,
					struct bdev **ret) _nonnull_(1, 2, 3);

/* Parse 64 hex digits (either case) into a root hash. -EINVAL. */
_must_check_ int verity_root_parse(const char *hex, uint8_t ret[VERITY_DIGEST_SIZE])
	_nonnull_(1, 2);
