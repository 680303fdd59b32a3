/* SPDX-License-Identifier: MIT */
/*
 * luks_io.c - the `luks` layer's read and write paths. Whole blocks (sector_size bytes) are
 * read in runs that stay inside one dm-integrity area, so the run's data and its packed tags are
 * each one lower read; a block is decrypted only after its tag verified (luks_crypt.c). Partial
 * blocks go through the context's bounce buffer (read-modify-write on writes).
 *
 * Locking: reads share d->rw, writes hold it exclusively, so no read sees new data with an old
 * tag (or the reverse) and the read-modify-write of packed tags cannot interleave.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "luks_internal.h"
#include "sealmount/log.h"

static uint32_t spb(const struct luks_dev *d)
{
	return d->ss / 512;
}

static void locate(const struct luks_dev *d, uint64_t b, uint64_t *data, uint64_t *tag)
{
	if (d->kind == LUKS2_INTEGRITY_NONE) {
		*data = d->data_offset + b * d->ss;
		*tag = 0;
		return;
	}
	dmi_map(&d->g, b * spb(d), data, tag);
}

/* Blocks from b (at most want) whose data and tags are contiguous on the lower device. */
static size_t run_len(const struct luks_dev *d, uint64_t b, uint64_t want)
{
	uint64_t n = want < LUKS_IO_BLOCKS ? want : LUKS_IO_BLOCKS;

	if (d->kind != LUKS2_INTEGRITY_NONE) {
		uint64_t per_area = UINT64_C(1) << (d->g.log2_interleave - d->g.log2_spb);
		uint64_t left = per_area - (b & (per_area - 1));

		if (left < n)
			n = left;
	}
	return (size_t)n;
}

static int integrity_error(struct luks_dev *d, uint64_t S)
{
	__atomic_add_fetch(&d->integrity_errors, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&d->last_bad_sector, S, __ATOMIC_RELAXED);
	/* log-ok: an event on the data path: the reader gets EILSEQ */
	log_warn("luks: integrity error (tag mismatch) at sector %" PRIu64, S);
	return -EILSEQ;
}

/* n blocks from block b into out (n * ss bytes), verified and decrypted. */
static int read_run(struct luks_dev *d, struct luks_ctx *c, uint64_t b, size_t n, uint8_t *out)
{
	uint64_t data, tag;
	int r;

	locate(d, b, &data, &tag);
	r = bdev_read(d->lower, out, n * d->ss, data);
	if (r >= 0 && d->tag_size)
		r = bdev_read(d->lower, c->tags, n * d->tag_size, tag);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		uint64_t S = (b + i) * spb(d);
		const uint8_t *t = d->tag_size ? c->tags + i * d->tag_size : NULL;
		const struct dmi_journal_block *jb =
			d->journal.n ? dmi_journal_find(&d->journal, S) : NULL;

		if (jb) {
			r = dmi_journal_read_block(d->lower, &d->g, jb, out + i * d->ss);
			if (r < 0)
				break;
			t = jb->tag;
		}
		r = luks_sector_decrypt(d, c, S, out + i * d->ss, t);
		if (r == -EILSEQ)
			r = integrity_error(d, S);
	}
	if (r >= 0)
		__atomic_add_fetch(&d->sectors_read, n * spb(d), __ATOMIC_RELAXED);
	return r;
}

static int do_read(struct luks_dev *d, struct luks_ctx *c, uint8_t *p, size_t len, uint64_t off)
{
	while (len > 0) {
		uint64_t b = off / d->ss;
		size_t in = off % d->ss, n;
		int r;

		if (in || len < d->ss) {
			n = d->ss - in < len ? d->ss - in : len;
			r = read_run(d, c, b, 1, c->buf);
			if (r >= 0)
				memcpy(p, c->buf + in, n);
		} else {
			size_t nb = run_len(d, b, len / d->ss);

			n = nb * d->ss;
			r = read_run(d, c, b, nb, p);
		}
		if (r < 0)
			return r;
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

int luks_dev_read(void *state, void *buf, size_t len, uint64_t off)
{
	struct luks_dev *d = state;
	struct luks_ctx *c;
	int r;

	pthread_rwlock_rdlock(&d->rw);
	r = luks_ctx_get(d, &c);
	if (r >= 0) {
		r = do_read(d, c, buf, len, off);
		wipe(c->buf, d->ss); /* a partial block's plaintext */
		luks_ctx_put(d, c);
	}
	pthread_rwlock_unlock(&d->rw);
	if (r < 0)
		memset(buf, 0, len); /* never hand out ciphertext or a partial result */
	return r;
}

int luks_lower_write(struct bdev *lower, const uint8_t *p, size_t len, uint64_t off)
{
	uint32_t a = bdev_write_align(lower);
	uint64_t start = off / a * a, end = (off + len + a - 1) / a * a;
	_cleanup_free_ uint8_t *buf = NULL;
	int r;

	if (a <= 1 || (start == off && end == off + len))
		return bdev_write(lower, p, len, off);
	buf = malloc(end - start);
	if (!buf)
		return -ENOMEM;
	r = bdev_read(lower, buf, end - start, start);
	if (r < 0)
		return r;
	memcpy(buf + (off - start), p, len);
	return bdev_write(lower, buf, end - start, start);
}

/* n plaintext blocks at in (may be c->buf) to block b: ciphertext and tags. */
static int write_run(struct luks_dev *d, struct luks_ctx *c, uint64_t b, size_t n,
		     const uint8_t *in)
{
	uint64_t data, tag;
	int r = 0;

	for (size_t i = 0; r >= 0 && i < n; i++)
		r = luks_sector_encrypt(d, c, (b + i) * spb(d), in + i * d->ss, c->buf + i * d->ss,
					c->tags + i * d->tag_size);
	if (r < 0)
		return r;
	locate(d, b, &data, &tag);
	r = luks_lower_write(d->lower, c->buf, n * d->ss, data);
	if (r >= 0 && d->tag_size)
		r = luks_lower_write(d->lower, c->tags, n * d->tag_size, tag);
	if (r >= 0)
		__atomic_add_fetch(&d->sectors_written, n * spb(d), __ATOMIC_RELAXED);
	return r;
}

static int do_write(struct luks_dev *d, struct luks_ctx *c, const uint8_t *p, size_t len,
		    uint64_t off)
{
	while (len > 0) {
		uint64_t b = off / d->ss;
		size_t in = off % d->ss, n;
		int r;

		if (in || len < d->ss) {
			n = d->ss - in < len ? d->ss - in : len;
			r = read_run(d, c, b, 1, c->buf);
			if (r >= 0) {
				memcpy(c->buf + in, p, n);
				r = write_run(d, c, b, 1, c->buf);
			}
		} else {
			size_t nb = run_len(d, b, len / d->ss);

			n = nb * d->ss;
			r = write_run(d, c, b, nb, p);
		}
		if (r < 0)
			return r;
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

int luks_dev_write(void *state, const void *buf, size_t len, uint64_t off)
{
	struct luks_dev *d = state;
	struct luks_ctx *c;
	int r;

	pthread_rwlock_wrlock(&d->rw);
	r = luks_ctx_get(d, &c);
	if (r >= 0) {
		r = do_write(d, c, buf, len, off);
		wipe(c->buf, d->ss); /* a partial block's plaintext */
		luks_ctx_put(d, c);
	}
	pthread_rwlock_unlock(&d->rw);
	return r;
}
