/* SPDX-License-Identifier: MIT */
/*
 * bdev.c - the generic wrapper around a layer: bounds, read-only and alignment checks live here
 * once, so every layer can assume a valid request.
 */
#include <errno.h>
#include <stdlib.h>

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

int bdev_flush(struct bdev *b)
{
	if (!b->ops->flush)
		return 0;
	return b->ops->flush(b->state);
}
