/* SPDX-License-Identifier: MIT */
/*
 * bdev.c - the generic wrapper around a layer: bounds, read-only and alignment checks live here
 * once, so every layer can assume a valid request.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sealmount/bdev.h"

struct bdev {
	const struct bdev_ops *ops;
	void *state;
	uint64_t size;
	uint32_t write_align;
	bool writable;
};

int bdev_new(const struct bdev_ops *ops, void *state, uint64_t size, uint32_t write_align,
	     bool writable, struct bdev **ret)
{
	struct bdev *b;

	if (!ops->read || write_align == 0 || (write_align & (write_align - 1)) ||
	    (writable && !ops->write)) {
		ops->close(state);
		return -EINVAL;
	}
	if (size > BDEV_SIZE_MAX) {
		ops->close(state);
		return -EFBIG;
	}
	b = calloc(1, sizeof(*b));
	if (!b) {
		ops->close(state);
		return -ENOMEM;
	}
	*b = (struct bdev){ .ops = ops,
			    .state = state,
			    .size = size,
			    .write_align = write_align,
			    .writable = writable };
	*ret = b;
	return 0;
}

void bdev_free(struct bdev *b)
{
	if (!b)
		return;
	b->ops->close(b->state);
	free(b);
}

uint64_t bdev_size(const struct bdev *b)
{
	return b->size;
}

bool bdev_is_writable(const struct bdev *b)
{
	return b->writable;
}

uint32_t bdev_write_align(const struct bdev *b)
{
	return b->write_align;
}

const char *bdev_name(const struct bdev *b)
{
	return b->ops->name;
}

void *bdev_state(const struct bdev *b, const struct bdev_ops *ops)
{
	return b->ops == ops ? b->state : NULL;
}

static int check_range(const struct bdev *b, size_t len, uint64_t off)
{
	uint64_t end;

	if (ADD_OVERFLOW(off, (uint64_t)len, &end) || end > b->size)
		return -EINVAL;
	return 0;
}

int bdev_read(struct bdev *b, void *buf, size_t len, uint64_t off)
{
	int r;

	r = check_range(b, len, off);
	if (r < 0)
		return r;
	if (len == 0)
		return 0;
	return b->ops->read(b->state, buf, len, off);
}

/* For layers without readv: one read into a bounce buffer, then scattered. */
static int readv_bounce(struct bdev *b, const struct iovec *iov, unsigned cnt, size_t len,
			uint64_t off)
{
	_cleanup_free_ uint8_t *tmp = malloc(len);
	const uint8_t *p = tmp;
	int r;

	if (!tmp)
		return -ENOMEM;
	r = b->ops->read(b->state, tmp, len, off);
	for (unsigned i = 0; r == 0 && i < cnt; i++) {
		if (iov[i].iov_len == 0)
			continue; /* its base may be NULL */
		memcpy(iov[i].iov_base, p, iov[i].iov_len);
		p += iov[i].iov_len;
	}
	return r;
}

int bdev_readv(struct bdev *b, const struct iovec *iov, unsigned cnt, uint64_t off)
{
	size_t len = 0;
	int r;

	for (unsigned i = 0; i < cnt; i++)
		if (ADD_OVERFLOW(len, iov[i].iov_len, &len))
			return -EINVAL;
	r = check_range(b, len, off);
	if (r < 0 || len == 0)
		return r;
	if (b->ops->readv)
		return b->ops->readv(b->state, iov, cnt, off);
	for (unsigned i = 0; i < cnt; i++)
		if (iov[i].iov_len == len) /* everything in one entry: no bounce needed */
			return b->ops->read(b->state, iov[i].iov_base, len, off);
	return readv_bounce(b, iov, cnt, len, off);
}

int bdev_write(struct bdev *b, const void *buf, size_t len, uint64_t off)
{
	int r;

	if (!b->writable)
		return -EROFS;
	r = check_range(b, len, off);
	if (r < 0)
		return r;
	if ((off | len) & (b->write_align - 1))
		return -EINVAL;
	if (len == 0)
		return 0;
	return b->ops->write(b->state, buf, len, off);
}

int bdev_map(struct bdev *b, uint64_t off, size_t len, struct bdev_map *m)
{
	int r;

	m->cnt = 0;
	m->npriv = 0;
	if (!b->ops->map || len == 0)
		return -EOPNOTSUPP;
	r = check_range(b, len, off);
	if (r < 0)
		return r;
	return b->ops->map(b->state, off, len, m);
}

void bdev_unmap(struct bdev *b, struct bdev_map *m)
{
	if (b->ops->unmap && (m->cnt > 0 || m->npriv > 0))
		b->ops->unmap(b->state, m);
	m->cnt = 0;
	m->npriv = 0;
}

uint32_t bdev_fetch_hint(struct bdev *b)
{
	return b->ops->fetch_hint ? b->ops->fetch_hint(b->state) : 0;
}

int bdev_flush(struct bdev *b)
{
	if (!b->ops->flush)
		return 0;
	return b->ops->flush(b->state);
}
