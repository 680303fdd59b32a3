/* SPDX-License-Identifier: MIT */
/*
 * dmi.h - dm-integrity's on-disk format as LUKS2 uses it (docs/dm-integrity.md): the superblock
 * (docs/dm-integrity.md, Superblock), the geometry and the sector -> (data, tag) mapping with no
 * separate metadata device (docs/dm-integrity.md, Layout), the kernel's superblock and journal as
 * `integritysetup format` leaves them (docs/dm-integrity.md, Creating images steps 5, 6) and
 * journal replay (docs/dm-integrity.md, Journal replay).
 *
 * The superblock on the device is untrusted. dmi_sb_parse() accepts exactly the shapes the
 * kernel (drivers/md/dm-integrity.c) writes for a dm-crypt client: magic "integrt", version 1..5,
 * flags at most FIXED_PADDING (no journal MAC, recalculation, bitmap, fixed HMAC or inline
 * mode), the tag size and block size the LUKS2 segment says, interleave 3..31, journal_sections
 * >= 1 whose journal fits, log2_blocks_per_bitmap_bit as the kernel computes it, zero padding,
 * and provided_data_sectors equal to what the kernel's ctr computes for this device size (the
 * kernel recomputes it at every activation: an image attached at another size maps differently,
 * so it is refused).
 *
 * Journal policy: replay, as the kernel does at every activation (docs/dm-integrity.md, Practical
 * rule). dmi_journal_scan() returns the blocks whose committed journal copy supersedes the data in
 * place; the luks layer overlays them on reads (read-only) or writes them in place and then
 * re-formats the journal (read-write, as the kernel's replay would before new writes).
 *
 * Errors: -EBADMSG (a superblock or geometry outside the above), -EINVAL (arguments), -ENOMEM,
 * or the device's error.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sealmount/bdev.h"
#include "sealmount/macros.h"

#define DMI_SB_SIZE 4096u
#define DMI_SB_SECTORS 8u
#define DMI_MAGIC "integrt" /* with its NUL: 8 bytes */
#define DMI_FLAG_HAVE_JOURNAL_MAC 0x1u
#define DMI_FLAG_RECALCULATING 0x2u
#define DMI_FLAG_DIRTY_BITMAP 0x4u
#define DMI_FLAG_FIXED_PADDING 0x8u
#define DMI_FLAG_FIXED_HMAC 0x10u
#define DMI_FLAG_INLINE 0x20u
#define DMI_JOURNAL_SECTOR_DATA 504u /* a journal sector's bytes before its commit id */
#define DMI_MAX_JOURNAL_SECTORS 131072u /* the kernel's default cap */
/* The largest device the geometry is computed for: every sector and byte offset of a device up to
 * BDEV_SIZE_MAX fits in 64 bits with room for the metadata between its areas. */
#define DMI_DEV_SECTORS_MAX (BDEV_SIZE_MAX >> 9)

/* Everything needed to locate data, tags and the journal. Sectors are 512 bytes. */
struct dmi_geometry {
	uint64_t start; /* the superblock's sector on the device (LUKS2 segment offset / 512) */
	uint64_t dev_sectors; /* the whole device */
	uint8_t version;
	uint32_t flags;
	uint32_t tag_size; /* T */
	uint32_t log2_spb; /* log2 sectors per block */
	uint32_t spb;
	uint32_t log2_interleave;
	uint32_t journal_sections;
	uint32_t journal_entry_size;
	uint32_t entries_per_sector;
	uint32_t section_entries;
	uint32_t journal_section_sectors;
	uint64_t initial_sectors; /* superblock + journal */
	uint64_t metadata_run; /* tag sectors per area */
	uint64_t provided_data_sectors;
	uint8_t log2_blocks_per_bitmap_bit;
};

/*
 * Parse and validate the superblock sb (DMI_SB_SIZE bytes read at sector start) of a device of
 * dev_sectors sectors, for a dm-crypt client with tag_size-byte tags and block_size-byte
 * (512 or 4096) blocks. 0 with *ret filled, -EBADMSG (reason logged at debug level), -EINVAL
 * (also dev_sectors over DMI_DEV_SECTORS_MAX).
 */
