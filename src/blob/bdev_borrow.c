/* SPDX-License-Identifier: MIT */
/*
 * bdev_borrow.c - the `borrow` layer (bdev.h): a view of a device that someone else owns, so a
 * filter that takes ownership of its lower device (luks, verity) can sit on a device that must
 * outlive it. Every call passes through; closing the view leaves the device alone.
 */
#include <errno.h>

#include "sealmount/bdev.h"

static int borrow_read(void *state, void *buf, size_t len, uint64_t off)
{
	return bdev_read(state, buf, len, off);
}

static int borrow_readv(void *state, const struct iovec *iov, unsigned cnt, uint64_t off)
{
	return bdev_readv(state, iov, cnt, off);
}

static int borrow_write(void *state, const void *buf, size_t len, uint64_t off)
{
	return bdev_write(state, buf, len, off);
}

static int borrow_flush(void *state)
{
	return bdev_flush(state);
}

static void borrow_close(void *state)
{
	(void)state; /* not ours */
}

static const struct bdev_ops borrow_ops = {
	.name = "borrow",
	.read = borrow_read,
	.readv = borrow_readv,
	.write = borrow_write,
	.flush = borrow_flush,
	.close = borrow_close,
};

int bdev_borrow_new(struct bdev *lower, struct bdev **ret)
{
	return bdev_new(&borrow_ops, lower, bdev_size(lower), bdev_write_align(lower),
			bdev_is_writable(lower), ret);
}
