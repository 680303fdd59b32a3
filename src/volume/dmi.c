/* SPDX-License-Identifier: MIT */
/*
 * dmi.c - dm-integrity superblock parse/format and the geometry (docs/dm-integrity.md,
 * "Superblock", "Layout" and "Creating images step 5"), following drivers/md/dm-integrity.c:
 * calculate_journal_section_size(), calculate_device_limits(), get_provided_data_sectors(),
 * initialize_superblock() and the ctr's superblock checks.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "dmi_internal.h"
#include "sealmount/log.h"

#define MIN_LOG2_INTERLEAVE 3u
#define MAX_LOG2_INTERLEAVE 31u
#define DEFAULT_LOG2_INTERLEAVE 15u /* 32768 sectors */
#define METADATA_PADDING_SECTORS 8u
#define JOURNAL_BLOCK_SECTORS 8u
#define DMI_TAG_MAX 64u /* struct dmi_journal_block.tag */

static int bad(const char *what, uint64_t v)
{
	log_debug("dm-integrity superblock refused: %s (%" PRIu64 ")", what, v);
	return -EBADMSG;
}

static int log2_block(uint32_t block_size, uint32_t *ret)
{
	switch (block_size) {
	case 512:
		*ret = 0;
		return 0;
	case 1024:
		*ret = 1;
		return 0;
	case 2048:
		*ret = 2;
		return 0;
	case 4096:
		*ret = 3;
		return 0;
	default:
		return -EINVAL;
	}
}

/* calculate_journal_section_size(); -EBADMSG when not one entry fits a sector. */
static int journal_geometry(struct dmi_geometry *g)
{
	g->spb = 1u << g->log2_spb;
	g->journal_entry_size = (8 + 8 * g->spb + g->tag_size + 7) / 8 * 8;
	g->entries_per_sector = DMI_JOURNAL_SECTOR_DATA / g->journal_entry_size;
	if (g->entries_per_sector == 0)
		return -EBADMSG;
	g->section_entries = g->entries_per_sector * JOURNAL_BLOCK_SECTORS;
	g->journal_section_sectors = (g->section_entries << g->log2_spb) + JOURNAL_BLOCK_SECTORS;
	return 0;
}

static uint64_t data_sector(const struct dmi_geometry *g, uint64_t s)
{
	uint64_t area = s >> g->log2_interleave;
	uint64_t offset = s & ((UINT64_C(1) << g->log2_interleave) - 1);

	return g->start + g->initial_sectors +
	       area * ((UINT64_C(1) << g->log2_interleave) + g->metadata_run) + g->metadata_run +
	       offset;
}

/* calculate_device_limits() for g->provided_data_sectors (needs journal_geometry()). */
static bool device_limits_ok(struct dmi_geometry *g)
{
	uint64_t initial =
		DMI_SB_SECTORS + (uint64_t)g->journal_section_sectors * g->journal_sections;
	uint64_t padding = (g->flags & DMI_FLAG_FIXED_PADDING) ?
				   METADATA_PADDING_SECTORS << 9 :
				   UINT64_C(512) << METADATA_PADDING_SECTORS;
	uint64_t run = (uint64_t)g->tag_size << (g->log2_interleave - g->log2_spb);
	uint64_t last;

	if (initial + METADATA_PADDING_SECTORS >= g->dev_sectors || initial > UINT32_MAX)
		return false;
	g->initial_sectors = initial;
	g->metadata_run = (run + padding - 1) / padding * padding / 512;
	last = data_sector(g, g->provided_data_sectors - 1);
	return last >= g->start && last < g->dev_sectors;
}

/* get_provided_data_sectors(): the kernel's greedy bit search. 0 = does not fit. */
static uint64_t provided_sectors(const struct dmi_geometry *geo)
{
	struct dmi_geometry g = *geo;
	uint64_t p = 0;

	for (int bit = 63 - __builtin_clzll(g.dev_sectors); bit >= 3; bit--) {
		g.provided_data_sectors = p | (UINT64_C(1) << bit);
		if (device_limits_ok(&g))
			p = g.provided_data_sectors;
	}
	return p;
}

static uint8_t bitmap_bit(const struct dmi_geometry *g)
{
	uint32_t l = DEFAULT_LOG2_INTERLEAVE > g->log2_spb ? DEFAULT_LOG2_INTERLEAVE : g->log2_spb;
	uint64_t bits = ((uint64_t)g->journal_section_sectors * g->journal_sections) << 12;

	if (bits > UINT32_MAX)
		bits = UINT32_MAX;
	while (bits < (g->provided_data_sectors + (UINT64_C(1) << l) - 1) >> l)
		l++;
	return (uint8_t)(l - g->log2_spb);
}

static bool is_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static int check_header(const uint8_t *sb, uint32_t tag_size, uint32_t log2_spb,
			struct dmi_geometry *g)
{
	if (memcmp(sb, DMI_MAGIC, 8) != 0)
		return bad("magic", 0);
	g->version = sb[8];
	g->log2_interleave = sb[9];
	g->tag_size = (uint32_t)sb[10] | (uint32_t)sb[11] << 8;
	g->journal_sections = dmi_get_le32(sb + 12);
	g->provided_data_sectors = dmi_get_le64(sb + 16);
	g->flags = dmi_get_le32(sb + 24);
	g->log2_spb = sb[28];
	g->log2_blocks_per_bitmap_bit = sb[29];
	if (g->version < 1 || g->version > 5)
		return bad("version", g->version);
	if (g->flags & ~DMI_FLAG_FIXED_PADDING)
		return bad("flags", g->flags);
	if ((g->flags & DMI_FLAG_FIXED_PADDING) && g->version < 4)
		return bad("fixed padding before version 4", g->version);
	if (g->tag_size != tag_size || g->tag_size == 0 || g->tag_size > DMI_TAG_MAX)
		return bad("integrity_tag_size", g->tag_size);
	if (g->log2_spb != log2_spb)
		return bad("log2_sectors_per_block", g->log2_spb);
	if (g->log2_interleave < MIN_LOG2_INTERLEAVE || g->log2_interleave > MAX_LOG2_INTERLEAVE)
		return bad("log2_interleave_sectors", g->log2_interleave);
	if (g->journal_sections == 0)
		return bad("journal_sections", 0);
	if (!is_zero(sb + 30, DMI_SB_SIZE - 30))
		return bad("padding, recalc_sector or salt not zero", 0);
	return 0;
}

