/* SPDX-License-Identifier: MIT */
/*
 * test_dmi.c - the dm-integrity superblock, geometry and journal (docs/dm-integrity.md). The
 * expected values are the kernel's: the superblocks of the images in the Values seen table of
 * docs/dm-integrity.md (made by cryptsetup 2.6.1 on kernel 6.1.192) reproduced from their file
 * sizes, the offsets of its Derived values and its tamper-confirmed Worked example; and every
 * superblock field mutated is refused.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sealmount/dmi.h"
#include "src/volume/dmi_internal.h"
#include "unit.h"

#define MiB (1024ull * 1024)
#define START 32768u /* 16 MiB LUKS2 header */

struct kernel_sb {
	const char *name;
	uint64_t file_size;
	uint32_t tag, block;
	bool legacy;
	uint8_t version;
	uint32_t flags, journal_sections;
	uint64_t provided;
	uint8_t log2_spb, bpb;
	/* docs/dm-integrity.md, Derived values */
	uint32_t section_sectors;
	uint64_t initial, metadata_run, first_tag, first_data;
};

/* docs/dm-integrity.md, "Values seen" and "Derived values" */
static const struct kernel_sb kernel[] = {
	{ "a", 40 * MiB, 32, 4096, false, 4, 8, 2, 48104, 3, 12, 264, 536, 256, 17051648,
	  17182720 },
	{ "b", 40 * MiB, 32, 512, false, 4, 8, 7, 44432, 0, 15, 88, 624, 2048, 17096704, 18145280 },
	{ "c", 40 * MiB, 28, 4096, false, 4, 8, 2, 48168, 3, 12, 264, 536, 224, 17051648,
	  17166336 },
	{ "h", 40 * MiB, 28, 4096, true, 1, 0, 2, 48104, 3, 12, 264, 536, 256, 17051648, 17182720 },
	{ "i", 40 * MiB, 48, 4096, false, 4, 8, 2, 47848, 3, 12, 264, 536, 384, 17051648,
	  17248256 },
	{ "g", 128 * MiB, 32, 4096, false, 4, 8, 7, 225728, 3, 12, 264, 1856, 256, 17727488,
	  17858560 },
};

START_TEST(dmi_format_reproduces_kernel_superblocks)
{
	const struct kernel_sb *k = &kernel[_i];
	uint8_t sb[DMI_SB_SIZE];
	struct dmi_geometry g, p;
	uint64_t data, tag;

	ck_assert_int_eq(dmi_format_superblock(k->file_size / 512, START, k->tag, k->block,
					       k->legacy, sb, &g),
			 0);
	ck_assert_mem_eq(sb, "integrt", 8);
	ck_assert_uint_eq(sb[8], k->version);
	ck_assert_uint_eq(sb[9], 15);
	ck_assert_uint_eq(sb[10] | sb[11] << 8, k->tag);
	ck_assert_uint_eq(dmi_get_le32(sb + 12), k->journal_sections);
	ck_assert_uint_eq(dmi_get_le64(sb + 16), k->provided);
	ck_assert_uint_eq(dmi_get_le32(sb + 24), k->flags);
	ck_assert_uint_eq(sb[28], k->log2_spb);
	ck_assert_uint_eq(sb[29], k->bpb);
	for (size_t i = 30; i < DMI_SB_SIZE; i++)
		ck_assert_uint_eq(sb[i], 0);
	ck_assert_uint_eq(g.journal_section_sectors, k->section_sectors);
	ck_assert_uint_eq(g.initial_sectors, k->initial);
	ck_assert_uint_eq(g.metadata_run, k->metadata_run);
	dmi_map(&g, 0, &data, &tag);
	ck_assert_uint_eq(tag, k->first_tag);
	ck_assert_uint_eq(data, k->first_data);
	/* and the parser takes it back unchanged */
	ck_assert_int_eq(dmi_sb_parse(sb, START, k->file_size / 512, k->tag, k->block, &p), 0);
	ck_assert_mem_eq(&p, &g, sizeof(g));
}
END_TEST

