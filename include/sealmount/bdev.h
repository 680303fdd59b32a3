/* SPDX-License-Identifier: MIT */
/*
 * bdev.h - the block device interface that the data-path layers stack on (docs/README.md, Block
 * layers), in the style of nbdkit's plugins and filters.
 *
 * A layer is an ops table plus opaque state. Layers: `file` (here), `cache` (cache.h), `blob`
 * (blob.h), later `luks`. A filter layer takes ownership of the device below it and frees it in
 * its own close(), so freeing the top of a stack frees the whole stack.
 *
 * Contract for every layer:
 *   - read/write transfer the whole range or fail; there are no short transfers. The generic
 *     wrappers below check bounds (off + len <= size, no overflow; -EINVAL otherwise) and the
 *     read-only flag (-EROFS) before calling into the layer, so layers may assume valid ranges.
 *   - a layer's write may demand alignment (bdev_write_align(): e.g. 512 for page blobs);
 *     an unaligned write fails with -EINVAL. The cache layer accepts any alignment.
 *   - flush returns 0 only once every byte written before the call is durable in the lowest
 *     layer; a failed write-back is returned (-EIO), never dropped.
 *   - read, write and flush are thread-safe: any number of threads may call them at once on
 *     one device. Concurrent writes to overlapping ranges land in an unspecified order.
 *     bdev_free() must not race with other calls.
 *   - errors are negative errno values (docs/conventions.md, Errors).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "sealmount/macros.h"

/* A read served in place (bdev_map()): iov points into the layer's own memory, which stays valid
 * and unchanged until bdev_unmap(). priv is the layer's (what it holds). */
#define BDEV_MAP_MAX 64
struct bdev_map {
	struct iovec iov[BDEV_MAP_MAX];
	unsigned cnt;
	uintptr_t priv[BDEV_MAP_MAX];
	unsigned npriv;
};

struct bdev_ops {
	const char *name; /* "file", "cache", "blob", ... for logs */
	_must_check_ int (*read)(void *state, void *buf, size_t len, uint64_t off);
	/* Optional scatter read of the iovecs' total length at off (the wrapper has checked the
	 * range and that the total is > 0). Layers that can fill scattered memory directly
	 * (blob: straight from the socket) set it; without it bdev_readv() reads into a bounce
	 * buffer. */
	_must_check_ int (*readv)(void *state, const struct iovec *iov, unsigned cnt, uint64_t off);
	/* NULL for read-only layers. */
	_must_check_ int (*write)(void *state, const void *buf, size_t len, uint64_t off);
	/* NULL when there is nothing to flush. */
	_must_check_ int (*flush)(void *state);
	/* Optional: the smallest read worth one request to this layer right now, in bytes (0 =
	 * no preference). A remote layer that is being throttled raises it, so that a cache
	 * above fetches more per request (blob.h "Pacing"). Filters pass their lower's on. */
	uint32_t (*fetch_hint)(void *state);
	/* Optional zero-copy read (the wrapper has checked the range, len > 0): fill m with
	 * pointers to the bytes at off, held until unmap. -ENOBUFS when it cannot now (too many
	 * held, too many pieces): the caller falls back to read. */
	_must_check_ int (*map)(void *state, uint64_t off, size_t len, struct bdev_map *m);
	void (*unmap)(void *state, struct bdev_map *m);
	/* Release state (and the lower device, for filters). Errors are logged, not returned: a
	 * caller that cares flushes first. */
	void (*close)(void *state);
};

struct bdev;

/* Largest device: every offset and end fits off_t, with room for rounding up to a chunk. */
#define BDEV_SIZE_MAX (1ull << 62)

/*
 * Wrap a layer. The new device owns state from now on (close() is called by bdev_free(), and
 * also here if allocation fails). size is the device size in bytes (at most BDEV_SIZE_MAX);
 * write_align (a power of two, 1 = any) is the write alignment the layer demands. writable =
 * false makes bdev_write() fail with -EROFS. -EINVAL (bad align, writable without ops->write),
 * -EFBIG (size), -ENOMEM.
 */
_must_check_ int bdev_new(const struct bdev_ops *ops, void *state, uint64_t size,
			  uint32_t write_align, bool writable, struct bdev **ret) _nonnull_(1, 6);
/* close() the layer and free the wrapper. NULL-safe. Not thread-safe against other calls. */
void bdev_free(struct bdev *b);
DEFINE_CLEANUP_FUNC(struct bdev, bdev_free)

uint64_t bdev_size(const struct bdev *b) _nonnull_(1);
bool bdev_is_writable(const struct bdev *b) _nonnull_(1);
uint32_t bdev_write_align(const struct bdev *b) _nonnull_(1);
const char *bdev_name(const struct bdev *b) _nonnull_(1);
/* The layer's state, for a module that needs to recognise its own device (e.g. cache stats);
 * NULL when ops is not the device's ops table. */
void *bdev_state(const struct bdev *b, const struct bdev_ops *ops) _nonnull_(1, 2);

/* Read len bytes at off into buf. 0, -EINVAL (out of range), or the layer's error. */
_must_check_ int bdev_read(struct bdev *b, void *buf, size_t len, uint64_t off) _nonnull_(1);
/* Read the iovecs' total length at off into them, in order. 0, -EINVAL (out of range or the
 * total overflows), -ENOMEM (bounce buffer), or the layer's error; on error the iovecs' contents
 * are unspecified. */
_must_check_ int bdev_readv(struct bdev *b, const struct iovec *iov, unsigned cnt, uint64_t off)
	_nonnull_(1);
/* Write len bytes at off. 0, -EROFS, -EINVAL (range or alignment), or the layer's error. */
_must_check_ int bdev_write(struct bdev *b, const void *buf, size_t len, uint64_t off) _nonnull_(1);
/*
 * Read len bytes at off in place: on 0, m->iov (m->cnt entries, len bytes in all, in order)
 * points at the layer's memory, valid and unchanged until bdev_unmap(b, m), which must follow
 * (soon: held memory cannot be evicted). -EOPNOTSUPP (the layer cannot), -ENOBUFS (not now),
 * -EINVAL (range), or the layer's read error; then m holds nothing. Use bdev_read() instead.
 */
_must_check_ int bdev_map(struct bdev *b, uint64_t off, size_t len, struct bdev_map *m)
	_nonnull_(1, 4);
void bdev_unmap(struct bdev *b, struct bdev_map *m) _nonnull_(1, 2);
/* The layer's fetch_hint(), or 0 when it has none. */
uint32_t bdev_fetch_hint(struct bdev *b) _nonnull_(1);
/* Make every write so far durable. 0 or the layer's error (-EIO on a lost write-back). */
_must_check_ int bdev_flush(struct bdev *b) _nonnull_(1);

/*
 * `file` layer: a local regular file or block device, read with pread and written with pwrite;
 * flush is fsync. rw = false opens O_RDONLY and the device is read-only. Returns -errno from
 * open/fstat, -EINVAL for something that is neither a file nor a block device.
 */
_must_check_ int bdev_file_open(const char *path, bool rw, struct bdev **ret) _nonnull_(1, 3);

/* `borrow` layer: a pass-through view of lower that does not own it (freeing the view leaves
 * lower alone), for a filter that takes its lower device over while the device must outlive the
 * filter. lower must outlive the view. -ENOMEM. */
_must_check_ int bdev_borrow_new(struct bdev *lower, struct bdev **ret) _nonnull_(1, 2);