int dmi_sb_parse(const uint8_t *sb, uint64_t start, uint64_t dev_sectors, uint32_t tag_size,
		 uint32_t block_size, struct dmi_geometry *ret)
{
	struct dmi_geometry g = { .start = start, .dev_sectors = dev_sectors };
	uint32_t log2_spb;
	uint64_t want;
	int r;

	if (log2_block(block_size, &log2_spb) < 0 || start >= dev_sectors ||
	    dev_sectors > DMI_DEV_SECTORS_MAX)
		return -EINVAL;
	r = check_header(sb, tag_size, log2_spb, &g);
	if (r < 0)
		return r;
	if (journal_geometry(&g) < 0)
		return bad("tag too large for a journal entry", g.tag_size);
	if ((uint64_t)g.journal_section_sectors * g.journal_sections > DMI_MAX_JOURNAL_SECTORS)
		return bad("journal larger than the kernel's default cap", g.journal_sections);
	want = provided_sectors(&g);
	if (want == 0 || g.provided_data_sectors != want)
		return bad("provided_data_sectors differs from the kernel's for this device size",
			   g.provided_data_sectors);
	if (!device_limits_ok(&g))
		return bad("layout does not fit", dev_sectors);
	if (g.log2_blocks_per_bitmap_bit != bitmap_bit(&g))
		return bad("log2_blocks_per_bitmap_bit", g.log2_blocks_per_bitmap_bit);
	*ret = g;
	return 0;
}

static void sb_write(const struct dmi_geometry *g, uint8_t *sb)
{
	memset(sb, 0, DMI_SB_SIZE);
	memcpy(sb, DMI_MAGIC, 8);
	sb[8] = g->version;
	sb[9] = (uint8_t)g->log2_interleave;
	sb[10] = (uint8_t)g->tag_size;
	sb[11] = (uint8_t)(g->tag_size >> 8);
	for (int i = 0; i < 4; i++) {
		sb[12 + i] = (uint8_t)(g->journal_sections >> (8 * i));
		sb[24 + i] = (uint8_t)(g->flags >> (8 * i));
	}
	dmi_put_le64(sb + 16, g->provided_data_sectors);
	sb[28] = (uint8_t)g->log2_spb;
	sb[29] = g->log2_blocks_per_bitmap_bit;
}

int dmi_format_superblock(uint64_t dev_sectors, uint64_t start, uint32_t tag_size,
			  uint32_t block_size, bool legacy_padding, uint8_t *sb,
			  struct dmi_geometry *ret)
{
	struct dmi_geometry g = { .start = start,
				  .dev_sectors = dev_sectors,
				  .tag_size = tag_size };
	uint64_t journal_sectors = dev_sectors >> 7;

	if (log2_block(block_size, &g.log2_spb) < 0 || tag_size == 0 || tag_size > DMI_TAG_MAX ||
	    start >= dev_sectors || dev_sectors > DMI_DEV_SECTORS_MAX)
		return -EINVAL;
	if (journal_geometry(&g) < 0)
		return -EINVAL;
	if (journal_sectors > DMI_MAX_JOURNAL_SECTORS)
		journal_sectors = DMI_MAX_JOURNAL_SECTORS;
	g.journal_sections = (uint32_t)(journal_sectors / g.journal_section_sectors);
	if (g.journal_sections == 0)
		g.journal_sections = 1;
	g.flags = legacy_padding ? 0 : DMI_FLAG_FIXED_PADDING;
	g.version = legacy_padding ? 1 : 4;
	g.log2_interleave = DEFAULT_LOG2_INTERLEAVE;
	g.provided_data_sectors = provided_sectors(&g);
	if (g.provided_data_sectors == 0 || !device_limits_ok(&g))
		return -EINVAL;
	g.log2_blocks_per_bitmap_bit = bitmap_bit(&g);
	sb_write(&g, sb);
	if (ret)
		*ret = g;
	return 0;
}

void dmi_map(const struct dmi_geometry *g, uint64_t s, uint64_t *ret_data, uint64_t *ret_tag)
{
	uint64_t area = s >> g->log2_interleave;
	uint64_t offset = s & ((UINT64_C(1) << g->log2_interleave) - 1);
	uint64_t base = g->start + g->initial_sectors +
			area * ((UINT64_C(1) << g->log2_interleave) + g->metadata_run);

	*ret_tag = base * 512 + (offset >> g->log2_spb) * g->tag_size;
	*ret_data = (base + g->metadata_run + offset) * 512;
}

uint64_t dmi_journal_offset(const struct dmi_geometry *g)
{
	return (g->start + DMI_SB_SECTORS) * 512;
}

uint64_t dmi_journal_bytes(const struct dmi_geometry *g)
{
	return (uint64_t)g->journal_section_sectors * g->journal_sections * 512;
}