/* docs/dm-integrity.md, Worked example, confirmed by tampering with the kernel (image a). */
START_TEST(dmi_map_worked_example)
{
	uint8_t sb[DMI_SB_SIZE];
	struct dmi_geometry g;
	uint64_t data, tag;

	ck_assert_int_eq(dmi_format_superblock(40 * MiB / 512, START, 32, 4096, false, sb, &g), 0);
	dmi_map(&g, 8000, &data, &tag);
	ck_assert_uint_eq(tag, 17083648);
	ck_assert_uint_eq(data, 21278720);
	dmi_map(&g, 33600, &data, &tag);
	ck_assert_uint_eq(tag, 33963264);
	ck_assert_uint_eq(data, 34516992);
	/* the last provided block lies inside the device, the next area's would not */
	dmi_map(&g, g.provided_data_sectors - 8, &data, &tag);
	ck_assert_uint_le(data + 4096, 40 * MiB);
}
END_TEST

/* provided_data_sectors is the kernel's value for the size: grow or shrink it and the
 * superblock no longer matches, so it is refused (docs/dm-integrity.md, What the kernel
 * requires). */
START_TEST(dmi_parse_refuses_other_device_size)
{
	uint8_t sb[DMI_SB_SIZE];
	struct dmi_geometry g;
	uint64_t n = 40 * MiB / 512;

	ck_assert_int_eq(dmi_format_superblock(n, START, 32, 4096, false, sb, &g), 0);
	ck_assert_int_eq(dmi_sb_parse(sb, START, n + 2048, 32, 4096, &g), -EBADMSG);
	ck_assert_int_eq(dmi_sb_parse(sb, START, n - 2048, 32, 4096, &g), -EBADMSG);
	ck_assert_int_eq(dmi_sb_parse(sb, START, n, 28, 4096, &g), -EBADMSG);
	ck_assert_int_eq(dmi_sb_parse(sb, START, n, 32, 512, &g), -EBADMSG);
	ck_assert_int_eq(dmi_sb_parse(sb, START, n, 32, 3000, &g), -EINVAL);
	ck_assert_int_eq(dmi_sb_parse(sb, n, n, 32, 4096, &g), -EINVAL);
	ck_assert_int_eq(dmi_format_superblock(START + 16, START, 32, 4096, false, sb, &g),
			 -EINVAL);
}
END_TEST

/* Device sizes whose sector or byte offsets would not fit 64 bits (a hostile source claiming
 * 2^64-1 bytes) are refused before any geometry is computed. */
START_TEST(dmi_refuses_devices_past_the_size_cap)
{
	uint8_t sb[DMI_SB_SIZE];
	struct dmi_geometry g;
	uint64_t n = 40 * MiB / 512;

	ck_assert_int_eq(dmi_format_superblock(n, START, 32, 4096, false, sb, &g), 0);
	ck_assert_int_eq(dmi_sb_parse(sb, START, DMI_DEV_SECTORS_MAX + 1, 32, 4096, &g), -EINVAL);
	ck_assert_int_eq(dmi_sb_parse(sb, START, UINT64_MAX / 512, 32, 4096, &g), -EINVAL);
	ck_assert_int_eq(dmi_sb_parse(sb, START, UINT64_MAX, 32, 4096, &g), -EINVAL);
	ck_assert_int_eq(dmi_format_superblock(UINT64_MAX / 512, START, 32, 4096, false, sb, &g),
			 -EINVAL);
	ck_assert_int_eq(
		dmi_format_superblock(DMI_DEV_SECTORS_MAX + 1, START, 32, 4096, false, sb, &g),
		-EINVAL);
	/* the largest device allowed: a geometry whose last data sector lies inside it */
	ck_assert_int_eq(dmi_format_superblock(DMI_DEV_SECTORS_MAX, START, 32, 4096, false, sb, &g),
			 0);
	ck_assert_uint_gt(g.provided_data_sectors, DMI_DEV_SECTORS_MAX / 2);
	ck_assert_uint_lt(g.provided_data_sectors, DMI_DEV_SECTORS_MAX);
	ck_assert_int_eq(dmi_sb_parse(sb, START, DMI_DEV_SECTORS_MAX, 32, 4096, &g), 0);
	{
		uint64_t data, tag;

		dmi_map(&g, g.provided_data_sectors - 1, &data, &tag);
		ck_assert_uint_lt(data, DMI_DEV_SECTORS_MAX * 512);
		ck_assert_uint_lt(tag, data);
	}
}
END_TEST

