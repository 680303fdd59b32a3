/* SPDX-License-Identifier: MIT */
/* Target: verity_sb_parse() and verity_geometry_init() (src/volume/verity_sb.c), and for a
 * device made of the rest of the input, verity_locate() and verity_check() (verity_tree.c,
 * verity_dev.c): the dm-verity superblock, the recognition by size and the tree walk on hostile
 * bytes.
 *
 * Input: [512-byte superblock][device bytes...]. An accepted superblock must be canonical:
 * verity_sb_write() of what was parsed gives the input bytes back, and its geometry is
 * consistent (levels, offsets in order, the top level one block). The device (the rest, zero
 * padded to a multiple of 4096, at most 1 MiB) is located; when it is a sealed image, its tree is
 * checked against the root hash of its own top block, so the walk reaches every level.
 * Seed corpus: tests/fuzz/corpus-verity-sb/ (superblocks and small images written by
 * `veritysetup format`, cryptsetup 2.6.1).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sealmount/log.h"
#include "sealmount/verity.h"

#define DEV_MAX (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct mem {
	const uint8_t *p;
	size_t len;
};

static int mem_read(void *state, void *buf, size_t len, uint64_t off)
{
	const struct mem *m = state;

	memset(buf, 0, len);
	if (off < m->len)
		memcpy(buf, m->p + off, m->len - off < len ? m->len - off : len);
	return 0;
}

static void mem_close(void *state)
{
	(void)state;
}

static const struct bdev_ops mem_ops = { .name = "mem", .read = mem_read, .close = mem_close };

static void check_geometry(const struct verity_geometry *g)
{
	if (g->levels == 0 || g->levels > VERITY_MAX_LEVELS ||
	    g->level_blocks[g->levels - 1] != 1 ||
	    g->level_offset[g->levels - 1] != g->tree_offset ||
	    g->tree_offset != g->data_size + 4096)
		__builtin_trap();
	for (unsigned i = 0; i + 1 < g->levels; i++)
		if (g->level_offset[i] != g->level_offset[i + 1] + g->level_blocks[i + 1] * 4096)
			__builtin_trap();
	if (g->level_offset[0] + g->level_blocks[0] * 4096 != g->end)
		__builtin_trap();
}

static void device(const uint8_t *p, size_t len)
{
	struct mem m = { .p = p, .len = len };
	uint64_t size = (len + 4095) / 4096 * 4096;
	struct verity_image img;
	struct bdev *b = NULL;
	uint8_t top[4096], root[32];

	if (size > DEV_MAX || bdev_new(&mem_ops, &m, size, 1, false, &b) < 0)
		return;
	if (verity_locate(b, &img, NULL) == 0) {
		check_geometry(&img.g);
		if (img.g.end > size || img.size != size)
			__builtin_trap();
		if (bdev_read(b, top, sizeof(top), img.g.tree_offset) == 0 &&
		    verity_hash(&img.sb, top, sizeof(top), root) == 0)
			(void)verity_check(b, &img, root, NULL, NULL);
	}
	bdev_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t out[VERITY_SB_SIZE];
	struct verity_sb sb;
	struct verity_geometry g;

	log_set_level(LOG_LVL_ERROR);
	if (size < VERITY_SB_SIZE)
		return 0;
	if (verity_sb_parse(data, size, &sb, NULL) == 0) {
		verity_sb_write(&sb, out);
		if (memcmp(out, data, VERITY_SB_SIZE) != 0)
			__builtin_trap();
		if (verity_geometry_init(sb.data_blocks, &g) != 0)
			__builtin_trap();
		check_geometry(&g);
	}
	if (size > VERITY_SB_SIZE)
		device(data + VERITY_SB_SIZE, size - VERITY_SB_SIZE);
	return 0;
}
