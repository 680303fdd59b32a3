/* SPDX-License-Identifier: MIT */
/*
 * dmi_journal.c - the dm-integrity journal: the formatted pattern (init_journal(),
 * docs/dm-integrity.md, Creating images step 6) and replay (replay_journal() +
 * do_journal_write(from_replay), docs/dm-integrity.md, Journal replay).
 *
 * Replay is done in two passes over the journal, one section at a time, so memory stays at one
 * section plus one byte per section: pass 1 finds every sector's commit sequence, pass 2 collects
 * the used entries of the consistent run.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dmi_internal.h"
#include "sealmount/log.h"

#define N_COMMIT_IDS 4u
#define JOURNAL_BLOCK_SECTORS 8u
#define SECTOR_HI_UNUSED 0xFFFFFFFFu

static uint64_t commit_id(uint32_t section, uint32_t sector, unsigned seq)
{
	uint64_t pattern = UINT64_C(0x1111111111111111) * (seq + 1);

	return pattern ^ (((uint64_t)section << 32) ^ sector);
}

static uint8_t *entry_at(const struct dmi_geometry *g, uint8_t *section, uint32_t n)
{
	return section + (n % JOURNAL_BLOCK_SECTORS) * 512 +
	       (n / JOURNAL_BLOCK_SECTORS) * g->journal_entry_size;
}

void dmi_journal_init_section(const struct dmi_geometry *g, uint32_t section, unsigned seq,
			      uint8_t *buf)
{
	memset(buf, 0, (size_t)g->journal_section_sectors * 512);
	for (uint32_t j = 0; j < g->journal_section_sectors; j++)
		dmi_put_le64(buf + (size_t)j * 512 + DMI_JOURNAL_SECTOR_DATA,
			     commit_id(section, j, seq));
	for (uint32_t n = 0; n < g->section_entries; n++)
		memset(entry_at(g, buf, n) + 4, 0xff, 4);
}

int dmi_journal_format(struct bdev *dev, const struct dmi_geometry *g)
{
	size_t len = (size_t)g->journal_section_sectors * 512;
	_cleanup_free_ uint8_t *buf = malloc(len);
	uint64_t off = dmi_journal_offset(g);
	int r;

	if (!buf)
		return -ENOMEM;
	for (uint32_t i = 0; i < g->journal_sections; i++, off += len) {
		dmi_journal_init_section(g, i, 0, buf);
		r = bdev_write(dev, buf, len, off);
		if (r < 0)
			return r;
	}
	return 0;
}

static int read_section(struct bdev *dev, const struct dmi_geometry *g, uint32_t i, uint8_t *buf)
{
	size_t len = (size_t)g->journal_section_sectors * 512;

	return bdev_read(dev, buf, len, dmi_journal_offset(g) + (uint64_t)i * len);
}

/* Pass 1 state. seq[i] = the commit seq of every sector of section i, or -1 if they differ. */
struct scan {
	int8_t *seq;
	bool used[N_COMMIT_IDS];
	uint32_t max_sec[N_COMMIT_IDS];
	bool journal_empty;
	bool discard;
};

static void scan_section(const struct dmi_geometry *g, uint32_t i, uint8_t *buf, struct scan *s)
{
	s->seq[i] = -2;
	for (uint32_t j = 0; j < g->journal_section_sectors && !s->discard; j++) {
		uint64_t id = dmi_get_le64(buf + (size_t)j * 512 + DMI_JOURNAL_SECTOR_DATA);
		unsigned k;

		for (k = 0; k < N_COMMIT_IDS; k++)
			if (id == commit_id(i, j, k))
				break;
		if (k == N_COMMIT_IDS) {
			s->discard = true; /* "journal commit ids mismatch, ignoring" */
			return;
		}
		s->used[k] = true;
		s->max_sec[k] = i;
		s->seq[i] = s->seq[i] == -2 || s->seq[i] == (int8_t)k ? (int8_t)k : -1;
	}
	for (uint32_t n = 0; n < g->section_entries; n++)
		if (dmi_get_le32(entry_at(g, buf, n) + 4) != SECTOR_HI_UNUSED)
			s->journal_empty = false;
}

static unsigned prev_seq(unsigned k)
{
	return (k + N_COMMIT_IDS - 1) % N_COMMIT_IDS;
}

struct collect {
	size_t n, cap;
	struct dmi_journal_block *b;
};

static int collect_section(const struct dmi_geometry *g, uint32_t i, uint8_t *buf,
			   struct collect *c)
{
	for (uint32_t n = 0; n < g->section_entries; n++) {
		const uint8_t *e = entry_at(g, buf, n);
		uint64_t sector = dmi_get_le64(e);
		struct dmi_journal_block *b;

		if (dmi_get_le32(e + 4) == SECTOR_HI_UNUSED)
			continue;
		sector &= ~(uint64_t)(g->spb - 1);
		if (sector >= g->provided_data_sectors)
			continue; /* also "in progress" entries (sector_hi 0xFFFFFFFE) */
		if (c->n == c->cap) {
			size_t cap = c->cap ? c->cap * 2 : 64;
			void *p = reallocarray(c->b, cap, sizeof(*c->b));

			if (!p)
				return -ENOMEM;
			c->b = p;
			c->cap = cap;
		}
		b = &c->b[c->n++];
		memset(b, 0, sizeof(*b));
		b->sector = sector;
		b->order = c->n - 1;
		b->data_off =
			dmi_journal_offset(g) + ((uint64_t)i * g->journal_section_sectors +
						 JOURNAL_BLOCK_SECTORS + (uint64_t)n * g->spb) *
							512;
		memcpy(b->last_bytes, e + 8, 8 * g->spb);
		memcpy(b->tag, e + 8 + 8 * g->spb, g->tag_size);
	}
	return 0;
}