struct mutation {
	const char *what;
	size_t off;
	uint8_t value; /* written over the byte at off */
};

static const struct mutation mutations[] = {
	{ "magic", 0, 'I' },
	{ "magic NUL", 7, 'x' },
	{ "version 0", 8, 0 },
	{ "version 6 (inline)", 8, 6 },
	{ "version 1 with fixed padding", 8, 1 },
	{ "interleave 2", 9, 2 },
	{ "interleave 32", 9, 32 },
	{ "interleave 14 (provided no longer matches)", 9, 14 },
	{ "tag size", 10, 31 },
	{ "tag size high byte", 11, 1 },
	{ "journal_sections 0", 12, 0 },
	{ "journal_sections 3", 12, 3 },
	{ "journal_sections huge", 15, 0x10 },
	{ "provided - 8", 16, 0xe0 },
	{ "provided high", 22, 1 },
	{ "flag journal mac", 24, 0x9 },
	{ "flag recalculating", 24, 0xa },
	{ "flag dirty bitmap", 24, 0xc },
	{ "flag fixed hmac", 24, 0x18 },
	{ "flag inline", 27, 0x20 },
	{ "log2 sectors per block", 28, 0 },
	{ "log2 blocks per bitmap bit", 29, 11 },
	{ "pad", 30, 1 },
	{ "recalc_sector", 32, 1 },
	{ "salt", 50, 1 },
	{ "tail", 4095, 1 },
};

START_TEST(dmi_parse_refuses_each_field)
{
	const struct mutation *m = &mutations[_i];
	uint8_t sb[DMI_SB_SIZE];
	struct dmi_geometry g;
	uint64_t n = 40 * MiB / 512;

	ck_assert_int_eq(dmi_format_superblock(n, START, 32, 4096, false, sb, &g), 0);
	ck_assert_int_eq(dmi_sb_parse(sb, START, n, 32, 4096, &g), 0);
	ck_assert_uint_ne(sb[m->off], m->value);
	sb[m->off] = m->value;
	if (dmi_sb_parse(sb, START, n, 32, 4096, &g) != -EBADMSG)
		ck_abort_msg("accepted: %s", m->what);
}
END_TEST

/* The real superblock of a 40 MiB `luksFormat --integrity hmac-sha256 --sector-size 4096`
 * image, exported from the VM by tests/vm/test-vm-engine.sh (tests/data/README.md). */