_must_check_ int dmi_sb_parse(const uint8_t *sb, uint64_t start, uint64_t dev_sectors,
			      uint32_t tag_size, uint32_t block_size, struct dmi_geometry *ret)
	_nonnull_(1, 6);

/*
 * The superblock the kernel writes when cryptsetup formats a device of dev_sectors sectors with
 * the integrity area at sector start (docs/dm-integrity.md, Creating images step 5): default
 * journal size and interleave, FIXED_PADDING/version 4 unless legacy_padding (then flags 0, version
 * 1). sb receives DMI_SB_SIZE bytes; *ret (may be NULL) the geometry. -EINVAL when the device is
 * too small.
 */
_must_check_ int dmi_format_superblock(uint64_t dev_sectors, uint64_t start, uint32_t tag_size,
				       uint32_t block_size, bool legacy_padding, uint8_t *sb,
				       struct dmi_geometry *ret) _nonnull_(6);

/* Where logical sector s (block-aligned, < provided_data_sectors) lives: byte offsets of its
 * data and of its T-byte tag on the device (docs/dm-integrity.md, Layout; both padding modes via
 * metadata_run). */
void dmi_map(const struct dmi_geometry *g, uint64_t s, uint64_t *ret_data, uint64_t *ret_tag)
	_nonnull_(1, 3, 4);

/* Byte offset of the journal and its length in bytes. */
uint64_t dmi_journal_offset(const struct dmi_geometry *g) _nonnull_(1);
uint64_t dmi_journal_bytes(const struct dmi_geometry *g) _nonnull_(1);

/* Fill one journal section (journal_section_sectors * 512 bytes at buf) as init_journal(ic,
 * section, 1, seq) leaves it: zeros, commit ids for seq (0..3), every entry unused. */
void dmi_journal_init_section(const struct dmi_geometry *g, uint32_t section, unsigned seq,
			      uint8_t *buf) _nonnull_(1, 4);
/* Write the whole formatted journal (seq 0, docs/dm-integrity.md, Creating images step 6) to dev. 0
 * or dev's error, -ENOMEM. */
_must_check_ int dmi_journal_format(struct bdev *dev, const struct dmi_geometry *g) _nonnull_(1, 2);

/* A block whose committed copy is in the journal: its ciphertext is, for each 512-byte sector
 * s < spb, the journal sector data_sector + s bytes [0, 504) followed by last_bytes[s]. */
struct dmi_journal_block {
	uint64_t sector; /* logical, block-aligned */
	uint64_t data_off; /* byte offset on dev of the entry's first journal data sector */
	uint8_t last_bytes[8 * 8]; /* 8 per 512-byte sector, spb <= 8 */
	uint8_t tag[64]; /* T bytes */
	uint64_t order; /* position in the replay walk (internal) */
};

/* The result of a replay: blocks sorted by sector, one per sector (the last committed wins). */
struct dmi_journal {
	size_t n;
	struct dmi_journal_block *blocks;
};

/*
 * Run the kernel's replay_journal() logic (docs/dm-integrity.md, Journal replay) over dev's
 * journal: *ret gets the blocks to overlay (n = 0 for a clean journal, the usual case; an
 * inconsistent journal is discarded, as the kernel does). Free with dmi_journal_free(). 0, -ENOMEM,
 * or dev's error.
 */
_must_check_ int dmi_journal_scan(struct bdev *dev, const struct dmi_geometry *g,
				  struct dmi_journal *ret) _nonnull_(1, 2, 3);
/* The entry for block-aligned sector s, or NULL. */
const struct dmi_journal_block *dmi_journal_find(const struct dmi_journal *j, uint64_t s)
	_nonnull_(1);
/* Read a journal block's ciphertext (spb * 512 bytes) into buf. */
_must_check_ int dmi_journal_read_block(struct bdev *dev, const struct dmi_geometry *g,
					const struct dmi_journal_block *b, uint8_t *buf)
	_nonnull_(1, 2, 3, 4);
void dmi_journal_free(struct dmi_journal *j);