/* qsort is not stable: sort by (sector, journal order); the last of a run wins. */
static int cmp_block(const void *a, const void *b)
{
	const struct dmi_journal_block *x = a, *y = b;

	if (x->sector != y->sector)
		return x->sector < y->sector ? -1 : 1;
	return x->order < y->order ? -1 : (x->order > y->order ? 1 : 0);
}

static void dedupe(struct collect *c)
{
	size_t out = 0;

	for (size_t i = 0; i < c->n; i++) {
		if (out > 0 && c->b[out - 1].sector == c->b[i].sector)
			out--;
		c->b[out++] = c->b[i];
	}
	c->n = out;
}

static int pass1(struct bdev *dev, const struct dmi_geometry *g, uint8_t *buf, struct scan *s)
{
	for (uint32_t i = 0; i < g->journal_sections && !s->discard; i++) {
		int r = read_section(dev, g, i, buf);

		if (r < 0)
			return r;
		scan_section(g, i, buf, s);
	}
	return 0;
}

/* Steps 2-5 of docs/dm-integrity.md, Journal replay: the consistent run [write_start, write_start +
 * *ret_n). false = discard. */
static bool find_run(const struct dmi_geometry *g, struct scan *s, uint32_t *ret_start,
		     uint32_t *ret_n)
{
	unsigned unused, last_used, want;
	uint32_t i, n;

	if (!s->used[N_COMMIT_IDS - 1]) {
		unused = N_COMMIT_IDS - 1;
		while (unused && !s->used[unused - 1])
			unused--;
	} else {
		for (unused = 0; unused < N_COMMIT_IDS; unused++)
			if (!s->used[unused])
				break;
		if (unused == N_COMMIT_IDS)
			return false;
	}
	last_used = prev_seq(unused);
	want = prev_seq(last_used);
	if (!s->used[want] && s->used[prev_seq(want)])
		s->journal_empty = true;
	i = s->max_sec[last_used] + 1;
	if (i >= g->journal_sections) {
		want = (want + 1) % N_COMMIT_IDS;
		i -= g->journal_sections;
	}
	*ret_start = i;
	for (n = 0; n < g->journal_sections; n++) {
		if (s->seq[i] != (int8_t)want)
			break;
		if (++i >= g->journal_sections) {
			want = (want + 1) % N_COMMIT_IDS;
			i = 0;
		}
	}
	*ret_n = n;
	return true;
}

int dmi_journal_scan(struct bdev *dev, const struct dmi_geometry *g, struct dmi_journal *ret)
{
	size_t len = (size_t)g->journal_section_sectors * 512;
	_cleanup_free_ uint8_t *buf = malloc(len);
	_cleanup_free_ int8_t *seq = calloc(g->journal_sections, 1);
	struct scan s = { .seq = seq, .journal_empty = true };
	struct collect c = { 0 };
	uint32_t start, n;
	int r;

	if (!buf || !seq)
		return -ENOMEM;
	r = pass1(dev, g, buf, &s);
	if (r < 0)
		return r;
	*ret = (struct dmi_journal){ 0 };
	if (s.discard || !find_run(g, &s, &start, &n)) {
		log_debug(
			"dm-integrity journal: commit ids inconsistent, discarded (as the kernel)");
		return 0;
	}
	if (s.journal_empty)
		return 0;
	for (uint32_t k = 0, i = start; k < n; k++, i = (i + 1) % g->journal_sections) {
		r = read_section(dev, g, i, buf);
		if (r >= 0)
			r = collect_section(g, i, buf, &c);
		if (r < 0) {
			free(c.b);
			return r;
		}
	}
	qsort(c.b, c.n, sizeof(*c.b), cmp_block);
	dedupe(&c);
	log_debug("dm-integrity journal: %zu committed block(s) to replay", c.n);
	*ret = (struct dmi_journal){ .n = c.n, .blocks = c.b };
	return 0;
}

const struct dmi_journal_block *dmi_journal_find(const struct dmi_journal *j, uint64_t s)
{
	size_t lo = 0, hi = j->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (j->blocks[mid].sector == s)
			return &j->blocks[mid];
		if (j->blocks[mid].sector < s)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int dmi_journal_read_block(struct bdev *dev, const struct dmi_geometry *g,
			   const struct dmi_journal_block *b, uint8_t *buf)
{
	int r = bdev_read(dev, buf, (size_t)g->spb * 512, b->data_off);

	if (r < 0)
		return r;
	for (uint32_t s = 0; s < g->spb; s++)
		memcpy(buf + (size_t)s * 512 + DMI_JOURNAL_SECTOR_DATA, b->last_bytes + 8 * s, 8);
	return 0;
}

void dmi_journal_free(struct dmi_journal *j)
{
	if (!j)
		return;
	free(j->blocks);
	*j = (struct dmi_journal){ 0 };
}