START_TEST(dmi_parse_accepts_kernel_superblock_fixture)
{
	char path[512];
	FILE *f;
	uint8_t sb[DMI_SB_SIZE], mine[DMI_SB_SIZE];
	struct dmi_geometry g;

	snprintf(path, sizeof(path), "%s/dmi-sb-hmac-sha256-4k-40M.bin", unit_testdata());
	f = fopen(path, "rb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fread(sb, 1, sizeof(sb), f), sizeof(sb));
	fclose(f);
	ck_assert_int_eq(dmi_sb_parse(sb, START, 40 * MiB / 512, 32, 4096, &g), 0);
	ck_assert_int_eq(dmi_format_superblock(40 * MiB / 512, START, 32, 4096, false, mine, NULL),
			 0);
	ck_assert_mem_eq(sb, mine, sizeof(sb));
}
END_TEST

START_TEST(dmi_journal_init_pattern)
{
	uint8_t sb[DMI_SB_SIZE];
	struct dmi_geometry g;
	_cleanup_free_ uint8_t *buf = NULL;

	ck_assert_int_eq(dmi_format_superblock(40 * MiB / 512, START, 32, 4096, false, sb, &g), 0);
	buf = malloc((size_t)g.journal_section_sectors * 512);
	dmi_journal_init_section(&g, 1, 0, buf);
	/* sector 5 of section 1: commit id 0x1111.. ^ (1 << 32 ^ 5) */
	ck_assert_uint_eq(dmi_get_le64(buf + 5 * 512 + 504),
			  0x1111111111111111ull ^ (1ull << 32 ^ 5));
	/* entry 9 = metadata sector 1, slot 1 (entry size 104): unused */
	ck_assert_uint_eq(dmi_get_le32(buf + 512 + 104 + 4), 0xffffffffu);
	ck_assert_uint_eq(dmi_get_le32(buf + 512 + 104), 0);
	/* a data sector is zero up to its commit id */
	for (size_t i = 0; i < 504; i++)
		ck_assert_uint_eq(buf[100 * 512 + i], 0);
}
END_TEST

/* A formatted journal replays nothing; a committed entry is found with its data and tag; an
 * inconsistent commit id discards the journal (as the kernel does). */
START_TEST(dmi_journal_scan_replays_committed_entry)
{
	char path[] = "/tmp/test_dmi.XXXXXX";
	uint8_t sb[DMI_SB_SIZE], blk[4096];
	struct dmi_geometry g;
	struct dmi_journal j;
	_cleanup_(bdev_freep) struct bdev *dev = NULL;
	_cleanup_free_ uint8_t *sec = NULL;
	int fd = mkstemp(path);
	uint64_t joff;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 40 * MiB), 0);
	close(fd);
	ck_assert_int_eq(bdev_file_open(path, true, &dev), 0);
	unlink(path);
	ck_assert_int_eq(dmi_format_superblock(40 * MiB / 512, START, 32, 4096, false, sb, &g), 0);
	ck_assert_int_eq(dmi_journal_format(dev, &g), 0);
	ck_assert_int_eq(dmi_journal_scan(dev, &g, &j), 0);
	ck_assert_uint_eq(j.n, 0);

	/* Section 0 re-written with seq 1 holding entry 3 -> sector 805 (rounded to 800). With
	 * seqs [1, 0] the kernel's rules pick section 0 as the consistent run. */
	sec = malloc((size_t)g.journal_section_sectors * 512);
	dmi_journal_init_section(&g, 0, 1, sec);
	dmi_put_le64(sec + 3 * 512, 805);
	memset(sec + 3 * 512 + 8, 0xab, 64); /* last_bytes */
	memset(sec + 3 * 512 + 8 + 64, 0xcd, 32); /* tag */
	for (uint32_t s = 0; s < 8; s++)
		memset(sec + (8 + 3 * 8 + s) * 512, 0x40 + s, 504);
	joff = dmi_journal_offset(&g);
	ck_assert_int_eq(bdev_write(dev, sec, (size_t)g.journal_section_sectors * 512, joff), 0);
	ck_assert_int_eq(dmi_journal_scan(dev, &g, &j), 0);
	ck_assert_uint_eq(j.n, 1);
	ck_assert_uint_eq(j.blocks[0].sector, 800);
	ck_assert_ptr_nonnull(dmi_journal_find(&j, 800));
	ck_assert_ptr_null(dmi_journal_find(&j, 808));
	ck_assert_uint_eq(j.blocks[0].tag[31], 0xcd);
	ck_assert_int_eq(dmi_journal_read_block(dev, &g, &j.blocks[0], blk), 0);
	ck_assert_uint_eq(blk[512 * 2], 0x42);
	ck_assert_uint_eq(blk[512 * 2 + 504], 0xab);
	dmi_journal_free(&j);

	/* a sector with no valid commit id: the journal is discarded */
	sec[7 * 512 + 510] ^= 1;
	ck_assert_int_eq(bdev_write(dev, sec, (size_t)g.journal_section_sectors * 512, joff), 0);
	ck_assert_int_eq(dmi_journal_scan(dev, &g, &j), 0);
	ck_assert_uint_eq(j.n, 0);
}
END_TEST

static Suite *dmi_suite(void)
{
	Suite *s = suite_create("dmi");
	TCase *tc = tcase_create("dmi");

	tcase_add_loop_test(tc, dmi_format_reproduces_kernel_superblocks, 0,
			    (int)ELEMENTSOF(kernel));
	tcase_add_test(tc, dmi_map_worked_example);
	tcase_add_test(tc, dmi_parse_refuses_other_device_size);
	tcase_add_test(tc, dmi_refuses_devices_past_the_size_cap);
	tcase_add_loop_test(tc, dmi_parse_refuses_each_field, 0, (int)ELEMENTSOF(mutations));
	tcase_add_test(tc, dmi_parse_accepts_kernel_superblock_fixture);
	tcase_add_test(tc, dmi_journal_init_pattern);
	tcase_add_test(tc, dmi_journal_scan_replays_committed_entry);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(dmi_suite)
