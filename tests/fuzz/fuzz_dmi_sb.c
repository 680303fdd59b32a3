/* SPDX-License-Identifier: MIT */
/* Target: dmi_sb_parse() and, for accepted superblocks, dmi_map() and dmi_journal_scan()
 * (src/volume/dmi.c, dmi_journal.c): the dm-integrity superblock and journal on hostile bytes.
 *
 * Input: [4096-byte superblock][optional le64 device sectors][journal bytes...]. The superblock
 * sits at sector 32768 (the LUKS2 16 MiB header); the device size defaults to 40 MiB. The tag
 * and block size the parser is told are taken from the superblock's own fields when they are
 * plausible, so the fuzzer reaches the geometry and provided_data_sectors checks. The journal
 * (scanned when it is at most 1 MiB) reads the input's remaining bytes, zeros past them.
 * Seed corpus: tests/fuzz/corpus-dmi-sb/ (the kernel's superblocks of docs/dm-integrity.md,
 * Superblock, which dmi_format_superblock() reproduces byte for byte, each with its image size).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sealmount/dmi.h"
#include "sealmount/log.h"

#define START 32768u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct mem {
	const uint8_t *journal;
	size_t len;
	uint64_t journal_off;
};

static int mem_read(void *state, void *buf, size_t len, uint64_t off)
{
	const struct mem *m = state;

	memset(buf, 0, len);
	for (size_t i = 0; i < len; i++) {
		uint64_t o = off + i;

		if (o >= m->journal_off && o - m->journal_off < m->len)
			((uint8_t *)buf)[i] = m->journal[o - m->journal_off];
	}
	return 0;
}

static void mem_close(void *state)
{
	(void)state;
}

static const struct bdev_ops mem_ops = { .name = "mem", .read = mem_read, .close = mem_close };

static void scan(const struct dmi_geometry *g, const uint8_t *j, size_t len)
{
	struct mem m = { .journal = j, .len = len, .journal_off = dmi_journal_offset(g) };
	struct bdev *b = NULL;
	struct dmi_journal out;
	uint8_t blk[4096];

	if (dmi_journal_bytes(g) > (1u << 20) ||
	    bdev_new(&mem_ops, &m, g->dev_sectors * 512, 1, false, &b) < 0)
		return;
	if (dmi_journal_scan(b, g, &out) == 0) {
		for (size_t i = 0; i < out.n; i++) {
			if (out.blocks[i].sector >= g->provided_data_sectors)
				__builtin_trap();
			(void)dmi_journal_read_block(b, g, &out.blocks[i], blk);
		}
		dmi_journal_free(&out);
	}
	bdev_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t sb[DMI_SB_SIZE] = { 0 };
	uint64_t dev = 81920, d, t;
	uint32_t tag, block;
	struct dmi_geometry g;

	log_set_level(LOG_LVL_ERROR);
	memcpy(sb, data, size < sizeof(sb) ? size : sizeof(sb));
	if (size >= DMI_SB_SIZE + 8) {
		dev = 0;
		for (int i = 7; i >= 0; i--)
			dev = dev << 8 | data[DMI_SB_SIZE + i];
		dev &= (UINT64_C(1) << 36) - 1; /* up to 32 TiB */
	}
	tag = (uint32_t)sb[10] | (uint32_t)sb[11] << 8;
	block = sb[28] <= 3 ? 512u << sb[28] : 4096;
	if (dmi_sb_parse(sb, START, dev, tag, block, &g) != 0)
		return 0;
	/* accepted: the last provided block lies inside the device, behind the journal */
	dmi_map(&g, g.provided_data_sectors - g.spb, &d, &t);
	if (d + block > dev * 512 || t < dmi_journal_offset(&g) + dmi_journal_bytes(&g) || t >= d)
		__builtin_trap();
	if (size > DMI_SB_SIZE + 8)
		scan(&g, data + DMI_SB_SIZE + 8, size - DMI_SB_SIZE - 8);
	return 0;
}
